"""The mean-scale hyperprior with learned gain units (``mbt2018-mean-gained``, issue 28):
its gains, its training pass, coding through the container at a continuous quality and
to a size, its weights files, and starting it from a fixed-rate model's weights. The
engine path's bit-exactness (threads, scalar kernel, float64 encoder, golden vectors) is
tested with the other graphs in tests/test_latent_graph.py."""

from __future__ import annotations

import json

import pytest
import torch
from codec_models import image
from neuralcodec.codec.api import Codec, decode_image, encode_image
from neuralcodec.codec.container import read_header
from neuralcodec.models import MeanScaleHyperprior, MeanScaleHyperpriorGained
from neuralcodec.models.gain_units import GAIN_UNIT_NAMES
from neuralcodec.models.gained import GAINED_LAMBDAS
from neuralcodec.models.variable_rate import is_variable_rate
from neuralcodec.settings import DEFAULT_LAMBDAS, VARIABLE_RATE_ARCHITECTURES
from neuralcodec.train.trainer import load_initial_weights
from neuralcodec.zoo.defaults import save_weights
from neuralcodec.zoo.loader import load


def small(seed: int = 0, lambdas=None) -> MeanScaleHyperpriorGained:
    """A small model in eval mode with built tables; the last analysis convolution is
    scaled up so the latent spans many quantization steps."""
    torch.manual_seed(seed)
    model = MeanScaleHyperpriorGained(16, 24, lambdas=lambdas).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(20)
    model.update(force=True)
    return model


def test_it_is_a_registered_variable_rate_model_at_the_shipped_rate_points():
    model = MeanScaleHyperpriorGained()
    assert "mbt2018-mean-gained" in VARIABLE_RATE_ARCHITECTURES and is_variable_rate(model)
    assert (model.N, model.M) == (96, 128) and model.qualities() == (1.0, 4.0)
    assert GAINED_LAMBDAS == tuple(DEFAULT_LAMBDAS[q] for q in (1, 2, 3, 4))
    for q, lmbda in DEFAULT_LAMBDAS.items():
        assert model.lambda_for_quality(float(q)) == pytest.approx(lmbda)
    assert model.lambda_for_quality(2.5) == pytest.approx((0.0045 * 0.012) ** 0.5)
    # The gains of y start at sqrt(lambda / top), those of z at 1.
    expected = torch.tensor([(v / 0.032) ** 0.5 for v in GAINED_LAMBDAS])
    torch.testing.assert_close(model.y_gain[:, 0], expected)
    assert torch.equal(model.z_gain, torch.ones(4, 96))


def test_gains_are_the_levels_at_integers_and_linear_between():
    model = small()
    with torch.no_grad():
        for name in GAIN_UNIT_NAMES:
            getattr(model, name).uniform_(0.2, 2.0)
    at_two, at_three = model.gains(2.0), model.gains(3.0)
    for name in GAIN_UNIT_NAMES:
        assert torch.equal(at_two[name].flatten(), getattr(model, name)[1].abs())
        assert torch.equal(at_three[name].flatten(), getattr(model, name)[2].abs())
        middle = model.gains(2.25)[name].flatten()
        torch.testing.assert_close(middle, 0.75 * at_two[name].flatten() + 0.25 * at_three[name].flatten())
    per_image = model.gains(torch.tensor([1.0, 2.25, 4.0]))
    assert per_image["y_gain"].shape == (3, 24, 1, 1)
    assert torch.equal(per_image["y_gain"][1], model.gains(2.25)["y_gain"][0])
    for bad in (0.5, 4.01, float("nan")):
        with pytest.raises(ValueError, match="1..4"):
            model.gains(bad)


def test_a_training_pass_at_one_quality_per_crop_trains_every_gain_table():
    model = small().train()
    with torch.no_grad():
        model.h_a[-1].weight.mul_(20)  # z spans several steps, so z_hat is not all zero
    x = image(64, 64, batch=2, seed=3)
    out = model(x, quality=torch.tensor([1.5, 3.25]))
    assert out["x_hat"].shape == x.shape
    assert out["likelihoods"]["y"].shape == (2, 24, 4, 4) and out["likelihoods"]["z"].shape == (2, 16, 1, 1)
    bits = sum(torch.log2(v).sum() for v in out["likelihoods"].values())
    (-bits + 1000 * torch.mean((out["x_hat"] - x) ** 2)).backward()
    for name in GAIN_UNIT_NAMES:
        grad = getattr(model, name).grad
        assert grad is not None and bool(grad.abs().sum() > 0), name
        # Only the two levels around 1.5 and 3.25 get a gradient.
        assert bool((grad[1:3].abs().sum(dim=1) > 0).all()) and bool((grad[0].abs().sum() > 0))


def test_rate_grows_with_the_quality_and_a_fractional_quality_falls_between_its_neighbours():
    model = small(seed=1)
    x = image(128, 128, seed=4)
    sizes = {}
    with torch.no_grad():
        for q in (1.0, 2.0, 2.5, 3.0, 4.0):
            out = model.compress(x, quality=q)
            sizes[q] = sum(len(s[0]) for s in out["strings"])
    assert sizes[1.0] < sizes[2.0] < sizes[2.5] < sizes[3.0] < sizes[4.0], sizes


def test_compress_refuses_what_it_cannot_code():
    model = small()
    with torch.no_grad():
        with pytest.raises(ValueError, match="one image at a time"):
            model.compress(image(64, 64, batch=2))
        with pytest.raises(ValueError, match="1..4"):
            model.compress(image(64, 64), quality=0.0)
        out = model.compress(image(64, 64), quality=2.0)
        with pytest.raises(ValueError, match="1..4"):
            model.decompress(out["strings"], out["shape"], quality=7.0)


def test_it_codes_through_the_container_at_a_continuous_quality_and_to_a_size():
    model = small(seed=2)
    codec = Codec(model, architecture="mbt2018-mean-gained", quality=2.75)
    x = image(70, 45, seed=5)
    data = codec.encode(x)
    header = read_header(data)
    assert header.coded_quality == 2.75 and len(header.string_lengths) == 2  # engine path: [y, z]
    with torch.no_grad():
        out = model.compress(x, quality=2.75)
        expected = model.decompress(out["strings"], out["shape"], x_size=(70, 45), quality=2.75)["x_hat"]
    assert torch.equal(decode_image(data, model, output="tensor"), expected)
    target = len(codec.encode(x, quality=3.3))
    search = codec.encode_target(x, size=target)
    assert len(search.data) <= target and read_header(search.data).coded_quality == search.quality
    by_bpp = encode_image(x, model, architecture="mbt2018-mean-gained", bpp=8 * target / (70 * 45))
    assert len(by_bpp) <= target


def test_weights_files_load_with_their_lambda_table_and_code_the_same_bytes(tmp_path):
    lambdas = [0.001, 0.004, 0.016]
    model = small(seed=3, lambdas=lambdas)
    path = tmp_path / "gained.safetensors"
    save_weights(model, path, "mbt2018-mean-gained", metadata={"lambdas": json.dumps(lambdas)})
    loaded = load(checkpoint=path)
    again = loaded.model
    assert isinstance(again, MeanScaleHyperpriorGained) and loaded.architecture == "mbt2018-mean-gained"
    assert again.lmbda == lambdas and again.qualities() == (1.0, 3.0)
    x = image(64, 64, seed=6)
    with torch.no_grad():
        assert again.compress(x, quality=1.5)["strings"] == model.compress(x, quality=1.5)["strings"]
    with pytest.raises(ValueError, match="gain levels"):
        MeanScaleHyperpriorGained.from_state_dict(model.state_dict())  # 3 levels, the default table has 4


def test_a_run_starts_from_a_fixed_rate_models_weights(tmp_path):
    torch.manual_seed(4)
    fixed = MeanScaleHyperprior(16, 24).eval()
    fixed.update(force=True)
    path = tmp_path / "fixed.safetensors"
    save_weights(fixed, path, "mbt2018-mean")
    model = MeanScaleHyperpriorGained(16, 24)
    kept = load_initial_weights(model, str(path))
    assert sorted(kept) == sorted(GAIN_UNIT_NAMES)
    assert torch.equal(model.g_s[0].weight, fixed.g_s[0].weight)
    # At the top level (gain 1) it is the fixed-rate model: the same reconstruction.
    model.eval().update(force=True)
    x = image(64, 64, seed=7)
    with torch.no_grad():
        ours = model(x, quality=4.0)["x_hat"]
        theirs = fixed(x)["x_hat"]
    torch.testing.assert_close(ours, theirs)


def test_effort_refines_the_latent_at_the_coded_quality_and_the_file_decodes_with_the_same_decoder():
    from neuralcodec.models.refinement import refine_latent

    model = small(seed=5)
    x = image(64, 64, seed=8)
    rate = model.prepare_quality(2.5)
    refined = refine_latent(model, x, model.lambda_for_quality(2.5), steps=20, check_every=5, rate=rate)
    assert refined.loss <= refined.initial_loss and refined.latent.shape == model.analyze(x).shape
    codec = Codec(model, architecture="mbt2018-mean-gained", quality=2.5)
    assert codec.lambda_at() == pytest.approx(model.lambda_for_quality(2.5)) and codec.check_effort(1) == 1
    data = codec.encode(x, effort=1)
    plain = codec.encode(x)
    assert read_header(data).coded_quality == 2.5
    with torch.no_grad():
        out = model.compress(x, **rate, latent=refine_latent(model, x, model.lambda_for_quality(2.5), 30, rate=rate).latent)
        expected = model.decompress(out["strings"], out["shape"], x_size=(64, 64), **rate)["x_hat"]
    assert torch.equal(decode_image(data, model, output="tensor"), expected)  # effort 1 is 30 steps
    assert data != plain
    with pytest.raises(ValueError, match="give a quality with effort"):
        codec.encode(x, bpp=1.0, effort=1)


def test_eval_refines_a_variable_rate_checkpoint_at_each_quality(tmp_path, capsys):
    from PIL import Image

    from neuralcodec.cli import main

    model = small(seed=6)
    weights = tmp_path / "gained.safetensors"
    save_weights(model, weights, "mbt2018-mean-gained")
    photo = tmp_path / "photo.png"
    Image.fromarray((image(64, 64, seed=9)[0].permute(1, 2, 0).numpy() * 255).astype("uint8")).save(photo)
    results = {}
    for effort in ("0", "1"):
        out = tmp_path / f"e{effort}.json"
        code = main(["eval", str(photo), "--checkpoint", str(weights), "-q", "1.5", "3", "--effort", effort, "-o", str(out), "--quiet"])
        assert code == 0, capsys.readouterr().err
        results[effort] = json.loads(out.read_text())
    assert results["1"]["settings"]["effort"] == 1 and results["1"]["qualities"] == [1.5, 3]
    assert results["1"]["results"]["bpp"] != results["0"]["results"]["bpp"]  # refined latents, other files


def test_the_gpu_training_script_trains_the_candidate_on_the_cpu(tmp_path):
    """``benches/gpu/train.sh``'s default candidate (the one device call of issue 28), two
    steps on the CPU: it trains, validates at every integer quality and writes the weights
    and history to $OUT."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np
    from PIL import Image

    repo = Path(__file__).resolve().parents[1]
    data = tmp_path / "data"
    for folder, count, size in (("train", 3, (80, 96)), ("val", 1, (64, 64))):
        (data / folder).mkdir(parents=True)
        rng = np.random.default_rng(count)
        for index in range(count):
            Image.fromarray(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)).save(data / folder / f"p{index}.png")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable, DATA=str(data), MINUTES="5", OUT=str(out), WORK=str(tmp_path / "w"),
               CHECKPOINT=str(tmp_path / "none"))
    arguments = ["--device", "cpu", "--steps", "2", "--batch-size", "2", "--patch-size", "64", "--precision", "fp32",
                 "--threads", "1"]
    run = subprocess.run(["bash", str(repo / "benches" / "gpu" / "train.sh"), *arguments], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["steps"] == 2 and history[-1]["architecture"] == "mbt2018-mean-gained"
    assert history[-1]["level_share"] == 0.5 and set(history[-1]["validation"]) == {"1", "2", "3", "4"}
    loaded = load(checkpoint=out / "weights.safetensors")
    assert isinstance(loaded.model, MeanScaleHyperpriorGained) and loaded.model.lmbda == list(GAINED_LAMBDAS)
