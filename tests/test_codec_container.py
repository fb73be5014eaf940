"""The container layout (docs/format.md): writing, checked parsing, limits, versions."""

import re
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from neuralcodec.codec import (
    FORMAT_VERSION,
    MAGIC,
    FormatError,
    Header,
    LimitExceededError,
    ModelIdentity,
    Origin,
    UnsupportedVersionError,
    read_header,
)
from neuralcodec.codec.container import expected_padding, pack, unpack

FIXTURE = Path(__file__).parent / "fixtures" / "codec" / "mbt2018-mean-60x40.nci"
FORMAT_DOC = Path(__file__).resolve().parents[1] / "docs" / "format.md"
DIGEST = bytes(range(32))


def header(**changes) -> Header:
    base = Header(
        model=ModelIdentity("mbt2018-mean", 3, "mse", Origin.NEURALCODEC, DIGEST),
        coding_path="compat",
        height=40,
        width=60,
        padding=expected_padding(40, 60, 64),
        bit_depth=8,
        channels=3,
        latent_shape=(1, 1),
        string_lengths=(5, 3),
    )
    return replace(base, **changes)


STRINGS = [b"\x01\x02\x03\x04\x05", b"xyz"]


def reseal(data: bytearray) -> bytes:
    """Recomputes both CRCs of a (mutated) file whose preamble is intact."""
    data = bytearray(data)
    (header_length,) = struct.unpack_from("<I", data, 10)
    end = 14 + header_length
    struct.pack_into("<I", data, end, zlib.crc32(data[:end]))
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(data[end + 4 : len(data) - 4]))
    return bytes(data)


def test_a_packed_file_unpacks_to_the_same_header_and_strings():
    data = pack(header(), STRINGS)
    parsed, strings = unpack(data)
    assert parsed == header()
    assert strings == STRINGS
    assert read_header(data) == header()
    assert read_header(data[: len(data) - 12]) == header(), "the header alone is enough to read it"


def test_the_committed_file_has_the_documented_layout():
    data = FIXTURE.read_bytes()
    parsed, strings = unpack(data)
    assert data[:8] == MAGIC == b"\x89NCI\r\n\x1a\n"
    assert parsed.version == 1 and FORMAT_VERSION == 2  # no extensions: written as version 1
    assert parsed.model.architecture == "mbt2018-mean"
    assert (parsed.model.quality, parsed.model.metric, parsed.model.origin) == (0, "", Origin.CHECKPOINT)
    assert (parsed.height, parsed.width, parsed.padding) == (40, 60, (2, 2, 12, 12))
    assert (parsed.bit_depth, parsed.channels, parsed.latent_shape) == (8, 3, (1, 1))
    assert parsed.string_lengths == (8, 12) and [len(s) for s in strings] == [8, 12]
    assert pack(parsed, strings) == data, "writing the parsed file gives the same bytes"


def test_the_hex_dump_in_the_format_doc_is_the_committed_file():
    text = FORMAT_DOC.read_text()
    example = text[text.index("## Example") :]
    dump = example[example.index("```") + 3 : example.index("```", example.index("```") + 3)]
    documented = bytearray()
    for line in dump.strip().splitlines():
        match = re.match(r"^([0-9a-f]{4})  ((?:[0-9a-f]{2} ?)+)", line)
        assert match, line
        assert int(match.group(1), 16) == len(documented)
        documented += bytes.fromhex(match.group(2))
    assert bytes(documented) == FIXTURE.read_bytes()


def test_expected_padding_centres_the_image_with_the_larger_half_right_and_bottom():
    assert expected_padding(40, 60, 64) == (2, 2, 12, 12)
    assert expected_padding(1, 1, 64) == (31, 32, 31, 32)
    assert expected_padding(64, 128, 64) == (0, 0, 0, 0)
    assert expected_padding(1, 500, 16) == (6, 6, 7, 8)


@pytest.mark.parametrize(
    "cut", [0, 1, 7, 8, 13, 14, 30, 100]
)
def test_every_truncation_is_a_format_error(cut):
    data = pack(header(), STRINGS)
    if cut >= len(data):
        cut = len(data) - 1
    with pytest.raises(FormatError):
        unpack(data[:cut])


def test_truncating_the_payload_or_appending_bytes_is_reported_with_sizes():
    data = pack(header(), STRINGS)
    with pytest.raises(FormatError, match="truncated"):
        unpack(data[:-1])
    with pytest.raises(FormatError, match="unexpected bytes after the end"):
        unpack(data + b"\x00")


def test_other_files_are_not_mistaken_for_neuralcodec_files():
    with pytest.raises(FormatError, match="PNG"):
        unpack(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(FormatError, match="not a neuralcodec image file"):
        unpack(b"hello world, this is text")
    with pytest.raises(FormatError):
        unpack(b"")
    with pytest.raises(TypeError):
        unpack("a string")  # type: ignore[arg-type]


def test_checksums_catch_damage_in_the_header_and_in_the_payload():
    data = bytearray(pack(header(), STRINGS))
    header_damage = bytearray(data)
    header_damage[20] ^= 0x01
    with pytest.raises(FormatError, match="header checksum"):
        unpack(bytes(header_damage))
    payload_damage = bytearray(data)
    payload_damage[-6] ^= 0x80
    with pytest.raises(FormatError, match="payload checksum"):
        unpack(bytes(payload_damage))


def test_a_newer_version_is_refused_naming_the_version_it_needs():
    data = bytearray(pack(header(), STRINGS))
    data[8:10] = struct.pack("<H", 7)
    with pytest.raises(UnsupportedVersionError, match="version 7") as info:
        unpack(reseal(data))
    assert info.value.version == 7 and info.value.supported == FORMAT_VERSION
    assert isinstance(info.value, FormatError)
    data[8:10] = struct.pack("<H", 0)
    with pytest.raises(FormatError, match="version 0"):
        unpack(reseal(data))


def test_a_damaged_version_field_is_reported_as_damage_not_as_a_newer_version():
    data = bytearray(pack(header(), STRINGS))
    data[9] ^= 0x04
    with pytest.raises(FormatError, match="checksum") as info:
        unpack(bytes(data))
    assert not isinstance(info.value, UnsupportedVersionError)


def test_sizes_beyond_the_limits_are_refused_before_anything_is_allocated():
    big = header(height=60000, width=60000, padding=expected_padding(60000, 60000, 64), latent_shape=(938, 938))
    data = pack(big, STRINGS)
    with pytest.raises(LimitExceededError, match="max_pixels") as info:
        unpack(data)
    assert info.value.limit == "max_pixels"
    assert unpack(data, max_pixels=60000 * 60000)[0] == big
    with pytest.raises(LimitExceededError, match="max_strings"):
        unpack(pack(header(), STRINGS), max_strings=1)
    with pytest.raises(LimitExceededError, match="max_string_bytes"):
        unpack(pack(header(), STRINGS), max_string_bytes=4)
    with pytest.raises(ValueError, match="max_pixels"):
        unpack(data, max_pixels=0)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"padding": (3, 1, 12, 12)}, "padding"),
        ({"latent_shape": (1, 2)}, "stride"),
        ({"latent_shape": (3, 1)}, "latent shape"),
        ({"height": 70}, "malformed header"),
    ],
)
def test_inconsistent_geometry_is_malformed(changes, message):
    with pytest.raises(FormatError, match=message):
        pack(header(**changes), STRINGS)


def test_header_fields_are_validated_when_writing():
    with pytest.raises(ValueError, match="architecture"):
        pack(header(model=ModelIdentity("Bad Name!", 3, "mse", Origin.NEURALCODEC, DIGEST)), STRINGS)
    with pytest.raises(ValueError, match="weights_sha256"):
        pack(header(model=ModelIdentity("mbt2018-mean", 3, "mse", Origin.NEURALCODEC, b"short")), STRINGS)
    with pytest.raises(ValueError, match="do not match"):
        pack(header(), [b"only one"])
    with pytest.raises(ValueError, match="channels"):
        pack(header(channels=2), STRINGS)
    with pytest.raises(ValueError, match="8-bit"):
        pack(header(bit_depth=16), STRINGS)


def test_resealed_field_damage_is_still_refused_as_malformed():
    data = bytearray(pack(header(), STRINGS))
    # The first string length field: change it and fix the header checksum only.
    body_end = 14 + struct.unpack_from("<I", data, 10)[0]
    struct.pack_into("<I", data, body_end - 8, 6)
    with pytest.raises(FormatError, match="truncated|unexpected bytes"):
        unpack(reseal(data))
    data = bytearray(pack(header(), STRINGS))
    data[body_end - 9] = 0  # the string count
    with pytest.raises(FormatError):
        unpack(reseal(data))


def test_describe_names_architecture_quality_metric_origin_and_hash():
    text = header().model.describe()
    assert "mbt2018-mean quality 3" in text and "mse" in text and "shipped" in text
    assert DIGEST.hex()[:16] in text


def test_short_inputs_are_told_apart_by_their_first_bytes():
    with pytest.raises(FormatError, match="truncated"):
        unpack(MAGIC + b"\x01\x00")
    with pytest.raises(FormatError, match="truncated"):
        unpack(MAGIC[:3])
    with pytest.raises(FormatError, match="not a neuralcodec"):
        unpack(b"GIF89a\x00\x00")


# ------------------------------------------------------------------ extensions (version 2)
ICC = b"\x00\x00\x02\x0cfake icc profile" * 20
EXIF = b"MM\x00*\x00\x00\x00\x08fake exif"


def test_a_header_with_extensions_is_version_2_and_round_trips():
    with_metadata = header(extensions=(("iCCP", ICC), ("eXIf", EXIF)))
    data = pack(with_metadata, STRINGS)
    assert struct.unpack_from("<H", data, 8)[0] == 2
    parsed, strings = unpack(data)
    assert parsed.version == 2 and strings == STRINGS
    assert parsed.icc_profile == ICC and parsed.exif == EXIF
    assert parsed.extension("zzzz") is None
    assert header().icc_profile is None


def test_an_unknown_ancillary_extension_is_kept_and_an_unknown_critical_one_refused():
    data = pack(header(extensions=(("xTRA", b"abc"),)), STRINGS)
    assert unpack(data)[0].extensions == (("xTRA", b"abc"),)
    with pytest.raises(ValueError, match="critical extension XTRA"):
        pack(header(extensions=(("XTRA", b"abc"),)), STRINGS)
    # The same bytes with the tag's case flipped, as a newer writer would make them.
    mutated = bytearray(data)
    at = mutated.index(b"xTRA")
    mutated[at : at + 4] = b"XTRA"
    with pytest.raises(FormatError, match="critical extension XTRA.*upgrade"):
        unpack(reseal(mutated))


@pytest.mark.parametrize(
    "extensions, message",
    [
        ((("iCCP", b""),), "holds 0 bytes"),
        ((("iCC", b"x"),), "four ASCII letters"),
        ((("iCCP", b"x"), ("iCCP", b"y")), "appears twice"),
        (tuple((f"x{chr(97 + i)}aa", b"x") for i in range(17)), "at most 16 extensions"),
    ],
)
def test_bad_extensions_are_refused_when_writing(extensions, message):
    with pytest.raises(ValueError, match=message):
        pack(header(extensions=extensions), STRINGS)


def test_an_extension_running_past_the_header_is_reported_as_malformed():
    data = bytearray(pack(header(extensions=(("iCCP", ICC),)), STRINGS))
    at = data.index(b"iCCP") + 4
    struct.pack_into("<I", data, at, len(ICC) + 100)  # claims more bytes than the header has
    with pytest.raises(FormatError, match="ends inside the field extension 'iCCP'"):
        unpack(reseal(data))
    struct.pack_into("<I", data, at, (1 << 24) + 1)
    with pytest.raises(LimitExceededError, match="more than 16,777,216"):
        unpack(reseal(data))


def test_a_version_1_reader_never_sees_version_2_without_need():
    """Files without metadata stay readable by neuralcodec releases that read version 1."""
    assert struct.unpack_from("<H", pack(header(), STRINGS), 8)[0] == 1
