"""Tiled transforms: the whole-image result to float rounding, for every transform family,
and the models use them for large images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuralcodec.entropy_models import TABLE_METHOD_OF_PATH
from neuralcodec.models import Cheng2020Attention, MeanScaleHyperprior, tiling
from neuralcodec.models.base import CodingOptions, unit_to_pixels
from neuralcodec.models.elic_lite import ElicLiteVbr
from neuralcodec.models.tiling import (
    Footprint,
    analysis_halo,
    footprint,
    synthesis_halo,
    tiled_analysis,
    tiled_synthesis,
)
from neuralcodec.ops import compute_padding


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


def test_halos_are_what_the_receptive_field_reaches():
    model = MeanScaleHyperprior(24, 32)
    # 30 pixels before a latent's own 16 and 30 - 15 after it; 1.875 latents around a pixel.
    assert analysis_halo(footprint(model.g_a)) == (2, 1)
    assert synthesis_halo(footprint(model.g_s)) == (1, 2)
    # An even kernel reaches one pixel further right than left.
    assert footprint(nn.Conv2d(3, 4, 4, stride=2, padding=1)) == Footprint(2.0, 2.0)
    assert analysis_halo(Footprint(2.0, 2.0)) == (1, 1)


def _tiled_with_halo(monkeypatch, which, halo, run):
    monkeypatch.setattr(tiling, which, lambda shape: halo)
    try:
        return run()
    finally:
        monkeypatch.undo()


def test_the_halos_are_the_smallest_that_give_the_whole_image_result(monkeypatch):
    """One latent position less on either side changes the result: the halos are exact,
    not padded with spare positions that cost convolutions on every tile."""
    torch.manual_seed(1)
    model = MeanScaleHyperprior(8, 12).eval()
    x = torch.rand(1, 3, 128, 192)
    with torch.no_grad():
        y, x_hat = model.g_a(x), model.g_s(model.g_a(x))

        def analysis():
            return tiled_analysis(model.g_a, x, tile=32)

        def synthesis():
            return tiled_synthesis(model.g_s, y, tile=32)

        before, after = analysis_halo(footprint(model.g_a))
        assert (analysis() - y).abs().max() <= 1e-5
        for halo in [(before - 1, after), (before, after - 1)]:
            assert (_tiled_with_halo(monkeypatch, "analysis_halo", halo, analysis) - y).abs().max() > 1e-4
        before, after = synthesis_halo(footprint(model.g_s))
        assert (synthesis() - x_hat).abs().max() <= 1e-5
        for halo in [(before - 1, after), (before, after - 1)]:
            assert (_tiled_with_halo(monkeypatch, "synthesis_halo", halo, synthesis) - x_hat).abs().max() > 1e-4


def test_an_even_kernel_is_tiled_exactly():
    torch.manual_seed(2)
    g_a = nn.Sequential(nn.Conv2d(3, 4, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 4, stride=2, padding=1))
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert (tiled_analysis(g_a, x, tile=16) - g_a(x)).abs().max() <= 1e-5


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
    model.update(force=True, method=TABLE_METHOD_OF_PATH[coding_path])  # the path's tables (check_tables)
    x = torch.rand(1, 3, 200, 330)
    progress = []
    with torch.no_grad():
        untiled = CodingOptions(coding_path=coding_path, tile_size=None)
        whole = model.compress(x, options=untiled)
        whole_hat = model.decompress(whole["strings"], whole["shape"], whole["x_size"], options=untiled)["x_hat"]
        tiles = CodingOptions(
            coding_path=coding_path, tile_size=64, tile_progress=lambda done, total: progress.append(total)
        )
        tiled = model.compress(x, options=tiles)
        tiled_hat = model.decompress(tiled["strings"], tiled["shape"], tiled["x_size"], options=tiles)["x_hat"]
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


@pytest.mark.parametrize("size", [(100, 150), (3, 300), (200, 64)])
def test_synthesis_crops_and_rounds_each_tile_as_the_whole_output_would_be(size):
    model = _models()["mbt2018-mean"]
    calls = []

    def transform(latent):
        calls.append(latent.shape)
        return model.g_s(latent)

    with torch.no_grad():
        y_hat = torch.round(model.g_a(torch.rand(1, 3, -(-size[0] // 64) * 64, -(-size[1] // 64) * 64)) * 8)
        whole = tiled_synthesis(model.g_s, y_hat, tile=16)  # one latent position per tile
        left, _, top, _ = compute_padding(*size, out_h=whole.shape[-2], out_w=whole.shape[-1])[0]
        expected = unit_to_pixels(whole[:, :, top : top + size[0], left : left + size[1]].clone())
        pixels = tiled_synthesis(model.g_s, y_hat, tile=16, transform=transform, x_size=size, finish=unit_to_pixels,
                                 channels_last=True)
    assert pixels.dtype == torch.uint8 and pixels.shape == (1, 3, *size)
    assert pixels.is_contiguous(memory_format=torch.channels_last)  # [H, W, 3] in memory, as image files hold it
    assert torch.equal(pixels, expected)  # the same tiles, cropped and rounded one by one
    # Tiles wholly in the padding are not synthesized: the 3-pixel strip needs 2 rows of 4.
    needed = len({t for t in range(y_hat.shape[-2]) if top - 16 < t * 16 < top + size[0]})
    assert len(calls) == needed * len({t for t in range(y_hat.shape[-1]) if left - 16 < t * 16 < left + size[1]})
    assert size != (3, 300) or len(calls) == 2 * y_hat.shape[-1]
    with pytest.raises(ValueError, match="does not fit"):
        tiled_synthesis(model.g_s, y_hat, tile=16, x_size=(whole.shape[-2] + 1, 1))


@pytest.mark.parametrize("coding_path", ["engine", "compat"])
@pytest.mark.parametrize("size", [(1, 1), (17, 3000), (150, 333)])
def test_uint8_pixels_code_as_the_float_image_and_decode_to_its_rounding(coding_path, size):
    model = _models()["mbt2018-mean"]
    model.update(force=True, method=TABLE_METHOD_OF_PATH[coding_path])  # the path's tables (check_tables)
    tiles = CodingOptions(coding_path=coding_path, tile_size=64)  # width not a multiple of the tile; 1x1 is not tiled
    pixels = torch.randint(0, 256, (1, 3, *size), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        from_pixels = model.compress(pixels, options=tiles)
        from_float = model.compress(pixels.float() / 255, options=tiles)
        assert from_pixels["strings"] == from_float["strings"] and from_pixels["x_size"] == size
        x_hat = model.decompress(from_float["strings"], from_float["shape"], size, options=tiles)["x_hat"]
        to_pixels = CodingOptions(coding_path=coding_path, tile_size=64, pixels_out=True)
        decoded = model.decompress(from_float["strings"], from_float["shape"], size, options=to_pixels)["x_hat"]
    assert decoded.dtype == torch.uint8 and decoded.shape == (1, 3, *size)
    assert torch.equal(decoded, x_hat.mul(255).round().to(torch.uint8))


def test_a_tiled_code_never_makes_the_whole_image_float(monkeypatch):
    """Encode converts windows, never the image; decode rounds tiles, never the image."""
    import neuralcodec.models.base as base

    model = _models()["mbt2018-mean"]
    model.update(force=True)
    tiles = CodingOptions(tile_size=64)
    size = (250, 333)
    converted = []

    def spy(convert):
        def run(x):
            converted.append((convert.__name__, x.dtype, tuple(x.shape[-2:])))
            return convert(x)

        return run

    monkeypatch.setattr(base, "pixels_to_unit", spy(base.pixels_to_unit))
    monkeypatch.setattr(base, "unit_to_pixels", spy(base.unit_to_pixels))
    monkeypatch.setattr(base.CompressionModel, "_synthesize", lambda *a: pytest.fail("the whole image was synthesized"))
    pixels = torch.randint(0, 256, (1, 3, *size), dtype=torch.uint8)
    with torch.no_grad():
        out = model.compress(pixels, options=tiles)
        to_pixels = CodingOptions(tile_size=64, pixels_out=True)
        decoded = model.decompress(out["strings"], out["shape"], out["x_size"], options=to_pixels)["x_hat"]
    assert decoded.shape == (1, 3, *size)
    windows = [shape for name, _, shape in converted if name == "pixels_to_unit"]
    tiles = [shape for name, _, shape in converted if name == "unit_to_pixels"]
    assert len(windows) > 1 and len(tiles) > 1
    # Nothing near the image's size: a 64-pixel tile plus its halo (3 latent positions) at most.
    assert all(h <= 160 and w <= 160 for h, w in windows + tiles)


def test_the_codec_codes_an_8_bit_image_over_tiles_as_its_float_tensor():
    from neuralcodec.codec.api import Codec

    model = _models()["mbt2018-mean"]
    model.update(force=True)
    codec = Codec(model)
    before = dict(vars(model))
    image = torch.randint(0, 256, (130, 333, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)).numpy()
    data = codec.encode(image, tile_size=64)
    assert data == codec.encode(torch.from_numpy(image).permute(2, 0, 1).float() / 255, tile_size=64)
    x_hat = codec.decode(data, output="tensor", tile_size=64)
    assert x_hat.dtype == torch.float32 and vars(model) == before  # pixels out was a setting of one call only
    expected = x_hat[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert (codec.decode(data, output="numpy", tile_size=64) == expected).all()
