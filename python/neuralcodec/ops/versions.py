"""The cache key of "these tensors, unchanged": what caches of derived data compare.

Several things are derived from a model's tensors and cached until a tensor changes: the
weights hash a file records (:mod:`neuralcodec.codec.identity`), the Rust engine built
from ``h_s`` and the entropy parameters (:mod:`neuralcodec.engine`), the native CDF table
of an entropy model. :func:`tensor_versions` is the one definition of the key they
compare.
"""

from __future__ import annotations

from typing import Any, Iterable, Tuple

from torch import Tensor

__all__ = ["tensor_versions"]


def tensor_versions(tensors: Iterable[Tensor]) -> Tuple[Tuple[Any, ...], ...]:
    """A key that changes whenever one of ``tensors`` is modified in place or replaced.

    Per tensor: its storage address, torch's version counter (bumped by every in-place
    change, shared by ``detach()``ed views, so a ``state_dict()`` of the same weights
    gives the same key), dtype, shape and device.

    A cache must keep references to the tensors beside the key: otherwise a replaced
    tensor could be freed and a new one allocated at the same address with the same
    version, and the stale entry would match.
    """
    return tuple((t.data_ptr(), t._version, t.dtype, tuple(t.shape), str(t.device)) for t in tensors)
