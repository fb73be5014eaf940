"""Codecs run as external executables: BPG, VTM (VVC), HM (HEVC), aomenc (AV1), cjxl (JPEG XL), TFCI.

Each adapter writes the image to a temporary folder in the form its encoder reads,
runs the encoder, reads the bitstream file (its size is the rate), runs the decoder
and reads the reconstruction back. The executables are looked up on ``PATH`` under their
usual names, or given as paths (``--encoder``/``--decoder`` on the command line).
Timings include process start-up and the temporary files, so they are only comparable
between executable codecs.

The command lines follow the reference tools' documented options:

* **BPG** (bellard.org/bpg): ``bpgenc -o out.bpg -q QP -f 444 -b 8 -m 8 in.png`` and
  ``bpgdec -o out.png out.bpg``. Quality is the QP, 0..51 (lower is better); chroma
  4:4:4 by default (``chroma="420"`` for 4:2:0).
* **VTM** (VVC reference software, ``EncoderApp``/``DecoderApp``) and **HM** (HEVC,
  ``TAppEncoder``/``TAppDecoder``): the image is converted to YCbCr (BT.601 full range,
  JPEG's matrix) and written as planar 4:4:4 8-bit raw YUV; ``ENC -c CONFIG -i in.yuv -b
  out.bin -o /dev/null -wdt W -hgt H -fr 1 -f 1 -q QP --InputChromaFormat=444
  --InputBitDepth=8 --OutputBitDepth=8 --ConformanceWindowMode=1`` and ``DEC -b out.bin
  -o out.yuv -d 8``, converted back to RGB. ``CONFIG`` is the all-intra configuration
  of the source tree (VTM ``cfg/encoder_intra_vtm.cfg``, HM
  ``cfg/encoder_intra_main_rext.cfg``), given with ``--config``. Quality is the QP,
  0..51 (0..63 is not used).
* **aomenc** (libaom, AV1 intra): the YCbCr 4:4:4 image as a one-frame Y4M file;
  ``aomenc --passes=1 --end-usage=q --cq-level=Q --limit=1 --kf-max-dist=0 --cpu-used=S
  --threads=1 --obu -o out.obu in.y4m`` and ``aomdec --output-bit-depth=8 -o out.y4m out.obu``
  (a Section 5 OBU stream: no container bytes are counted). Quality is the cq-level
  0..63 (lower is better).
* **cjxl/djxl** (libjxl): ``cjxl in.png out.jxl -q Q -e 7 --container=0`` and
  ``djxl out.jxl out.png``.
* **TFCI** (tensorflow/compression's ``tfci.py``, a Python script): ``python tfci.py
  compress MODEL-Q in.png out.tfci`` and ``python tfci.py decompress out.tfci out.png``.
  Quality is the model's rate point 1..8.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from neuralcodec.bench.base import BenchCodec, BenchError

__all__ = [
    "AV1",
    "BPG",
    "CJXL",
    "ExecutableCodec",
    "HM",
    "TFCI",
    "VTM",
    "rgb_to_ycbcr",
    "read_y4m",
    "write_y4m",
    "ycbcr_to_rgb",
]

#: Seconds an encoder or decoder may run on one image before it is stopped.
TIMEOUT_S = 600


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` to uint8 YCbCr ``[3, H, W]`` (BT.601, full range, as JPEG)."""
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 + (b - y) / 1.772
    cr = 128 + (r - y) / 1.402
    return np.clip(np.rint(np.stack([y, cb, cr])), 0, 255).astype(np.uint8)


def ycbcr_to_rgb(planes: np.ndarray) -> np.ndarray:
    """Inverts :func:`rgb_to_ycbcr`: uint8 ``[3, H, W]`` to uint8 RGB ``[H, W, 3]``."""
    y, cb, cr = (p.astype(np.float64) for p in planes)
    r = y + 1.402 * (cr - 128)
    b = y + 1.772 * (cb - 128)
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def write_y4m(path: Path, planes: np.ndarray) -> None:
    """Writes 8-bit 4:4:4 planes ``[3, H, W]`` as a one-frame YUV4MPEG2 file."""
    _, height, width = planes.shape
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F1:1 Ip A1:1 C444\n".encode())
        f.write(b"FRAME\n")
        f.write(np.ascontiguousarray(planes).tobytes())


def read_y4m(path: Path) -> np.ndarray:
    """The first frame of an 8-bit 4:4:4 YUV4MPEG2 file as planes ``[3, H, W]``.

    Raises:
        BenchError: not a Y4M file, another chroma format or bit depth, or truncated.
    """
    data = Path(path).read_bytes()
    header_end = data.find(b"\n")
    if not data.startswith(b"YUV4MPEG2 ") or header_end < 0:
        raise BenchError(f"{path} is not a YUV4MPEG2 file")
    fields = data[:header_end].decode("ascii", "replace").split()[1:]
    params = {f[0]: f[1:] for f in fields if f}
    try:
        width, height = int(params["W"]), int(params["H"])
    except (KeyError, ValueError):
        raise BenchError(f"{path}: Y4M header without width and height: {data[:header_end]!r}") from None
    colorspace = params.get("C", "420jpeg")
    if colorspace != "444":
        raise BenchError(f"{path}: expected 8-bit 4:4:4 Y4M output, got colour space C{colorspace}")
    frame_start = data.find(b"\n", header_end + 1)
    if not data[header_end + 1 :].startswith(b"FRAME") or frame_start < 0:
        raise BenchError(f"{path}: Y4M file without a frame")
    size = 3 * width * height
    frame = data[frame_start + 1 : frame_start + 1 + size]
    if len(frame) != size:
        raise BenchError(f"{path}: truncated Y4M frame ({len(frame)} of {size} bytes)")
    return np.frombuffer(frame, dtype=np.uint8).reshape(3, height, width)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(rgb, "RGB").save(path, format="PNG", compress_level=1)


def _read_image(path: Path, name: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.array(img.convert("RGB"), dtype=np.uint8)
    except Exception as error:
        raise BenchError(f"{name}: cannot read the decoder's output {path.name}: {error}") from error


class ExecutableCodec(BenchCodec):
    """A codec driven through an encoder and a decoder executable.

    Args:
        encoder, decoder: paths of the executables (default: the first of
            :attr:`encoder_names`/:attr:`decoder_names` found on ``PATH``).
        config: a configuration file, for the encoders that need one.
        options: extra arguments appended to the encoder command line.
    """

    encoder_names: Tuple[str, ...] = ()
    decoder_names: Tuple[str, ...] = ()
    needs_config = False
    takes_executables = True

    @classmethod
    def create(
        cls,
        encoder: Optional[str] = None,
        decoder: Optional[str] = None,
        config: Optional[str] = None,
        options: Sequence[str] = (),
        **variant: Any,
    ) -> BenchCodec:
        return cls(encoder, decoder, config, options, **variant)

    def __init__(
        self,
        encoder: Optional[str] = None,
        decoder: Optional[str] = None,
        config: Optional[str] = None,
        options: Sequence[str] = (),
    ) -> None:
        self.encoder = self._resolve(encoder, self.encoder_names)
        self.decoder = self._resolve(decoder, self.decoder_names)
        self.config = str(config) if config is not None else None
        self.options = list(options)

    @staticmethod
    def _resolve(given: Optional[str], names: Sequence[str]) -> Optional[str]:
        if given is not None:
            found = shutil.which(str(given))
            return found if found else str(given)
        for name in names:
            found = shutil.which(name)
            if found:
                return found
        return None

    def unavailable_reason(self) -> Optional[str]:
        for role, path, names in (
            ("encoder", self.encoder, self.encoder_names),
            ("decoder", self.decoder, self.decoder_names),
        ):
            if path is None:
                return f"{self.name}: no {role} found on PATH ({' or '.join(names)}); give it with --{role} PATH"
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                return f"{self.name}: the {role} {path} is not an executable file"
        if self.needs_config:
            if self.config is None:
                return f"{self.name}: give the encoder's all-intra configuration file with --config"
            if not os.path.isfile(self.config):
                return f"{self.name}: configuration file {self.config} does not exist"
        return None

    def versions(self) -> Dict[str, str]:
        return {"encoder": str(self.encoder), "decoder": str(self.decoder)}

    def _run(self, command: List[str], role: str) -> None:
        try:
            result = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S)
        except FileNotFoundError:
            raise BenchError(f"{self.name}: {role} {command[0]} not found") from None
        except OSError as error:
            raise BenchError(f"{self.name}: cannot run the {role} {command[0]}: {error}") from error
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.name}: the {role} ran for more than {TIMEOUT_S} s") from None
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).decode("utf-8", "replace").strip()[-800:]
            raise BenchError(f"{self.name}: the {role} failed (exit code {result.returncode}): {tail}")

    def _read_output(self, path: Path, role: str) -> bytes:
        if not path.is_file():
            raise BenchError(f"{self.name}: the {role} wrote no {path.name}")
        return path.read_bytes()

    # subclasses: the commands and file formats
    def encode_command(self, workdir: Path, rgb: np.ndarray, quality: float) -> Tuple[List[str], Path]:
        """Writes the encoder's input into ``workdir``; returns the command and the bitstream path."""
        raise NotImplementedError

    def decode_command(self, workdir: Path, bitstream: Path, height: int, width: int) -> Tuple[List[str], Path]:
        """The decoder command and the path of its output."""
        raise NotImplementedError

    def read_decoded(self, path: Path, height: int, width: int) -> np.ndarray:
        """The decoder's output as uint8 RGB ``[H, W, 3]``."""
        return _read_image(path, self.name)

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        quality = self.check_quality(quality)
        reason = self.unavailable_reason()
        if reason:
            raise BenchError(reason)
        with tempfile.TemporaryDirectory(prefix=f"neuralcodec-{self.name}-") as tmp:
            command, bitstream = self.encode_command(Path(tmp), rgb, quality)
            self._run(command + self.options, "encoder")
            data = self._read_output(bitstream, "encoder")
        if not data:
            raise BenchError(f"{self.name}: the encoder wrote an empty bitstream")
        return data

    def decode(self, data: bytes, height: int, width: int) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix=f"neuralcodec-{self.name}-") as tmp:
            workdir = Path(tmp)
            bitstream = workdir / ("in" + self.bitstream_suffix)
            bitstream.write_bytes(data)
            command, output = self.decode_command(workdir, bitstream, height, width)
            self._run(command, "decoder")
            if not output.is_file():
                raise BenchError(f"{self.name}: the decoder wrote no {output.name}")
            return self.read_decoded(output, height, width)

    bitstream_suffix = ".bin"


class BPG(ExecutableCodec):
    """BPG (HEVC intra in a small container) through bpgenc/bpgdec."""

    name = "bpg"
    encoder_names = ("bpgenc",)
    decoder_names = ("bpgdec",)
    quality_help = "QP 0..51 (lower is better)"
    quality_range = (0, 51)
    higher_is_better = False
    default_qualities = (47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25, 23)
    bitstream_suffix = ".bpg"

    @classmethod
    def variants(cls) -> Dict[str, Dict[str, Any]]:
        return {"bpg": {"chroma": "444"}, "bpg420": {"chroma": "420"}}

    def __init__(self, *args: object, chroma: str = "444", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if chroma not in ("420", "444"):
            raise ValueError(f"BPG chroma must be '420' or '444', got {chroma!r}")
        self.chroma = chroma
        self.name = "bpg" if chroma == "444" else "bpg420"
        self.summary = f"BPG (HEVC intra via x265), YCbCr {chroma[0]}:{chroma[1]}:{chroma[2]}, 8 bits"

    def encode_command(self, workdir: Path, rgb: np.ndarray, quality: float) -> Tuple[List[str], Path]:
        source, bitstream = workdir / "in.png", workdir / "out.bpg"
        _write_png(source, rgb)
        command = [
            str(self.encoder), "-o", str(bitstream), "-q", str(int(quality)), "-f", self.chroma,
            "-b", "8", "-m", "8", str(source),
        ]  # fmt: skip
        return command, bitstream

    def decode_command(self, workdir: Path, bitstream: Path, height: int, width: int) -> Tuple[List[str], Path]:
        output = workdir / "out.png"
        return [str(self.decoder), "-o", str(output), str(bitstream)], output


class _ReferenceSoftware(ExecutableCodec):
    """VTM and HM: raw planar 4:4:4 in and out, an all-intra configuration file.

    ``colorspace="ycbcr"`` (default) codes the image converted to YCbCr (:func:`rgb_to_ycbcr`);
    ``"rgb"`` codes the R, G, B planes as they are, the encoder told to treat them as
    GBR (``--InputColourSpaceConvert=RGBtoGBR``) and the decoder to give RGB back.
    """

    needs_config = True
    quality_help = "QP 0..51 (lower is better)"
    quality_range = (0, 51)
    higher_is_better = False
    default_qualities = (47, 44, 41, 38, 35, 32, 29, 26, 23)

    def __init__(self, *args: object, colorspace: str = "ycbcr", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if colorspace not in ("ycbcr", "rgb"):
            raise ValueError(f"{self.name} colorspace must be 'ycbcr' or 'rgb', got {colorspace!r}")
        self.colorspace = colorspace
        if colorspace == "rgb":
            self.summary = self.summary.replace("YCbCr", "RGB")

    def encode_command(self, workdir: Path, rgb: np.ndarray, quality: float) -> Tuple[List[str], Path]:
        height, width = rgb.shape[:2]
        source, bitstream = workdir / "in.yuv", workdir / "out.bin"
        planes = rgb_to_ycbcr(rgb) if self.colorspace == "ycbcr" else np.ascontiguousarray(rgb.transpose(2, 0, 1))
        source.write_bytes(planes.tobytes())
        command = [
            str(self.encoder), "-c", str(self.config), "-i", str(source), "-b", str(bitstream), "-o", os.devnull,
            "-wdt", str(width), "-hgt", str(height), "-fr", "1", "-f", "1", "-q", str(int(quality)),
            "--InputChromaFormat=444", "--InputBitDepth=8", "--OutputBitDepth=8", "--ConformanceWindowMode=1",
        ]  # fmt: skip
        if self.colorspace == "rgb":
            command += [
                "--InputColourSpaceConvert=RGBtoGBR", "--SNRInternalColourSpace=1", "--OutputInternalColourSpace=0",
            ]  # fmt: skip
        return command, bitstream

    def decode_command(self, workdir: Path, bitstream: Path, height: int, width: int) -> Tuple[List[str], Path]:
        output = workdir / "out.yuv"
        command = [str(self.decoder), "-b", str(bitstream), "-o", str(output), "-d", "8"]
        if self.colorspace == "rgb":
            command.append("--OutputInternalColourSpace=GBRtoRGB")
        return command, output

    def read_decoded(self, path: Path, height: int, width: int) -> np.ndarray:
        data = path.read_bytes()
        expected = 3 * height * width
        if len(data) != expected:
            raise BenchError(
                f"{self.name}: the decoder wrote {len(data)} bytes, expected {expected} "
                f"(8-bit 4:4:4 {width}x{height}); check the configuration's chroma format and bit depth"
            )
        planes = np.frombuffer(data, dtype=np.uint8).reshape(3, height, width)
        if self.colorspace == "rgb":
            return np.ascontiguousarray(planes.transpose(1, 2, 0))
        return ycbcr_to_rgb(planes)


class VTM(_ReferenceSoftware):
    """VVC intra with the VTM reference software (EncoderApp/DecoderApp)."""

    name = "vtm"
    summary = "VVC intra (VTM reference software), YCbCr 4:4:4"
    encoder_names = ("EncoderApp", "EncoderAppStatic")
    decoder_names = ("DecoderApp", "DecoderAppStatic")


class HM(_ReferenceSoftware):
    """HEVC intra with the HM reference software (TAppEncoder/TAppDecoder)."""

    name = "hm"
    summary = "HEVC intra (HM reference software), YCbCr 4:4:4"
    encoder_names = ("TAppEncoder", "TAppEncoderStatic")
    decoder_names = ("TAppDecoder", "TAppDecoderStatic")


class AV1(ExecutableCodec):
    """AV1 intra with libaom's aomenc/aomdec, YCbCr 4:4:4, constant quality."""

    name = "av1"
    summary = "AV1 intra (libaom aomenc, end-usage q), YCbCr 4:4:4"
    encoder_names = ("aomenc",)
    decoder_names = ("aomdec",)
    quality_help = "cq-level 0..63 (lower is better)"
    quality_range = (0, 63)
    higher_is_better = False
    default_qualities = (60, 56, 52, 48, 44, 40, 36, 32, 28, 24, 20, 16)
    bitstream_suffix = ".obu"

    def __init__(self, *args: object, cpu_used: int = 4, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.cpu_used = int(cpu_used)

    def encode_command(self, workdir: Path, rgb: np.ndarray, quality: float) -> Tuple[List[str], Path]:
        source, bitstream = workdir / "in.y4m", workdir / "out.obu"
        write_y4m(source, rgb_to_ycbcr(rgb))
        command = [
            str(self.encoder), "--passes=1", "--end-usage=q", f"--cq-level={int(quality)}", "--limit=1",
            "--kf-max-dist=0", f"--cpu-used={self.cpu_used}", "--threads=1", "--obu", "-o", str(bitstream), str(source),
        ]  # fmt: skip
        return command, bitstream

    def decode_command(self, workdir: Path, bitstream: Path, height: int, width: int) -> Tuple[List[str], Path]:
        output = workdir / "out.y4m"
        return [str(self.decoder), "--output-bit-depth=8", "-o", str(output), str(bitstream)], output

    def read_decoded(self, path: Path, height: int, width: int) -> np.ndarray:
        planes = read_y4m(path)
        if planes.shape[1:] != (height, width):
            raise BenchError(f"{self.name}: decoded {planes.shape[2]}x{planes.shape[1]}, expected {width}x{height}")
        return ycbcr_to_rgb(planes)


class CJXL(ExecutableCodec):
    """JPEG XL through libjxl's cjxl/djxl executables (bare codestream, effort 7)."""

    name = "jpegxl"
    summary = "JPEG XL (cjxl, effort 7)"
    encoder_names = ("cjxl",)
    decoder_names = ("djxl",)
    quality_help = "cjxl quality 0..100 (90 = distance 1)"
    integer_quality = False
    default_qualities = (5, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90, 95)
    bitstream_suffix = ".jxl"

    def encode_command(self, workdir: Path, rgb: np.ndarray, quality: float) -> Tuple[List[str], Path]:
        source, bitstream = workdir / "in.png", workdir / "out.jxl"
        _write_png(source, rgb)
        command = [str(self.encoder), str(source), str(bitstream), "-q", f"{quality:g}", "-e", "7", "--container=0"]
        return command, bitstream

    def decode_command(self, workdir: Path, bitstream: Path, height: int, width: int) -> Tuple[List[str], Path]:
        output = workdir / "out.png"
        return [str(self.decoder), str(bitstream), str(output)], output


class TFCI(ExecutableCodec):
    """A model of tensorflow/compression run through its ``tfci.py`` script.

    The "encoder" (and decoder) is the path of ``tfci.py``, run with this Python:
    ``python tfci.py compress MODEL-Q in.png out.tfci`` and ``python tfci.py decompress
    out.tfci out.png``. The script fetches its models itself, so it needs their files
    cached or a network.
    """

    name = "tfci"
    encoder_names = ("tfci.py",)
    decoder_names = ("tfci.py",)
    quality_help = "model quality 1..8 (higher is better)"
    quality_range = (1, 8)
    default_qualities = (1, 2, 3, 4, 5, 6, 7, 8)
    bitstream_suffix = ".tfci"
    #: The models of tensorflow/compression this adapter names.
    MODELS = ("bmshj2018-factorized-mse", "bmshj2018-hyperprior-mse", "mbt2018-mean-mse")

    def __init__(self, *args: object, model: str = MODELS[0], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if model not in self.MODELS:
            raise ValueError(f"TFCI model must be one of {self.MODELS}, got {model!r}")
        if self.decoder is None:
            self.decoder = self.encoder  # one script does both
        self.model = model
        self.summary = f"TFCI {model} (tensorflow/compression)"

    def unavailable_reason(self) -> Optional[str]:
        if self.encoder is None:
            return "tfci: give the path of tensorflow/compression's tfci.py with --encoder PATH"
        if not os.path.isfile(self.encoder):
            return f"tfci: the script {self.encoder} does not exist"
        return None

    def encode_command(self, workdir: Path, rgb: np.ndarray, quality: float) -> Tuple[List[str], Path]:
        source, bitstream = workdir / "in.png", workdir / "out.tfci"
        _write_png(source, rgb)
        command = [sys.executable, str(self.encoder), "compress", f"{self.model}-{int(quality)}", str(source),
                   str(bitstream)]  # fmt: skip
        return command, bitstream

    def decode_command(self, workdir: Path, bitstream: Path, height: int, width: int) -> Tuple[List[str], Path]:
        output = workdir / "out.png"
        return [sys.executable, str(self.decoder), "decompress", str(bitstream), str(output)], output
