"""Raw (headerless) video files: planar YUV or RGB frames, memory-mapped.

A raw file is frames back to back, each the Y plane then the U and V planes (4:2:0
chroma planes are half the luma size on each side, rounded up), 8-bit samples as bytes
and 9...16-bit samples as little-endian ``uint16``. Nothing in the file says its size,
format or frame rate, so by convention the file name does (the Vooya naming, with
GStreamer's and ffmpeg's format names): ``Name_1920x1080_50fps_10bit_420.yuv``;
:func:`get_raw_video_file_info` reads it.
"""

from __future__ import annotations

import enum
import os
import re
from fractions import Fraction
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from neuralcodec.datasets.errors import InvalidChoiceError

__all__ = [
    "RawVideoSequence",
    "VideoFormat",
    "bitdepth_to_dtype",
    "file_extensions",
    "framerate_to_fraction",
    "get_num_frms",
    "get_raw_video_file_info",
    "make_dtype",
    "subsampling",
    "video_formats",
]


class VideoFormat(enum.Enum):
    """The sample layout of a frame: planar YUV with its chroma subsampling, or planar RGB."""

    YUV400 = "yuv400"  # luma only
    YUV420 = "yuv420"  # chroma halved in both directions
    YUV422 = "yuv422"  # chroma halved horizontally
    YUV444 = "yuv444"  # full-resolution chroma
    RGB = "rgb"  # three full-resolution planes


#: Format names found in file names (Vooya, GStreamer, ffmpeg), to the format; matched
#: without regard to case.
video_formats: Dict[str, VideoFormat] = {
    "yuv400": VideoFormat.YUV400,
    "yuv420": VideoFormat.YUV420,
    "420": VideoFormat.YUV420,
    "p420": VideoFormat.YUV420,
    "i420": VideoFormat.YUV420,
    "yuv422": VideoFormat.YUV422,
    "p422": VideoFormat.YUV422,
    "i422": VideoFormat.YUV422,
    "y42B": VideoFormat.YUV422,
    "yuv444": VideoFormat.YUV444,
    "p444": VideoFormat.YUV444,
    "y444": VideoFormat.YUV444,
}

#: NTSC frame rates written in decimal, to their exact value.
framerate_to_fraction: Dict[str, Fraction] = {
    "23.98": Fraction(24000, 1001),
    "23.976": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "59.94": Fraction(60000, 1001),
}

#: File name extensions of raw video.
file_extensions = {"yuv", "rgb", "raw"}

#: Chroma subsampling factors ``(horizontal, vertical)`` of each YUV format (0: no chroma).
subsampling = {
    VideoFormat.YUV400: (0, 0),
    VideoFormat.YUV420: (2, 2),
    VideoFormat.YUV422: (2, 1),
    VideoFormat.YUV444: (1, 1),
}

#: Sample type by bit depth: bytes up to 8 bits, ``uint16`` above.
bitdepth_to_dtype = {8: np.uint8, 10: np.uint16, 12: np.uint16, 14: np.uint16, 16: np.uint16}

_FORMAT_BY_NAME = {name.lower(): fmt for name, fmt in video_formats.items()}
_FORMAT_NAMES = "|".join(sorted(map(re.escape, _FORMAT_BY_NAME), key=len, reverse=True))
_SIZE = re.compile(r"(?P<width>\d+)x(?P<height>\d+)")
_FRAMERATE = re.compile(r"(?P<framerate>\d+(?:\.\d+)?)(?:Hz|fps)")
_BITDEPTH = re.compile(r"(?P<bitdepth>\d+)bit")
# A format name not inside a number, then optionally a bit depth or chroma tag and the
# endianness, as in I420_10LE (GStreamer) or yuv420p10le (ffmpeg).
_FORMAT = re.compile(
    rf"(?<![0-9])(?P<format>{_FORMAT_NAMES})(?![0-9])"
    r"(?:[p_]?(?:(?P<bitdepth2>\d+)|(?P<chroma_sub>\d{3}p))?(?P<endianness>le|be))?",
    re.IGNORECASE,
)
_EXTENSION = re.compile(rf"\.(?P<extension>{'|'.join(sorted(file_extensions))})$", re.IGNORECASE)


def _format_of(value: Union[str, VideoFormat]) -> VideoFormat:
    if isinstance(value, VideoFormat):
        return value
    key = str(value).lower()
    if key in _FORMAT_BY_NAME:
        return _FORMAT_BY_NAME[key]
    try:
        return VideoFormat(key)
    except ValueError:
        raise InvalidChoiceError(f"unknown video format {value!r} (one of {', '.join(video_formats)}, rgb)") from None


def _chroma_size(sub: int, luma: int) -> int:
    """Chroma plane side for a luma side and a subsampling factor (0: no chroma);
    halved sides round up, as ffmpeg sizes them."""
    if sub == 0:
        return 0
    return (luma + sub - 1) // sub


def make_dtype(format: Union[str, VideoFormat], value_type: Any, width: int, height: int) -> np.dtype:
    """The numpy record type of one frame: fields ``y`` ``[height, width]``, ``u`` and
    ``v`` (the chroma planes at the format's subsampling, halved sides rounded up), of
    ``value_type`` samples.

    Raises:
        InvalidChoiceError: a format with no YUV subsampling (RGB) or an unknown one.
    """
    fmt = _format_of(format)
    if fmt not in subsampling:
        raise InvalidChoiceError(f"make_dtype needs a YUV format, got {fmt}")
    w_sub, h_sub = subsampling[fmt]
    chroma = (_chroma_size(h_sub, height), _chroma_size(w_sub, width))
    return np.dtype([("y", value_type, (height, width)), ("u", value_type, chroma), ("v", value_type, chroma)])


def get_raw_video_file_info(filename: str) -> Dict[str, Any]:
    """What a raw video's file name says about it (the Vooya convention,
    ``name_WIDTHxHEIGHT[_FPS(Hz|fps)][_BITSbit][_FORMAT].ext``, with GStreamer's and
    ffmpeg's format names such as ``I420_10LE`` and ``yuv420p10le``).

    Only the last path component is read. Returns ``{}`` when nothing is recognised;
    otherwise the keys found among ``width``, ``height`` (ints), ``framerate``
    (:class:`~fractions.Fraction`; 29.97 and the like are exact NTSC rates), ``format``
    (:class:`VideoFormat`) with ``chroma_sub`` and ``endianness`` (``"le"``/``"be"``, or
    None), ``extension``; and always ``bitdepth`` (int, 8 unless the name says otherwise).

    Raises:
        ValueError: the name gives two different bit depths (``10bit`` and ``I420_12LE``).
    """
    name = os.path.basename(str(filename))
    found: Dict[str, Optional[str]] = {}
    for pattern in (_SIZE, _FRAMERATE, _BITDEPTH, _FORMAT, _EXTENSION):
        match = pattern.search(name)
        if match:
            found.update(match.groupdict())
    if not found:
        return {}
    info: Dict[str, Any] = {}
    if found.get("width") is not None:
        info["width"], info["height"] = int(found["width"] or 0), int(found["height"] or 0)
    if found.get("framerate") is not None:
        rate = str(found["framerate"])
        info["framerate"] = framerate_to_fraction.get(rate) or Fraction(rate)
    explicit, from_format = found.get("bitdepth"), found.get("bitdepth2")
    if explicit is not None and from_format is not None and int(explicit) != int(from_format):
        raise ValueError(f'Filename "{filename}" specifies bit-depth twice ({explicit}bit and {from_format}).')
    info["bitdepth"] = int(explicit or from_format or 8)
    if found.get("format") is not None:
        info["format"] = _format_of(str(found["format"]))
        info["chroma_sub"] = found.get("chroma_sub")
        endianness = found.get("endianness")
        info["endianness"] = endianness.lower() if endianness else None
    if found.get("extension") is not None:
        info["extension"] = str(found["extension"]).lower()
    return info


def get_num_frms(file_size: int, width: int, height: int, video_format: Union[str, VideoFormat], dtype: Any) -> int:
    """How many whole frames ``file_size`` bytes of ``width x height`` video in
    ``video_format`` with ``dtype`` samples hold (a partial frame at the end is not
    counted)."""
    frame_bytes = make_dtype(video_format, dtype, width, height).itemsize
    return int(file_size) // frame_bytes


class RawVideoSequence(Sequence[Any]):
    """A raw YUV video as a sequence of frames, read lazily from a memory map.

    Item ``i`` is frame ``i``, a numpy record with fields ``y`` ``[H, W]`` and ``u``,
    ``v`` (subsampled planes), of ``uint8`` or ``uint16`` samples by bit depth; slices
    give arrays of records.

    Args:
        mmap: the file's samples, a 1-D ``np.memmap`` of ``bitdepth_to_dtype[bitdepth]``.
        width, height: frame size in pixels.
        bitdepth: bits per sample (8, 10, 12, 14 or 16).
        format: a :class:`VideoFormat` or a name of one (``"yuv420"``, ``"420"``...).
        framerate: frames per second (kept for bit rates; may be None).

    Raises:
        InvalidChoiceError: an unknown bit depth or format (a ``ValueError`` and
            ``KeyError``).
        ValueError: the data is not a whole number of frames.
    """

    def __init__(
        self,
        mmap: np.ndarray,
        width: int,
        height: int,
        bitdepth: int,
        format: Union[str, VideoFormat],
        framerate: Any,
    ) -> None:
        if bitdepth not in bitdepth_to_dtype:
            raise InvalidChoiceError(f"bitdepth must be one of {sorted(bitdepth_to_dtype)}, got {bitdepth!r}")
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        self.width = width
        self.height = height
        self.bitdepth = bitdepth
        self.framerate = framerate
        self.format = _format_of(format)
        value_type = bitdepth_to_dtype[bitdepth]
        self.dtype = make_dtype(self.format, value_type=value_type, width=width, height=height)
        if mmap.nbytes % self.dtype.itemsize:
            raise ValueError(
                f"the video data holds {mmap.nbytes} bytes, not a whole number of {width}x{height} "
                f"{self.format.value} {bitdepth}-bit frames of {self.dtype.itemsize} bytes"
            )
        self.data = mmap.view(self.dtype)
        self.total_frms = get_num_frms(mmap.nbytes, width, height, self.format, value_type)

    @classmethod
    def new_like(cls, sequence: "RawVideoSequence", filename: str) -> "RawVideoSequence":
        """The raw video at ``filename``, with ``sequence``'s size, bit depth, format and
        frame rate (e.g. a decoded copy of it)."""
        mmap = np.memmap(filename, dtype=bitdepth_to_dtype[sequence.bitdepth], mode="r")
        return cls(
            mmap,
            width=sequence.width,
            height=sequence.height,
            bitdepth=sequence.bitdepth,
            format=sequence.format,
            framerate=sequence.framerate,
        )

    @classmethod
    def from_file(
        cls,
        filename: str,
        width: Optional[int] = None,
        height: Optional[int] = None,
        bitdepth: Optional[int] = None,
        format: Union[str, VideoFormat, None] = None,
        framerate: Any = None,
    ) -> "RawVideoSequence":
        """The raw video at ``filename``, memory-mapped; what is not given is read from
        the file name (:func:`get_raw_video_file_info`).

        Raises:
            RuntimeError: the size, bit depth or format is neither given nor in the name.
        """
        info = get_raw_video_file_info(filename)
        width = width or info.get("width")
        height = height or info.get("height")
        bitdepth = bitdepth or info.get("bitdepth")
        format = format or info.get("format")
        framerate = framerate or info.get("framerate")
        if width is None or height is None or bitdepth is None or format is None:
            missing = [k for k, v in (("width", width), ("height", height), ("format", format)) if v is None]
            raise RuntimeError(
                f"Could not get sequence information {filename}: no {', '.join(missing)} given or in the "
                "file name (e.g. name_1920x1080_50fps_8bit_420.yuv)"
            )
        if bitdepth not in bitdepth_to_dtype:
            raise InvalidChoiceError(f"bitdepth must be one of {sorted(bitdepth_to_dtype)}, got {bitdepth!r}")
        mmap = np.memmap(filename, dtype=bitdepth_to_dtype[bitdepth], mode="r")
        return cls(mmap, width=width, height=height, bitdepth=bitdepth, format=format, framerate=framerate)

    def __getitem__(self, index: Any) -> Any:
        return self.data[index]

    def __len__(self) -> int:
        return len(self.data)

    def close(self) -> None:
        """Drops the memory map (the file is unmapped once no frame refers to it)."""
        del self.data
