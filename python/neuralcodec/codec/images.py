"""Reading input images into the 8-bit RGB the models code, and writing decoded ones
(:func:`save_image_atomic`).

Policy (also in ``docs/format.md``):

* 8-bit RGB is coded as it is. EXIF orientation is applied first (phones store
  portraits rotated), with a notice.
* Grayscale (``L``, bilevel ``1``) is coded as RGB and decoded back to grayscale; the file
  records it. Palette, CMYK, YCbCr, LAB and HSV images are converted to RGB with a notice.
* Alpha: a fully opaque alpha channel is dropped with a notice. Real transparency is
  refused (the models cannot keep it, and a user may care), unless ``drop_alpha`` is
  set: then the colour channels are coded as stored, without compositing.
* 16- and 32-bit images (``I;16``, ``I``, ``F``, 48/64-bit PNG and TIFF) are refused:
  converting them to 8 bits would silently lose precision. Convert them yourself.
* Animated images: only the first frame is coded, with a notice.
* The pixel count is checked against ``max_pixels`` before the pixels are decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from neuralcodec.codec.container import DEFAULT_MAX_PIXELS
from neuralcodec.codec.errors import ImageError
from neuralcodec.files import write_atomic
from neuralcodec.settings import IMAGE_SUFFIXES  # re-exported: the suffixes folders are searched for

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageConversionWarning",
    "LoadedImage",
    "load_image",
    "pixels_to_pil",
    "save_image_atomic",
    "unit_array_to_pixels",
]

_HIGH_DEPTH_MODES = {"I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16, "I": 32, "F": 32}
_ALPHA_MODES = {"RGBA": "RGB", "RGBa": "RGB", "LA": "L", "La": "L"}
_ORIENTATION = 0x0112
_CONVERTED_MODES = ("P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX")


@dataclass
class LoadedImage:
    """An image ready to code.

    Attributes:
        pixels: uint8 ``[H, W, 3]`` RGB.
        channels: 1 when the source was grayscale (so decoding gives grayscale), else 3.
        notes: what was converted on the way, one sentence each (the CLI prints them,
            :func:`neuralcodec.codec.encode_image` issues them as warnings).
        name: where the image came from, for messages.
        icc_profile: the source's ICC colour profile when it describes the coded pixels
            (an RGB profile for RGB, a gray one for grayscale), else ``None``.
        exif: the source's EXIF block (TIFF bytes) with the orientation reset to 1, since
            the pixels were turned upright; ``None`` when it had none.
    """

    pixels: np.ndarray
    channels: int = 3
    notes: List[str] = field(default_factory=list)
    name: str = "<image>"
    icc_profile: Optional[bytes] = None
    exif: Optional[bytes] = None

    @property
    def size(self) -> Tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


def _bits_per_sample(img: Any) -> int:
    """8, or the larger depth Pillow would silently truncate (48/64-bit PNG, 16-bit TIFF)."""
    if img.mode in _HIGH_DEPTH_MODES:
        return _HIGH_DEPTH_MODES[img.mode]
    for tile in getattr(img, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and (";16" in rawmode or ";32" in rawmode):
            return 32 if ";32" in rawmode else 16
    return 8


def _from_pil(img: Any, drop_alpha: bool, max_pixels: int, name: str) -> LoadedImage:
    from PIL import ImageOps

    notes: List[str] = []
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(f"{name}: the image is empty ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}x{height} = {width * height:,} pixels, more than max_pixels = {max_pixels:,} "
            "(raise it with --max-pixels / max_pixels=)"
        )
    bits = _bits_per_sample(img)
    if bits != 8:
        raise ImageError(
            f"{name}: {bits}-bit {img.mode} images are not supported: the models code 8-bit RGB, and "
            "converting would silently drop precision; convert the image to 8 bits first"
        )
    frames = int(getattr(img, "n_frames", 1) or 1)
    if frames > 1:
        notes.append(f"{frames} frames: only the first is coded")
    icc_profile = img.info.get("icc_profile") or None
    source_mode = img.mode
    exif_bytes: Optional[bytes] = None
    try:
        from PIL import Image

        exif = img.getexif()
        orientation = int(exif.get(_ORIENTATION, 1))
        if len(exif):
            upright = Image.Exif()  # a copy: the image's own block still drives exif_transpose
            upright.load(exif.tobytes())
            if _ORIENTATION in upright:
                upright[_ORIENTATION] = 1
            exif_bytes = upright.tobytes() or None
    except Exception:  # a broken EXIF block is no reason to refuse the pixels
        orientation, exif_bytes = 1, None
    if orientation in range(2, 9):
        img = ImageOps.exif_transpose(img)
        notes.append(f"turned upright as its EXIF orientation ({orientation}) says")

    mode = img.mode
    if mode == "P":
        has_alpha = "transparency" in img.info or (img.palette is not None and img.palette.mode == "RGBA")
        img = img.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette image converted to RGB")
        mode = img.mode
    if mode == "PA":
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        alpha = np.asarray(img.getchannel("A"))
        img = img.convert(_ALPHA_MODES[mode])
        if alpha.size and int(alpha.min()) == 255:
            notes.append("fully opaque alpha channel dropped")
        elif drop_alpha:
            notes.append("transparency dropped (drop_alpha): colours coded as stored, not composited")
        else:
            raise ImageError(
                f"{name}: the image has transparency, which the codec cannot keep; pass --drop-alpha "
                "(drop_alpha=True) to code its colours without it"
            )
        mode = img.mode
    channels = 3
    if mode == "1":
        img = img.convert("L")
        notes.append("bilevel image converted to grayscale")
        mode = "L"
    if mode == "L":
        channels = 1
        notes.append("grayscale: coded as RGB, decoded back to grayscale")
        img = img.convert("RGB")
    elif mode in _CONVERTED_MODES:
        notes.append(f"{mode} converted to RGB")
        img = img.convert("RGB")
    elif mode != "RGB":
        try:
            img = img.convert("RGB")
        except (ValueError, OSError) as error:
            raise ImageError(f"{name}: cannot convert mode {mode} to RGB: {error}") from None
        notes.append(f"{mode} converted to RGB")
    pixels = np.array(img, dtype=np.uint8)  # writable: the codec views it as a tensor without a copy
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ImageError(f"{name}: could not read RGB pixels (got an array of shape {pixels.shape})")
    if icc_profile is not None and _icc_colour_space(icc_profile) != (b"GRAY" if channels == 1 else b"RGB "):
        notes.append(f"the {source_mode} image's ICC profile does not describe the converted pixels: dropped")
        icc_profile = None
    return LoadedImage(np.ascontiguousarray(pixels), channels, notes, name, icc_profile, exif_bytes)


def _icc_colour_space(profile: bytes) -> bytes:
    """The data colour space of an ICC profile (bytes 16-19 of its header: ``b"RGB "``,
    ``b"GRAY"``, ``b"CMYK"``, ...), or ``b""`` for a profile too short to have one."""
    return bytes(profile[16:20]) if len(profile) >= 128 else b""


def _from_array(array: np.ndarray, name: str, max_pixels: int) -> LoadedImage:
    if array.dtype != np.uint8:
        raise ImageError(f"{name}: arrays must be uint8 [H, W] or [H, W, 3], got dtype {array.dtype}")
    if array.ndim == 2:
        array, channels = np.repeat(array[:, :, None], 3, axis=2), 1
    elif array.ndim == 3 and array.shape[2] == 3:
        channels = 3
    else:
        raise ImageError(f"{name}: arrays must be uint8 [H, W] or [H, W, 3], got shape {array.shape}")
    height, width = array.shape[:2]
    if height < 1 or width < 1:
        raise ImageError(f"{name}: the image is empty ({width}x{height})")
    if height * width > max_pixels:
        raise ImageError(f"{name}: {width}x{height} pixels, more than max_pixels = {max_pixels:,}")
    return LoadedImage(np.ascontiguousarray(array), channels, [], name)


ImageSource = Union[str, Path, "np.ndarray", Any]


def load_image(source: ImageSource, *, drop_alpha: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Reads an image to code: a file path, a ``PIL.Image.Image``, or a uint8 array
    ``[H, W]`` / ``[H, W, 3]`` (a :class:`LoadedImage` passes through).

    Raises:
        ImageError: unreadable file, unsupported depth, transparency without
            ``drop_alpha``, more than ``max_pixels`` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, LoadedImage):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, "<array>", max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, drop_alpha, max_pixels, "<image>")
    if not isinstance(source, (str, Path)):
        raise TypeError(
            f"expected an image path, a PIL image, a uint8 array or a tensor, got {type(source).__name__}"
        )
    path = Path(source)
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check replaces Pillow's decompression-bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                loaded = _from_pil(img, drop_alpha, max_pixels, str(path))
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path}: {error}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        # Pillow raises all of these for truncated or malformed files.
        raise ImageError(f"{path}: cannot read the image: {error}") from None
    return loaded


def pixels_to_pil(pixels: np.ndarray, channels: int = 3) -> Any:
    """A ``PIL.Image`` from uint8 ``[H, W, 3]`` RGB; grayscale (``L``) when ``channels == 1``."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    return img.convert("L") if channels == 1 else img


def unit_array_to_pixels(x: np.ndarray) -> np.ndarray:
    """A decoded image as 8-bit pixels, for the decoders that run without torch: NaN as
    0, clamp to ``[0, 1]``, ``round(255 * x)`` half to even in float32, as uint8; same
    shape. The rule and the bits of :func:`neuralcodec.models.base.unit_to_pixels` (the
    owner, on tensors; ``tests/test_codec_images_pixels.py`` checks that they agree)."""
    unit = np.clip(np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0), 0.0, 1.0)
    return np.round(unit * np.float32(255.0)).astype(np.uint8)


#: Pillow ``save`` options per format, so a decoded image is not degraded again.
_SAVE_OPTIONS: Dict[str, Dict[str, Any]] = {"WEBP": {"lossless": True}, "JPEG": {"quality": 95}}
#: Output formats that carry an ICC profile and an EXIF block.
_METADATA_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")


class ImageConversionWarning(UserWarning):
    """An input image was converted before coding (grayscale, palette, alpha dropped, ...)."""



def save_image_atomic(image: Any, path: Union[str, Path], *, force: bool = False, format: Optional[str] = None) -> None:
    """Saves a ``PIL.Image`` with :func:`write_atomic`; the format comes from the suffix
    (default PNG). WebP is written lossless and JPEG at quality 95, so decoding does not
    degrade the image again.

    Raises:
        ValueError: the suffix names no format Pillow can write.
    """
    from PIL import Image

    path = Path(path)
    if format is None:
        format = Image.registered_extensions().get(path.suffix.lower(), "PNG") if path.suffix else "PNG"
    buffer = io.BytesIO()
    try:
        options = dict(_SAVE_OPTIONS.get(format.upper(), {}))
        for key in ("icc_profile", "exif"):  # the metadata a decoded image carries
            if image.info.get(key) and format.upper() in _METADATA_FORMATS:
                options[key] = image.info[key]
        image.save(buffer, format=format, **options)
    except (KeyError, OSError, ValueError) as error:
        raise ValueError(f"cannot write {path} as {format}: {error}") from None
    write_atomic(path, buffer.getvalue(), force=force)
