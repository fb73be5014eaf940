"""Tiled transforms: the whole-image result to float rounding, for every transform family,
and the models use them for large images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuralcodec.models import Cheng2020Attention, MeanScaleHyperprior
from neuralcodec.models.elic_lite import ElicLiteVbr
from neuralcodec.models.tiling import Footprint, footprint, tiled_analysis, tiled_synthesis


def _models():
    torch.manual_seed(0)
    return {
        "mbt2018-mean": MeanScaleHyperprior(16, 24).eval(),
        "cheng2020-attn": Cheng2020Attention(16).eval(),
        "elic-lite-vbr": ElicLiteVbr(N=16, M=144, context_channels=8, aggregation_channels=(16, 8)).eval(),
    }


def test_footprints_of_the_shipped_transforms():
    model = MeanScaleHyperprior(24, 32)
    # four 5x5 stride-2 convolutions: 2 + 2*2 + 2*4 + 2*8 pixels
    assert footprint(model.g_a) == Footprint(16.0, 30.0)
    assert footprint(model.g_s).scale == 1 / 16
    assert footprint(Cheng2020Attention(24).g_a).scale == 16.0


def test_a_module_it_cannot_analyse_gives_no_footprint():
    class Global(nn.Module):
        def forward(self, x):
            return x - x.mean(dim=(-2, -1), keepdim=True)

    assert footprint(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Global())) is None
    assert footprint(nn.Conv2d(3, 4, 3, padding=0)) is None  # not "same" padding
    assert tiled_analysis(nn.Sequential(nn.Conv2d(3, 4, 3, padding=0)), torch.rand(1, 3, 8, 8)) is None


def test_a_module_may_declare_its_footprint():
    class Declared(nn.Module):
        def tiling_footprint(self):
            return Footprint(2.0, 7.0)

    assert footprint(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), Declared())) == Footprint(2.0, 8.0)


@pytest.mark.parametrize("name", ["mbt2018-mean", "cheng2020-attn", "elic-lite-vbr"])
@pytest.mark.parametrize("tile", [32, 80])
def test_tiled_transforms_equal_the_whole_image_pass(name, tile):
    model = _models()[name]
    x = torch.rand(1, 3, 128, 208)
    with torch.no_grad():
        y = model.g_a(x)
        y_tiled = tiled_analysis(model.g_a, x, tile=tile)
        x_hat = model.g_s(y)
        x_hat_tiled = tiled_synthesis(model.g_s, y, tile=tile)
    assert y_tiled.shape == y.shape and x_hat_tiled.shape == x_hat.shape
    assert (y_tiled - y).abs().max() <= 1e-5 * max(1.0, float(y.abs().max()))
    assert (x_hat_tiled - x_hat).abs().max() <= 1e-5


def test_progress_is_reported_per_tile():
    model = _models()["mbt2018-mean"]
    calls = []
    with torch.no_grad():
        tiled_analysis(model.g_a, torch.rand(1, 3, 128, 192), tile=64, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]


def test_analysis_refuses_sizes_off_the_stride_grid():
    with pytest.raises(ValueError, match="multiples of 16"):
        tiled_analysis(_models()["mbt2018-mean"].g_a, torch.rand(1, 3, 70, 64))


@pytest.mark.parametrize("coding_path", ["engine", "compat"])
def test_a_model_codes_a_large_image_over_tiles_to_the_same_picture(coding_path):
    model = _models()["mbt2018-mean"]
    model.update(force=True)
    model.coding_path = coding_path
    x = torch.rand(1, 3, 200, 330)
    progress = []
    with torch.no_grad():
        model.tile_size = None
        whole = model.compress(x)
        whole_hat = model.decompress(whole["strings"], whole["shape"], whole["x_size"])["x_hat"]
        model.tile_size = 64
        model.tile_progress = lambda done, total: progress.append(total)
        tiled = model.compress(x)
        tiled_hat = model.decompress(tiled["strings"], tiled["shape"], tiled["x_size"])["x_hat"]
    assert progress  # the tiled path ran, for the analysis and the synthesis
    assert tiled["shape"] == whole["shape"]
    # The latents agree to float rounding, so at most a symbol on a rounding boundary moves.
    assert (tiled_hat - whole_hat).abs().mean() < 1e-4


def test_padding_applied_per_window_equals_the_padded_image():
    model = _models()["mbt2018-mean"]
    x = torch.rand(1, 3, 100, 150)
    padding = (5, 5, 14, 14)  # to 128 x 160, edge replication
    with torch.no_grad():
        expected = model.g_a(torch.nn.functional.pad(x, padding, mode="replicate"))
        tiled = tiled_analysis(model.g_a, x, tile=48, padding=padding)
    assert tiled.shape == expected.shape
    assert (tiled - expected).abs().max() <= 1e-5 * max(1.0, float(expected.abs().max()))
    with pytest.raises(ValueError, match="multiples of 16"):
        tiled_analysis(model.g_a, x, padding=(0, 0, 0, 0))
