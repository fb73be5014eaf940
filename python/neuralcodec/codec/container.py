"""The neuralcodec image container: byte layout, writing, and checked parsing.

This module is pure Python (no torch): it turns a :class:`Header` plus the model's
entropy-coded strings into the bytes of a file, and back, validating everything. The
layout is specified in ``docs/format.md``; in short (all integers little-endian)::

    preamble   magic (8) | format version u16 | header length H u32
    header     H bytes of fields (model identity, image size, padding, latent shape,
               string lengths, ...; from version 2, extensions such as the ICC profile)
    header CRC u32  CRC-32 of the preamble and header
    payload    the strings, concatenated
    payload CRC u32  CRC-32 of the payload

The preamble and the header CRC keep their places in every future version, so any
reader can check a file's integrity before it reports which version the file needs.

Parsing never trusts a size before checking it: the header's lengths must add up to the
file's length exactly, and the image size is bounded by ``max_pixels`` before a caller
allocates anything for it.
"""

from __future__ import annotations

import enum
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

from neuralcodec.codec.errors import FormatError, LimitExceededError, UnsupportedVersionError

__all__ = [
    "EXTENSION_EXIF",
    "EXTENSION_ICC",
    "EXTENSION_QUALITY",
    "QUALITY_SCALE",
    "MAX_EXTENSIONS",
    "MAX_EXTENSION_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_STRINGS",
    "DEFAULT_MAX_STRING_BYTES",
    "FILE_SUFFIX",
    "FORMAT_VERSION",
    "MAGIC",
    "Header",
    "ModelIdentity",
    "Origin",
    "decode_quality",
    "encode_quality",
    "expected_padding",
    "pack",
    "quantize_quality",
    "read_header",
    "unpack",
]

#: First bytes of every file: a non-ASCII byte, "NCI", CR LF, ^Z, LF (as PNG does, so
#: text-mode transfers and truncation to 7 bits are detected at once).
MAGIC = b"\x89NCI\r\n\x1a\n"
#: The newest format version this module reads and writes. A file without extensions is
#: written as version 1, so that readers of version 1 still read it.
FORMAT_VERSION = 2
#: The first version with extensions.
_EXTENSIONS_SINCE = 2
#: Extension tag of the source image's ICC colour profile (the profile's bytes).
EXTENSION_ICC = "iCCP"
#: Extension tag of the source image's EXIF block (``Exif\0\0``-less TIFF bytes, as
#: Pillow's ``Image.Exif.tobytes()`` gives them, with the orientation reset to 1).
EXTENSION_EXIF = "eXIf"
#: Critical extension tag of the continuous quality a variable-rate model coded the file
#: at: 4 bytes, an unsigned little-endian 16.16 fixed-point number (the quality times
#: :data:`QUALITY_SCALE`), see :func:`encode_quality`. Critical: a reader that does not
#: know it cannot know the rate the strings were coded at.
EXTENSION_QUALITY = "QUAL"
#: The denominator of the fixed-point quality: qualities are multiples of 1/65536, so
#: every stored value is exact in float32 and float64 alike.
QUALITY_SCALE = 1 << 16
#: At most this many extensions in a file, each at most this many bytes.
MAX_EXTENSIONS = 16
MAX_EXTENSION_BYTES = 1 << 24
#: File name suffix of neuralcodec image files.
FILE_SUFFIX = ".nci"

#: Default bound on ``height * width`` of a decoded image (8192 x 8192).
DEFAULT_MAX_PIXELS = 1 << 26
#: Default bound on the number of entropy-coded strings in a file (models use 1 or 2).
DEFAULT_MAX_STRINGS = 16
#: Default bound on the length of one string, in bytes (1 GiB).
DEFAULT_MAX_STRING_BYTES = 1 << 30

_PREAMBLE = struct.Struct("<8sHI")
_CRC = struct.Struct("<I")
_MAX_TOKEN = 64
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_DIGEST_BYTES = 32
_MAX_U32 = (1 << 32) - 1


class Origin(enum.IntEnum):
    """Where the weights of the model that made a file come from (tells a decoder where
    to get them; the weights hash then proves they are the same)."""

    #: A user's checkpoint or in-memory model: the decoder must be given it.
    CHECKPOINT = 0
    #: neuralcodec's shipped default weights (:func:`neuralcodec.zoo.defaults.default_model`).
    NEURALCODEC = 1
    #: CompressAI's published weights (:func:`neuralcodec.zoo.load_model` with ``pretrained=True``).
    COMPRESSAI = 2

    @property
    def label(self) -> str:
        """Human-readable name, as the CLI prints it."""
        return {0: "user checkpoint", 1: "neuralcodec shipped weights", 2: "CompressAI published weights"}[int(self)]


@dataclass(frozen=True)
class ModelIdentity:
    """What identifies the model a file was made with.

    Attributes:
        architecture: the zoo name (``"mbt2018-mean"``, ...).
        quality: the rate point (1..8), or 0 when not recorded (user models).
        metric: the distortion the weights were trained for (``"mse"``,
            ``"ms-ssim"``), or ``""`` when not recorded.
        origin: where the weights come from.
        weights_sha256: SHA-256 of the state_dict (see
            :func:`neuralcodec.codec.identity.weights_sha256`), 32 bytes. The only field
            that decides whether two models decode each other's files.
    """

    architecture: str
    quality: int
    metric: str
    origin: Origin
    weights_sha256: bytes

    def describe(self) -> str:
        """One line naming the model, e.g. ``mbt2018-mean quality 3 (mse, ...), weights sha256 1a2b...``."""
        quality = f" quality {self.quality}" if self.quality else ""
        details = ", ".join(x for x in (self.metric, Origin(self.origin).label) if x)
        return f"{self.architecture}{quality} ({details}), weights sha256 {self.weights_sha256.hex()[:16]}"


@dataclass(frozen=True)
class Header:
    """The decoded header of a neuralcodec image file.

    Attributes:
        model: the model that made the file.
        coding_path: how the entropy parameters were computed (``"compat"``, ``"engine"``).
        height, width: the image size in pixels.
        padding: ``(left, right, top, bottom)`` pixels of edge replication the encoder
            added to reach multiples of the model's stride (centred, as
            :func:`neuralcodec.ops.compute_padding` computes it).
        bit_depth: bits per sample of the decoded image (8).
        channels: 1 when the source was grayscale (decoded back to grayscale), 3 for RGB.
        latent_shape: ``(height, width)`` of the model's smallest latent, the ``shape``
            argument of ``decompress``.
        string_lengths: the length in bytes of each entropy-coded string, in the order of
            the model's ``strings`` (one string per latent).
        version: the format version of the file (:func:`pack` writes 1 when there are
            no extensions, 2 otherwise).
        extensions: ``(tag, data)`` pairs (version 2): four ASCII letters and their
            bytes. A tag whose first letter is lower case is *ancillary* (a reader that
            does not know it keeps it and decodes the image anyway, like PNG's chunks);
            upper case is *critical* (a reader that does not know it refuses the file).
            Known: :data:`EXTENSION_ICC`, :data:`EXTENSION_EXIF`, :data:`EXTENSION_QUALITY`.
    """

    model: ModelIdentity
    coding_path: str
    height: int
    width: int
    padding: Tuple[int, int, int, int]
    bit_depth: int
    channels: int
    latent_shape: Tuple[int, int]
    string_lengths: Tuple[int, ...]
    version: int = field(default=1)
    extensions: Tuple[Tuple[str, bytes], ...] = ()

    def extension(self, tag: str) -> Optional[bytes]:
        """The data of extension ``tag``, or ``None`` when the file has none."""
        for name, data in self.extensions:
            if name == tag:
                return data
        return None

    @property
    def icc_profile(self) -> Optional[bytes]:
        """The source image's ICC profile, if the file keeps it."""
        return self.extension(EXTENSION_ICC)

    @property
    def exif(self) -> Optional[bytes]:
        """The source image's EXIF block (orientation 1), if the file keeps it."""
        return self.extension(EXTENSION_EXIF)

    @property
    def coded_quality(self) -> Optional[float]:
        """The continuous quality a variable-rate model coded the file at
        (:data:`EXTENSION_QUALITY`), or ``None`` for a file without one."""
        data = self.extension(EXTENSION_QUALITY)
        return None if data is None else decode_quality(data)

    @property
    def padded_size(self) -> Tuple[int, int]:
        """``(height, width)`` of the padded image the model's transforms saw."""
        left, right, top, bottom = self.padding
        return self.height + top + bottom, self.width + left + right

    @property
    def stride(self) -> int:
        """The model's total stride implied by the padded size and the latent shape."""
        return self.padded_size[0] // self.latent_shape[0]

    @property
    def pixels(self) -> int:
        """``height * width``."""
        return self.height * self.width


def expected_padding(height: int, width: int, stride: int) -> Tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` that centres ``height x width`` in the next multiple of ``stride``.

    The same rule as :func:`neuralcodec.ops.compute_padding` (kept here so the container
    needs no torch); the larger half goes right and bottom.
    """
    out_h = -(-height // stride) * stride
    out_w = -(-width // stride) * stride
    left, top = (out_w - width) // 2, (out_h - height) // 2
    return left, out_w - width - left, top, out_h - height - top


# ------------------------------------------------------------------------- quality
def quantize_quality(quality: float) -> float:
    """``quality`` rounded to the nearest multiple of ``1 / QUALITY_SCALE`` (half to even):
    the value a file stores, which the encoder codes with so that the decoder, reading
    it back, uses the very same number.

    Raises:
        ValueError: not a finite number from ``1 / QUALITY_SCALE`` up to ``65535``.
    """
    value = float(quality)
    if not (math.isfinite(value) and 0 < value <= _MAX_U32 / QUALITY_SCALE):
        raise ValueError(f"a stored quality is a finite number in (0, 65535], got {quality!r}")
    steps = round(value * QUALITY_SCALE)
    if steps == 0:
        raise ValueError(f"quality {quality!r} rounds to 0 at a resolution of 1/{QUALITY_SCALE}")
    return steps / QUALITY_SCALE


def encode_quality(quality: float) -> bytes:
    """The 4 bytes of :data:`EXTENSION_QUALITY` for ``quality`` (rounded by
    :func:`quantize_quality`): ``round(quality * 65536)`` as a little-endian u32."""
    return struct.pack("<I", int(quantize_quality(quality) * QUALITY_SCALE))


def decode_quality(data: bytes) -> float:
    """The quality stored in the 4 bytes of :data:`EXTENSION_QUALITY`.

    Raises:
        FormatError: not 4 bytes, or the value 0 (no quality is 0).
    """
    if len(data) != 4:
        raise FormatError(f"malformed header: the {EXTENSION_QUALITY} extension holds {len(data)} bytes, expected 4")
    (steps,) = struct.unpack("<I", bytes(data))
    if steps == 0:
        raise FormatError(f"malformed header: the {EXTENSION_QUALITY} extension records quality 0")
    return steps / QUALITY_SCALE


# ------------------------------------------------------------------------- writing
def _token(name: str, value: str, allow_empty: bool = False) -> bytes:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > _MAX_TOKEN or not set(value) <= _TOKEN_CHARS:
        raise ValueError(
            f"{name} must be at most {_MAX_TOKEN} characters from a-z, 0-9, '-', '_', '.', got {value!r}"
        )
    return bytes([len(value)]) + value.encode("ascii")


def _u32(name: str, value: int) -> bytes:
    if not 0 <= value <= _MAX_U32:
        raise ValueError(f"{name} = {value} does not fit the format (0..{_MAX_U32})")
    return struct.pack("<I", value)


def _u16(name: str, value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} = {value} does not fit the format (0..65535)")
    return struct.pack("<H", value)


def _header_body(header: Header) -> bytes:
    model = header.model
    if len(model.weights_sha256) != _DIGEST_BYTES:
        raise ValueError(f"weights_sha256 must be {_DIGEST_BYTES} bytes, got {len(model.weights_sha256)}")
    if not 0 <= model.quality <= 255:
        raise ValueError(f"quality must be in 0..255 (0: not recorded), got {model.quality}")
    if header.channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {header.channels}")
    if header.bit_depth != 8:
        raise ValueError(f"format version {FORMAT_VERSION} stores 8-bit images, got bit_depth={header.bit_depth}")
    if not 1 <= len(header.string_lengths) <= 255:
        raise ValueError(f"a file holds 1..255 strings, got {len(header.string_lengths)}")
    parts = [
        _token("architecture", model.architecture),
        bytes([model.quality]),
        _token("metric", model.metric, allow_empty=True),
        bytes([int(Origin(model.origin))]),
        bytes(model.weights_sha256),
        _token("coding_path", header.coding_path),
        _u32("height", header.height),
        _u32("width", header.width),
        *(_u16(f"padding[{i}]", p) for i, p in enumerate(header.padding)),
        bytes([header.bit_depth, header.channels]),
        _u32("latent height", header.latent_shape[0]),
        _u32("latent width", header.latent_shape[1]),
        bytes([len(header.string_lengths)]),
        *(_u32(f"string_lengths[{i}]", n) for i, n in enumerate(header.string_lengths)),
    ]
    if header.extensions:
        parts.append(bytes([len(header.extensions)]))
        for tag, data in header.extensions:
            parts += [tag.encode("ascii"), _u32(f"extension {tag} length", len(data)), bytes(data)]
    return b"".join(parts)


_KNOWN_EXTENSIONS = (EXTENSION_ICC, EXTENSION_EXIF, EXTENSION_QUALITY)


def _check_extensions(extensions: Sequence[Tuple[str, bytes]], error: type) -> None:
    """Tags are four ASCII letters, unique; at most :data:`MAX_EXTENSIONS`, each at most
    :data:`MAX_EXTENSION_BYTES`; unknown critical tags are refused."""
    if len(extensions) > MAX_EXTENSIONS:
        raise error(f"a file holds at most {MAX_EXTENSIONS} extensions, got {len(extensions)}")
    seen = set()
    for tag, data in extensions:
        if not (isinstance(tag, str) and len(tag) == 4 and tag.isascii() and tag.isalpha()):
            raise error(f"an extension tag is four ASCII letters, got {tag!r}")
        if tag in seen:
            raise error(f"extension {tag} appears twice")
        seen.add(tag)
        if not 1 <= len(data) <= MAX_EXTENSION_BYTES:
            raise error(f"extension {tag} holds {len(data):,} bytes (1..{MAX_EXTENSION_BYTES:,})")
        if tag[0].isupper() and tag not in _KNOWN_EXTENSIONS:
            raise error(f"the file needs the critical extension {tag}, which this neuralcodec does not know: upgrade")
        if tag == EXTENSION_QUALITY:
            try:
                decode_quality(data)
            except FormatError as problem:
                raise error(str(problem)) from None


def pack(header: Header, strings: Sequence[bytes]) -> bytes:
    """The bytes of a file holding ``strings`` described by ``header``.

    ``header.string_lengths`` must match ``strings``; the header is validated as a
    reader would validate it, so a file this writes always parses.

    Raises:
        ValueError: a field is out of range or inconsistent.
    """
    lengths = tuple(len(s) for s in strings)
    if lengths != tuple(header.string_lengths):
        raise ValueError(f"header.string_lengths {tuple(header.string_lengths)} do not match the strings {lengths}")
    _check_extensions(header.extensions, ValueError)
    version = _EXTENSIONS_SINCE if header.extensions else 1
    if header.version not in (1, version):
        raise ValueError(f"this module writes format version {version} for this header, not {header.version}")
    _check_geometry(header, max_pixels=_MAX_U32 * _MAX_U32)
    body = _header_body(header)
    head = _PREAMBLE.pack(MAGIC, version, len(body)) + body
    payload = b"".join(bytes(s) for s in strings)
    return b"".join(
        (head, _CRC.pack(zlib.crc32(head)), payload, _CRC.pack(zlib.crc32(payload)))
    )


# ------------------------------------------------------------------------- reading
class _Reader:
    """Reads fields off the header body; running past its end is a :class:`FormatError`."""

    def __init__(self, body: memoryview) -> None:
        self.body = body
        self.at = 0

    def take(self, n: int, what: str) -> memoryview:
        if self.at + n > len(self.body):
            raise FormatError(f"malformed header: it ends inside the field {what}")
        chunk = self.body[self.at : self.at + n]
        self.at += n
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int(struct.unpack("<H", self.take(2, what))[0])

    def u32(self, what: str) -> int:
        return int(struct.unpack("<I", self.take(4, what))[0])

    def token(self, what: str, allow_empty: bool = False) -> str:
        length = self.u8(f"{what} length")
        if length > _MAX_TOKEN or (length == 0 and not allow_empty):
            raise FormatError(f"malformed header: {what} has length {length}")
        raw = bytes(self.take(length, what))
        text = raw.decode("ascii", errors="replace")
        if not set(text) <= _TOKEN_CHARS:
            raise FormatError(f"malformed header: {what} {raw!r} is not a valid name")
        return text


def _crc_check(data: memoryview, expected: int, what: str) -> None:
    if zlib.crc32(data) != expected:
        raise FormatError(f"the {what} checksum does not match: the file is corrupted")


def _parse_preamble(view: memoryview) -> Tuple[int, int]:
    """Checks magic, header CRC and version; returns ``(version, header length)``."""
    if len(view) < _PREAMBLE.size:
        if bytes(view[: len(MAGIC)]) != MAGIC[: len(view)]:
            raise FormatError("not a neuralcodec image file (the magic bytes are missing)")
        raise FormatError(f"truncated file: {len(view)} bytes, the preamble alone is {_PREAMBLE.size}")
    magic, version, header_length = _PREAMBLE.unpack_from(view)
    if magic != MAGIC:
        hint = " (it looks like a PNG image)" if magic.startswith(b"\x89PNG") else ""
        raise FormatError(f"not a neuralcodec image file{hint}: the magic bytes are {magic!r}, expected {MAGIC!r}")
    end = _PREAMBLE.size + header_length
    if end + _CRC.size > len(view):
        raise FormatError(
            f"truncated file: {len(view)} bytes, but the header alone declares {end + _CRC.size}"
        )
    (header_crc,) = _CRC.unpack_from(view, end)
    _crc_check(view[:end], header_crc, "header")
    if version == 0:
        raise FormatError("malformed file: format version 0 does not exist")
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(version, FORMAT_VERSION)
    return version, header_length


def _check_geometry(header: Header, max_pixels: int) -> None:
    """Model-independent consistency of sizes, padding and latent shape."""
    height, width = header.height, header.width
    if height < 1 or width < 1:
        raise FormatError(f"malformed header: image size {width}x{height}")
    if height * width > max_pixels:
        raise LimitExceededError(
            f"the image is {width}x{height} = {height * width:,} pixels, more than max_pixels = "
            f"{max_pixels:,}; raise the limit (--max-pixels) if you trust this file",
            limit="max_pixels",
        )
    latent_h, latent_w = header.latent_shape
    padded_h, padded_w = header.padded_size
    if latent_h < 1 or latent_w < 1 or padded_h % latent_h or padded_w % latent_w:
        raise FormatError(
            f"malformed header: latent shape {latent_h}x{latent_w} does not divide the padded size {padded_h}x{padded_w}"
        )
    stride = padded_h // latent_h
    if padded_w // latent_w != stride or stride & (stride - 1):
        raise FormatError(
            f"malformed header: padded size {padded_h}x{padded_w} and latent shape {latent_h}x{latent_w} "
            "do not give one power-of-two stride"
        )
    if tuple(header.padding) != expected_padding(height, width, stride):
        raise FormatError(
            f"malformed header: padding {tuple(header.padding)} is not the centred padding of "
            f"{width}x{height} to multiples of {stride}"
        )


def _parse_body(view: memoryview, version: int, header_length: int, limits: Tuple[int, int, int]) -> Header:
    max_pixels, max_strings, max_string_bytes = limits
    reader = _Reader(view[_PREAMBLE.size : _PREAMBLE.size + header_length])
    architecture = reader.token("architecture")
    quality = reader.u8("quality")
    metric = reader.token("metric", allow_empty=True)
    origin_code = reader.u8("origin")
    try:
        origin = Origin(origin_code)
    except ValueError:
        raise FormatError(f"malformed header: unknown weights origin {origin_code}") from None
    digest = bytes(reader.take(_DIGEST_BYTES, "weights sha256"))
    coding_path = reader.token("coding path")
    height, width = reader.u32("height"), reader.u32("width")
    padding = tuple(reader.u16("padding") for _ in range(4))
    bit_depth, channels = reader.u8("bit depth"), reader.u8("channels")
    latent_shape = (reader.u32("latent height"), reader.u32("latent width"))
    count = reader.u8("string count")
    if count == 0:
        raise FormatError("malformed header: the file declares no strings")
    if count > max_strings:
        raise LimitExceededError(
            f"the file declares {count} strings, more than max_strings = {max_strings}", limit="max_strings"
        )
    lengths = tuple(reader.u32(f"string {i} length") for i in range(count))
    extensions: List[Tuple[str, bytes]] = []
    if version >= _EXTENSIONS_SINCE:
        for i in range(reader.u8("extension count")):
            raw_tag = bytes(reader.take(4, f"extension {i} tag"))
            tag = raw_tag.decode("ascii", errors="replace")
            size = reader.u32(f"extension {tag!r} length")
            if size > MAX_EXTENSION_BYTES:
                raise LimitExceededError(
                    f"extension {tag!r} declares {size:,} bytes, more than {MAX_EXTENSION_BYTES:,}",
                    limit="max_extension_bytes",
                )
            extensions.append((tag, bytes(reader.take(size, f"extension {tag!r}"))))
        if not extensions:
            raise FormatError("malformed header: a version 2 file without extensions (version 1 holds those)")
        _check_extensions(extensions, FormatError)
    if reader.at != header_length:
        raise FormatError(f"malformed header: {header_length - reader.at} unexpected bytes after the last field")
    if bit_depth != 8:
        raise FormatError(f"malformed header: bit depth {bit_depth} (format version {version} stores 8-bit images)")
    if channels not in (1, 3):
        raise FormatError(f"malformed header: {channels} channels (1 or 3 expected)")
    for i, n in enumerate(lengths):
        if n == 0:
            raise FormatError(f"malformed header: string {i} is empty")
        if n > max_string_bytes:
            raise LimitExceededError(
                f"string {i} declares {n:,} bytes, more than max_string_bytes = {max_string_bytes:,}",
                limit="max_string_bytes",
            )
    header = Header(
        model=ModelIdentity(architecture, quality, metric, origin, digest),
        coding_path=coding_path,
        height=height,
        width=width,
        padding=padding,  # type: ignore[arg-type]
        bit_depth=bit_depth,
        channels=channels,
        latent_shape=latent_shape,
        string_lengths=lengths,
        version=version,
        extensions=tuple(extensions),
    )
    _check_geometry(header, max_pixels)
    return header


Bytes = Union[bytes, bytearray, memoryview]


def _limits(max_pixels: int, max_strings: int, max_string_bytes: int) -> Tuple[int, int, int]:
    for name, value in (("max_pixels", max_pixels), ("max_strings", max_strings), ("max_string_bytes", max_string_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return max_pixels, max_strings, max_string_bytes


def _as_view(data: Bytes) -> memoryview:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    return memoryview(data).cast("B")


def read_header(
    data: Bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_strings: int = DEFAULT_MAX_STRINGS,
    max_string_bytes: int = DEFAULT_MAX_STRING_BYTES,
) -> Header:
    """The checked header of a file (the payload is not read; ``data`` may be just the
    beginning of a file, as long as it holds the whole header).

    Raises:
        FormatError: not a neuralcodec file, truncated header, corrupted header
            (checksum), malformed fields; :class:`UnsupportedVersionError` for a newer
            version, :class:`LimitExceededError` for sizes beyond the limits.
    """
    view = _as_view(data)
    limits = _limits(max_pixels, max_strings, max_string_bytes)
    version, header_length = _parse_preamble(view)
    return _parse_body(view, version, header_length, limits)


def unpack(
    data: Bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_strings: int = DEFAULT_MAX_STRINGS,
    max_string_bytes: int = DEFAULT_MAX_STRING_BYTES,
) -> Tuple[Header, List[bytes]]:
    """Parses and verifies a whole file: ``(header, strings)``.

    Checks, in order: magic bytes, header checksum, version, every header field and the
    limits, that the declared lengths add up to the file's length exactly (truncation
    and trailing bytes are errors), and the payload checksum.

    Raises:
        FormatError: see :func:`read_header`; also truncated or over-long payloads and
            payload corruption.
    """
    view = _as_view(data)
    limits = _limits(max_pixels, max_strings, max_string_bytes)
    version, header_length = _parse_preamble(view)
    header = _parse_body(view, version, header_length, limits)
    start = _PREAMBLE.size + header_length + _CRC.size
    expected = start + sum(header.string_lengths) + _CRC.size
    if len(view) < expected:
        raise FormatError(f"truncated file: {len(view):,} bytes, the header declares {expected:,}")
    if len(view) > expected:
        raise FormatError(f"{len(view) - expected:,} unexpected bytes after the end of the file (declared {expected:,})")
    (payload_crc,) = _CRC.unpack_from(view, expected - _CRC.size)
    _crc_check(view[start : expected - _CRC.size], payload_crc, "payload")
    strings = []
    for n in header.string_lengths:
        strings.append(bytes(view[start : start + n]))
        start += n
    return header, strings
