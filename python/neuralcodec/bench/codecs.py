"""Classical image codecs behind one interface, for rate-distortion benchmarks.

A :class:`BenchCodec` turns an 8-bit RGB image (``[H, W, 3]`` uint8) and a quality
parameter into bytes (:meth:`BenchCodec.encode`) and back (:meth:`BenchCodec.decode`);
what the parameter means is the codec's own (:attr:`BenchCodec.quality_help`). The bytes are the
whole file the codec writes (headers included), which is what ``bpp`` counts.

Library codecs (this module) run in-process:

==========  =================================================================
name        codec and quality parameter
==========  =================================================================
jpeg420     JPEG through Pillow (libjpeg-turbo), 4:2:0 chroma; quality 1..100
jpeg444     the same with 4:4:4 chroma (no subsampling)
webp        WebP through Pillow (libwebp), lossy, default method 4; quality 0..100
jpeg2000    JPEG 2000 through Pillow (OpenJPEG), 9/7 wavelet and colour transform;
            quality = compression ratio (24 / ratio is the target bpp before headers)
avif        AVIF through Pillow's built-in plugin (libavif, 4:2:0, speed 6);
            quality 0..100
jpegxl      JPEG XL through imagecodecs (libjxl, effort 7); quality 0..100 as
            ``cjxl -q`` (or the cjxl/djxl executables, see :mod:`.external`)
heif        HEIF/HEVC intra through pillow-heif (libheif + x265, 4:2:0); quality 0..100
==========  =================================================================

Executable codecs (BPG, VTM, HM, aomenc, cjxl) are in :mod:`neuralcodec.bench.external`.
Codecs whose library or executable is missing say why through
:meth:`BenchCodec.unavailable_reason` instead of failing mid-run. Codec objects are plain
and picklable, so worker processes can run them.

Each class names itself (:attr:`BenchCodec.name`, :attr:`BenchCodec.summary`, and the
names it is benchmarked under, :meth:`BenchCodec.variants`): the registry of
``neuralcodec bench`` (:data:`neuralcodec.bench.runner.CODECS`) is built from them. The
names are ``BenchCodec``/``BenchError`` so that they do not clash with the learned
codec's :class:`neuralcodec.codec.Codec` and :class:`neuralcodec.codec.BenchError`.

Every codec is pinned to one thread where the library allows it, so that parallel
workers do not compete and timings are per core.
"""

from __future__ import annotations

import io
import math
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from neuralcodec.errors import NeuralCodecError

__all__ = [
    "AVIF",
    "BenchCodec",
    "BenchError",
    "HEIF",
    "JPEG",
    "JPEG2000",
    "JPEGXL",
    "PillowCodec",
    "WebP",
]


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


def _pil_rgb(data: bytes, name: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.array(img.convert("RGB"), dtype=np.uint8)
    except Exception as error:  # Pillow raises several types for corrupt data
        raise BenchError(f"{name}: cannot decode the coded image: {error}") from error


class PillowCodec(BenchCodec):
    """A codec that Pillow saves and opens (format :attr:`pil_format`, feature :attr:`pil_feature`)."""

    pil_format = ""
    pil_feature = ""
    pil_library = ""

    def unavailable_reason(self) -> Optional[str]:
        from PIL import features

        if not features.check(self.pil_feature):
            return f"{self.name}: this Pillow has no {self.pil_feature} support"
        return None

    def versions(self) -> Dict[str, str]:
        import PIL
        from PIL import features

        info = {"Pillow": PIL.__version__}
        version = features.version(self.pil_feature)
        if version:
            info[self.pil_library] = str(version)
        return info

    def save_options(self, quality: Any) -> Dict[str, Any]:
        """Keyword arguments of ``Image.save`` for ``quality``."""
        raise NotImplementedError

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        from PIL import Image

        quality = self.check_quality(quality)
        buffer = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buffer, format=self.pil_format, **self.save_options(quality))
        return buffer.getvalue()

    def decode(self, data: bytes, height: int, width: int) -> np.ndarray:
        return _pil_rgb(data, self.name)


class JPEG(PillowCodec):
    """JPEG (libjpeg-turbo through Pillow), baseline with the standard tables, 4:2:0 or 4:4:4."""

    pil_format, pil_feature, pil_library = "JPEG", "jpg", "libjpeg"
    quality_help = "libjpeg quality 1..100"
    quality_range = (1, 100)
    default_qualities = (3, 5, 8, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 85, 90)
    aliases = ("jpeg",)  # what everyone means by JPEG

    @classmethod
    def variants(cls) -> Dict[str, Dict[str, Any]]:
        return {"jpeg420": {"subsampling": "4:2:0"}, "jpeg444": {"subsampling": "4:4:4"}}

    def __init__(self, subsampling: str = "4:2:0") -> None:
        if subsampling not in ("4:2:0", "4:4:4"):
            raise ValueError(f"JPEG subsampling must be '4:2:0' or '4:4:4', got {subsampling!r}")
        self.subsampling = subsampling
        self.name = "jpeg420" if subsampling == "4:2:0" else "jpeg444"
        self.summary = f"JPEG, {subsampling} chroma, standard tables"

    def versions(self) -> Dict[str, str]:
        from PIL import features

        info = super().versions()
        if features.check("libjpeg_turbo"):
            info["libjpeg-turbo"] = str(features.version("libjpeg_turbo"))
        return info

    def save_options(self, quality: Any) -> Dict[str, Any]:
        return {"quality": quality, "subsampling": 2 if self.subsampling == "4:2:0" else 0}


class WebP(PillowCodec):
    """Lossy WebP (libwebp through Pillow), Pillow's default method 4."""

    name = "webp"
    summary = "WebP lossy, method 4"
    pil_format, pil_feature, pil_library = "WEBP", "webp", "libwebp"
    quality_help = "libwebp quality 0..100"
    default_qualities = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90)

    def save_options(self, quality: Any) -> Dict[str, Any]:
        return {"quality": quality, "lossless": False, "method": 4}


class JPEG2000(PillowCodec):
    """JPEG 2000 (OpenJPEG through Pillow): irreversible 9/7 wavelet, colour transform, one layer."""

    name = "jpeg2000"
    summary = "JPEG 2000 (9/7 wavelet, ICT), rate set by compression ratio"
    pil_format, pil_feature, pil_library = "JPEG2000", "jpg_2000", "OpenJPEG"
    quality_help = "compression ratio >= 1 (about 24 / ratio bpp)"
    quality_range = (1, 10000)
    integer_quality = False
    higher_is_better = False
    default_qualities = (240, 200, 160, 128, 100, 80, 64, 48, 40, 32, 24, 20, 16, 12)

    def save_options(self, quality: Any) -> Dict[str, Any]:
        return {
            "quality_mode": "rates",
            "quality_layers": [float(quality)],
            "irreversible": True,
            "mct": 1,
            "no_jp2": True,
        }


class AVIF(PillowCodec):
    """AVIF (AV1 intra) through Pillow's built-in plugin (libavif), 4:2:0, speed 6."""

    name = "avif"
    summary = "AVIF, 4:2:0, speed 6"
    pil_format, pil_feature, pil_library = "AVIF", "avif", "libavif"
    quality_help = "libavif quality 0..100"
    default_qualities = (10, 20, 30, 40, 50, 60, 70, 75, 80, 85)

    def unavailable_reason(self) -> Optional[str]:
        from PIL import features

        try:
            available = features.check("avif")
        except ValueError:  # Pillow versions that do not know the feature name
            available = False
        if not available:
            return "avif: this Pillow has no AVIF support (Pillow 11.3+ wheels include libavif); skipping"
        return None

    def versions(self) -> Dict[str, str]:
        info = super().versions()
        try:
            from PIL import _avif

            info["codecs"] = str(_avif.codec_versions())  # e.g. "dav1d [dec]:1.5.3, aom [enc]:3.14.1"
        except (ImportError, AttributeError):
            pass
        return info

    def save_options(self, quality: Any) -> Dict[str, Any]:
        return {"quality": quality, "subsampling": "4:2:0", "speed": 6, "max_threads": 1}


class HEIF(BenchCodec):
    """HEIF with HEVC intra (libheif and x265 through pillow-heif), 4:2:0."""

    name = "heif"
    summary = "HEIF (HEVC intra, x265), 4:2:0"
    quality_help = "libheif quality 0..100"
    default_qualities = (10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60)

    def unavailable_reason(self) -> Optional[str]:
        try:
            import pillow_heif
        except ImportError:
            return "heif: pillow-heif is not installed (pip install pillow-heif)"
        if not pillow_heif.libheif_info().get("encoders", {}).get("x265"):
            return "heif: this pillow-heif has no HEVC (x265) encoder"
        return None

    def versions(self) -> Dict[str, str]:
        import pillow_heif

        info = pillow_heif.libheif_info()
        encoder = str(info.get("HEIF", "")).replace("x265 HEVC encoder", "").strip(" ()")
        return {"pillow-heif": pillow_heif.__version__, "libheif": str(info.get("libheif")), "x265": encoder}

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        import pillow_heif

        quality = self.check_quality(quality)
        heif = pillow_heif.from_bytes(
            mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=np.ascontiguousarray(rgb).tobytes()
        )
        buffer = io.BytesIO()
        heif.save(buffer, quality=quality, chroma=420)
        return buffer.getvalue()

    def decode(self, data: bytes, height: int, width: int) -> np.ndarray:
        import pillow_heif

        try:
            heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
            return np.array(heif.to_pillow().convert("RGB"), dtype=np.uint8)
        except Exception as error:
            raise BenchError(f"heif: cannot decode the coded image: {error}") from error


class JPEGXL(BenchCodec):
    """JPEG XL through imagecodecs (libjxl): a bare codestream, effort 7, one thread."""

    name = "jpegxl"
    summary = "JPEG XL (libjxl, effort 7)"
    quality_help = "cjxl-style quality 0..100 (90 = distance 1)"
    integer_quality = False
    default_qualities = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90)

    takes_executables = True  # cjxl/djxl, when imagecodecs lacks JPEG XL or executables are named

    @classmethod
    def create(
        cls,
        encoder: Optional[str] = None,
        decoder: Optional[str] = None,
        config: Optional[str] = None,
        options: Sequence[str] = (),
        **variant: Any,
    ) -> BenchCodec:
        """The library codec, unless executables or encoder options are named, or the
        library is missing and cjxl/djxl are on PATH."""
        from neuralcodec.bench.external import CJXL

        library = cls()
        if not (encoder or decoder or options) and library.unavailable_reason() is None:
            return library
        executable = CJXL(encoder, decoder, None, options)
        if executable.unavailable_reason() is None or encoder or decoder:
            return executable
        return library

    def unavailable_reason(self) -> Optional[str]:
        try:
            import imagecodecs
        except ImportError:
            return "jpegxl: imagecodecs is not installed (pip install imagecodecs), and cjxl/djxl are not on PATH"
        if not imagecodecs.JPEGXL.available:
            return "jpegxl: this imagecodecs build has no JPEG XL codec"
        return None

    def versions(self) -> Dict[str, str]:
        import imagecodecs

        return {"imagecodecs": imagecodecs.__version__, "libjxl": imagecodecs.jpegxl_version().split()[-1]}

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        import imagecodecs

        quality = self.check_quality(quality)
        # imagecodecs' stub types level as int, but it is libjxl's float quality (90.5 codes apart from 90)
        return bytes(imagecodecs.jpegxl_encode(rgb, level=quality, effort=7, numthreads=1, usecontainer=False))  # type: ignore[arg-type]

    def decode(self, data: bytes, height: int, width: int) -> np.ndarray:
        import imagecodecs

        try:
            return np.asarray(imagecodecs.jpegxl_decode(data, numthreads=1), dtype=np.uint8)
        except Exception as error:
            raise BenchError(f"jpegxl: cannot decode the coded image: {error}") from error
