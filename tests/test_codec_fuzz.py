"""Fuzzing real files: every mutation gives the documented exception or a correct decode.

Raw mutations (bit flips, truncation, appended or spliced bytes, random files) must be
a :class:`FormatError` (the checksums catch them) unless they left the bytes unchanged.
Mutations whose checksums are then recomputed ("resealed", as a deliberate forger
would) reach the field checks and the decoder: they must give some
:class:`CodecError` or a decoded image of the declared size, never another exception,
a crash or a hang (the decode limits bound the work).
"""

import functools
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec_models import pixels, small_model
from neuralcodec.codec import CodecError, FormatError, decode_image, encode_image, read_header

#: Files from a one-string model, a two-string model and an autoregressive one.
KINDS = ("bmshj2018-factorized", "mbt2018-mean", "mbt2018")
LIMIT = 1 << 16  # max_pixels while fuzzing: keeps any forged size cheap to decode


@functools.lru_cache(maxsize=None)
def original(kind: str):
    model = small_model(kind)
    data = encode_image(pixels(20, 28, seed=7), model)
    return model, data, decode_image(data, model, output="numpy")


def decode(kind: str, data: bytes):
    return decode_image(data, original(kind)[0], output="numpy", max_pixels=LIMIT)


def assert_refused_or_unchanged(kind: str, data: bytes) -> None:
    """A raw mutation: FormatError, or (only if the bytes are unchanged) the original image."""
    _, good, image = original(kind)
    try:
        decoded = decode(kind, data)
    except FormatError:
        return
    assert data == good, "a damaged file was decoded instead of refused"
    assert np.array_equal(decoded, image)


def assert_codec_error_or_decoded(kind: str, data: bytes) -> None:
    """A resealed mutation: any CodecError, or an image of the size its header declares."""
    try:
        decoded = decode(kind, data)
    except CodecError:
        return
    header = read_header(data, max_pixels=LIMIT)
    assert decoded.shape == (header.height, header.width, 3)
    assert decoded.dtype == np.uint8


def reseal(data: bytes) -> bytes:
    """Recomputes the checksums of a mutated file (as far as its layout still allows)."""
    data = bytearray(data)
    if len(data) < 18:
        return bytes(data)
    (header_length,) = struct.unpack_from("<I", data, 10)
    end = 14 + header_length
    if end + 8 > len(data):
        return bytes(data)
    struct.pack_into("<I", data, end, zlib.crc32(data[:end]))
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(data[end + 4 : len(data) - 4]))
    return bytes(data)


def string_length_offsets(data: bytes) -> list:
    """Byte offsets of the string-length fields (the last fields of the header)."""
    header = read_header(data)
    (header_length,) = struct.unpack_from("<I", data, 10)
    end = 14 + header_length
    return [end - 4 * (len(header.string_lengths) - i) for i in range(len(header.string_lengths))]


FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


# ------------------------------------------------------------------ exhaustive
@pytest.mark.parametrize("kind", KINDS)
def test_every_single_bit_flip_is_detected(kind):
    _, data, _ = original(kind)
    for bit in range(8 * len(data)):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FormatError):
            decode(kind, bytes(damaged))


@pytest.mark.parametrize("kind", KINDS)
def test_every_truncation_is_detected(kind):
    _, data, _ = original(kind)
    for length in range(len(data)):
        with pytest.raises(FormatError):
            decode(kind, data[:length])


# ------------------------------------------------------------------ raw mutations
@FUZZ
@given(kind=st.sampled_from(KINDS), flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=16))
def test_bit_flips_anywhere_are_refused(kind, flips):
    data = bytearray(original(kind)[1])
    for flip in flips:
        bit = flip % (8 * len(data))
        data[bit // 8] ^= 1 << (bit % 8)
    assert_refused_or_unchanged(kind, bytes(data))


@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    start=st.integers(0, 10**6),
    deleted=st.integers(0, 16),
    inserted=st.binary(max_size=16),
)
def test_spliced_bytes_are_refused(kind, start, deleted, inserted):
    data = original(kind)[1]
    at = start % (len(data) + 1)
    assert_refused_or_unchanged(kind, data[:at] + inserted + data[at + deleted :])


@FUZZ
@given(kind=st.sampled_from(KINDS), extra=st.binary(min_size=1, max_size=64))
def test_appended_bytes_are_refused(kind, extra):
    with pytest.raises(FormatError):
        decode(kind, original(kind)[1] + extra)


@FUZZ
@given(data=st.binary(max_size=512), with_magic=st.booleans())
def test_random_bytes_are_refused(data, with_magic):
    if with_magic:
        data = b"\x89NCI\r\n\x1a\n" + data
    with pytest.raises(FormatError):
        decode("mbt2018-mean", data)


@FUZZ
@given(kind=st.sampled_from(KINDS), which=st.integers(0, 1), value=st.integers(0, 2**32 - 1), fix_header=st.booleans())
def test_changed_string_lengths_are_refused(kind, which, value, fix_header):
    data = bytearray(original(kind)[1])
    offsets = string_length_offsets(bytes(data))
    offset = offsets[which % len(offsets)]
    if struct.unpack_from("<I", data, offset)[0] == value:
        return
    struct.pack_into("<I", data, offset, value)
    if fix_header:  # a consistent header CRC, so the length check itself must catch it
        (header_length,) = struct.unpack_from("<I", data, 10)
        struct.pack_into("<I", data, 14 + header_length, zlib.crc32(data[: 14 + header_length]))
    with pytest.raises(FormatError):
        decode(kind, bytes(data))


# ------------------------------------------------------------------ resealed mutations
@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    changes=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_resealed_byte_changes_give_a_codec_error_or_an_image(kind, changes):
    data = bytearray(original(kind)[1])
    for position, value in changes:
        data[8 + position % (len(data) - 8)] = value  # keep the magic: reach the field checks
    assert_codec_error_or_decoded(kind, reseal(bytes(data)))


@FUZZ
@given(kind=st.sampled_from(KINDS), payload=st.data())
def test_resealed_random_payloads_give_a_codec_error_or_an_image(kind, payload):
    data = original(kind)[1]
    (header_length,) = struct.unpack_from("<I", data, 10)
    start = 14 + header_length + 4
    size = len(data) - 4 - start
    garbage = payload.draw(st.binary(min_size=size, max_size=size))
    assert_codec_error_or_decoded(kind, reseal(data[:start] + garbage + data[-4:]))


@FUZZ
@given(kind=st.sampled_from(KINDS), field=st.sampled_from(["height", "width", "latent"]), value=st.integers(0, 2**32 - 1))
def test_resealed_size_fields_give_a_codec_error_or_an_image(kind, field, value):
    data = bytearray(original(kind)[1])
    header = read_header(bytes(data))
    (header_length,) = struct.unpack_from("<I", data, 10)
    end = 14 + header_length
    count = len(header.string_lengths)
    latent_at = end - 4 * count - 1 - 8
    height_at = latent_at - 2 - 8 - 8
    offset = {"height": height_at, "width": height_at + 4, "latent": latent_at}[field]
    assert struct.unpack_from("<I", data, height_at) == (header.height,), "field offsets as documented"
    struct.pack_into("<I", data, offset, value)
    assert_codec_error_or_decoded(kind, reseal(bytes(data)))
