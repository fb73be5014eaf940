"""Evaluating learned models: measurements, the results file, and the ``eval`` command.

Small randomly initialised models stand in for trained ones: what is checked is that
bpp is counted from the real bitstream, the metrics are those of the decoded image, and
the command handles its sources and bad input.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runs import run_cli

from neuralcodec.cli import main
from neuralcodec.eval.images import collect_images, read_rgb
from neuralcodec.eval.learned import RatePoint, evaluate, evaluate_image
from neuralcodec.eval.measure import distortion
from neuralcodec.eval.results import RESULT_KEYS, load_results
from neuralcodec.zoo.defaults import save_weights
from neuralcodec.zoo.image import ARCHITECTURES

IMAGES = Path(__file__).parent / "fixtures" / "images"


def _tiny(architecture="mbt2018-mean", n=8, m=12, seed=0):
    torch.manual_seed(seed)
    model = ARCHITECTURES[architecture](n, m)
    model.update(force=True)
    return model.eval()


def test_bpp_is_counted_from_the_coded_strings_and_metrics_from_the_8_bit_decode():
    model = _tiny()
    rgb = read_rgb(IMAGES / "kodim05-64x48.png")
    row = evaluate_image(model, rgb)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        coded = model.compress(x)
        x_hat = model.decompress(coded["strings"], coded["shape"], x_size=coded["x_size"])["x_hat"]
    coded_bytes = sum(len(s) for group in coded["strings"] for s in group)
    assert row["bpp"] == 8 * coded_bytes / (64 * 48)
    decoded = (x_hat[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    expected = distortion(rgb, decoded)
    assert row["psnr-rgb"] == pytest.approx(expected["psnr-rgb"])
    assert row["ms-ssim-rgb"] == pytest.approx(expected["ms-ssim-rgb"])
    assert row["encoding_time"] > 0 and row["decoding_time"] > 0


def test_the_likelihood_estimate_is_close_to_the_coded_size():
    # the estimate is -log2 of the likelihoods of the same padded input; the coded size
    # exceeds it by the coder's flush bytes per string and its quantization of the tables
    model = _tiny("bmshj2018-factorized", 8, 8)
    rgb = read_rgb(IMAGES / "kodim05-64x48.png")
    row = evaluate_image(model, rgb)
    pixels = 64 * 48
    assert row["bpp-estimate"] > 0
    assert abs(row["bpp"] - row["bpp-estimate"]) < 8 * 8 / pixels + 0.1 * row["bpp-estimate"]


def test_evaluate_builds_the_results_layout_over_rate_points():
    images = collect_images(IMAGES)
    points = [RatePoint(1, lambda: _tiny(seed=1)), RatePoint(2, lambda: _tiny("bmshj2018-factorized", 8, 8))]
    results = evaluate(points, images, "tiny", "two random models", show_progress=False, dataset=IMAGES)
    assert results["name"] == "tiny" and results["qualities"] == [1, 2]
    for key in (*RESULT_KEYS, "bpp-estimate"):
        assert len(results["results"][key]) == 2
        assert len(results["per_image"][key][0]) == len(images)
        assert results["results"][key][1] == pytest.approx(np.mean(results["per_image"][key][1]))
    assert results["per_image"]["images"] == [p.name for p in images]
    assert results["settings"]["device"] == "cpu" and "torch" in results["environment"]
    json.dumps(results, allow_nan=False)


# ------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = []
    for seed in (0, 1):
        path = folder / f"tiny-{seed}.safetensors"
        save_weights(_tiny(seed=seed), path, "mbt2018-mean", {"lambda": "0.01"})
        paths.append(path)
    state_dict = folder / "tiny.pth.tar"
    torch.save({"state_dict": _tiny("bmshj2018-factorized", 8, 8).state_dict()}, state_dict)
    return paths, state_dict


def test_eval_command_evaluates_checkpoint_files(checkpoints, tmp_path, capsys):
    paths, _ = checkpoints
    output = tmp_path / "results.json"
    result = run_cli("eval", IMAGES, "--checkpoint", *paths, "-o", output, "--no-progress", "--name", "mine")
    assert result.returncode == 0, result.stderr
    assert "PSNR-RGB" in result.stdout and "wrote" in result.stdout
    data = load_results(output)
    assert data["name"] == "mine"
    assert data["qualities"] == [p.name for p in paths]
    assert len(data["results"]["bpp"]) == 2 and len(data["per_image"]["images"]) == 3
    # The refusals and --force in-process (cli.main): the subprocess above is the end-to-end run.
    before = output.read_bytes()
    code = main(["eval", str(IMAGES), "--checkpoint", str(paths[0]), "-o", str(output), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "exists" in err and "--force" in err
    assert output.read_bytes() == before
    code = main(["eval", str(IMAGES), "--checkpoint", str(paths[0]), "-o", str(output), "--no-progress", "--force"])
    assert code == 0, capsys.readouterr().err
    assert load_results(output)["qualities"] == [paths[0].name]
    code = main(["eval", str(IMAGES), "--checkpoint", str(paths[0]), "-o", str(tmp_path), "--no-progress", "--force"])
    assert code == 2 and "folder" in capsys.readouterr().err


def test_eval_command_reads_state_dict_checkpoints_with_model(checkpoints, capsys):
    _, state_dict = checkpoints
    code = main(
        [
            "eval",
            str(IMAGES / "kodim19-47x33.png"),
            "--model",
            "bmshj2018-factorized",
            "--checkpoint",
            str(state_dict),
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["name"] == "bmshj2018-factorized-checkpoints"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "mbt2018-mean", "-q", "1"], "give --pretrained"),
        (["--model", "no-such-model", "--pretrained", "-q", "1"], "unknown architecture"),
        (["--model", "mbt2018-mean", "--pretrained", "-q", "9"], "has qualities"),
        (["--model", "mbt2018-mean", "--pretrained"], "give --quality"),
        (["--checkpoint", "/nonexistent.safetensors"], "does not exist"),
        (["-q", "7"], "shipped model takes any quality within 1..4"),
        (["-q", "4.5"], "shipped model takes any quality within 1..4"),
        (["--model", "mbt2018-mean", "--pretrained", "-q", "2.5"], "discrete rate points"),
        (["--pretrained"], "--pretrained needs --model"),
    ],
)
def test_eval_command_bad_arguments_exit_2_with_a_clear_message(args, message, capsys):
    assert main(["eval", str(IMAGES), *args, "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_eval_command_refuses_mixing_checkpoints_and_qualities(checkpoints, capsys):
    paths, state_dict = checkpoints
    assert main(["eval", str(IMAGES), "--checkpoint", str(paths[0]), "-q", "1", "--no-progress"]) == 2
    assert "discrete rate points: --quality with one checkpoint needs a variable-rate model" in capsys.readouterr().err
    assert main(["eval", str(IMAGES), "--checkpoint", *map(str, paths), "-q", "1"]) == 2
    assert "--quality goes with one variable-rate checkpoint" in capsys.readouterr().err
    assert main(["eval", str(IMAGES), "--checkpoint", str(paths[0]), "--pretrained"]) == 2
    assert "do not combine" in capsys.readouterr().err
    assert main(["eval", str(IMAGES), "--checkpoint", str(state_dict)]) == 2
    assert "--model" in capsys.readouterr().err


def test_eval_command_reports_unreadable_checkpoints_with_exit_code_2(tmp_path, capsys):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not safetensors")
    assert main(["eval", str(IMAGES), "--checkpoint", str(broken), "--no-progress"]) == 2
    assert "cannot load checkpoint" in capsys.readouterr().err
    wrong = tmp_path / "wrong.pth"
    torch.save({"weights": torch.zeros(3)}, wrong)
    assert main(["eval", str(IMAGES), "--model", "mbt2018-mean", "--checkpoint", str(wrong), "--no-progress"]) == 2
    assert "cannot load checkpoint" in capsys.readouterr().err


def test_eval_command_says_when_the_shipped_weights_are_missing(monkeypatch, tmp_path, capsys):
    from neuralcodec.zoo import defaults

    monkeypatch.setattr(
        defaults, "default_weights_path", lambda quality=3: tmp_path / f"missing-q{quality}.safetensors"
    )
    assert main(["eval", str(IMAGES), "--no-progress"]) == 2
    assert "shipped weights" in capsys.readouterr().err


def test_eval_command_without_cuda_refuses_cuda(checkpoints, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    paths, _ = checkpoints
    for flag in (["--device", "cuda"], ["--cuda"]):  # --cuda: the old spelling, kept as a hidden alias
        assert main(["eval", str(IMAGES), "--checkpoint", str(paths[0]), *flag]) == 2
        assert "--device cuda: CUDA is not available" in capsys.readouterr().err


def test_eval_command_on_a_missing_dataset_exits_2():
    result = run_cli("eval", "/nonexistent/kodak", "--no-progress")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_eval_command_evaluates_one_variable_rate_checkpoint_at_continuous_qualities(tmp_path, capsys):
    from neuralcodec.models.vbr import MeanScaleHyperpriorVbr

    torch.manual_seed(0)
    model = MeanScaleHyperpriorVbr(8, 12).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(20)
    model.update(force=True)
    path = tmp_path / "vbr.safetensors"
    save_weights(model, path, "mbt2018-mean-vbr")
    output = tmp_path / "vbr.json"
    code = main(["eval", str(IMAGES), "--checkpoint", str(path), "-q", "1", "1.5", "2", "8", "-o", str(output),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    data = load_results(output)
    assert data["qualities"] == [1, 1.5, 2, 8]
    bpp = data["results"]["bpp"]
    assert bpp == sorted(bpp) and bpp[0] < bpp[-1]  # one model, the rate grows with the quality
    rgb = read_rgb(IMAGES / "kodim05-64x48.png")
    assert data["per_image"]["images"][0] == "kodim05-64x48.png"
    assert evaluate_image(model, rgb, quality=1.5)["bpp"] == data["per_image"]["bpp"][1][0]
    assert main(["eval", str(IMAGES), "--checkpoint", str(path), "-q", "8.5", "--no-progress"]) == 2
    assert "within 1..8" in capsys.readouterr().err
