"""State_dict key spellings: CompressAI's older checkpoints mapped to the current layout.

This module is the one owner of checkpoint key spellings. It lives below both the models
(whose ``from_state_dict`` and ``load_state_dict`` accept CompressAI's files) and the zoo
(which downloads them), so neither reaches into the other:

* :func:`density_key` reads any spelling of a factorized density's parameter name
  (``_matrix0``, ``_matrices.0``, ``matrices.0``, ``_bias0``, ...) and writes it in the
  layout a module stores: ``"list"`` (``matrices.0``, CompressAI 1.2's
  :class:`~neuralcodec.entropy_models.EntropyBottleneck`) or ``"attribute"``
  (``_matrix0``, the variable-rate bottleneck's);
* :func:`rename_density_keys` applies it in place to the keys under one module's prefix
  (for ``_load_from_state_dict`` hooks);
* :func:`convert_compressai_keys` maps a whole CompressAI checkpoint to the current layout.

Only the standard library and torch's types are needed.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Dict, Literal, Mapping, Optional

if TYPE_CHECKING:
    import torch

__all__ = ["DensityLayout", "convert_compressai_keys", "density_key", "rename_density_keys"]

#: How a module stores its density parameters: ``"list"`` (``matrices.0``) or
#: ``"attribute"`` (``_matrix0``).
DensityLayout = Literal["list", "attribute"]

# Any spelling: an optional underscore, the kind (singular or plural), an optional dot, the index.
_DENSITY_KEY = re.compile(r"^_?(biases|bias|matrices|matrix|factors|factor)\.?(\d+)$")
_PLURAL = {"bias": "biases", "matrix": "matrices", "factor": "factors"}
_SINGULAR = {plural: singular for singular, plural in _PLURAL.items()}


def density_key(name: str, layout: DensityLayout = "list") -> Optional[str]:
    """``name`` (a key relative to its entropy bottleneck, e.g. ``_matrix0``) in
    ``layout``, or None when it names no density parameter.

    >>> density_key("_matrix0"), density_key("_biases.2"), density_key("factors.1", "attribute")
    ('matrices.0', 'biases.2', '_factor1')
    >>> density_key("quantiles") is None
    True
    """
    match = _DENSITY_KEY.match(name)
    if match is None:
        return None
    kind, index = match.groups()
    plural = _PLURAL.get(kind, kind)
    if layout == "list":
        return f"{plural}.{index}"
    if layout == "attribute":
        return f"_{_SINGULAR[plural]}{index}"
    raise ValueError(f'layout must be "list" or "attribute", got {layout!r}')


def rename_density_keys(state_dict: Dict[str, Any], prefix: str, layout: DensityLayout = "list") -> None:
    """Renames, in place, the density parameters of the module at ``prefix`` (e.g.
    ``"entropy_bottleneck."``) to ``layout``; other keys are left as they are."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        renamed = density_key(key[len(prefix) :], layout)
        if renamed is not None and prefix + renamed != key:
            state_dict[prefix + renamed] = state_dict.pop(key)


def convert_compressai_keys(state_dict: Mapping[str, "torch.Tensor"]) -> "OrderedDict[str, torch.Tensor]":
    """Maps CompressAI checkpoint key spellings to the current layout.

    * ``module.`` prefixes (DataParallel / DistributedDataParallel) are removed;
    * ``.downsample.`` becomes ``.skip.`` (older Cheng2020 residual blocks);
    * the density parameters of modules named ``entropy_bottleneck`` in any old spelling
      (``_biases.N``, ``_biasN``, likewise matrices and factors) become the list layout
      ``biases.N``, ``matrices.N``, ``factors.N`` (:func:`density_key`).
    """
    converted: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in state_dict.items():
        while key.startswith("module."):
            key = key[len("module.") :]
        key = key.replace(".downsample.", ".skip.")
        head, bottleneck, name = key.rpartition("entropy_bottleneck.")
        renamed = density_key(name) if bottleneck else None
        if renamed is not None:
            key = f"{head}{bottleneck}{renamed}"
        converted[key] = value
    return converted
