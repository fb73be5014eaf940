"""The ``neuralcodec`` command line."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from neuralcodec.cli import main, sample_image_path


def test_lossless_codes_the_shipped_sample_exactly(capsys):
    assert sample_image_path().is_file()
    assert main(["lossless"]) == 0
    out = capsys.readouterr().out
    assert "round trip exact" in out and "256x256" in out


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_lossless_accepts_other_images_and_modes(tmp_path, capsys, mode):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    img = Image.fromarray(pixels, "RGBA").convert(mode)
    path = tmp_path / "input.png"
    img.save(path)
    assert main(["lossless", str(path)]) == 0
    assert "53x37" in capsys.readouterr().out


def test_lossless_reports_an_unreadable_file_with_exit_code_2(tmp_path, capsys):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image")
    assert main(["lossless", str(path)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["lossless", str(tmp_path / "missing.png")]) == 2


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "neuralcodec", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("neuralcodec ")


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_is_the_main_job_on_the_shipped_weights(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--threads", "1"]) == 0
    text = capsys.readouterr().out
    from PIL import features

    avif = features.check("avif")
    for expected in ("neuralcodec q3", "JPEG 4:2:0 q=", "WebP q=", "bpp", "PSNR"):
        assert expected in text
    # AVIF stands beside them wherever Pillow can run it, and its absence is said, not hidden.
    assert ("AVIF q=" in text) if avif else ("note: avif" in text)
    assert _is_png(out / "rd.png") and _is_png(out / "sample.decoded.png")
    with Image.open(out / "sample.decoded.png") as img:
        assert img.size == (256, 256)
    assert (out / "sample.nci").read_bytes()[:4] == b"\x89NCI"
    import json

    curves = json.loads((out / "results.json").read_text())
    assert [c["name"] for c in curves][1:] == ["JPEG 4:2:0", "WebP"] + (["AVIF"] if avif else [])
    assert len(curves[0]["results"]["bpp"]) == 4
    # Nothing is replaced without --force.
    before = (out / "rd.png").stat().st_mtime_ns
    assert main(["demo", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "rd.png").stat().st_mtime_ns == before


def test_demo_runs_on_a_folder_and_refuses_bad_input(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i, size in enumerate([(40, 70), (64, 64)]):
        smooth = np.cumsum(rng.integers(-3, 4, size + (3,)), axis=1) + 128
        Image.fromarray(smooth.clip(0, 255).astype(np.uint8)).save(folder / f"im{i}.png")
    assert main(["demo", str(folder), "-o", str(tmp_path / "out"), "-q", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 image(s)" in out
    assert (tmp_path / "out" / "im0.nci").is_file() and (tmp_path / "out" / "im1.decoded.png").is_file()
    # The table says it shows means over the images: so is its bytes column.
    assert "means over the images" in out
    row = next(line for line in out.splitlines() if line.startswith("neuralcodec q1 "))
    mean_bytes = sum((tmp_path / "out" / f"im{i}.nci").stat().st_size for i in range(2)) / 2
    assert float(row.split()[2].replace(",", "")) == pytest.approx(mean_bytes, abs=0.5)
    assert main(["demo", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o2")]) == 2
    assert main(["demo", "--quality", "9", "-o", str(tmp_path / "o3")]) == 2
