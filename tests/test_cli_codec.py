"""``neuralcodec compress`` / ``decompress``: once through a subprocess (``python -m``, the
exit code of a partial failure, output on stdout and stderr), and in-process (``cli.main``,
which returns the exit code the command exits with) for the rest."""


import numpy as np
import pytest
import torch
from cli_runs import run_cli, run_in_process
from PIL import Image

from codec_models import pixels, small_model, small_shipped_architecture
from neuralcodec.cli import main
from neuralcodec.codec import read_header


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from neuralcodec.zoo.defaults import save_weights

    path = tmp_path_factory.mktemp("weights") / "small.safetensors"
    save_weights(small_model("mbt2018-mean"), path, "mbt2018-mean")
    return path


@pytest.fixture()
def images(tmp_path):
    """A folder with two good images (one in a subfolder), a broken file and a transparent image."""
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    Image.fromarray(pixels(40, 60)).save(folder / "a.png")
    Image.fromarray(pixels(17, 5, channels=1), "L").save(folder / "trip" / "b.jpg")
    (folder / "broken.png").write_bytes(b"this is not a PNG")
    rgba = np.dstack([pixels(9, 9), np.full((9, 9), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "trip" / "glass.png")
    return folder


# ------------------------------------------------------------------ subprocess
def test_a_folder_with_some_bad_images_compresses_the_rest_and_exits_1(tmp_path, images, checkpoint, capsys):
    result = run_cli("compress", images, "-o", tmp_path / "out", "--checkpoint", checkpoint)
    assert result.returncode == 1, result.stderr
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "a.nci", "trip", "trip/b.nci",
    ], "only finished outputs exist, and the folder layout is kept"
    assert "broken.png" in result.stderr and "cannot read" in result.stderr
    assert "glass.png" in result.stderr and "--drop-alpha" in result.stderr
    assert "2 of 4 files compressed; 2 failed" in result.stderr
    assert "note:" in result.stderr and "grayscale" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["input", "output", "size", "bytes", "bpp", "time"]
    assert any("60x40" in line for line in lines) and lines[-1].startswith("total")

    code, _, err = run_in_process(capsys, "decompress", tmp_path / "out", "-o", tmp_path / "back", "--checkpoint", checkpoint)
    assert code == 0, err
    with Image.open(tmp_path / "back" / "a.png") as a, Image.open(tmp_path / "back" / "trip" / "b.png") as b:
        assert (a.size, a.mode, b.size, b.mode) == ((60, 40), "RGB", (5, 17), "L")


# ------------------------------------------------------------------ in-process
def test_existing_outputs_are_kept_unless_forced(tmp_path, images, checkpoint, capsys):
    target = tmp_path / "a.nci"
    target.write_bytes(b"keep me")
    code, _, err = run_in_process(capsys, "compress", images / "a.png", "-o", target, "--checkpoint", checkpoint)
    assert code == 1
    assert "exists; pass --force" in err and target.read_bytes() == b"keep me"
    code, _, err = run_in_process(capsys, "compress", images / "a.png", "-o", target, "--checkpoint", checkpoint, "--force", "--quiet")
    assert code == 0, err
    assert read_header(target.read_bytes()).width == 60
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_help_documents_the_exit_codes_and_usage_errors_exit_2(tmp_path, capsys):
    for command in ("compress", "decompress"):
        code, out, _ = run_in_process(capsys, command, "--help")
        assert code == 0
        assert "exit codes" in out and "--force" in out and "--max-pixels" in out
    assert run_in_process(capsys, "compress")[0] == 2
    assert run_in_process(capsys, "compress", tmp_path, "--bogus")[0] == 2
    (tmp_path / "empty").mkdir()
    code, _, err = run_in_process(capsys, "decompress", tmp_path / "empty")
    assert code == 2 and "no input files" in err
    code, out, _ = run_in_process(capsys, "--help")
    assert code == 0 and "compress" in out and "decompress" in out


def test_psnr_and_a_single_output_file_name(tmp_path, images, checkpoint, capsys):
    code = main(["compress", str(images / "a.png"), "-o", str(tmp_path / "x.nci"), "--checkpoint", str(checkpoint), "--psnr"])
    assert code == 0
    out = capsys.readouterr().out
    assert "PSNR" in out.splitlines()[0] and " dB" in out
    assert (tmp_path / "x.nci").is_file()
    assert main(["decompress", str(tmp_path / "x.nci"), "-o", str(tmp_path / "x.bmp"), "--checkpoint", str(checkpoint)]) == 0
    with Image.open(tmp_path / "x.bmp") as img:
        assert img.format == "BMP" and img.size == (60, 40)


def test_outputs_default_to_beside_the_inputs(tmp_path, checkpoint):
    Image.fromarray(pixels(8, 8)).save(tmp_path / "p.png")
    assert main(["compress", str(tmp_path / "p.png"), "--checkpoint", str(checkpoint), "--quiet"]) == 0
    assert (tmp_path / "p.nci").is_file()
    (tmp_path / "p.png").unlink()
    assert main(["decompress", str(tmp_path / "p.nci"), "--checkpoint", str(checkpoint), "-q", "--format", "png"]) == 0
    assert (tmp_path / "p.png").is_file()


def test_drop_alpha_and_max_pixels_options(tmp_path, images, checkpoint, capsys):
    glass = images / "trip" / "glass.png"
    assert main(["compress", str(glass), "-o", str(tmp_path / "g.nci"), "--checkpoint", str(checkpoint), "--drop-alpha"]) == 0
    assert main(["compress", str(images / "a.png"), "-o", str(tmp_path / "big.nci"), "--checkpoint", str(checkpoint),
                 "--max-pixels", "100"]) == 1
    assert "max_pixels" in capsys.readouterr().err
    assert main(["decompress", str(tmp_path / "g.nci"), "-o", str(tmp_path / "g.png"), "--checkpoint", str(checkpoint),
                 "--max-pixels", "10"]) == 1
    assert "max_pixels" in capsys.readouterr().err


def test_decompress_reports_damaged_files_and_other_weights_and_decodes_the_rest(tmp_path, checkpoint, capsys):
    from neuralcodec.codec import encode_image
    from neuralcodec.zoo.defaults import save_weights

    good = encode_image(pixels(16, 16), checkpoint)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.nci").write_bytes(good)
    (tmp_path / "in" / "cut.nci").write_bytes(good[:-3])
    save_weights(small_model("mbt2018-mean", seed=3), tmp_path / "other.safetensors", "mbt2018-mean")
    (tmp_path / "in" / "other.nci").write_bytes(encode_image(pixels(16, 16), tmp_path / "other.safetensors"))
    code = main(["decompress", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--checkpoint", str(checkpoint)])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]
    assert "cut.nci: truncated" in err
    assert "other.nci: the file was made with mbt2018-mean" in err and "but the model at hand is" in err

    assert main(["decompress", str(tmp_path / "in" / "good.nci"), "-o", str(tmp_path / "nock.png")]) == 1
    assert "--checkpoint" in capsys.readouterr().err


def test_two_inputs_that_would_write_the_same_output_are_refused(tmp_path, checkpoint, capsys):
    Image.fromarray(pixels(8, 8)).save(tmp_path / "same.png")
    Image.fromarray(pixels(8, 8)).save(tmp_path / "same.bmp")
    code = main(["compress", str(tmp_path / "same.bmp"), str(tmp_path / "same.png"), "-o", str(tmp_path / "o"),
                 "--checkpoint", str(checkpoint)])
    assert code == 1
    assert "also the output of" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["same.nci"]


def test_the_shipped_model_is_the_default_and_is_found_again(tmp_path, monkeypatch, capsys):
    from neuralcodec.zoo import defaults

    monkeypatch.setattr(defaults, "default_model", lambda device="cpu": small_shipped_architecture(seed=2))
    Image.fromarray(pixels(12, 20)).save(tmp_path / "photo.png")
    assert main(["compress", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"), "--quality", "2.5"]) == 0
    header = read_header((tmp_path / "out" / "photo.nci").read_bytes())
    named = header.model
    assert (named.architecture, named.origin.name, header.coded_quality) == ("mbt2018-mean-ladder", "NEURALCODEC", 2.5)
    assert "model: mbt2018-mean-ladder" in capsys.readouterr().err
    assert main(["decompress", str(tmp_path / "out" / "photo.nci"), "-o", str(tmp_path / "photo2.png")]) == 0

    def missing(device="cpu"):
        raise FileNotFoundError("the shipped weights are missing from this installation")

    monkeypatch.setattr(defaults, "default_model", missing)
    assert main(["compress", str(tmp_path / "photo.png"), "-o", str(tmp_path / "x")]) == 2
    assert "cannot load the model" in capsys.readouterr().err
    assert main(["compress", str(tmp_path / "photo.png"), "--metric", "ms-ssim"]) == 2


def test_an_interrupted_run_leaves_no_partial_output(tmp_path, images, checkpoint, monkeypatch, capsys):
    from neuralcodec.codec import api

    real_write = api.write_atomic
    calls = []

    def interrupting_write(path, data, force=False):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_write(path, data, force=force)

    monkeypatch.setattr(api, "write_atomic", interrupting_write)
    code = main(["compress", str(images / "a.png"), str(images / "trip" / "b.jpg"), "-o", str(tmp_path / "o"),
                 "--checkpoint", str(checkpoint)])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.nci"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on machines without CUDA")
def test_cuda_without_a_gpu_is_a_usage_error(tmp_path, images, capsys):
    assert main(["compress", str(images / "a.png"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_several_inputs_into_an_existing_file_is_a_usage_error(tmp_path, images, capsys):
    (tmp_path / "taken.nci").write_bytes(b"x")
    assert main(["compress", str(images), "-o", str(tmp_path / "taken.nci")]) == 2
    assert "existing file" in capsys.readouterr().err


# ------------------------------------------------------------------ variable rate
@pytest.fixture(scope="module")
def vbr_checkpoint(tmp_path_factory):
    from neuralcodec.models.vbr import MeanScaleHyperpriorVbr
    from neuralcodec.zoo.defaults import save_weights

    torch.manual_seed(0)
    model = MeanScaleHyperpriorVbr(8, 12).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(20)
    model.update(force=True)
    path = tmp_path_factory.mktemp("weights") / "vbr.safetensors"
    save_weights(model, path, "mbt2018-mean-vbr")
    return path


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (height, width) in enumerate([(96, 128), (112, 128), (80, 120)]):
        Image.fromarray(pixels(height, width, seed=i)).save(folder / f"p{i}.png")
    return folder


def test_compress_bpp_writes_files_not_over_the_target_that_decode_with_nothing_else(tmp_path, photos, vbr_checkpoint,
                                                                                     capsys):
    out = tmp_path / "out"
    assert main(["compress", str(photos), "-o", str(out), "--checkpoint", str(vbr_checkpoint), "--bpp", "0.45"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].split() == ["input", "output", "size", "bytes", "bpp", "quality", "time"]
    assert "the largest file not over 0.45 bpp" in captured.err and "encodes" in captured.err
    for path in sorted(out.iterdir()):
        header = read_header(path.read_bytes())
        limit = int(0.45 * header.pixels / 8)
        assert 0.95 * limit <= path.stat().st_size <= limit
        assert 1 <= header.coded_quality <= 8
    assert main(["decompress", str(out), "-o", str(tmp_path / "back"), "--checkpoint", str(vbr_checkpoint)]) == 0
    assert "quality" in capsys.readouterr().out.splitlines()[0]
    assert len(list((tmp_path / "back").iterdir())) == 3


def test_compress_size_and_a_continuous_quality(tmp_path, photos, vbr_checkpoint, capsys):
    image = photos / "p0.png"
    assert main(["compress", str(image), "-o", str(tmp_path / "s.nci"), "--checkpoint", str(vbr_checkpoint),
                 "--size", "0.7KB"]) == 0
    assert 665 <= (tmp_path / "s.nci").stat().st_size <= 700
    assert main(["compress", str(image), "-o", str(tmp_path / "q.nci"), "--checkpoint", str(vbr_checkpoint),
                 "-q", "2.5"]) == 0
    assert read_header((tmp_path / "q.nci").read_bytes()).coded_quality == 2.5
    assert "at quality 2.5" in capsys.readouterr().err


def test_rate_options_refuse_what_they_cannot_do(tmp_path, photos, vbr_checkpoint, checkpoint, capsys):
    image = str(photos / "p0.png")
    # a target out of reach: that input fails (exit 1) with the reachable range
    assert main(["compress", image, "-o", str(tmp_path / "a.nci"), "--checkpoint", str(vbr_checkpoint),
                 "--size", "1MB"]) == 1
    assert "above the largest file" in capsys.readouterr().err
    # discrete models: no target, no fractional quality (usage errors)
    assert main(["compress", image, "-o", str(tmp_path / "b.nci"), "--checkpoint", str(checkpoint), "--bpp", "1"]) == 2
    assert "--bpp needs a variable-rate model" in capsys.readouterr().err
    assert main(["compress", image, "-o", str(tmp_path / "c.nci"), "--checkpoint", str(checkpoint), "-q", "2.5"]) == 2
    assert "discrete rate points" in capsys.readouterr().err
    assert main(["compress", image, "-o", str(tmp_path / "d.nci"), "--checkpoint", str(vbr_checkpoint),
                 "-q", "9"]) == 2
    assert "within 1..8" in capsys.readouterr().err
    # a quality and a target, or a size that is not one: argparse's usage errors
    for extra in (["-q", "2", "--bpp", "1"], ["--size", "30 kilobytes"], ["--bpp", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["compress", image, "--checkpoint", str(vbr_checkpoint), *extra])
        assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
