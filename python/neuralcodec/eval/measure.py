"""Distortion of one decoded image against its original: PSNR-RGB and MS-SSIM-RGB.

Both codec families are measured alike: on 8-bit RGB pixels (a learned model's output
is rounded to 8 bits first, as a decoder writing an image file would), PSNR from the MSE
over all pixels and the three channels, MS-SSIM by :func:`neuralcodec.metrics.ms_ssim`
on ``[0, 1]`` values (float64, so the figure does not depend on the device).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

import numpy as np

if TYPE_CHECKING:
    import torch

from neuralcodec.eval.results import PSNR_CAP

__all__ = ["distortion", "to_uint8"]


def to_uint8(x: "torch.Tensor") -> np.ndarray:
    """A ``[1, 3, H, W]`` (or ``[3, H, W]``) float tensor in ``[0, 1]`` as uint8 ``[H, W, 3]``."""
    import torch

    if not isinstance(x, torch.Tensor) or x.dim() not in (3, 4):
        raise TypeError(f"expected a [1, 3, H, W] tensor, got {type(x).__name__} {getattr(x, 'shape', '')}")
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {x.shape[0]}")
        x = x[0]
    from neuralcodec.models.base import unit_to_pixels  # the one float -> uint8 conversion

    return unit_to_pixels(x.detach().float().clone()).permute(1, 2, 0).cpu().numpy()


def distortion(original: np.ndarray, decoded: np.ndarray) -> Dict[str, float]:
    """``{"psnr-rgb": dB, "ms-ssim-rgb": [0, 1]}`` of two uint8 ``[H, W, 3]`` images.

    Raises:
        ValueError: the images differ in shape or are not 8-bit RGB.
    """
    import torch

    from neuralcodec.metrics import ms_ssim, psnr_8bit

    if original.shape != decoded.shape or original.ndim != 3 or original.shape[2] != 3:
        raise ValueError(f"decoded image {decoded.shape} does not match the original {original.shape} (H, W, 3)")
    psnr = psnr_8bit(original, decoded, cap=PSNR_CAP)  # also checks that both are uint8
    a = torch.from_numpy(original).permute(2, 0, 1)[None].to(torch.float64) / 255
    b = torch.from_numpy(decoded).permute(2, 0, 1)[None].to(torch.float64) / 255
    return {"psnr-rgb": psnr, "ms-ssim-rgb": float(ms_ssim(a, b, data_range=1.0))}
