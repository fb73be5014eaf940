"""Image-tensor transforms, at CompressAI's ``compressai.transforms`` path.

:class:`RGB2YCbCr`, :class:`YCbCr2RGB`, :class:`YUV444To420`, :class:`YUV420To444`
(:mod:`~neuralcodec.transforms.transforms`) and their functions
(:mod:`~neuralcodec.transforms.functional`). CompressAI's point-cloud transforms
(:mod:`~neuralcodec.transforms.point`) are not provided; their names raise an
:class:`ImportError` that says so.
"""

from __future__ import annotations

from typing import Any

from neuralcodec.transforms import functional, point
from neuralcodec.transforms.transforms import RGB2YCbCr, YCbCr2RGB, YUV420To444, YUV444To420

__all__ = ["RGB2YCbCr", "YCbCr2RGB", "YUV420To444", "YUV444To420", "functional", "point"]


def __getattr__(name: str) -> Any:
    if name in point.UNAVAILABLE:
        return getattr(point, name)  # raises the ImportError that explains
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
