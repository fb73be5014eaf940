"""CompressAI's benchmark codec classes (``compressai.utils.bench.codecs``), over our registry.

Each class has CompressAI's name, command-line arguments (:meth:`Codec.setup_args`),
constructor (``Codec(args)``, an :class:`argparse.Namespace`), ``name``,
``description`` and ``run(image_path, quality, metrics, return_rec)``; the coding is
done by the codec of :mod:`neuralcodec.bench` it stands for (:attr:`Codec.bench_codec`,
made by :func:`neuralcodec.bench.runner.make_codec`), so ``neuralcodec bench`` and this
module run the same encoders with the same command lines:

==========  ==============  ===================================================
class       registry name   what differs from CompressAI 1.2.8
==========  ==============  ===================================================
JPEG        jpeg420         (Pillow, 4:2:0: the same)
WebP        webp            method 4 set explicitly (Pillow's default)
JPEG2000    jpeg2000        OpenJPEG through Pillow, not ffmpeg; quality is the
                            compression ratio (higher: fewer bits)
BPG         bpg, bpg420     bpgenc ``-m 8`` (compression level) added
TFCI        tfci            (the same commands)
VTM, HM     vtm, hm         YCbCr is BT.601 full range; HM without CompressAI's
                            ``--SEIDecodedPictureHash --Level=5.1`` flags
AV1         av1             one pass, a bare OBU stream (no WebM container), speed 4
==========  ==============  ===================================================

A codec whose executable is missing raises :class:`neuralcodec.bench.base.BenchError`
saying so (CompressAI lets the ``FileNotFoundError`` of ``subprocess`` through); a
quality outside the codec's range raises :class:`ValueError`, as CompressAI's do.
"""

from __future__ import annotations

import abc
import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image

from neuralcodec.bench.base import BenchCodec, BenchError
from neuralcodec.bench.external import TFCI as _TFCI
from neuralcodec.bench.runner import code_image, make_codec
from neuralcodec.eval.images import IMAGE_EXTENSIONS
from neuralcodec.eval.results import PSNR_CAP
from neuralcodec.metrics import ms_ssim, psnr

__all__ = [
    "AV1",
    "BPG",
    "HM",
    "IMG_EXTENSIONS",
    "JPEG",
    "JPEG2000",
    "TFCI",
    "VTM",
    "BinaryCodec",
    "Codec",
    "PillowCodec",
    "WebP",
    "compute_metrics",
    "filesize",
    "get_vtm_decoder_path",
    "get_vtm_encoder_path",
    "read_image",
    "run_command",
]

#: The file suffixes read as images (:data:`neuralcodec.eval.images.IMAGE_EXTENSIONS`).
IMG_EXTENSIONS = IMAGE_EXTENSIONS

ImageLike = Union[np.ndarray, Image.Image]


def filesize(filepath: Union[str, Path]) -> int:
    """The size in bytes of the file at ``filepath``.

    Raises:
        ValueError: no such file.
    """
    if not os.path.isfile(filepath):
        raise ValueError(f'Invalid file "{filepath}".')
    return os.stat(filepath).st_size


def read_image(filepath: Union[str, Path], mode: str = "RGB") -> Image.Image:
    """The image at ``filepath`` as a Pillow image converted to ``mode``.

    Raises:
        ValueError: no such file.
    """
    if not os.path.isfile(filepath):
        raise ValueError(f'Invalid file "{filepath}".')
    with Image.open(filepath) as img:
        return img.convert(mode)


def _as_batch(x: ImageLike) -> torch.Tensor:
    """An ``[H, W, 3]`` (or ``[H, W]``) image as a float64 ``[1, C, H, W]`` tensor."""
    array = np.asarray(x, dtype=np.float64)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"expected an [H, W, C] image, got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]


def _psnr_value(a: torch.Tensor, b: torch.Tensor, max_val: float) -> float:
    return min(float(psnr(a, b, data_range=max_val)), PSNR_CAP)


def _ms_ssim_value(a: torch.Tensor, b: torch.Tensor, max_val: float) -> float:
    return float(ms_ssim(a, b, data_range=max_val))


_METRIC_FUNCTIONS = {"psnr-rgb": _psnr_value, "ms-ssim-rgb": _ms_ssim_value}


def compute_metrics(
    a: ImageLike, b: ImageLike, metrics: Optional[List[str]] = None, max_val: float = 255.0
) -> Dict[str, float]:
    """``metrics`` (default ``["psnr-rgb"]``; also ``"ms-ssim-rgb"``) of two images
    (Pillow images or ``[H, W, 3]`` arrays on the scale ``max_val``), measured by
    :mod:`neuralcodec.metrics`. An exact copy's PSNR is
    :data:`~neuralcodec.eval.results.PSNR_CAP`.

    Raises:
        KeyError: an unknown metric name.
        ValueError: the images differ in shape.
    """
    names = ["psnr-rgb"] if metrics is None else list(metrics)
    unknown = [m for m in names if m not in _METRIC_FUNCTIONS]
    if unknown:
        raise KeyError(f"unknown metrics {unknown}; known: {', '.join(_METRIC_FUNCTIONS)}")
    ta, tb = _as_batch(a), _as_batch(b)
    return {name: _METRIC_FUNCTIONS[name](ta, tb, max_val) for name in names}


def run_command(cmd: Iterable[Any], ignore_returncodes: Optional[List[int]] = None) -> Any:
    """Runs ``cmd`` and returns its standard output as text; a failing command prints
    its output and exits (``SystemExit(1)``) unless its exit code is in
    ``ignore_returncodes`` (then its output, as bytes, is returned)."""
    command = [str(c) for c in cmd]
    try:
        return subprocess.check_output(command).decode("ascii")
    except subprocess.CalledProcessError as err:
        if ignore_returncodes is not None and err.returncode in ignore_returncodes:
            return err.output
        print(err.output.decode("utf-8", "replace"))
        sys.exit(1)


def _platform_executable(build_dir: Union[str, Path], names: Dict[str, str]) -> str:
    system = platform.system()
    if system not in names:
        raise RuntimeError(f'Unsupported platform "{system}"')
    return os.path.join(build_dir, names[system])


def get_vtm_encoder_path(build_dir: Union[str, Path]) -> str:
    """The VTM encoder in a build folder (``EncoderAppStatic`` on Linux, ``EncoderApp`` on macOS)."""
    return _platform_executable(build_dir, {"Darwin": "EncoderApp", "Linux": "EncoderAppStatic"})


def get_vtm_decoder_path(build_dir: Union[str, Path]) -> str:
    """The VTM decoder in a build folder (``DecoderAppStatic`` on Linux, ``DecoderApp`` on macOS)."""
    return _platform_executable(build_dir, {"Darwin": "DecoderApp", "Linux": "DecoderAppStatic"})


class Codec(abc.ABC):
    """A benchmarked codec with CompressAI's interface, coding through :attr:`bench_codec`.

    Subclasses name the registry codec (:attr:`registry_name`, or :meth:`_make_codec`
    from the arguments) and the ``name`` results files show.
    """

    _description: Optional[str] = None
    #: The :mod:`neuralcodec.bench` registry name of the codec this class runs.
    registry_name = ""
    #: The suffix of the coded files (CompressAI's attribute).
    fmt: Optional[str] = None

    def __init__(self, args: Any) -> None:
        self.bench_codec: BenchCodec = self._make_codec(args)
        self._set_args(args)

    def _make_codec(self, args: Any) -> BenchCodec:
        """The registry codec for the parsed arguments."""
        return make_codec(self.registry_name)

    def _set_args(self, args: Any) -> Any:
        return args

    @classmethod
    def setup_args(cls, parser: argparse.ArgumentParser) -> None:
        """Adds the codec's own arguments to ``parser`` (none by default)."""
        del parser

    @property
    def description(self) -> str:
        """What codes, with the library or executable versions."""
        return self._description or self.bench_codec.description()

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The codec's name in results files."""

    def _load_img(self, img: Union[str, Path]) -> Image.Image:
        return read_image(os.path.abspath(img))

    def _run_impl(self, img: Union[str, Path], quality: Any) -> Tuple[Dict[str, float], Image.Image]:
        """Codes the image file at ``quality``: ``({"bpp", "encoding_time", "decoding_time"}, decoded)``.

        Raises:
            ValueError: ``quality`` is outside the codec's range.
            BenchError: the codec is unavailable or failed.
        """
        try:
            quality = self.bench_codec.check_quality(quality)
        except BenchError as error:
            raise ValueError(f"Invalid quality value: {error}") from None
        reason = self.bench_codec.unavailable_reason()
        if reason:
            raise BenchError(reason)
        rgb = np.asarray(self._load_img(img), dtype=np.uint8)
        row, decoded = code_image(self.bench_codec, rgb, quality)
        return row, Image.fromarray(decoded, "RGB")

    def run(
        self,
        in_filepath: Union[str, Path],
        quality: Any,
        metrics: Optional[List[str]] = None,
        return_rec: bool = False,
    ) -> Any:
        """Codes ``in_filepath`` at ``quality`` and measures it: ``{"bpp", "encoding_time",
        "decoding_time", <metrics>}`` (default metric ``"psnr-rgb"``), with the decoded
        Pillow image when ``return_rec``."""
        info, rec = self._run_impl(in_filepath, quality)
        info.update(compute_metrics(rec, self._load_img(in_filepath), metrics))
        if return_rec:
            return info, rec
        return info


class PillowCodec(Codec):
    """A codec that Pillow runs in-process."""

    @property
    def name(self) -> str:
        raise NotImplementedError


class JPEG(PillowCodec):
    """JPEG through Pillow (libjpeg), 4:2:0 (registry ``jpeg420``)."""

    fmt = "jpeg"
    registry_name = "jpeg"

    @property
    def name(self) -> str:
        return "JPEG"


class WebP(PillowCodec):
    """Lossy WebP through Pillow (libwebp) (registry ``webp``)."""

    fmt = "webp"
    registry_name = "webp"

    @property
    def name(self) -> str:
        return "WebP"


class BinaryCodec(Codec):
    """A codec run as external programs."""

    @property
    def name(self) -> str:
        raise NotImplementedError


class JPEG2000(BinaryCodec):
    """JPEG 2000 (registry ``jpeg2000``: OpenJPEG through Pillow); quality is the compression ratio."""

    fmt = ".jp2"
    registry_name = "jpeg2000"

    @property
    def name(self) -> str:
        return "JPEG2000"


class BPG(BinaryCodec):
    """BPG through bpgenc/bpgdec (registry ``bpg``, or ``bpg420`` for ``-m 420``)."""

    fmt = ".bpg"

    @classmethod
    def setup_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-m", choices=["420", "444"], default="444", help="subsampling mode (default: %(default)s)")
        parser.add_argument("-b", choices=["8", "10"], default="8", help="bitdepth (default: %(default)s)")
        parser.add_argument("-c", choices=["rgb", "ycbcr"], default="ycbcr", help="colorspace (default: %(default)s)")
        parser.add_argument(
            "-e", choices=["jctvc", "x265"], default="x265", help="HEVC implementation (default: %(default)s)"
        )
        parser.add_argument("--encoder-path", default="bpgenc", help="BPG encoder path")
        parser.add_argument("--decoder-path", default="bpgdec", help="BPG decoder path")

    def _make_codec(self, args: Any) -> BenchCodec:
        options = ["-b", str(args.b), "-c", args.c, "-e", args.e]  # after our own, so they win
        name = "bpg" if args.m == "444" else "bpg420"
        return make_codec(name, args.encoder_path, args.decoder_path, None, options)

    def _set_args(self, args: Any) -> Any:
        self.color_mode = args.c
        self.encoder = args.e
        self.subsampling_mode = args.m
        self.bitdepth = args.b
        self.encoder_path = args.encoder_path
        self.decoder_path = args.decoder_path
        return args

    @property
    def name(self) -> str:
        return f"BPG {self.bitdepth}b {self.subsampling_mode} {self.encoder} {self.color_mode}"


class TFCI(BinaryCodec):
    """tensorflow/compression's models through its ``tfci.py`` script (registry ``tfci``)."""

    fmt = ".tfci"
    _models: Tuple[str, ...] = _TFCI.MODELS

    @classmethod
    def setup_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-m", "--model", choices=list(cls._models), default=cls._models[0],
            help="model architecture (default: %(default)s)",
        )  # fmt: skip
        parser.add_argument("-p", "--path", required=True, help="tfci python script path")

    def _make_codec(self, args: Any) -> BenchCodec:
        return make_codec("tfci", args.path, args.path, None, (), model=args.model)

    def _set_args(self, args: Any) -> Any:
        self.model = args.model
        self.tfci_path = args.path
        return args

    @property
    def description(self) -> str:
        return "TFCI"

    @property
    def name(self) -> str:
        return f"{self.model}"


class _ReferenceCodec(Codec):
    """VTM and HM: a build folder, an all-intra configuration file, ``--rgb``."""

    fmt = ".bin"

    @classmethod
    def setup_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-b", "--build-dir", type=str, required=True, help=f"{cls.__name__} build dir")
        parser.add_argument("-c", "--config", type=str, required=True, help=f"{cls.__name__} config file")
        parser.add_argument("--rgb", action="store_true", help="Use RGB color space (over YCbCr)")

    def _executables(self, build_dir: str) -> Tuple[str, str]:
        raise NotImplementedError

    def _make_codec(self, args: Any) -> BenchCodec:
        encoder, decoder = self._executables(args.build_dir)
        colorspace = "rgb" if args.rgb else "ycbcr"
        return make_codec(self.registry_name, encoder, decoder, args.config, (), colorspace=colorspace)

    def _set_args(self, args: Any) -> Any:
        self.encoder_path, self.decoder_path = self._executables(args.build_dir)
        self.config_path = args.config
        self.rgb = args.rgb
        return args


class VTM(_ReferenceCodec):
    """VVC intra with the VTM reference software (registry ``vtm``)."""

    registry_name = "vtm"

    def _executables(self, build_dir: str) -> Tuple[str, str]:
        return get_vtm_encoder_path(build_dir), get_vtm_decoder_path(build_dir)

    @property
    def description(self) -> str:
        return "VTM"

    @property
    def name(self) -> str:
        return "VTM"


class HM(_ReferenceCodec):
    """HEVC intra with the HM reference software (registry ``hm``)."""

    registry_name = "hm"

    def _executables(self, build_dir: str) -> Tuple[str, str]:
        return os.path.join(build_dir, "TAppEncoderStatic"), os.path.join(build_dir, "TAppDecoderStatic")

    @property
    def description(self) -> str:
        return "HM"

    @property
    def name(self) -> str:
        return "HM"


class AV1(BinaryCodec):
    """AV1 intra with libaom's aomenc/aomdec from a build folder (registry ``av1``)."""

    fmt = ".webm"
    registry_name = "av1"

    @classmethod
    def setup_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-b", "--build-dir", type=str, required=True, help="AOM binaries dir")

    def _make_codec(self, args: Any) -> BenchCodec:
        encoder, decoder = os.path.join(args.build_dir, "aomenc"), os.path.join(args.build_dir, "aomdec")
        return make_codec("av1", encoder, decoder)

    def _set_args(self, args: Any) -> Any:
        self.encoder_path = os.path.join(args.build_dir, "aomenc")
        self.decoder_path = os.path.join(args.build_dir, "aomdec")
        return args

    @property
    def description(self) -> str:
        return "AV1"

    @property
    def name(self) -> str:
        return "AV1"
