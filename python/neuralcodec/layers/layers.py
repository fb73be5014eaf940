"""Masked convolution and the residual/attention blocks of Cheng et al. 2020."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from neuralcodec.layers.gdn import GDN

__all__ = [
    "AttentionBlock",
    "MaskedConv2d",
    "ResidualBlock",
    "ResidualBlockUpsample",
    "ResidualBlockWithStride",
    "conv1x1",
    "conv3x3",
    "subpel_conv3x3",
]


class MaskedConv2d(nn.Conv2d):
    """A 2-D convolution that only sees the causal past of each position.

    Raster-scan autoregressive models (PixelCNN, van den Oord et al. 2016; the context
    model of Minnen, Ballé, Toderici, "Joint autoregressive and hierarchical priors for
    learned image compression", NeurIPS 2018) predict position ``(h, w)`` from positions
    already decoded: the rows above, and the columns to the left in the same row.
    The kernel is multiplied by a 0/1 ``mask``:

    - type ``"A"`` (first layer): zero from the centre tap on, so the current value is not
      seen; Minnen et al.'s 5x5 context model uses this.
    - type ``"B"`` (later layers): the centre tap is kept.

    Takes the arguments of :class:`torch.nn.Conv2d` plus ``mask_type``. The mask is the
    buffer ``mask`` (shape of ``weight``), as in CompressAI. Unlike CompressAI, the
    stored ``weight`` is never modified: the mask is applied on the fly, so masked taps
    get zero gradient and ``weight * mask`` is the kernel actually used.
    """

    mask: Tensor

    def __init__(self, *args: Any, mask_type: str = "A", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if mask_type not in ("A", "B"):
            raise ValueError(f'mask_type must be "A" or "B", got {mask_type!r}')
        self.mask_type = mask_type
        mask = torch.ones_like(self.weight, requires_grad=False)
        kh, kw = mask.shape[-2:]
        mask[:, :, kh // 2, kw // 2 + (mask_type == "B") :] = 0
        mask[:, :, kh // 2 + 1 :, :] = 0
        self.register_buffer("mask", mask.detach())

    def forward(self, x: Tensor) -> Tensor:
        """Causal convolution of ``x`` (``[N, C_in, H, W]``)."""
        return self._conv_forward(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 (output size ``ceil(size / stride)``)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution (a per-position linear map across channels)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride)


def subpel_conv3x3(in_ch: int, out_ch: int, r: int = 1) -> nn.Sequential:
    """Sub-pixel convolution (Shi et al. 2016): a 3x3 convolution to ``out_ch * r**2``
    channels followed by :class:`torch.nn.PixelShuffle`, upsampling ``H, W`` by ``r``.
    Cheng et al. 2020 use it instead of transposed convolutions."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch * r**2, kernel_size=3, padding=1), nn.PixelShuffle(r)
    )


class ResidualBlockWithStride(nn.Module):
    """Downsampling residual block of the Cheng2020 analysis transform.

    ``conv3x3(stride) -> LeakyReLU -> conv3x3 -> GDN``, plus a skip path that is the
    identity, or a strided 1x1 convolution when the shape changes.
    Input ``[N, in_ch, H, W]``, output ``[N, out_ch, ceil(H/stride), ceil(W/stride)]``.

    Cheng, Sun, Takeuchi, Katto, "Learned image compression with discretized Gaussian
    mixture likelihoods and attention modules", CVPR 2020.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch, stride=stride)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.gdn = GDN(out_ch)
        reshapes = stride != 1 or in_ch != out_ch
        self.skip = conv1x1(in_ch, out_ch, stride=stride) if reshapes else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.gdn(self.conv2(self.leaky_relu(self.conv1(x))))
        identity = x if self.skip is None else self.skip(x)
        return out + identity


class ResidualBlockUpsample(nn.Module):
    """Upsampling residual block of the Cheng2020 synthesis transform.

    ``subpel_conv3x3(r) -> LeakyReLU -> conv3x3 -> IGDN``, plus a skip path
    ``subpel_conv3x3(r)`` (named ``upsample``). Input ``[N, in_ch, H, W]``, output
    ``[N, out_ch, r*H, r*W]`` with ``r = upsample``. Cheng et al. 2020.
    """

    def __init__(self, in_ch: int, out_ch: int, upsample: int = 2) -> None:
        super().__init__()
        self.subpel_conv = subpel_conv3x3(in_ch, out_ch, upsample)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv = conv3x3(out_ch, out_ch)
        self.igdn = GDN(out_ch, inverse=True)
        self.upsample = subpel_conv3x3(in_ch, out_ch, upsample)

    def forward(self, x: Tensor) -> Tensor:
        out = self.igdn(self.conv(self.leaky_relu(self.subpel_conv(x))))
        return out + self.upsample(x)


class ResidualBlock(nn.Module):
    """Residual block at constant resolution: ``conv3x3 -> LeakyReLU -> conv3x3 ->
    LeakyReLU`` plus the identity (or a 1x1 convolution when ``in_ch != out_ch``).
    Input ``[N, in_ch, H, W]``, output ``[N, out_ch, H, W]``. Cheng et al. 2020.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.skip = conv1x1(in_ch, out_ch) if in_ch != out_ch else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.leaky_relu(self.conv2(self.leaky_relu(self.conv1(x))))
        identity = x if self.skip is None else self.skip(x)
        return out + identity


class _ResidualUnit(nn.Module):
    """Bottleneck residual unit of :class:`AttentionBlock`:
    ``ReLU(x + conv1x1(ReLU(conv3x3(ReLU(conv1x1(x))))))`` with ``N/2`` inner channels."""

    def __init__(self, N: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            conv1x1(N, N // 2),
            nn.ReLU(inplace=True),
            conv3x3(N // 2, N // 2),
            nn.ReLU(inplace=True),
            conv1x1(N // 2, N),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv(x) + x)


class AttentionBlock(nn.Module):
    """Simplified attention module of Cheng et al. 2020 (no non-local block).

    ``out = x + a(x) * sigmoid(b(x))`` where the trunk ``a`` (``conv_a``) is three
    residual units and the mask branch ``b`` (``conv_b``) is three residual units and a
    1x1 convolution; the sigmoid mask lets the block spend bits on complex regions.
    Input and output ``[N, N, H, W]``.

    Args:
        N: number of channels (even).
    """

    def __init__(self, N: int) -> None:
        super().__init__()
        self.conv_a = nn.Sequential(_ResidualUnit(N), _ResidualUnit(N), _ResidualUnit(N))
        self.conv_b = nn.Sequential(
            _ResidualUnit(N), _ResidualUnit(N), _ResidualUnit(N), conv1x1(N, N)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_a(x) * torch.sigmoid(self.conv_b(x))
