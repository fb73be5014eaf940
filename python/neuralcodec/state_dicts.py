"""State_dict key spellings: CompressAI's older checkpoints mapped to the current layout.

:func:`convert_compressai_keys` lives here, below both the models (whose
``from_state_dict`` and ``load_state_dict`` accept CompressAI's files) and the zoo (which
downloads them), so neither reaches into the other. It needs only torch's types.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Mapping

import torch

__all__ = ["convert_compressai_keys"]

_OLD_ENTROPY_BOTTLENECK = re.compile(
    r"^(.*entropy_bottleneck\.)_?(biases|bias|matrices|matrix|factors|factor)\.?(\d+)$"
)
_PLURAL = {"bias": "biases", "matrix": "matrices", "factor": "factors"}


def convert_compressai_keys(state_dict: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """Maps CompressAI checkpoint key spellings to the current layout.

    * ``module.`` prefixes (DataParallel / DistributedDataParallel) are removed;
    * ``.downsample.`` becomes ``.skip.`` (older Cheng2020 residual blocks);
    * old EntropyBottleneck parameter names ``_biases.N``, ``_biasN`` (likewise matrices
      and factors) become ``biases.N``, ``matrices.N``, ``factors.N``.
    """
    converted: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in state_dict.items():
        while key.startswith("module."):
            key = key[len("module.") :]
        key = key.replace(".downsample.", ".skip.")
        match = _OLD_ENTROPY_BOTTLENECK.match(key)
        if match:
            prefix, kind, number = match.groups()
            key = f"{prefix}{_PLURAL.get(kind, kind)}.{number}"
        converted[key] = value
    return converted
