"""The interface every benchmarked codec implements: :class:`BenchCodec` and :class:`BenchError`.

Kept apart from the codecs themselves so that the library codecs (:mod:`.codecs`) and the
executable ones (:mod:`.external`) both build on it without importing each other's
module first: ``base`` <- ``external`` <- ``codecs`` <- ``runner``, no cycle.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from neuralcodec.errors import NeuralCodecError

__all__ = ["BenchCodec", "BenchError"]


class BenchError(NeuralCodecError, RuntimeError):
    """A codec that is unavailable, was given a bad quality, or failed on an image."""


class BenchCodec:
    """The interface of a benchmarked codec; subclasses set the class attributes and two methods."""

    #: Name on the command line and in results files.
    name: str = ""
    #: One line on what the codec is (versions are added by :meth:`description`).
    summary: str = ""
    #: Whether it runs executables (and so takes ``--encoder``, ``--decoder``, ``--config``
    #: and ``--codec-arg``).
    takes_executables: bool = False
    #: Other command-line names of the first variant (e.g. ``jpeg`` for ``jpeg420``).
    aliases: Tuple[str, ...] = ()
    #: What the quality parameter means, with its range.
    quality_help: str = ""
    #: Valid quality range ``(low, high)``, inclusive.
    quality_range: Tuple[float, float] = (0, 100)
    #: Whether the quality must be an integer.
    integer_quality: bool = True
    #: Whether a higher quality parameter means more bits (False for QP-style parameters).
    higher_is_better: bool = True
    #: A sweep that covers about 0.1 to 2 bpp on photographs.
    default_qualities: Tuple[float, ...] = ()

    @classmethod
    def variants(cls) -> Dict[str, Dict[str, Any]]:
        """Command-line name -> the keyword arguments of :meth:`create` for it: one entry
        per name this class is benchmarked under (JPEG: ``jpeg420`` and ``jpeg444``)."""
        return {cls.name: {}}

    @classmethod
    def create(
        cls,
        encoder: Optional[str] = None,
        decoder: Optional[str] = None,
        config: Optional[str] = None,
        options: Sequence[str] = (),
        **variant: Any,
    ) -> "BenchCodec":
        """The codec of one :meth:`variants` entry; library codecs ignore the executable
        options (the registry refuses them before calling this)."""
        return cls(**variant)

    def unavailable_reason(self) -> Optional[str]:
        """None when the codec can run here, else a sentence saying what is missing."""
        return None

    def versions(self) -> Dict[str, str]:
        """Versions of the libraries or executables used, for the results file."""
        return {}

    def description(self) -> str:
        """The summary with the versions in use."""
        versions = ", ".join(f"{k} {v}" for k, v in self.versions().items())
        return f"{self.summary} ({versions})" if versions else self.summary

    def check_quality(self, quality: float) -> Any:
        """``quality`` as the codec takes it (int or float); raises :class:`BenchError` if invalid."""
        low, high = self.quality_range
        if not isinstance(quality, (int, float)) or isinstance(quality, bool) or not math.isfinite(quality):
            raise BenchError(f"{self.name}: quality must be a number, got {quality!r}")
        if self.integer_quality:
            if quality != int(quality):
                raise BenchError(f"{self.name}: quality must be an integer ({self.quality_help}), got {quality}")
            quality = int(quality)
        if not low <= quality <= high:
            raise BenchError(f"{self.name}: quality {quality} is outside {low}..{high} ({self.quality_help})")
        return quality

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        """The coded bytes of uint8 ``[H, W, 3]`` ``rgb`` at ``quality``."""
        raise NotImplementedError

    def decode(self, data: bytes, height: int, width: int) -> np.ndarray:
        """The uint8 ``[H, W, 3]`` image of ``data`` (``height``/``width`` for raw-output decoders)."""
        raise NotImplementedError
