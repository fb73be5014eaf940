"""Callable transforms wrapping :mod:`neuralcodec.transforms.functional`, to compose
with torchvision's (``Compose([ToTensor(), RGB2YCbCr()])``)."""

from __future__ import annotations

from typing import Sequence, Tuple, Union

from torch import Tensor

from neuralcodec.transforms import functional

__all__ = ["RGB2YCbCr", "YCbCr2RGB", "YUV420To444", "YUV444To420"]


class RGB2YCbCr:
    """RGB to YCbCr (:func:`~neuralcodec.transforms.functional.rgb2ycbcr`), for
    ``[3, H, W]`` or ``[N, 3, H, W]`` floats in ``[0, 1]``."""

    def __call__(self, rgb: Tensor) -> Tensor:
        return functional.rgb2ycbcr(rgb)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class YCbCr2RGB:
    """YCbCr to RGB (:func:`~neuralcodec.transforms.functional.ycbcr2rgb`), for
    ``[3, H, W]`` or ``[N, 3, H, W]`` floats."""

    def __call__(self, ycbcr: Tensor) -> Tensor:
        return functional.ycbcr2rgb(ycbcr)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class YUV444To420:
    """4:4:4 to a 4:2:0 ``(Y, U, V)`` tuple
    (:func:`~neuralcodec.transforms.functional.yuv_444_to_420`).

    Args:
        mode: ``"avg_pool"``.
    """

    def __init__(self, mode: str = "avg_pool") -> None:
        self.mode = str(mode)

    def __call__(self, yuv: Union[Tensor, Sequence[Tensor]]) -> Tuple[Tensor, Tensor, Tensor]:
        return functional.yuv_444_to_420(yuv, mode=self.mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class YUV420To444:
    """A 4:2:0 ``(Y, U, V)`` tuple to 4:4:4
    (:func:`~neuralcodec.transforms.functional.yuv_420_to_444`).

    Args:
        mode: ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.
        return_tuple: give three planes instead of one ``[N, 3, H, W]`` tensor.
    """

    def __init__(self, mode: str = "bilinear", return_tuple: bool = False) -> None:
        self.mode = str(mode)
        self.return_tuple = bool(return_tuple)

    def __call__(self, yuv: Sequence[Tensor]) -> Union[Tensor, Tuple[Tensor, Tensor, Tensor]]:
        return functional.yuv_420_to_444(yuv, mode=self.mode, return_tuple=self.return_tuple)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(return_tuple={self.return_tuple})"
