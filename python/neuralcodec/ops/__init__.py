"""Differentiable operators used to train compression models.

- :func:`quantize_ste`: rounding with a straight-through (identity) gradient.
- :class:`LowerBound` / :func:`lower_bound`: ``max(x, bound)`` whose gradient still lets
  the optimiser pull ``x`` back up from below the bound.
- :class:`NonNegativeParametrizer`: the reparametrisation GDN uses for ``beta`` and
  ``gamma`` (Ballé et al. 2016).
- :func:`compute_padding`: pad/unpad amounts that make an image divisible by a stride.
- :func:`tensor_versions`: the key of caches derived from tensors (changes with them).

Names and state_dict layouts follow CompressAI's ``compressai.ops``.
"""

from neuralcodec.ops.bound_ops import LowerBound, LowerBoundFunction, lower_bound
from neuralcodec.ops.ops import compute_padding, quantize_ste
from neuralcodec.ops.parametrizers import NonNegativeParametrizer
from neuralcodec.ops.versions import tensor_versions

__all__ = [
    "LowerBound",
    "LowerBoundFunction",
    "NonNegativeParametrizer",
    "compute_padding",
    "lower_bound",
    "quantize_ste",
    "tensor_versions",
]
