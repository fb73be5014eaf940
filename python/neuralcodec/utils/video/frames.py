"""Frames of raw YUV 4:2:0 videos as tensors, and their distortion: the measurements that
:mod:`neuralcodec.utils.video.eval_model` and :mod:`neuralcodec.utils.video.bench` share.

A frame of :class:`neuralcodec.datasets.RawVideoSequence` is a record of three planes
(``y`` ``[H, W]``, ``u`` and ``v`` ``[H/2, W/2]``) of integers in ``[0, 2^bitdepth - 1]``.
Colour conversion is CompressAI's (:mod:`neuralcodec.transforms.functional`), chroma upsampled
bicubically and downsampled by 2x2 averaging, as CompressAI's tools do. Distortion is
measured on integer sample values (``round(clamp(v * max, 0, max))``), PSNR and MS-SSIM by
:mod:`neuralcodec.metrics` with ``data_range = max``.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple, Union, cast

import numpy as np
import torch
from torch import Tensor

from neuralcodec.metrics import ms_ssim, psnr
from neuralcodec.transforms.functional import rgb2ycbcr, ycbcr2rgb, yuv_420_to_444, yuv_444_to_420

__all__ = ["Frame", "plane_psnrs", "rgb_distortion", "rgb_to_yuv420", "to_tensors", "yuv420_to_rgb"]

#: Three planes (Y, U, V) as tensors.
Frame = Union[Tuple[Tensor, Tensor, Tensor], Tuple[Tensor, ...]]


def to_tensors(frame: Sequence[np.ndarray], max_value: int = 1, device: Union[str, torch.device] = "cpu") -> Frame:
    """The planes of ``frame`` as float32 tensors divided by ``max_value`` (2-D each)."""
    return tuple(torch.from_numpy(np.true_divide(plane, max_value, dtype=np.float32)).to(device) for plane in frame)


def _batched(planes: Sequence[Tensor]) -> Tuple[Tensor, ...]:
    return tuple(p if p.dim() == 4 else p.reshape(1, 1, *p.shape[-2:]) for p in planes)


def yuv420_to_rgb(frame: Sequence[np.ndarray], device: Union[str, torch.device], max_val: int) -> Tensor:
    """A YUV 4:2:0 frame (samples up to ``max_val``) as RGB float ``[1, 3, H, W]`` in
    about ``[0, 1]`` (not clamped)."""
    planes = _batched(to_tensors(frame, max_value=max_val, device=device))
    return ycbcr2rgb(cast(Tensor, yuv_420_to_444(planes, mode="bicubic")))


def rgb_to_yuv420(rgb: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """RGB ``[N, 3, H, W]`` in ``[0, 1]`` as YUV 4:2:0 planes ``([N, 1, H, W], [N, 1, H/2,
    W/2], [N, 1, H/2, W/2])`` in ``[0, 1]``."""
    return yuv_444_to_420(rgb2ycbcr(rgb), mode="avg_pool")


def _samples(x: Tensor, max_val: int) -> Tensor:
    return (x * max_val).clamp(0, max_val).round()


def plane_psnrs(original: Sequence[Tensor], decoded: Sequence[Tensor], max_val: int) -> Dict[str, Tensor]:
    """``psnr-y``, ``psnr-u``, ``psnr-v`` (dB) of two YUV frames given as planes in
    ``[0, 1]``, measured on integer samples, and ``psnr-yuv = (4 Y + U + V) / 6``."""
    out: Dict[str, Any] = {}
    for component, a, b in zip("yuv", _batched(original), _batched(decoded)):
        out[f"psnr-{component}"] = psnr(_samples(a, max_val), _samples(b, max_val), data_range=max_val)
    out["psnr-yuv"] = (4 * out["psnr-y"] + out["psnr-u"] + out["psnr-v"]) / 6
    return out


def rgb_distortion(original: Tensor, decoded: Tensor, max_val: int) -> Dict[str, Tensor]:
    """``mse-rgb``, ``psnr-rgb`` (dB) and ``ms-ssim-rgb`` of two RGB frames ``[1, 3, H, W]``
    in ``[0, 1]``, measured on integer samples."""
    a, b = _samples(original, max_val), _samples(decoded, max_val)
    return {
        "mse-rgb": (a - b).pow(2).mean(),
        "psnr-rgb": psnr(a, b, data_range=max_val),
        "ms-ssim-rgb": ms_ssim(a, b, data_range=max_val),
    }
