"""Compression models, with CompressAI's class names, module layout and state_dict keys.

| class | zoo name | paper |
| --- | --- | --- |
| :class:`FactorizedPrior` | ``bmshj2018-factorized`` | Ballé et al. 2018 |
| :class:`FactorizedPriorReLU` | ``bmshj2018-factorized-relu`` | Ballé et al. 2018, ReLU instead of GDN |
| :class:`ScaleHyperprior` | ``bmshj2018-hyperprior`` | Ballé et al. 2018 |
| :class:`MeanScaleHyperprior` | ``mbt2018-mean`` | Minnen et al. 2018 |
| :class:`JointAutoregressiveHierarchicalPriors` | ``mbt2018`` | Minnen et al. 2018 |
| :class:`ScaleHyperpriorVbr` | ``bmshj2018-hyperprior-vbr`` | Kamisli et al. 2024 (variable rate) |
| :class:`MeanScaleHyperpriorVbr` | ``mbt2018-mean-vbr`` | Kamisli et al. 2024 (variable rate) |
| :class:`JointAutoregressiveHierarchicalPriorsVbr` | ``mbt2018-vbr`` | Kamisli et al. 2024 (variable rate) |
| :class:`MeanScaleHyperpriorGained` | ``mbt2018-mean-gained`` | Minnen et al. 2018 with Cui et al. 2021's gain units (variable rate) |
| :class:`MeanScaleLadder` | ``mbt2018-mean-ladder`` | fixed-rate ``mbt2018-mean`` models with gain units between them (variable rate) |
| :class:`Cheng2020Anchor` | ``cheng2020-anchor`` | Cheng et al. 2020 |
| :class:`Cheng2020Attention` | ``cheng2020-attn`` | Cheng et al. 2020 |
| :class:`Cheng2020AnchorCheckerboard` | ``cheng2020-anchor-checkerboard`` | Cheng et al. 2020, He et al. 2021 |
| :class:`Elic2022Official` | ``elic2022-official`` | He et al. 2022 |
| :class:`Elic2022Chandelier` | ``elic2022-chandelier`` | He et al. 2022, Chandelier 2023 |

The last three are :class:`SimpleVAECompressionModel` s: transforms around one latent codec
(:mod:`neuralcodec.latent_codecs`), whose ``describe()`` gives the coding graph as data.

Each class registers its zoo name with :func:`neuralcodec.registry.register_model` (the
registry owns the names). CompressAI's module paths exist too: :mod:`~neuralcodec.models.google`,
:mod:`~neuralcodec.models.waseda`, :mod:`~neuralcodec.models.sensetime`,
:mod:`~neuralcodec.models.vbr`, :mod:`~neuralcodec.models.utils`, :mod:`~neuralcodec.models.base`.

See :mod:`neuralcodec.models.base` for the forward/compress/decompress contract.
"""

from neuralcodec.models.base import SCALES_LEVELS, SCALES_MAX, SCALES_MIN, CompressionModel, get_scale_table
from neuralcodec.models.cheng2020 import Cheng2020Anchor, Cheng2020Attention
from neuralcodec.models.elic import Cheng2020AnchorCheckerboard, Elic2022Chandelier, Elic2022Official
from neuralcodec.models.elic_lite import ElicLiteVbr
from neuralcodec.models.gained import MeanScaleHyperpriorGained
from neuralcodec.models.hyperprior import (
    FactorizedPrior,
    FactorizedPriorReLU,
    JointAutoregressiveHierarchicalPriors,
    MeanScaleHyperprior,
    ScaleHyperprior,
)
from neuralcodec.models.ladder import MeanScaleLadder
from neuralcodec.models.simple_vae import SimpleVAECompressionModel
from neuralcodec.models.vbr import (
    JointAutoregressiveHierarchicalPriorsVbr,
    MeanScaleHyperpriorVbr,
    ScaleHyperpriorVbr,
)

__all__ = [
    "SCALES_LEVELS",
    "SCALES_MAX",
    "SCALES_MIN",
    "Cheng2020Anchor",
    "Cheng2020AnchorCheckerboard",
    "Cheng2020Attention",
    "CompressionModel",
    "Elic2022Chandelier",
    "Elic2022Official",
    "ElicLiteVbr",
    "FactorizedPrior",
    "FactorizedPriorReLU",
    "JointAutoregressiveHierarchicalPriors",
    "JointAutoregressiveHierarchicalPriorsVbr",
    "MeanScaleHyperprior",
    "MeanScaleHyperpriorGained",
    "MeanScaleHyperpriorVbr",
    "MeanScaleLadder",
    "ScaleHyperprior",
    "ScaleHyperpriorVbr",
    "SimpleVAECompressionModel",
    "get_scale_table",
]
