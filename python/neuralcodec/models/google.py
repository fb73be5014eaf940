"""CompressAI's ``compressai.models.google``: the Ballé and Minnen models.

The classes are those of :mod:`neuralcodec.models.hyperprior` (one implementation; this
module only gives them CompressAI's import path), with the scale-table helpers of
:mod:`neuralcodec.models.base`.
"""

from neuralcodec.models.base import SCALES_LEVELS, SCALES_MAX, SCALES_MIN, CompressionModel, get_scale_table
from neuralcodec.models.hyperprior import (
    FactorizedPrior,
    FactorizedPriorReLU,
    JointAutoregressiveHierarchicalPriors,
    MeanScaleHyperprior,
    ScaleHyperprior,
)
from neuralcodec.models.utils import conv, deconv  # noqa: F401  (CompressAI's google.py has them too)

__all__ = [
    "CompressionModel",
    "FactorizedPrior",
    "FactorizedPriorReLU",
    "ScaleHyperprior",
    "MeanScaleHyperprior",
    "JointAutoregressiveHierarchicalPriors",
    "get_scale_table",
    "SCALES_MIN",
    "SCALES_MAX",
    "SCALES_LEVELS",
]
