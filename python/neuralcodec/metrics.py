"""Image quality metrics: PSNR and MS-SSIM, in differentiable PyTorch.

Both take batches ``[B, C, H, W]`` (RGB is ``C = 3``) of floats on the scale given by
``data_range`` (1.0 for images in ``[0, 1]``, 255.0 for 8-bit values), work on any
device, and carry gradients, so the same functions serve evaluation and training
(:class:`neuralcodec.losses.RateDistortionLoss` with ``metric="ms-ssim"``).

``reduction="mean"`` (the default) returns a scalar tensor, the mean over the batch of
the per-image values; ``reduction="none"`` returns the per-image values ``[B]``.

MS-SSIM follows Wang, Simoncelli and Bovik, "Multi-scale structural similarity for
image quality assessment" (Asilomar 2003), as their reference MATLAB code computes it:

* SSIM statistics under an 11x11 Gaussian window (sigma 1.5), evaluated only where the
  window fits inside the image ("valid"), with ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2``,
  ``K1 = 0.01``, ``K2 = 0.03`` and ``L = data_range``;
* five scales; between scales both images are low-passed with a 2x2 mean and
  subsampled by 2 (an odd row or column count keeps its last row or column, averaged
  with itself: the reference code's symmetric boundary, output size ``ceil(n / 2)``);
* the contrast-structure term ``cs`` at scales 1..4 and the full SSIM at scale 5, each
  averaged over the image, combined as ``prod_j cs_j^w_j * ssim_5^w_5`` with weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); each channel separately, then the mean
  over channels.
* Terms are clamped at 0 before the fractional powers (negative correlations would
  otherwise give complex values), as pytorch-msssim does.

This agrees with pytorch-msssim's ``ms_ssim`` to within 1e-6 (its window is built in
float32) whenever every scale has even sizes (e.g. sides divisible by 16). When a scale
has an odd size, pytorch-msssim zero-pads before pooling (``count_include_pad``), which
darkens the last row and column, and the results differ by up to about 1e-3
(``tests/fixtures/metrics/`` holds the comparison).

**Small images.** Five scales need the smallest side to be at least
``win_size * 2^4 - 15 = 161`` pixels, so that the coarsest scale still holds one full
window. For smaller images (e.g. 128x128 training crops) the coarsest scales that do
not fit are dropped and the remaining weights are rescaled to sum to 1; with
``strict=True`` a :class:`ValueError` is raised instead. Images whose smallest side is
below ``win_size`` cannot be measured at all and always raise.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim", "ms_ssim_scales", "psnr", "psnr_8bit", "ssim"]

#: Weights of the five scales (finest first), Wang et al. 2003, Table/eq. (7).
MS_SSIM_WEIGHTS: Tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

_REDUCTIONS = ("mean", "none")


def _check_pair(a: Tensor, b: Tensor, data_range: float, reduction: str) -> Tuple[Tensor, Tensor]:
    """Validates two image batches; returns them as floating tensors of one dtype."""
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if a.dim() != 4:
        raise ValueError(f"images must be batches [B, C, H, W], got shape {tuple(a.shape)}")
    if a.shape != b.shape:
        raise ValueError(f"the two image batches differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.numel() == 0:
        raise ValueError(f"images must not be empty, got shape {tuple(a.shape)}")
    if not (isinstance(data_range, (int, float)) and math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive number (1.0 for [0, 1] images), got {data_range!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    dtype = torch.promote_types(a.dtype, b.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    return a.to(dtype), b.to(dtype)


def _reduce(values: Tensor, reduction: str) -> Tensor:
    return values.mean() if reduction == "mean" else values


def psnr_8bit(reference: np.ndarray, decoded: np.ndarray, cap: float = math.inf) -> float:
    """PSNR in dB of two 8-bit images, the figure every report of neuralcodec gives.

    ``10 log10(255^2 / MSE)`` with the MSE over all pixels and channels, computed in
    float64 (so it does not depend on the device or the array layout). Identical images
    give ``cap``: infinity by default; results files pass a finite cap so their JSON
    stays valid.

    Args:
        reference, decoded: uint8 arrays of the same shape (``[H, W]`` or ``[H, W, C]``).

    Raises:
        ValueError: the shapes differ, or an array is not uint8.
    """
    if reference.shape != decoded.shape:
        raise ValueError(f"shapes differ: {reference.shape} and {decoded.shape}")
    if reference.dtype != np.uint8 or decoded.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {reference.dtype} and {decoded.dtype}")
    mse = float(np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2))
    if mse == 0:
        return cap
    return min(cap, 10.0 * math.log10(255.0**2 / mse))


def psnr(a: Tensor, b: Tensor, data_range: float = 1.0, reduction: str = "mean") -> Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``, per image.

    The MSE of each image is taken over all its channels and pixels (for RGB input this is
    "PSNR-RGB", the figure CompressAI and most papers report); with ``reduction="mean"``
    the per-image PSNRs are averaged (not the MSEs). Identical images give ``inf``.

    Args:
        a, b: ``[B, C, H, W]`` image batches on the scale of ``data_range``.
        data_range: the peak value (1.0 for ``[0, 1]``, 255.0 for 8-bit values).
        reduction: ``"mean"`` (scalar) or ``"none"`` (``[B]``).

    Returns:
        A tensor of dB values (differentiable).

    Example (an error of 0.01 everywhere, in ``[0, 1]``: MSE ``1e-4``, 40 dB)::

        >>> import torch
        >>> from neuralcodec.metrics import psnr
        >>> x = torch.full((2, 3, 8, 8), 0.5)
        >>> round(psnr(x, x + 0.01).item(), 3)
        40.0
        >>> psnr(x, x, reduction="none")
        tensor([inf, inf])
    """
    a, b = _check_pair(a, b, data_range, reduction)
    mse = (a - b).pow(2).flatten(1).mean(dim=1)
    values = 10 * torch.log10(data_range**2 / mse)
    return _reduce(values, reduction)


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The normalised 1-D Gaussian ``[size]`` centred on the middle tap."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def _blur(x: Tensor, window: Tensor) -> Tensor:
    """Separable "valid" Gaussian filtering of each channel of ``x`` ``[B, C, H, W]``."""
    channels = x.shape[1]
    size = window.numel()
    x = F.conv2d(x, window.view(1, 1, size, 1).expand(channels, 1, size, 1), groups=channels)
    return F.conv2d(x, window.view(1, 1, 1, size).expand(channels, 1, 1, size), groups=channels)


def _ssim_terms(
    a: Tensor, b: Tensor, window: Tensor, data_range: float, k: Tuple[float, float]
) -> Tuple[Tensor, Tensor]:
    """Mean SSIM and mean contrast-structure term per image and channel, each ``[B, C]``."""
    c1 = (k[0] * data_range) ** 2
    c2 = (k[1] * data_range) ** 2
    mu_a, mu_b = _blur(a, window), _blur(b, window)
    mu_aa, mu_bb, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = _blur(a * a, window) - mu_aa
    var_b = _blur(b * b, window) - mu_bb
    cov = _blur(a * b, window) - mu_ab
    cs_map = (2 * cov + c2) / (var_a + var_b + c2)
    ssim_map = (2 * mu_ab + c1) / (mu_aa + mu_bb + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def _downsample(x: Tensor) -> Tensor:
    """2x2 mean and subsampling; an odd last row/column is averaged with itself (``ceil(n/2)``)."""
    height, width = x.shape[-2:]
    if height % 2 or width % 2:
        x = F.pad(x, (0, width % 2, 0, height % 2), mode="replicate")
    return F.avg_pool2d(x, kernel_size=2)


def ms_ssim_scales(height: int, width: int, win_size: int = 11, max_scales: int = 5) -> int:
    """How many MS-SSIM scales an image of ``height x width`` supports (0 if none).

    A scale is usable when its smallest side still holds one ``win_size`` window; sides
    shrink as ``ceil(n / 2)`` per scale.
    """
    side, scales = min(int(height), int(width)), 0
    while scales < max_scales and side >= win_size:
        scales += 1
        side = (side + 1) // 2
    return scales


def _check_window(win_size: int, win_sigma: float, k: Sequence[float]) -> Tuple[float, float]:
    if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"win_size must be a positive odd integer, got {win_size!r}")
    if not (win_sigma > 0):
        raise ValueError(f"win_sigma must be positive, got {win_sigma!r}")
    if len(k) != 2 or not all(v > 0 for v in k):
        raise ValueError(f"k must be two positive constants (K1, K2), got {k!r}")
    return float(k[0]), float(k[1])


def ssim(
    a: Tensor,
    b: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    win_size: int = 11,
    win_sigma: float = 1.5,
    k: Sequence[float] = (0.01, 0.03),
) -> Tensor:
    """Single-scale SSIM (Wang et al. 2004) with the same window and constants as :func:`ms_ssim`.

    Args:
        a, b: ``[B, C, H, W]`` image batches; sides at least ``win_size``.
        data_range, reduction: as for :func:`psnr`.
        win_size, win_sigma: the Gaussian window (11 taps, sigma 1.5).
        k: ``(K1, K2)``.

    Returns:
        Mean SSIM over pixels and channels, per image ``[B]`` or averaged (scalar).
    """
    a, b = _check_pair(a, b, data_range, reduction)
    k1, k2 = _check_window(win_size, win_sigma, k)
    if min(a.shape[-2:]) < win_size:
        raise ValueError(f"SSIM needs images of at least {win_size}x{win_size} pixels, got {tuple(a.shape[-2:])}")
    window = _gaussian_window(win_size, win_sigma, a.dtype, a.device)
    value, _ = _ssim_terms(a, b, window, data_range, (k1, k2))
    return _reduce(value.mean(dim=1), reduction)


def ms_ssim(
    a: Tensor,
    b: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    weights: Optional[Sequence[float]] = None,
    win_size: int = 11,
    win_sigma: float = 1.5,
    k: Sequence[float] = (0.01, 0.03),
    strict: bool = False,
) -> Tensor:
    """Multi-scale SSIM (Wang et al. 2003); see the module documentation for the definition.

    Args:
        a, b: ``[B, C, H, W]`` image batches on the scale of ``data_range`` (the order does
            not matter: MS-SSIM is symmetric).
        data_range: the peak value (1.0 for ``[0, 1]``, 255.0 for 8-bit values).
        reduction: ``"mean"`` (scalar, the mean over the batch) or ``"none"`` (``[B]``).
        weights: per-scale exponents, finest first (default :data:`MS_SSIM_WEIGHTS`).
        win_size, win_sigma: the Gaussian window (11 taps, sigma 1.5).
        k: ``(K1, K2)``, default ``(0.01, 0.03)``.
        strict: raise instead of dropping coarse scales for images too small for all of
            them (fewer than 161 pixels on a side with the defaults).

    Returns:
        MS-SSIM in ``[0, 1]`` (1 for identical images), differentiable.

    Raises:
        ValueError: mismatched or non-batched shapes, a bad parameter, or an image too
            small for even one scale (or for all scales, with ``strict``).
    """
    a, b = _check_pair(a, b, data_range, reduction)
    k1, k2 = _check_window(win_size, win_sigma, k)
    weights = tuple(float(w) for w in (MS_SSIM_WEIGHTS if weights is None else weights))
    if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {weights!r}")
    height, width = a.shape[-2:]
    scales = ms_ssim_scales(height, width, win_size, len(weights))
    if scales == 0:
        raise ValueError(f"MS-SSIM needs images of at least {win_size}x{win_size} pixels, got {height}x{width}")
    if scales < len(weights):
        if strict:
            need = (win_size - 1) * 2 ** (len(weights) - 1) + 1
            raise ValueError(
                f"MS-SSIM with {len(weights)} scales needs a smallest side of at least {need} pixels, "
                f"got {height}x{width}"
            )
        total = sum(weights[:scales])
        weights = tuple(w / total for w in weights[:scales])

    window = _gaussian_window(win_size, win_sigma, a.dtype, a.device)
    factors = []
    for scale in range(scales):
        if scale > 0:
            a, b = _downsample(a), _downsample(b)
        value, cs = _ssim_terms(a, b, window, data_range, (k1, k2))
        term = value if scale == scales - 1 else cs
        factors.append(torch.relu(term) ** weights[scale])
    per_channel = torch.stack(factors, dim=0).prod(dim=0)  # [B, C]
    return _reduce(per_channel.mean(dim=1), reduction)
