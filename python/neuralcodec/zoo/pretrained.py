"""CompressAI's ``compressai.zoo.pretrained``: state_dict key conversion for its checkpoints.

One implementation: :func:`neuralcodec.state_dicts.convert_compressai_keys`, which maps
DataParallel prefixes, old residual-block names and old entropy-bottleneck parameter names
to the current layout (which CompressAI's ``load_pretrained`` leaves to its models'
``load_state_dict``). A converted state_dict loads with ``model.load_state_dict``.
"""

from __future__ import annotations

from typing import Dict, Mapping

import torch
from torch import Tensor

from neuralcodec.state_dicts import convert_compressai_keys

__all__ = ["load_pretrained", "rename_key"]

_PLACEHOLDER = torch.empty(0)


def rename_key(key: str) -> str:
    """One state_dict key in the current layout (see :func:`load_pretrained`)."""
    (renamed,) = convert_compressai_keys({key: _PLACEHOLDER})
    return renamed


def load_pretrained(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """``state_dict`` with its keys in the current layout (see the module documentation)."""
    return dict(convert_compressai_keys(state_dict))
