"""Encoder-side latent refinement (``effort``): smaller loss for the same decoder, the
model and torch's generator left as they were, clear refusals, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_runs import run_in_process
from PIL import Image

from neuralcodec.codec.api import Codec
from neuralcodec.entropy_models import EntropyModel, GaussianConditional, bound_tables
from neuralcodec.files import sample_image_path
from neuralcodec.models import MeanScaleHyperprior, refinement
from neuralcodec.models.refinement import EFFORT_STEPS, StochasticRounding, check_effort, refine_latent
from neuralcodec.models.vbr import MeanScaleHyperpriorVbr
from neuralcodec.zoo.defaults import save_weights
from neuralcodec.zoo.image import ARCHITECTURES


def _photo(height: int = 64, width: int = 96) -> np.ndarray:
    with Image.open(sample_image_path()) as image:
        return np.array(image.convert("RGB"))[:height, :width].copy()


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()


def _coded_loss(codec: Codec, data: bytes, pixels: np.ndarray) -> float:
    """bpp of the whole file plus lambda 255^2 MSE of its decoded pixels: the objective."""
    decoded = codec.decode(data, output="numpy").astype(np.float64)
    mse = float(((decoded - pixels) ** 2).mean()) / 255.0**2
    return 8 * len(data) / (pixels.shape[0] * pixels.shape[1]) + codec.lambda_at() * 255.0**2 * mse


@pytest.fixture(scope="module")
def shipped() -> Codec:
    """The shipped (variable-rate) model, coding at quality 2."""
    return Codec.default(2)


def _refine(codec: Codec, x: torch.Tensor, steps: int):
    """:func:`refine_latent` at the codec's quality, with that quality's lambda."""
    rate = codec.model.prepare_quality(codec.quality)
    return refine_latent(codec.model, x, codec.lambda_at(), steps, rate=rate)


def test_refinement_lowers_the_loss_the_model_scores_and_the_actual_one(shipped):
    pixels = _photo()
    refined = _refine(shipped, _tensor(pixels), 12)
    assert refined.steps == 12
    assert refined.loss < 0.99 * refined.initial_loss
    base = shipped.encode(pixels)
    better = shipped.encode(pixels, effort=1)
    assert better != base
    assert _coded_loss(shipped, better, pixels) < 0.99 * _coded_loss(shipped, base, pixels)


def test_zero_steps_is_the_analysis_latent(shipped):
    x = _tensor(_photo())
    refined = _refine(shipped, x, 0)
    with torch.no_grad():  # the analysis of the rung that codes the quality
        assert torch.equal(refined.latent, shipped.model.analyze(x, quality=shipped.quality))
    assert refined.loss == refined.initial_loss


def test_refinement_leaves_the_model_and_the_generator_as_they_were(shipped):
    model, _ = shipped.model.coder_at(quality=shipped.quality)  # the ladder's rung at quality 2
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    model.g_s[0].weight.requires_grad_(False)
    needs_grad = [p.requires_grad for p in model.parameters()]
    model.h_s.train()
    conditional = next(m for m in model.modules() if isinstance(m, GaussianConditional))
    outputs = conditional.training_outputs
    conditional.training_outputs = "ste"
    rng = torch.get_rng_state()
    try:
        _refine(shipped, _tensor(_photo(32, 32)), 3)
        assert torch.equal(torch.get_rng_state(), rng)
        assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
        assert [p.requires_grad for p in model.parameters()] == needs_grad
        assert not model.g_s[0].weight.requires_grad and model.g_s[1].beta.requires_grad
        assert model.h_s.training and not model.g_s.training and not model.training
        assert conditional.training_outputs == "ste"
        assert all(m.soft_rounding is None for m in model.modules() if isinstance(m, EntropyModel))
        assert all(p.grad is None for p in model.parameters())
    finally:
        model.g_s[0].weight.requires_grad_(True)
        model.h_s.eval()
        conditional.training_outputs = outputs


def test_the_same_image_refines_to_the_same_latent_and_file(shipped):
    pixels = _photo(32, 48)
    first = _refine(shipped, _tensor(pixels), 4)
    second = _refine(shipped, _tensor(pixels), 4)
    assert torch.equal(first.latent, second.latent)
    assert shipped.encode(pixels, effort=1) == shipped.encode(pixels, effort=1)


def test_stochastic_rounding_stays_between_the_neighbouring_integers_and_sharpens():
    torch.manual_seed(0)
    values = torch.randn(20000) * 3
    rounding = StochasticRounding(0.5)
    soft = rounding(values.clone().requires_grad_(True))
    assert bool(((soft >= torch.floor(values)) & (soft <= torch.floor(values) + 1)).all())
    values.requires_grad_(True)
    rounding(values).sum().backward()
    assert values.grad is not None and float(values.grad.abs().sum()) > 0
    rounding.temperature = 0.01
    sharp = rounding(values.detach())
    assert float((sharp - torch.round(values.detach())).abs().mean()) < 0.05


def test_compress_codes_a_given_latent_of_the_analysis_shape(shipped):
    model = shipped.model
    x = _tensor(_photo(40, 72))
    with torch.no_grad():
        latent = model.analyze(x)
        assert latent.shape == (1, model.M, 4, 8)  # padded to 64 x 128, stride 16
        assert model.compress(x, coding_path="compat", latent=latent) == model.compress(x, coding_path="compat")
        with pytest.raises(ValueError, match=r"analysis's shape \(1, 128, 4, 8\)"):
            model.compress(x, latent=latent[..., :4])
        with pytest.raises(TypeError, match="float tensor"):
            model.compress(x, latent=latent.to(torch.int32))


@pytest.mark.parametrize("coding_path", ["engine", "compat"])
def test_a_latent_codec_model_codes_a_given_latent(coding_path):
    torch.manual_seed(0)
    model = ARCHITECTURES["elic2022-official"](8, 16, groups=[4, 4, 8]).eval()
    model.update()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad(), bound_tables():  # the tables update() built, on either path
        given = model.compress(x, coding_path=coding_path, latent=model.analyze(x))
        plain = model.compress(x, coding_path=coding_path)
    assert given["strings"] == plain["strings"]


def test_effort_levels_and_their_refusals(shipped):
    assert [check_effort(level) for level in range(len(EFFORT_STEPS))] == list(range(len(EFFORT_STEPS)))
    for bad in (-1, len(EFFORT_STEPS), True, 1.0, "1"):
        with pytest.raises(ValueError, match="effort must be an integer from 0 to 3"):
            check_effort(bad)
    pixels = _photo(32, 32)
    vbr = MeanScaleHyperpriorVbr(8, 12).eval()
    vbr.update()
    with pytest.raises(ValueError, match="codes a given latent"):
        Codec(vbr, lmbda=0.01).encode(pixels, effort=1)
    torch.manual_seed(0)
    unknown = MeanScaleHyperprior(8, 12).eval()
    unknown.update()
    with pytest.raises(ValueError, match=r"lmbda=\.\.\."):
        Codec(unknown).encode(pixels, effort=2)
    with pytest.raises(ValueError, match="positive number"):
        Codec(unknown, lmbda=-1.0)
    assert Codec(unknown, lmbda=0.01).encode(pixels, effort=1)


def test_effort_refuses_images_it_cannot_hold(shipped, monkeypatch):
    monkeypatch.setattr(refinement, "MAX_REFINED_PIXELS", 1000)
    with pytest.raises(ValueError, match=r"more than 1,000; code it without refinement \(effort 0\)"):
        shipped.encode(_photo(32, 64), effort=1)
    assert shipped.encode(_photo(16, 16), effort=1)


def test_the_codecs_know_the_lambda_of_their_weights(tmp_path, shipped):
    assert shipped.lmbda is None and shipped.lambda_at() == pytest.approx(0.0045)  # variable rate: per quality
    assert shipped.lambda_at(2.5) == pytest.approx((0.0045 * 0.012) ** 0.5)
    assert Codec.load("mbt2018-mean", 2, source="shipped").lmbda == 0.0045  # the previous default's
    torch.manual_seed(0)
    model = MeanScaleHyperprior(8, 12).eval()
    model.update()
    recorded, bare = tmp_path / "recorded.safetensors", tmp_path / "bare.safetensors"
    save_weights(model, recorded, "mbt2018-mean", metadata={"lambda": "0.013"})
    save_weights(model, bare, "mbt2018-mean")
    assert Codec.from_checkpoint(recorded).lmbda == 0.013
    assert Codec.from_checkpoint(bare).lmbda is None


def test_compress_and_eval_take_effort_on_the_command_line(tmp_path, capsys):
    image = tmp_path / "photo.png"
    Image.fromarray(_photo(96, 128)).save(image)  # large enough that bytes follow the estimated bits
    code, _, err = run_in_process(capsys, "compress", image, "-o", tmp_path / "out", "--quality", "1", "--effort", "1")
    assert code == 0, err
    plain = tmp_path / "plain"
    assert run_in_process(capsys, "compress", image, "-o", plain, "--quality", "1")[0] == 0
    refined = (tmp_path / "out" / "photo.nci").read_bytes()
    assert refined != (plain / "photo.nci").read_bytes()
    code, _, err = run_in_process(capsys, "decompress", tmp_path / "out" / "photo.nci", "-o", tmp_path / "back")
    assert code == 0, err
    assert (tmp_path / "back" / "photo.png").is_file()

    code, _, err = run_in_process(capsys, "compress", image, "-o", tmp_path / "x", "--effort", "4")
    assert code == 2 and "--effort" in err

    losses = []
    for effort in ("0", "1"):
        results = tmp_path / f"results-{effort}.json"
        code, _, err = run_in_process(capsys, "eval", image, "--quality", "1", "--effort", effort, "-o", results, "--quiet")
        assert code == 0, err
        measured = json.loads(results.read_text())
        assert measured["settings"].get("effort", 0) == int(effort)
        bpp, psnr = measured["results"]["bpp"][0], measured["results"]["psnr-rgb"][0]
        losses.append(bpp + 0.0018 * 255**2 * 10 ** (-psnr / 10))
    assert losses[1] < losses[0]

    weights = tmp_path / "w.safetensors"
    save_weights(Codec.load("mbt2018-mean", 1, source="shipped").model, weights, "mbt2018-mean")
    code, _, err = run_in_process(capsys, "eval", image, "--checkpoint", weights, "--effort", "1", "--quiet")
    assert code == 2 and "--effort" in err
