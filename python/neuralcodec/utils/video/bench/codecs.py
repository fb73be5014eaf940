"""Classical video codecs as command lines (CompressAI's ``compressai.utils.video.bench.codecs``).

* :class:`x264`, :class:`x265`: H.264/AVC and H.265/HEVC through ``ffmpeg`` (``-crf QP``,
  no B-frames, ``-preset``/``-tune`` from the command line), into ``.mp4``;
* :class:`VTM`, :class:`HM`: the VVC and HEVC reference encoders and decoders
  (``EncoderAppStatic``/``DecoderAppStatic``, ``TAppEncoderStatic``/``TAppDecoderStatic``
  on Linux, without ``Static`` on macOS) in the build folder given with ``-b``, with the
  configuration file given with ``-c`` (e.g. ``encoder_randomaccess_vtm.cfg``), ``-q QP``.

A codec object builds the command lines; :mod:`neuralcodec.utils.video.bench.__main__`
runs them. Executables are looked up on ``PATH`` (``ffmpeg``) or in the build folder, as
the image benchmark's external codecs are (:mod:`neuralcodec.bench.external`), and a
missing one stops the run with a message naming it, not a traceback.
"""

from __future__ import annotations

import abc
import argparse
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional, Sequence

from neuralcodec.bench.external import TIMEOUT_S
from neuralcodec.datasets.rawvideo import RawVideoSequence, get_raw_video_file_info

__all__ = ["HM", "VTM", "Codec", "get_ffmpeg_version", "run_command", "x264", "x265"]


def _executable(command: Sequence[Any]) -> List[str]:
    """``command`` as strings, its program resolved on ``PATH``; SystemExit naming it if it
    is not there (or not executable)."""
    args = [str(c) for c in command]
    program = args[0]
    found = shutil.which(program)
    if found is None:
        where = "is not an executable file" if os.sep in program else "was not found on PATH"
        raise SystemExit(f"error: {program} {where}; install it or give its location")
    return [found] + args[1:]


def run_command(cmd: Sequence[Any], ignore_returncodes: Optional[Sequence[int]] = None) -> Any:
    """Runs ``cmd`` and returns its standard output (str); with a return code in
    ``ignore_returncodes`` the output is returned as bytes, as CompressAI does. Any other
    failure prints the output and exits with status 1."""
    args = _executable(cmd)
    try:
        result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"error: {args[0]} ran for more than {TIMEOUT_S} s") from None
    if result.returncode != 0:
        if ignore_returncodes is not None and result.returncode in ignore_returncodes:
            return result.stdout
        print(result.stdout.decode("utf-8", "replace"))
        raise SystemExit(1)
    return result.stdout.decode("ascii", "replace")


def get_ffmpeg_version() -> str:
    """The version ``ffmpeg -version`` reports (its third word)."""
    words = run_command(["ffmpeg", "-version"]).split()
    return words[2] if len(words) > 2 else "unknown"


class Codec(abc.ABC):
    """A video codec driven by command lines (CompressAI's interface)."""

    help = ""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        raise NotImplementedError

    @property
    def description(self) -> str:
        return getattr(self, "_description", self.name)

    def name_config(self) -> str:
        """The name with the settings, used for result files."""
        return self.name

    @abc.abstractmethod
    def add_parser_args(self, parser: argparse.ArgumentParser) -> None:
        """Adds the codec's options to its subcommand's parser."""

    def set_args(self, args: argparse.Namespace) -> argparse.Namespace:
        """Takes the parsed options; returns them."""
        return args

    def _bin_path(self, filepath: Path, binpath: Any, inputdir: Path, stem: str) -> Path:
        folder = Path(binpath) / Path(filepath).parent.relative_to(inputdir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / stem

    @abc.abstractmethod
    def get_bin_path(self, filepath: Path, qp: int, binpath: Any, inputdir: Path) -> Path:
        """Where the bitstream of ``filepath`` at ``qp`` goes, mirroring the dataset's folders."""

    @abc.abstractmethod
    def get_encode_cmd(self, filepath: Path, qp: int, binpath: Path) -> List[Any]:
        """The encoder command line."""

    @abc.abstractmethod
    def get_decode_cmd(self, binpath: Path, decpath: Path, input_filepath: Path) -> List[Any]:
        """The decoder command line, writing raw YUV to ``decpath``."""


class x264(Codec):
    """H.264/AVC with ffmpeg's libx264."""

    preset = ""
    tune = ""
    encoder = "h264"

    @property
    def name(self) -> str:
        return "x264"

    @property
    def description(self) -> str:
        return f"{self.name} {self.preset}, {self.tune}, ffmpeg version {get_ffmpeg_version()}"

    def name_config(self) -> str:
        return f"{self.name}-{self.preset}-tune-{self.tune}"

    def add_parser_args(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-p", "--preset", default="medium", help="preset")
        parser.add_argument("--tune", default="psnr-rgb", help="tune encoder for psnr or ssim (default: %(default)s)")

    def set_args(self, args: argparse.Namespace) -> argparse.Namespace:
        args = super().set_args(args)
        self.preset = args.preset
        self.tune = args.tune
        return args

    def get_bin_path(self, filepath: Path, qp: int, binpath: Any, inputdir: Path) -> Path:
        return self._bin_path(
            filepath, binpath, inputdir, f"{filepath.stem}_{self.name}_{self.preset}_tune-{self.tune}_qp{qp}.mp4"
        )

    def _codec_options(self) -> List[Any]:
        return ["-bf", 0]

    def get_encode_cmd(self, filepath: Path, qp: int, binpath: Path) -> List[Any]:
        info = get_raw_video_file_info(filepath.stem)
        return [
            "ffmpeg", "-y", "-s:v", f"{info['width']}x{info['height']}", "-i", filepath,
            "-c:v", self.encoder, "-crf", qp, "-preset", self.preset, *self._codec_options(),
            "-tune", self.tune, "-pix_fmt", "yuv420p", "-threads", "4", binpath,
        ]  # fmt: skip

    def get_decode_cmd(self, binpath: Path, decpath: Path, input_filepath: Path) -> List[Any]:
        return ["ffmpeg", "-y", "-i", binpath, "-pix_fmt", "yuv420p", decpath]


class x265(x264):
    """H.265/HEVC with ffmpeg's libx265."""

    encoder = "hevc"

    @property
    def name(self) -> str:
        return "x265"

    def _codec_options(self) -> List[Any]:
        return ["-x265-params", "bframes=0"]


class VTM(Codec):
    """VTM, the VVC reference software."""

    binext = "bin"
    config = ""
    #: platform.system() -> (encoder, decoder) file names in the build folder.
    executables: ClassVar[Dict[str, Sequence[str]]] = {
        "Darwin": ("EncoderApp", "DecoderApp"),
        "Linux": ("EncoderAppStatic", "DecoderAppStatic"),
    }
    software = "VTM reference software"

    @property
    def name(self) -> str:
        return "VTM"

    @property
    def description(self) -> str:
        return f"{self.software}, version {self.get_version(self.encoder_path)}"

    def name_config(self) -> str:
        return f"{self.name}-v{self.get_version(self.encoder_path)}-{self.config}"

    def get_version(self, encoder_path: Any) -> str:
        """The version in the second line of ``ENCODER --help`` (its fifth word, without brackets)."""
        output = run_command([encoder_path, "--help"], ignore_returncodes=[1])
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
        lines = text.split("\n")
        words = lines[1].split() if len(lines) > 1 else []
        if len(words) < 5:
            raise SystemExit(f"error: cannot read the version of {encoder_path} from its --help output")
        return words[4].strip("[]")

    def _path(self, build_dir: Any, role: int) -> Path:
        system = platform.system()
        if system not in self.executables:
            raise RuntimeError(f'Unsupported platform "{system}"')
        return Path(build_dir) / self.executables[system][role]

    def get_encoder_path(self, build_dir: Any) -> Path:
        return self._path(build_dir, 0)

    def get_decoder_path(self, build_dir: Any) -> Path:
        return self._path(build_dir, 1)

    def add_parser_args(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-b", "--build-dir", type=str, required=True, help=f"{self.name} build dir")
        parser.add_argument("-c", "--config", type=str, required=True, help=f"{self.name} config file")
        parser.add_argument("--rgb", action="store_true", help="Use RGB color space (over YCbCr)")

    def set_args(self, args: argparse.Namespace) -> argparse.Namespace:
        args = super().set_args(args)
        self.encoder_path = self.get_encoder_path(args.build_dir)
        self.decoder_path = self.get_decoder_path(args.build_dir)
        self.config_path = args.config
        stem = Path(self.config_path).stem
        self.config = stem.split("_")[1] if "_" in stem else stem
        self.version = self.get_version(self.encoder_path)
        self.rgb = args.rgb
        return args

    def get_bin_path(self, filepath: Path, qp: int, binpath: Any, inputdir: Path) -> Path:
        return self._bin_path(filepath, binpath, inputdir, f"{filepath.stem}_{self.name}_{self.config}_qp{qp}.{self.binext}")

    def get_encode_cmd(self, filepath: Path, qp: int, binpath: Path) -> List[Any]:
        info = get_raw_video_file_info(filepath.stem)
        num_frames = len(RawVideoSequence.from_file(str(filepath)))
        cmd: List[Any] = [
            self.encoder_path, "-i", filepath, "-c", self.config_path, "-q", qp, "-o", "/dev/null",
            "-b", binpath, "-wdt", info["width"], "-hgt", info["height"], "-fr", info["framerate"],
            "-f", num_frames, f"--InputBitDepth={info['bitdepth']}", f"--OutputBitDepth={info['bitdepth']}",
        ]  # fmt: skip
        if self.rgb:
            cmd += ["--InputColourSpaceConvert=RGBtoGBR", "--SNRInternalColourSpace=1", "--OutputInternalColourSpace=0"]
        return cmd

    def get_decode_cmd(self, binpath: Path, decpath: Path, input_filepath: Path) -> List[Any]:
        bitdepth = get_raw_video_file_info(input_filepath.stem)["bitdepth"]
        return [self.decoder_path, "-b", binpath, "-o", decpath, "-d", bitdepth]


class HM(VTM):
    """HM, the HEVC reference software."""

    executables: ClassVar[Dict[str, Sequence[str]]] = {
        "Darwin": ("TAppEncoder", "TAppDecoder"),
        "Linux": ("TAppEncoderStatic", "TAppDecoderStatic"),
    }
    software = "HM reference software"

    @property
    def name(self) -> str:
        return "HM"
