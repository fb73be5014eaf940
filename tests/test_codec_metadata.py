"""The source's ICC profile (kept by default) and EXIF block (kept on request) travel
through a file into the decoded image, and the command line's --strip-metadata,
--keep-exif and --tile-size options."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from codec_models import pixels, small_model
from neuralcodec.cli import main
from neuralcodec.codec import read_header
from neuralcodec.codec.api import Codec, decode_file, decode_image, encode_image

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
ORIENTATION, MAKE = 0x0112, 0x010F


@pytest.fixture(scope="module")
def codec():
    return Codec(small_model("mbt2018-mean"))


def _png_with_profile(path, profile=SRGB, size=(40, 60)):
    Image.fromarray(pixels(*size)).save(path, icc_profile=profile)
    return path


def _jpeg_with_exif(path, orientation=6):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "NeuralCam"
    Image.fromarray(pixels(24, 40)).save(path, exif=exif.tobytes(), icc_profile=SRGB, quality=95)
    return path


def test_the_icc_profile_is_kept_by_default_and_comes_back_in_every_output_format(tmp_path, codec):
    data = encode_image(_png_with_profile(tmp_path / "p3.png"), codec)
    header = read_header(data)
    assert header.version == 2 and header.icc_profile == SRGB and header.exif is None
    assert decode_image(data, codec).info["icc_profile"] == SRGB
    (tmp_path / "in.nci").write_bytes(data)
    for suffix in ("png", "jpg", "webp", "tif"):
        decode_file(tmp_path / "in.nci", tmp_path / f"out.{suffix}", codec)
        with Image.open(tmp_path / f"out.{suffix}") as written:
            assert written.info.get("icc_profile") == SRGB, suffix


def test_exif_is_kept_on_request_with_the_orientation_reset(tmp_path, codec):
    source = _jpeg_with_exif(tmp_path / "phone.jpg")
    assert read_header(encode_image(source, codec)).exif is None  # not by default
    data = encode_image(source, codec, metadata="all")
    exif = Image.Exif()
    exif.load(read_header(data).exif)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "NeuralCam"
    decoded = decode_image(data, codec)
    assert decoded.size == (24, 40)  # turned upright (orientation 6 is a quarter turn)
    buffer = io.BytesIO()
    decoded.save(buffer, format="PNG", exif=decoded.info["exif"])
    assert Image.open(buffer).getexif()[MAKE] == "NeuralCam"


def test_metadata_none_keeps_nothing_and_writes_a_version_1_file(tmp_path, codec):
    data = encode_image(_png_with_profile(tmp_path / "p.png"), codec, metadata="none")
    header = read_header(data)
    assert header.version == 1 and header.extensions == ()
    assert "icc_profile" not in decode_image(data, codec).info
    with pytest.raises(ValueError, match="metadata must be one of"):
        encode_image(tmp_path / "p.png", codec, metadata="some")


def test_a_profile_that_does_not_describe_the_coded_pixels_is_dropped_with_a_note(tmp_path, codec):
    cmyk_like = bytearray(SRGB)
    cmyk_like[16:20] = b"CMYK"
    source = _png_with_profile(tmp_path / "odd.png", bytes(cmyk_like))
    with pytest.warns(UserWarning, match="ICC profile does not describe"):
        data = encode_image(source, codec)
    assert read_header(data).icc_profile is None


def test_the_command_line_strips_or_keeps_metadata(tmp_path, codec):
    from neuralcodec.zoo.defaults import save_weights

    weights = tmp_path / "w.safetensors"
    save_weights(codec.model, weights, "mbt2018-mean")
    source = _jpeg_with_exif(tmp_path / "phone.jpg")
    assert main(["compress", str(source), "-o", str(tmp_path / "all.nci"), "--checkpoint", str(weights),
                 "--keep-exif", "--quiet"]) == 0
    assert read_header((tmp_path / "all.nci").read_bytes()).exif is not None
    assert main(["compress", str(source), "-o", str(tmp_path / "none.nci"), "--checkpoint", str(weights),
                 "--strip-metadata", "--quiet"]) == 0
    assert read_header((tmp_path / "none.nci").read_bytes()).extensions == ()
    assert main(["decompress", str(tmp_path / "all.nci"), "-o", str(tmp_path / "kept.png"), "--checkpoint",
                 str(weights), "-q"]) == 0
    assert main(["decompress", str(tmp_path / "all.nci"), "-o", str(tmp_path / "bare.png"), "--checkpoint",
                 str(weights), "-q", "--strip-metadata"]) == 0
    with Image.open(tmp_path / "kept.png") as kept, Image.open(tmp_path / "bare.png") as bare:
        assert kept.info.get("icc_profile") == SRGB and kept.getexif()[MAKE] == "NeuralCam"
        assert "icc_profile" not in bare.info and MAKE not in bare.getexif()


def test_the_tile_size_option_codes_a_large_image_over_tiles(tmp_path, codec):
    from neuralcodec.zoo.defaults import save_weights

    weights = tmp_path / "w.safetensors"
    save_weights(codec.model, weights, "mbt2018-mean")
    Image.fromarray(pixels(200, 330)).save(tmp_path / "big.png")
    for tile in ("64", "0"):
        assert main(["compress", str(tmp_path / "big.png"), "-o", str(tmp_path / f"t{tile}.nci"), "--checkpoint",
                     str(weights), "--tile-size", tile, "--quiet"]) == 0
        assert main(["decompress", str(tmp_path / f"t{tile}.nci"), "-o", str(tmp_path / f"t{tile}.png"),
                     "--checkpoint", str(weights), "--tile-size", tile, "-q"]) == 0
    tiled = np.asarray(Image.open(tmp_path / "t64.png"), dtype=float)
    whole = np.asarray(Image.open(tmp_path / "t0.png"), dtype=float)
    assert np.abs(tiled - whole).mean() < 0.05  # the same picture, to rounding
    # The options are settings of each call (CodingOptions), never attributes of a model.
    assert not hasattr(codec.model, "tile_size") and not hasattr(codec.model, "tile_progress")
