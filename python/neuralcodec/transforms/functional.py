"""Colour-space and chroma-subsampling conversions of image tensors.

YCbCr uses the ITU-R BT.709 luma weights on ``[0, 1]`` values (full range): ``Y`` in
``[0, 1]``, ``Cb`` and ``Cr`` centred on 0.5. 4:2:0 tensors are ``(Y, U, V)`` tuples of
``[N, 1, H, W]``, ``[N, 1, H/2, W/2]`` and ``[N, 1, H/2, W/2]``.
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["YCBCR_WEIGHTS", "rgb2ycbcr", "ycbcr2rgb", "yuv_420_to_444", "yuv_444_to_420"]

#: Luma weights ``(K_r, K_g, K_b)``, ``K_g = 1 - K_r - K_b``, by standard.
YCBCR_WEIGHTS = {"ITU-R_BT.709": (0.2126, 0.7152, 0.0722)}

DOWNSAMPLING_MODES = ("avg_pool",)
UPSAMPLING_MODES = ("bilinear", "bicubic", "nearest")


def _check_three_channels(tensor: object) -> Tensor:
    """``tensor`` if it is a floating-point ``[3, H, W]`` or ``[N, 3, H, W]`` tensor.

    Raises:
        ValueError: anything else.
    """
    if not (isinstance(tensor, Tensor) and tensor.is_floating_point() and tensor.dim() in (3, 4) and tensor.shape[-3] == 3):
        described = (
            f"{type(tensor).__name__} {tuple(tensor.shape)} {tensor.dtype}"
            if isinstance(tensor, Tensor)
            else type(tensor).__name__
        )
        raise ValueError(f"Expected a 3D or 4D floating-point tensor with shape (Nx3xHxW) or (3xHxW), got {described}")
    return tensor


def rgb2ycbcr(rgb: Tensor) -> Tensor:
    """RGB to YCbCr (BT.709, full range), channel axis ``-3``.

    Args:
        rgb: floating-point ``[3, H, W]`` or ``[N, 3, H, W]`` in ``[0, 1]``.

    Returns:
        ``Y, Cb, Cr`` stacked the same way, same shape and dtype.

    Raises:
        ValueError: not a floating-point tensor with 3 channels on axis ``-3``.
    """
    _check_three_channels(rgb)
    k_r, k_g, k_b = YCBCR_WEIGHTS["ITU-R_BT.709"]
    r, g, b = rgb.unbind(-3)
    y = k_r * r + k_g * g + k_b * b
    cb = (b - y) / (2 * (1 - k_b)) + 0.5
    cr = (r - y) / (2 * (1 - k_r)) + 0.5
    return torch.stack((y, cb, cr), dim=-3)


def ycbcr2rgb(ycbcr: Tensor) -> Tensor:
    """YCbCr (BT.709, full range) to RGB, the inverse of :func:`rgb2ycbcr`.

    Args:
        ycbcr: floating-point ``[3, H, W]`` or ``[N, 3, H, W]``.

    Returns:
        ``R, G, B`` stacked the same way, same shape and dtype.

    Raises:
        ValueError: not a floating-point tensor with 3 channels on axis ``-3``.
    """
    _check_three_channels(ycbcr)
    k_r, k_g, k_b = YCBCR_WEIGHTS["ITU-R_BT.709"]
    y, cb, cr = ycbcr.unbind(-3)
    r = y + 2 * (1 - k_r) * (cr - 0.5)
    b = y + 2 * (1 - k_b) * (cb - 0.5)
    g = (y - k_r * r - k_b * b) / k_g
    return torch.stack((r, g, b), dim=-3)


def yuv_444_to_420(yuv: Union[Tensor, Sequence[Tensor]], mode: str = "avg_pool") -> Tuple[Tensor, Tensor, Tensor]:
    """4:4:4 to 4:2:0: the chroma planes averaged over 2x2 blocks.

    Args:
        yuv: ``[N, 3, H, W]``, or a tuple of three ``[N, 1, H, W]`` planes.
        mode: ``"avg_pool"`` (the only one).

    Returns:
        ``(Y [N, 1, H, W], U [N, 1, H/2, W/2], V [N, 1, H/2, W/2])`` (odd sides round down).

    Raises:
        ValueError: another ``mode``.
    """
    if mode not in DOWNSAMPLING_MODES:
        raise ValueError(f'Invalid downsampling mode "{mode}" (one of {", ".join(DOWNSAMPLING_MODES)}).')
    y, u, v = yuv.chunk(3, 1) if isinstance(yuv, Tensor) else yuv
    return y, F.avg_pool2d(u, kernel_size=2, stride=2), F.avg_pool2d(v, kernel_size=2, stride=2)


def yuv_420_to_444(
    yuv: Sequence[Tensor], mode: str = "bilinear", return_tuple: bool = False
) -> Union[Tensor, Tuple[Tensor, Tensor, Tensor]]:
    """4:2:0 to 4:4:4: the chroma planes upsampled by 2.

    Args:
        yuv: ``(Y [N, 1, H, W], U [N, 1, H/2, W/2], V [N, 1, H/2, W/2])``.
        mode: ``"bilinear"`` (half-pixel centres, ``align_corners=False``),
            ``"bicubic"`` or ``"nearest"``.
        return_tuple: return the three ``[N, 1, H, W]`` planes instead of their
            concatenation ``[N, 3, H, W]``.

    Raises:
        ValueError: not three tensors, or another ``mode``.
    """
    if len(yuv) != 3 or not all(isinstance(plane, Tensor) for plane in yuv):
        raise ValueError("Expected a tuple of 3 torch tensors (Y, U, V)")
    if mode not in UPSAMPLING_MODES:
        raise ValueError(f'Invalid upsampling mode "{mode}" (one of {", ".join(UPSAMPLING_MODES)}).')
    y, u, v = yuv
    if mode == "nearest":
        u, v = (F.interpolate(c, scale_factor=2, mode=mode) for c in (u, v))
    else:
        u, v = (F.interpolate(c, scale_factor=2, mode=mode, align_corners=False) for c in (u, v))
    if return_tuple:
        return y, u, v
    return torch.cat((y, u, v), dim=1)
