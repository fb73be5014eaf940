"""Compression models, with CompressAI's class names, module layout and state_dict keys.

| class | zoo name | paper |
| --- | --- | --- |
| :class:`FactorizedPrior` | ``bmshj2018-factorized`` | Ballé et al. 2018 |
| :class:`ScaleHyperprior` | ``bmshj2018-hyperprior`` | Ballé et al. 2018 |
| :class:`MeanScaleHyperprior` | ``mbt2018-mean`` | Minnen et al. 2018 |
| :class:`JointAutoregressiveHierarchicalPriors` | ``mbt2018`` | Minnen et al. 2018 |
| :class:`Cheng2020Anchor` | ``cheng2020-anchor`` | Cheng et al. 2020 |
| :class:`Cheng2020Attention` | ``cheng2020-attn`` | Cheng et al. 2020 |

See :mod:`neuralcodec.models.base` for the forward/compress/decompress contract.
"""

from neuralcodec.models.base import CompressionModel, get_scale_table
from neuralcodec.models.cheng2020 import Cheng2020Anchor, Cheng2020Attention
from neuralcodec.models.hyperprior import (
    FactorizedPrior,
    JointAutoregressiveHierarchicalPriors,
    MeanScaleHyperprior,
    ScaleHyperprior,
)

__all__ = [
    "Cheng2020Anchor",
    "Cheng2020Attention",
    "CompressionModel",
    "FactorizedPrior",
    "JointAutoregressiveHierarchicalPriors",
    "MeanScaleHyperprior",
    "ScaleHyperprior",
    "get_scale_table",
]
