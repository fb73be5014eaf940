"""The exceptions of :mod:`neuralcodec.codec`.

Every problem a caller can cause (a damaged file, a wrong model, an image the models
cannot code) raises a subclass of :class:`CodecError`, itself a ``ValueError``, with a
message that says what is wrong and what to do. Catch :class:`FormatError` for "this
file cannot be decoded as it is" (corrupted, truncated, not a neuralcodec file, too
large for the configured limits, written by a newer version).
"""

from __future__ import annotations

from typing import Optional, Tuple

from neuralcodec.errors import NeuralCodecError

__all__ = [
    "CodecError",
    "FormatError",
    "ImageError",
    "LimitExceededError",
    "ModelMismatchError",
    "ModelNotFoundError",
    "TargetOutOfRangeError",
    "UnsupportedVersionError",
]


class CodecError(NeuralCodecError, ValueError):
    """Base class of every error :mod:`neuralcodec.codec` raises for bad input."""


class FormatError(CodecError):
    """The bytes are not a decodable neuralcodec image file.

    Raised for anything wrong with a file: wrong magic bytes, truncation, a checksum
    mismatch, malformed or inconsistent header fields, strings the coder cannot decode,
    trailing data. A corrupted file is always reported with this class (or a subclass),
    never decoded to garbage.
    """


class UnsupportedVersionError(FormatError):
    """The file uses a newer format version than this neuralcodec reads.

    Attributes:
        version: the file's format version.
        supported: the newest version this installation reads.
    """

    def __init__(self, version: int, supported: int) -> None:
        self.version = version
        self.supported = supported
        super().__init__(
            f"this file uses neuralcodec image format version {version}, but this installation reads "
            f"versions up to {supported}: upgrade neuralcodec to a release that reads format version {version}"
        )


class LimitExceededError(FormatError):
    """A header declares sizes beyond the configured limits (refused before allocating).

    Attributes:
        limit: the name of the limit (the keyword argument that raises it).
    """

    def __init__(self, message: str, limit: Optional[str] = None) -> None:
        self.limit = limit
        super().__init__(message)


class ModelMismatchError(CodecError):
    """The model at hand is not the one the file was made with (other weights,
    architecture or coding path); the message names both."""


class ModelNotFoundError(CodecError):
    """The model a file needs cannot be obtained here (weights not installed, not
    downloadable, or a private checkpoint that must be passed explicitly)."""


class ImageError(CodecError):
    """An input image cannot be read or coded as it is (unreadable, 16-bit, real
    transparency without ``drop_alpha``, more pixels than allowed)."""


class TargetOutOfRangeError(CodecError):
    """A target size (``--bpp``, ``--size``) that the model cannot reach for this image:
    under its smallest file or well over its largest.

    Attributes:
        target: the target, in bytes.
        reachable: ``(smallest, largest)`` file sizes in bytes, at the ends of the range.
        qualities: ``(low, high)``, the quality range.
        pixels: the image's pixels (for bpp in the message), or None.
    """

    def __init__(
        self, target: int, reachable: Tuple[int, int], qualities: Tuple[float, float], pixels: Optional[int] = None
    ) -> None:
        self.target, self.reachable, self.qualities, self.pixels = target, reachable, qualities, pixels

        def amount(nbytes: int) -> str:
            return f"{nbytes:,} bytes" + (f" ({8 * nbytes / pixels:.4g} bpp)" if pixels else "")

        smallest, largest = reachable
        low, high = qualities
        where = "below the smallest file" if target < smallest else "above the largest file"
        super().__init__(
            f"the target of {amount(target)} is {where} the model writes for this image: it reaches "
            f"{amount(smallest)} at quality {low:g} to {amount(largest)} at quality {high:g}"
        )
