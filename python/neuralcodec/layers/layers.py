"""Masked convolutions, the residual/attention blocks of Cheng et al. 2020, ELIC's blocks,
spectrally parametrised convolutions and the integer networks' QReLU.

No ``from __future__ import annotations`` here: TorchScript reads the annotations of the
modules it compiles as types, not strings.
"""

import itertools
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from neuralcodec.layers.gdn import GDN

__all__ = [
    "AttentionBlock",
    "CheckerboardMaskedConv2d",
    "MaskedConv2d",
    "QReLU",
    "SpectralConv2d",
    "SpectralConvTranspose2d",
    "ResidualBottleneckBlock",
    "ResidualBlock",
    "ResidualBlockUpsample",
    "ResidualBlockWithStride",
    "conv1x1",
    "conv3x3",
    "sequential_channel_ramp",
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

    def __prepare_scriptable__(self) -> nn.Module:
        """Refuses :func:`torch.jit.script`, as CompressAI's MaskedConv2d does (its test suite
        pins that): the context models run inside the models' eager autoregressive loops,
        which slice ``weight * mask`` directly; script the transforms instead."""
        raise RuntimeError(
            f"{type(self).__name__} is not scriptable (nor is CompressAI's); the context "
            "model runs in eager mode, script the analysis/synthesis transforms instead"
        )

    def forward(self, x: Tensor) -> Tensor:
        """Causal convolution of ``x`` (``[N, C_in, H, W]``)."""
        return self._conv_forward(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


class CheckerboardMaskedConv2d(MaskedConv2d):
    """A 2-D convolution that sees only the other colour of a checkerboard.

    The checkerboard context model (He et al., "Checkerboard context model for efficient
    learned image compression", CVPR 2021) decodes a latent in two passes: the *anchors*
    (one colour of the checkerboard) without spatial context, then the *non-anchors*
    from the decoded anchors around them. Seen from any position, the other colour lies
    at the taps ``(i, j)`` with ``i + j`` odd (for an odd kernel size), so ``mask`` is 1
    there and 0 elsewhere; the centre tap is 0 for ``mask_type="A"`` (the default) and 1
    for ``"B"``.

    Takes the arguments of :class:`torch.nn.Conv2d` (e.g. ``kernel_size=5, padding=2``).
    State: ``weight``, ``bias`` and the buffer ``mask`` (shape of ``weight``), the
    CompressAI keys. As in :class:`MaskedConv2d`, ``weight`` is stored unmasked and the
    mask is applied on the fly.
    """

    def __init__(self, *args: Any, mask_type: str = "A", **kwargs: Any) -> None:
        super().__init__(*args, mask_type=mask_type, **kwargs)
        kh, kw = self.mask.shape[-2:]
        rows = torch.arange(kh).view(-1, 1)
        columns = torch.arange(kw).view(1, -1)
        other_colour = ((rows + columns) % 2 == 1).to(self.mask.dtype)
        self.mask.copy_(other_colour.expand_as(self.mask))
        self.mask[:, :, kh // 2, kw // 2] = float(mask_type == "B")


class ResidualBottleneckBlock(nn.Module):
    """Bottleneck residual block (He et al., "Deep residual learning for image
    recognition", CVPR 2016), used by ELIC's transforms (He et al., CVPR 2022).

    ``conv1x1 -> ReLU -> conv3x3 -> ReLU -> conv1x1`` through ``min(in_ch, out_ch) // 2``
    channels, plus the identity (or a 1x1 convolution ``skip`` when ``in_ch != out_ch``).
    Input ``[N, in_ch, H, W]``, output ``[N, out_ch, H, W]``.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid_ch = min(in_ch, out_ch) // 2
        self.conv1 = conv1x1(in_ch, mid_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(mid_ch, mid_ch)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = conv1x1(mid_ch, out_ch)
        self.skip = conv1x1(in_ch, out_ch) if in_ch != out_ch else None

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.skip is None else self.skip(x)
        out = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.conv3(out) + identity


def sequential_channel_ramp(
    in_ch: int,
    out_ch: int,
    *,
    min_ch: int = 0,
    num_layers: int = 3,
    interp: str = "linear",
    make_layer: Optional[Callable[..., nn.Module]] = None,
    make_act: Optional[Callable[[], nn.Module]] = None,
    skip_last_act: bool = True,
    **layer_kwargs: Any,
) -> nn.Sequential:
    """``num_layers`` layers whose widths ramp from ``in_ch`` to ``out_ch``, each but the
    last (unless ``skip_last_act=False``) followed by an activation.

    The widths are ``floor`` of ``num_layers + 1`` points spaced evenly (``interp=
    "linear"``) or geometrically (``"log"``) from ``in_ch`` to ``out_ch``, the inner ones
    raised to at least ``min_ch``; ELIC's parameter aggregation networks are built this
    way (CompressAI's ``Elic2022Official``). ``make_layer(ch_in, ch_out, **layer_kwargs)``
    builds a layer (default :class:`torch.nn.Conv2d`), ``make_act()`` an activation
    (default :class:`torch.nn.ReLU`). The module indices (``0``, ``2``, ... for the layers)
    are CompressAI's state_dict keys.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    widths = ramp(in_ch, out_ch, num_layers + 1, method=interp).floor().int()
    widths[1:-1] = widths[1:-1].clip(min=min_ch)
    channels = [int(c) for c in widths.tolist()]
    make_layer = make_layer or nn.Conv2d
    make_act = make_act or (lambda: nn.ReLU(inplace=True))
    modules: List[nn.Module] = []
    for ch_in, ch_out in itertools.pairwise(channels):
        modules += [make_layer(ch_in, ch_out, **layer_kwargs), make_act()]
    if skip_last_act:
        modules = modules[:-1]
    return nn.Sequential(*modules)


def ramp(a: float, b: float, steps: int, method: str = "linear", **kwargs: Any) -> Tensor:
    """``steps`` points from ``a`` to ``b`` (both included), spaced evenly (``method=
    "linear"``) or geometrically (``"log"``, for positive ``a``, ``b``); ``kwargs`` go to
    :func:`torch.linspace` / :func:`torch.logspace` (``dtype``, ``device``).

    Raises:
        ValueError: another method.
    """
    if method == "linear":
        return torch.linspace(a, b, steps, **kwargs)
    if method == "log":
        return torch.logspace(math.log10(a), math.log10(b), steps, **kwargs)
    raise ValueError(f'interp must be "linear" or "log", got {method!r}')


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


class _SpectralWeight:
    """Mixin for a convolution whose kernel is stored as its 2-D real FFT.

    The parameter ``weight_transformed`` holds ``rfftn(weight)`` over the two spatial
    dimensions (orthonormal, so the map is an isometry); ``weight`` is a property that
    transforms it back at each use. Call :meth:`_store_spectrally` at the end of
    ``__init__``, after the convolution made its ordinary ``weight``.
    """

    kernel_size: Tuple[int, ...]
    _parameters: Dict[str, Optional[nn.Parameter]]
    _SPATIAL = (-2, -1)

    def _store_spectrally(self) -> None:
        weight = self._parameters.pop("weight")
        assert weight is not None
        self.dim = self._SPATIAL
        spectrum = torch.fft.rfftn(weight.detach(), s=self.kernel_size, dim=self._SPATIAL, norm="ortho")
        self.weight_transformed = nn.Parameter(spectrum)

    @property
    def weight(self) -> Tensor:
        return torch.fft.irfftn(self.weight_transformed, s=self.kernel_size, dim=self._SPATIAL, norm="ortho")


class SpectralConv2d(_SpectralWeight, nn.Conv2d):  # type: ignore[override]  # weight: a property here
    """A :class:`torch.nn.Conv2d` whose kernel is learned in the frequency domain.

    Ballé, "Efficient nonlinear transforms for lossy image compression", PCS 2018 (the
    "spectral Adam" reparametrisation of TensorFlow Compression's ``SignalConv2D``): an
    optimiser step on the spectrum changes every spatial frequency of the kernel by a
    comparable amount, which conditions the gradients better and tolerates larger
    learning rates. The forward pass is an ordinary convolution with
    ``weight = irfftn(weight_transformed)``.

    Takes :class:`torch.nn.Conv2d` 's arguments. State: ``weight_transformed`` (complex,
    ``[out, in / groups, kh, kw // 2 + 1]``) and ``bias``; there is no ``weight`` key.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        nn.Conv2d.__init__(self, *args, **kwargs)
        self._store_spectrally()


class SpectralConvTranspose2d(_SpectralWeight, nn.ConvTranspose2d):  # type: ignore[override]  # weight: a property here
    """The transposed convolution counterpart of :class:`SpectralConv2d` (arguments of
    :class:`torch.nn.ConvTranspose2d`, same state layout)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        nn.ConvTranspose2d.__init__(self, *args, **kwargs)
        self._store_spectrally()


#: The scale of QReLU's surrogate gradient: ``Gamma(1 + 1/100)`` to about 1e-9, the value
#: CompressAI uses whatever ``beta`` is.
_QRELU_ALPHA = 0.9943258522851727


class QReLU(torch.autograd.Function):
    """Clamp to the range of ``bit_depth``-bit unsigned integers, ``[0, 2**bit_depth - 1]``,
    with a gradient that does not vanish outside the range.

    Ballé, Johnston, Minnen, "Integer networks for data compression with latent-variable
    models", ICLR 2019: the clamping nonlinearity of an integer network. Inside the range
    the gradient passes unchanged; outside, it is damped smoothly,
    ``grad * exp(-(alpha**beta) * |2 x / max - 1|**beta)`` (``beta`` sets how fast), so
    values that overshoot still learn. The input is not rounded.

    Use ``QReLU.apply(x, bit_depth, beta)``; ``bit_depth`` and ``beta`` get no gradient.
    """

    @staticmethod
    def forward(ctx: Any, input: Tensor, bit_depth: int, beta: float) -> Tensor:  # type: ignore[override]
        ctx.alpha = _QRELU_ALPHA
        ctx.beta = beta
        ctx.max_value = 2**bit_depth - 1
        ctx.save_for_backward(input)
        return input.clamp(min=0, max=ctx.max_value)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tuple[Tensor, None, None]:  # type: ignore[override]
        (input,) = ctx.saved_tensors
        distance = torch.abs(2.0 * input / ctx.max_value - 1)
        damped = torch.exp(-(ctx.alpha**ctx.beta) * distance**ctx.beta) * grad_output
        outside = (input < 0) | (input > ctx.max_value)
        return torch.where(outside, damped, grad_output), None, None
