"""The shipped default is one variable-rate model (issue 28): ``--quality 2.5``, ``--bpp``
and ``--size`` work offline on a fresh install, in ``compress``, ``encode_image`` and
``demo``, with the real shipped weights; files made with the models shipped before still
decode."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from neuralcodec.cli import main
from neuralcodec.codec import Codec, read_header
from neuralcodec.codec.api import decode_image, encode_image
from neuralcodec.codec.container import Origin
from neuralcodec.files import sample_image_path
from neuralcodec.settings import DEFAULT_ARCHITECTURE, DEFAULT_QUALITY


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 96x128 crop of the shipped sample photo, as a PNG file."""
    with Image.open(sample_image_path()) as img:
        crop = img.convert("RGB").crop((40, 60, 168, 156))
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    crop.save(path)
    return path


#: What a file at one of the ladder's integer qualities names: that rung alone.
RUNG = "mbt2018-mean"


def _quality_of(header) -> float:
    """The quality a file of the shipped model was coded at: its ``QUAL`` extension, or
    for a rung's own file (an integer quality) the rate point it names."""
    if header.model.architecture == RUNG:
        assert header.coded_quality is None
        return float(header.model.quality)
    assert header.model.architecture == DEFAULT_ARCHITECTURE
    return header.coded_quality


def _compress(tmp_path, photo, *arguments):
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    code = main(["compress", str(photo), "-o", str(out), "--quiet", *arguments])
    return code, out / "photo.nci"


def test_compress_with_no_model_hits_a_bpp_and_a_size_target_with_the_largest_file_not_over_it(tmp_path, photo):
    pixels = 96 * 128
    for option, value, target in (("--bpp", "0.45", int(0.45 * pixels / 8)), ("--size", "0.8KB", 800)):
        code, path = _compress(tmp_path, photo, option, value)
        assert code == 0
        data = path.read_bytes()
        header = read_header(data)
        assert header.model.origin == Origin.NEURALCODEC
        assert len(data) <= target, (option, len(data), target)
        # The largest: a visibly higher quality no longer fits.
        higher = min(4.0, _quality_of(header) + 0.25)
        assert higher == 4.0 or len(encode_image(photo, quality=higher)) > target
        assert decode_image(data).size == (128, 96)


def test_a_fractional_quality_falls_between_its_neighbours(tmp_path, photo):
    sizes = {}
    for quality in ("2", "2.5", "3"):
        code, path = _compress(tmp_path, photo, "--quality", quality)
        assert code == 0
        sizes[quality] = len(path.read_bytes())
        header = read_header(path.read_bytes())
        assert _quality_of(header) == float(quality)
        assert header.model.architecture == (DEFAULT_ARCHITECTURE if quality == "2.5" else RUNG)
    assert sizes["2"] < sizes["2.5"] < sizes["3"], sizes
    code, _ = _compress(tmp_path, photo, "--quality", "4.5")
    assert code == 2  # outside the shipped model's range 1..4


def test_encode_image_takes_a_target_with_the_shipped_model_and_effort_at_a_quality(photo):
    data = encode_image(photo, bpp=0.5)
    assert len(data) <= 0.5 * 96 * 128 / 8 and 1 <= _quality_of(read_header(data)) <= 4
    plain, refined = encode_image(photo, quality=2.5), encode_image(photo, quality=2.5, effort=1)
    assert read_header(refined).coded_quality == 2.5 and refined != plain
    assert decode_image(refined).size == (128, 96)
    named = read_header(encode_image(photo)).model
    assert (named.architecture, named.quality) == (RUNG, DEFAULT_QUALITY)  # the default quality's rung


def test_files_of_the_previous_default_still_decode_by_the_model_they_name(tmp_path, photo):
    """Files from before issue 28 name one of the four fixed-rate mbt2018-mean models."""
    old = Codec.load("mbt2018-mean", 2, source="shipped").encode(np.asarray(Image.open(photo).convert("RGB")))
    named = read_header(old).model
    assert (named.architecture, named.quality, named.origin) == ("mbt2018-mean", 2, Origin.NEURALCODEC)
    assert decode_image(old).size == (128, 96)
    path = tmp_path / "old.nci"
    path.write_bytes(old)
    assert main(["decompress", str(path), "-o", str(tmp_path / "old.png"), "--quiet"]) == 0
    assert Image.open(tmp_path / "old.png").size == (128, 96)


def test_the_demo_writes_its_files_to_a_target_size(tmp_path, photo, capsys):
    out = tmp_path / "demo"
    assert main(["demo", str(photo), "-o", str(out), "--bpp", "0.5", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "within 0.5 bpp" in text and "neuralcodec 0.5 bpp" in text
    assert 8 * (out / "photo.nci").stat().st_size <= 0.5 * 96 * 128
    curves = json.loads((out / "results.json").read_text())
    assert curves[0]["results"]["bpp"] == sorted(curves[0]["results"]["bpp"]) and len(curves[0]["results"]["bpp"]) == 4
    assert main(["demo", str(photo), "-o", str(tmp_path / "d2"), "--quality", "2.5", "--threads", "1"]) == 0
    assert "neuralcodec q2.5" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit:  # a quality or a target, not both: argparse's usage error
        main(["demo", str(photo), "-o", str(tmp_path / "d3"), "--quality", "2", "--bpp", "1"])
    assert exit.value.code == 2


def test_export_writes_the_rung_of_an_integer_quality_and_refuses_a_fractional_one(tmp_path, capsys):
    from neuralcodec.export.manifest import read_manifest

    out = tmp_path / "export"
    args = ["--quality", "2", "--transform", "g_s", "--format", "torchscript"]
    assert main(["export", str(out), *args]) == 0
    metadata = read_manifest(out)["model"]["metadata"]
    assert (metadata["architecture"], metadata["quality"]) == (RUNG, "2")  # what the files at quality 2 name
    data = encode_image(np.zeros((64, 64, 3), np.uint8), quality=2)
    assert read_manifest(out)["model"]["weights_sha256"] == read_header(data).model.weights_sha256.hex()
    assert main(["export", str(tmp_path / "x"), "--quality", "2.5"]) == 2
    assert "rate ladder" in capsys.readouterr().err
