"""The ``neuralcodec`` command line."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from neuralcodec.cli import main, sample_image_path


def test_demo_codes_the_shipped_sample_losslessly(capsys):
    assert sample_image_path().is_file()
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "round trip exact" in out and "256x256" in out


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_demo_accepts_other_images_and_modes(tmp_path, capsys, mode):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    img = Image.fromarray(pixels, "RGBA").convert(mode)
    path = tmp_path / "input.png"
    img.save(path)
    assert main(["demo", str(path)]) == 0
    assert "53x37" in capsys.readouterr().out


def test_demo_reports_an_unreadable_file_with_exit_code_2(tmp_path, capsys):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image")
    assert main(["demo", str(path)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["demo", str(tmp_path / "missing.png")]) == 2


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "neuralcodec", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("neuralcodec ")
