"""Neural network layers for learned image codecs.

- :class:`GDN` (and its inverse, ``GDN(..., inverse=True)``), :class:`GDN1`: divisive
  normalisation (Ballé et al. 2016; Johnston et al. 2019).
- :class:`MaskedConv2d`: causal convolution for autoregressive context models (van den
  Oord et al. 2016; Minnen et al. 2018); :class:`CheckerboardMaskedConv2d`: the
  two-pass checkerboard context (He et al. 2021).
- ELIC building blocks (He et al. 2022): :class:`ResidualBottleneckBlock`,
  :func:`sequential_channel_ramp`.
- :class:`SpectralConv2d`, :class:`SpectralConvTranspose2d`: convolutions whose kernels
  are learned as their Fourier spectrum (Ballé 2018); :class:`QReLU`: the clamp of
  integer networks (Ballé et al. 2019).
- Shape and bookkeeping layers: :class:`Lambda`, :class:`NamedLayer`, :class:`Reshape`,
  :class:`Transpose`, :class:`Interleave`, :class:`Gain`.
- Cheng2020 building blocks: :func:`conv3x3`, :func:`conv1x1`, :func:`subpel_conv3x3`,
  :class:`ResidualBlock`, :class:`ResidualBlockWithStride`,
  :class:`ResidualBlockUpsample`, :class:`AttentionBlock`.

Class names, constructor arguments and state_dict keys match CompressAI's
``compressai.layers``, so its checkpoints load unchanged.
"""

from neuralcodec.layers.basic import Gain, Interleave, Lambda, NamedLayer, Reshape, Transpose
from neuralcodec.layers.gdn import GDN, GDN1
from neuralcodec.layers.layers import (
    AttentionBlock,
    CheckerboardMaskedConv2d,
    MaskedConv2d,
    QReLU,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    ResidualBottleneckBlock,
    SpectralConv2d,
    SpectralConvTranspose2d,
    conv1x1,
    conv3x3,
    sequential_channel_ramp,
    subpel_conv3x3,
)

__all__ = [
    "GDN",
    "GDN1",
    "Gain",
    "Interleave",
    "Lambda",
    "NamedLayer",
    "QReLU",
    "Reshape",
    "SpectralConv2d",
    "SpectralConvTranspose2d",
    "Transpose",
    "AttentionBlock",
    "CheckerboardMaskedConv2d",
    "MaskedConv2d",
    "ResidualBottleneckBlock",
    "ResidualBlock",
    "ResidualBlockUpsample",
    "ResidualBlockWithStride",
    "conv1x1",
    "conv3x3",
    "sequential_channel_ramp",
    "subpel_conv3x3",
]
