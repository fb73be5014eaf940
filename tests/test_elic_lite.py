"""The variable-rate candidate default (ElicLiteVbr) and its GPU training script.

The model: the checkerboard context sees only anchors, the gains interpolate between
levels, the compat coding path decodes what it encoded, every quality is reachable.
The GPU call: one call of ``benches/gpu/train.sh`` (the one trainer, ``neuralcodec
train``) on the CPU with a tiny step count trains, validates at every integer quality and
writes shards that load back; a second call starts from them and appends to the history;
the committed shards load.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodec.layers import CheckerboardMaskedConv2d
from neuralcodec.models.elic_lite import ElicLiteVbr, checkerboard_anchor_mask
from neuralcodec.train.shards import load_shards, save_shards

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benches" / "gpu" / "train.sh"


def _small_model(seed: int = 0) -> ElicLiteVbr:
    torch.manual_seed(seed)
    return ElicLiteVbr(N=16, M=24, groups=[4, 4, 8, 8], levels=3, context_channels=8, aggregation_channels=(16, 12))


def test_checkerboard_context_at_a_non_anchor_sees_only_anchors():
    torch.manual_seed(0)
    layer = CheckerboardMaskedConv2d(3, 4, kernel_size=5, padding=2)
    x = torch.randn(1, 3, 8, 8)
    anchors = checkerboard_anchor_mask(8, 8)
    moved = x + torch.randn_like(x) * (1 - anchors)  # change only the non-anchors
    before, after = layer(x), layer(moved)
    non_anchor = (1 - anchors).bool().expand_as(before)
    assert torch.equal(before[non_anchor], after[non_anchor])
    assert not torch.equal(before, after)  # the non-anchors do reach the anchor outputs' taps


def test_gains_at_integer_qualities_are_the_levels_and_linear_between():
    model = _small_model()
    with torch.no_grad():
        model.y_gain.copy_(torch.tensor([[1.0], [4.0], [16.0]]).repeat(1, model.M))
    assert torch.allclose(model.gains(2.0)["y_gain"].flatten(), torch.full((model.M,), 4.0))
    assert torch.allclose(model.gains(1.5)["y_gain"].flatten(), torch.full((model.M,), 2.5))
    assert torch.allclose(model.gains(3.0)["y_gain"].flatten(), torch.full((model.M,), 16.0))
    per_image = model.gains(torch.tensor([1.0, 2.5]))["y_gain"]
    assert per_image.shape == (2, model.M, 1, 1)
    assert torch.allclose(per_image[1].flatten(), torch.full((model.M,), 10.0))


@pytest.mark.parametrize("quality", [0.5, 3.01, float("nan")])
def test_a_quality_outside_the_levels_is_refused(quality):
    with pytest.raises(ValueError, match=r"quality must be within 1\.\.3"):
        _small_model().gains(quality)


def test_groups_must_cover_the_latent():
    with pytest.raises(ValueError, match="sum to M=24"):
        ElicLiteVbr(N=16, M=24, groups=[4, 4, 8])


def test_training_pass_gives_likelihoods_and_gradients_to_every_part():
    model = _small_model()
    with torch.no_grad():  # a z that does not round to all zeros, so h_s and z's gains see gradient
        model.h_a[-1].weight.mul_(100)
    x = torch.rand(2, 3, 64, 64)
    output = model(x, torch.tensor([1.0, 2.7]))
    assert output["x_hat"].shape == x.shape
    assert output["likelihoods"]["y"].shape == (2, 24, 4, 4)
    assert output["likelihoods"]["z"].shape == (2, 16, 1, 1)
    for likelihood in output["likelihoods"].values():
        assert bool(((likelihood > 0) & (likelihood <= 1)).all())
    loss = ((output["x_hat"] - x) ** 2).mean() - sum(torch.log2(v).mean() for v in output["likelihoods"].values())
    loss.backward()
    for name in ("g_a.0.weight", "g_s.0.weight", "h_a.0.weight", "h_s.0.weight", "channel_context.0.0.weight",
                 "spatial_context.1.weight", "param_aggregation.3.4.weight", "y_gain", "z_gain_inv"):
        gradient = dict(model.named_parameters())[name].grad
        assert gradient is not None and float(gradient.abs().sum()) > 0, name


@pytest.mark.parametrize("quality", [1.0, 2.25, 3.0])
def test_compat_path_decodes_what_it_encoded(quality):
    model = _small_model().eval()
    model.update(force=True, method="compressai")  # the compat path's tables (the table/path rule)
    x = torch.rand(1, 3, 70, 45)
    with torch.no_grad():
        encoded = model.compress(x, quality=quality, coding_path="compat")
        assert len(encoded["strings"]) == 2 * len(model.groups) + 1
        decoded = model.decompress(
            encoded["strings"], encoded["shape"], encoded["x_size"], quality=quality, coding_path="compat"
        )
        # The encoder's own reconstruction: the same groups decoded from its strings.
        gain = model.gains(quality)
        padded = model.pad(x)
        z = model.h_a(model.g_a(padded)) * gain["z_gain"]
        z_hat = model.entropy_bottleneck.decompress(encoded["strings"][-1], z.shape[-2:])
        hyper = model.h_s(z_hat * gain["z_gain_inv"])
        _, y_hat = model._code_groups(hyper, gain, y=model.g_a(padded))
        expected = model.crop(model._synthesize(y_hat).clamp(0, 1), x.shape[-2:])
    assert decoded["x_hat"].shape == x.shape
    assert torch.equal(decoded["x_hat"], expected)


def test_higher_quality_spends_more_bits_on_the_same_image():
    model = _small_model().eval()
    with torch.no_grad():
        model.y_gain.copy_(torch.tensor([[0.5], [1.0], [4.0]]).repeat(1, model.M))
        model.g_a[-1].weight.mul_(30)  # latents spanning several quantization steps
    model.update(force=True)
    x = torch.rand(1, 3, 64, 64)
    sizes = []
    with torch.no_grad():
        for quality in (1.0, 2.0, 3.0):
            strings = model.compress(x, quality=quality)["strings"]
            sizes.append(sum(len(s[0]) for s in strings[:-1]))
    assert sizes[0] < sizes[1] < sizes[2]


def test_shards_round_trip_with_float16_kernels(tmp_path):
    model = _small_model()
    paths = save_shards(model, tmp_path, "elic-lite-vbr", metadata={"steps": "7"})
    assert [p.name for p in paths] == ["elic-lite-vbr-00.safetensors"]
    loaded = load_shards(tmp_path)
    for key, value in model.state_dict().items():
        if key.endswith(("_quantized_cdf", "_offset", "_cdf_length")):
            continue
        expected = value.half().float() if value.dim() == 4 else value
        assert torch.equal(loaded.state_dict()[key], expected), key


def test_loading_shards_of_another_model_is_refused(tmp_path):
    save_shards(_small_model(), tmp_path, "elic-lite-vbr")
    from safetensors.torch import load_file, save_file

    path = tmp_path / "elic-lite-vbr-00.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    del tensors["g_s.0.weight"]
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(ValueError, match="missing"):
        load_shards(tmp_path)


def _photos(folder: Path, count: int, size: tuple) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(count)
    for index in range(count):
        pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{index}.png")


@pytest.mark.skipif(sys.platform == "win32", reason="bash script")
def test_the_gpu_training_script_trains_validates_writes_and_resumes_on_the_cpu(tmp_path):
    data = tmp_path / "data"
    _photos(data / "train", 3, (80, 96))
    _photos(data / "val", 1, (64, 64))  # one 64-pixel block: the validation codes every quality on it
    env = dict(os.environ, PYTHON=sys.executable, DATA=str(data), MINUTES="5", CHECKPOINT=str(tmp_path / "none"),
               CANDIDATE="elic-lite-vbr")
    arguments = ["--device", "cpu", "--steps", "2", "--batch-size", "2", "--patch-size", "64", "--log-every", "1",
                 "--precision", "fp32", "--threads", "1"]
    first = tmp_path / "first"
    run = subprocess.run(["bash", str(SCRIPT), *arguments], env=dict(env, OUT=str(first), WORK=str(tmp_path / "w1")),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    history = json.loads((first / "history.json").read_text())
    assert len(history) == 1 and history[0]["steps"] == 2 and history[0]["init"] == "scratch"
    assert set(history[0]["validation"]) == {"1", "2", "3", "4", "5", "6"}
    bpps = [history[0]["validation"][q]["bpp"] for q in "123456"]
    assert all(b > 0 for b in bpps)
    with (first / "log.csv").open() as f:
        splits = [row["split"] for row in csv.DictReader(f)]
    assert splits.count("train") == 2 and splits.count("val") == 1 and splits.count("val@6") == 1
    assert "quality 6:" in (first / "train.log").read_text()
    assert (tmp_path / "w1" / "checkpoint.pt").is_file() and not (first / "checkpoint.pt").exists()
    model = load_shards(first)

    second = tmp_path / "second"
    run = subprocess.run(["bash", str(SCRIPT), *arguments],
                         env=dict(env, OUT=str(second), WORK=str(tmp_path / "w2"), CHECKPOINT=str(first)),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    history = json.loads((second / "history.json").read_text())
    assert len(history) == 2 and history[1]["init"] == str(first)
    resumed = load_shards(second)
    assert not torch.equal(resumed.g_a[0].weight, model.g_a[0].weight)  # it trained further


def test_the_committed_shards_load_and_code():
    committed = REPO / "results" / "training" / "elic-lite-vbr"
    model = load_shards(committed).eval()
    assert isinstance(model, ElicLiteVbr) and (model.N, model.M, model.levels) == (128, 192, 6)
    model.update(force=True)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        coded = model.compress(x, quality=3.0)
        decoded = model.decompress(coded["strings"], coded["shape"], coded["x_size"], quality=3.0)
    assert decoded["x_hat"].shape == x.shape


def test_shards_of_a_zoo_model_round_trip_through_the_constructor_metadata(tmp_path):
    from neuralcodec.models.vbr import MeanScaleHyperpriorVbr

    torch.manual_seed(0)
    model = MeanScaleHyperpriorVbr(16, 24)
    save_shards(model, tmp_path, "mbt2018-mean-vbr")
    loaded = load_shards(tmp_path)
    assert isinstance(loaded, MeanScaleHyperpriorVbr) and (loaded.N, loaded.M) == (16, 24)
    assert torch.equal(loaded.g_a[0].weight, model.g_a[0].weight.half().float())


def test_shards_over_the_limit_are_split_and_stale_ones_removed(tmp_path, monkeypatch):
    import neuralcodec.train.shards as shards

    model = _small_model()
    assert len(save_shards(model, tmp_path, "elic-lite-vbr")) == 1
    monkeypatch.setattr(shards, "SHARD_BYTES", 2**16 + 20_000)  # ~20 kB of tensors a shard
    paths = save_shards(model, tmp_path, "elic-lite-vbr")
    assert len(paths) > 2 and all(p.stat().st_size < 2**16 + 20_000 for p in paths)
    monkeypatch.undo()
    assert save_shards(model, tmp_path, "elic-lite-vbr") == [tmp_path / "elic-lite-vbr-00.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elic-lite-vbr-00.safetensors"]
    assert torch.equal(load_shards(tmp_path).y_gain, model.y_gain)
