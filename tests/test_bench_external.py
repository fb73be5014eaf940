"""Executable codecs (BPG, VTM, HM, aomenc, cjxl) against stand-in executables.

The real tools are not installed on test machines; ``fixtures/standin/standin.py``
follows their command-line contract (it rejects options the real tools do not take)
with a toy codec inside. Each test writes shell wrappers named like the real programs.
"""

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from neuralcodec.bench.codecs import BenchError
from neuralcodec.bench.external import (
    AV1,
    BPG,
    CJXL,
    HM,
    VTM,
    read_y4m,
    rgb_to_ycbcr,
    write_y4m,
    ycbcr_to_rgb,
)
from neuralcodec.bench.runner import make_codec, measure
from neuralcodec.eval.images import read_rgb

STANDIN = Path(__file__).parent / "fixtures" / "standin" / "standin.py"
IMAGES = Path(__file__).parent / "fixtures" / "images"
PROGRAMS = (
    "bpgenc",
    "bpgdec",
    "EncoderApp",
    "DecoderApp",
    "TAppEncoder",
    "TAppDecoder",
    "aomenc",
    "aomdec",
    "cjxl",
    "djxl",
)


@pytest.fixture
def standin_bin(tmp_path, monkeypatch):
    """A folder of wrappers named like the real programs, put first on PATH; returns it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in PROGRAMS:
        wrapper = folder / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" {name} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return folder


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "encoder_intra.cfg"
    path.write_text("# all-intra configuration (stand-in)\n")
    return str(path)


@pytest.fixture
def rgb():
    return read_rgb(IMAGES / "kodim19-47x33.png")


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 10 * np.log10(255**2 / mse) if mse else np.inf


@pytest.mark.parametrize(
    "make",
    [
        lambda cfg: BPG(),
        lambda cfg: BPG(chroma="420"),
        lambda cfg: VTM(config=cfg),
        lambda cfg: HM(config=cfg),
        lambda cfg: AV1(),
        lambda cfg: CJXL(),
    ],
    ids=["bpg", "bpg420", "vtm", "hm", "av1", "cjxl"],
)
def test_executable_codecs_found_on_path_round_trip(standin_bin, config, rgb, make):
    codec = make(config)
    assert codec.unavailable_reason() is None
    assert Path(codec.encoder).parent == standin_bin
    low, high = (codec.default_qualities[0], codec.default_qualities[-1])
    small, large = codec.encode(rgb, low), codec.encode(rgb, high)
    assert 0 < len(small) < len(large)  # the sweep goes from low to high rate
    decoded = codec.decode(large, *rgb.shape[:2])
    assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
    assert _psnr(rgb, decoded) > 30


def test_explicit_encoder_and_decoder_paths_are_used(standin_bin, monkeypatch, rgb):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert BPG().unavailable_reason() is not None
    codec = make_codec("bpg", encoder=str(standin_bin / "bpgenc"), decoder=str(standin_bin / "bpgdec"))
    assert codec.unavailable_reason() is None
    row = measure((codec, str(IMAGES / "kodim19-47x33.png"), 30))
    assert row["bpp"] > 0 and row["psnr-rgb"] > 25


def test_missing_executables_and_configs_are_reported_clearly(monkeypatch, tmp_path, rgb):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "no encoder found on PATH (bpgenc)" in BPG().unavailable_reason()
    assert "aomenc" in AV1().unavailable_reason()
    not_executable = tmp_path / "EncoderApp"
    not_executable.write_text("")
    assert "not an executable" in VTM(encoder=str(not_executable), decoder=str(not_executable)).unavailable_reason()
    with pytest.raises(BenchError, match="no encoder found"):
        BPG().encode(rgb, 30)


def test_reference_software_needs_a_configuration_file(standin_bin, tmp_path):
    assert "--config" in VTM().unavailable_reason()
    assert "does not exist" in HM(config=str(tmp_path / "missing.cfg")).unavailable_reason()


def test_a_failing_encoder_raises_with_its_message(standin_bin, monkeypatch, rgb):
    monkeypatch.setenv("STANDIN_FAIL", "1")
    with pytest.raises(BenchError, match=r"encoder failed \(exit code 1\): bpgenc: simulated failure"):
        BPG().encode(rgb, 30)


def test_extra_encoder_arguments_reach_the_encoder(standin_bin, rgb):
    # -e is a real bpgenc option; an unknown one makes the stand-in (like bpgenc) fail
    assert BPG(options=["-e", "x265"]).encode(rgb, 30)
    with pytest.raises(BenchError, match="unrecognized arguments"):
        BPG(options=["--no-such-option"]).encode(rgb, 30)


def test_qualities_outside_the_codec_range_are_refused(standin_bin, config, rgb):
    with pytest.raises(BenchError, match="outside 0..51"):
        VTM(config=config).encode(rgb, 60)
    with pytest.raises(BenchError, match="integer"):
        AV1().encode(rgb, 30.5)


def test_a_truncated_decoder_output_is_an_error(standin_bin, config, rgb):
    codec = VTM(config=config)
    data = codec.encode(rgb, 30)
    with pytest.raises(BenchError, match="expected"):
        codec.decode(data, rgb.shape[0] + 1, rgb.shape[1])


def test_ycbcr_conversion_round_trips_within_rounding():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb))
    assert np.abs(back.astype(int) - rgb).max() <= 2
    gray = np.full((2, 2, 3), 77, np.uint8)
    assert np.array_equal(rgb_to_ycbcr(gray)[1:], np.full((2, 2, 2), 128))


def test_y4m_files_round_trip_and_bad_ones_are_refused(tmp_path):
    planes = np.random.default_rng(1).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    path = tmp_path / "x.y4m"
    write_y4m(path, planes)
    assert np.array_equal(read_y4m(path), planes)
    (tmp_path / "bad.y4m").write_bytes(b"YUV4MPEG2 W7 H5 C420jpeg\nFRAME\n" + bytes(53))
    with pytest.raises(BenchError, match="4:4:4"):
        read_y4m(tmp_path / "bad.y4m")
    (tmp_path / "short.y4m").write_bytes(b"YUV4MPEG2 W7 H5 C444\nFRAME\n" + bytes(10))
    with pytest.raises(BenchError, match="truncated"):
        read_y4m(tmp_path / "short.y4m")
    (tmp_path / "png.y4m").write_bytes(b"\x89PNG")
    with pytest.raises(BenchError, match="not a YUV4MPEG2"):
        read_y4m(tmp_path / "png.y4m")
