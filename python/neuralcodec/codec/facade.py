"""Coding images to neuralcodec files and back in one call: :func:`encode_image`,
:func:`decode_image`, and file helpers that never leave half-written files.

The model a file was made with is recorded in its header, so :func:`decode_image` finds it
without being told (:func:`decoder_for`): neuralcodec's shipped weights, or CompressAI's
published ones (downloaded once and verified). Files made with a user's checkpoint need
that model passed in; a model with other weights is refused with a
:class:`~neuralcodec.codec.ModelMismatchError` naming both. Each function builds or takes a
:class:`~neuralcodec.codec.codec.Codec` and calls it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Optional, Union

from torch import Tensor

from neuralcodec.codec.codec import Codec, Device, PathLike, Size
from neuralcodec.codec.container import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_STRING_BYTES,
    DEFAULT_MAX_STRINGS,
    Header,
    ModelIdentity,
    unpack,
)
from neuralcodec.codec.identity import architecture_of
from neuralcodec.codec.images import ImageConversionWarning, LoadedImage, load_image, save_image_atomic
from neuralcodec.files import write_atomic
from neuralcodec.models.base import CompressionModel

__all__ = [
    "ModelLike",
    "decode_file",
    "decode_image",
    "decoder_for",
    "encode_file",
    "encode_image",
    "identity_of",
]

ModelLike = Union[CompressionModel, Codec, str, Path, None]


def _encoder(
    model: ModelLike, quality: Optional[float], architecture: Optional[str], metric: Optional[str], device: Device
) -> Codec:
    if isinstance(model, Codec):
        return model if device is None else Codec(
            model.model, architecture=model.identity.architecture,
            quality=model.quality if model.quality is not None else model.identity.quality,
            metric=model.identity.metric, origin=model.identity.origin, device=device,
        )
    if isinstance(model, CompressionModel):
        return Codec(model, architecture=architecture, quality=quality, metric=metric or "", device=device)
    if model is not None and not isinstance(model, (str, Path)):
        raise TypeError(f"model must be a CompressionModel, a Codec or a checkpoint path, got {type(model).__name__}")
    # A path: that checkpoint; else CompressAI's named architecture, else the shipped weights.
    return Codec.load(architecture, quality, metric, checkpoint=model, device=device or "cpu")


def encode_image(
    image: Any,
    model: ModelLike = None,
    *,
    quality: Optional[float] = None,
    bpp: Optional[float] = None,
    size: Optional[Size] = None,
    architecture: Optional[str] = None,
    metric: Optional[str] = None,
    coding_path: Optional[str] = None,
    device: Device = None,
    drop_alpha: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    metadata: str = "icc",
    effort: int = 0,
) -> bytes:
    """Compresses an image into the bytes of a neuralcodec file (``docs/format.md``).

    Args:
        image: a path, a ``PIL.Image``, a uint8 array ``[H, W]`` or ``[H, W, 3]``, or a
            float tensor ``[3, H, W]`` / ``[1, 3, H, W]`` in ``[0, 1]``. Any size.
        model: a :class:`Codec`, a model with built CDF tables, or a checkpoint path;
            default: neuralcodec's shipped weights at ``quality``, or CompressAI's
            ``architecture`` at ``quality`` when an architecture is named.
        quality, architecture, metric: pick the model (or label a given one). A
            variable-rate model takes any quality within its range (e.g. ``2.5``) and
            codes at it; other models take their integer rate points.
        bpp, size: instead of a quality, a target for a variable-rate model: the
            largest file found that is not over ``bpp`` bits per pixel, or ``size`` bytes
            (an int, or ``"30KB"``, ``"1.5MiB"``...); see :meth:`Codec.encode_target`.
        coding_path: the coding path to use (default: the model's).
        device: run the model there (``"cpu"``, ``"cuda"``).
        drop_alpha: code images with real transparency without their alpha channel.
        max_pixels: refuse larger images.
        metadata: ``"icc"`` (default) keeps the source's ICC colour profile, ``"all"``
            also its EXIF block (orientation reset to 1, as the pixels are upright),
            ``"none"`` neither; :func:`decode_image` gives them back in the ``PIL.Image``'s
            ``info`` and :func:`decode_file` writes them into PNG, JPEG, WebP and TIFF.
        effort: 1-3 fit the latent to the image before coding (smaller files at the same
            quality, slower encoding, the same decoder); see :meth:`Codec.encode`.

    Conversions (grayscale, palette, opaque alpha, EXIF rotation) are reported as
    :class:`ImageConversionWarning`.

    Raises:
        ImageError: the image cannot be read or coded as it is.
        ModelNotFoundError: the default or zoo weights are not available.
        TargetOutOfRangeError: a ``bpp``/``size`` the model cannot reach for the image.
        ValueError: a fractional quality or a target for a model with discrete rate
            points, a quality outside a variable-rate model's range, an effort the model
            or the image cannot take.
    """
    if quality is not None and (bpp is not None or size is not None):
        raise ValueError("give a quality or a target (bpp=, size=), not both")
    codec = _encoder(model, quality, architecture, metric, device)
    if not isinstance(image, (Tensor, LoadedImage)):
        image = load_image(image, drop_alpha=drop_alpha, max_pixels=max_pixels)
    if isinstance(image, LoadedImage):
        for note in image.notes:
            warnings.warn(f"{image.name}: {note}", ImageConversionWarning, stacklevel=2)
    per_image = quality if codec.quality is not None and quality not in (None, 0) else None
    return codec.encode(
        image, quality=per_image, bpp=bpp, size=size, drop_alpha=drop_alpha, max_pixels=max_pixels,
        coding_path=coding_path, metadata=metadata, effort=effort,
    )


def decoder_for(
    header: Header, model: ModelLike = None, device: Device = None, progress: bool = True
) -> Codec:
    """The :class:`Codec` to decode a file with this header: ``model`` when given (a
    model, a Codec or a checkpoint path), else the model the header names."""
    if isinstance(model, Codec):
        return model
    if isinstance(model, CompressionModel):  # a class outside the zoo takes the file's name
        return Codec(model, architecture=architecture_of(model) or header.model.architecture, device=device)
    if isinstance(model, (str, Path)):
        return Codec.from_checkpoint(model, architecture=header.model.architecture, device=device or "cpu")
    if model is not None:
        raise TypeError(f"model must be a CompressionModel, a Codec or a checkpoint path, got {type(model).__name__}")
    return Codec.for_header(header, device or "cpu", progress)


def decode_image(
    data: Union[bytes, bytearray, memoryview, str, Path],
    model: ModelLike = None,
    *,
    output: str = "pil",
    device: Device = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_strings: int = DEFAULT_MAX_STRINGS,
    max_string_bytes: int = DEFAULT_MAX_STRING_BYTES,
) -> Any:
    """Decodes a neuralcodec file, given as its bytes or its path (as :func:`encode_image`
    takes an image or its path).

    Args:
        data: the whole file's bytes, or the path of the file (``str`` or ``Path``).
        model: the model to decode with (a model, a :class:`Codec` or a checkpoint
            path); default: the one the file names (shipped or CompressAI weights).
        output: ``"pil"`` (a ``PIL.Image``, ``RGB``, or ``L`` when the source was
            grayscale), ``"numpy"`` (uint8 ``[H, W, 3]``, or ``[H, W]`` for grayscale),
            or ``"tensor"`` (float ``[1, 3, H, W]`` in [0, 1] on the model's device).
        device: run the model there.
        max_pixels, max_strings, max_string_bytes: limits checked against the header
            before anything is allocated.

    Raises:
        FormatError: not a neuralcodec file, truncated, corrupted, malformed, beyond
            the limits (:class:`LimitExceededError`) or from a newer version
            (:class:`UnsupportedVersionError`).
        ModelMismatchError: ``model`` is not the file's model.
        ModelNotFoundError: the file's model is not available here.
        OSError: ``data`` is a path that cannot be read.
    """
    if isinstance(data, (str, Path)):
        data = Path(data).read_bytes()
    header, strings = unpack(data, max_pixels=max_pixels, max_strings=max_strings, max_string_bytes=max_string_bytes)
    return decoder_for(header, model, device).decode_parsed(header, strings, output=output)


def encode_file(
    source: Any, destination: PathLike, model: ModelLike = None, *, force: bool = False, **options: Any
) -> bytes:
    """Compresses ``source`` (see :func:`encode_image`) into the file ``destination``
    (written atomically, never overwritten unless ``force``); returns the bytes."""
    destination = Path(destination)
    if not force and os.path.lexists(destination):
        raise FileExistsError(f"{destination} exists; pass --force (force=True) to overwrite it")
    data = encode_image(source, model, **options)
    write_atomic(destination, data, force=force)
    return data


def decode_file(
    source: PathLike, destination: PathLike, model: ModelLike = None, *, force: bool = False, **options: Any
) -> Any:
    """Decodes the file ``source`` into the image file ``destination`` (format from its
    suffix, default PNG; written atomically, never overwritten unless ``force``);
    returns the ``PIL.Image``."""
    destination = Path(destination)
    if not force and os.path.lexists(destination):
        raise FileExistsError(f"{destination} exists; pass --force (force=True) to overwrite it")
    image = decode_image(Path(source), model, output="pil", **options)
    save_image_atomic(image, destination, force=force)
    return image


def identity_of(model: ModelLike) -> ModelIdentity:
    """The identity a file made with ``model`` records (see :func:`encode_image`'s ``model``)."""
    return _encoder(model, None, None, None, None).identity
