"""PSNR and MS-SSIM: known cases, properties, and pytorch-msssim's values.

The reference values were made by ``tests/fixtures/metrics/make_reference.py`` with
pytorch-msssim; these tests only read them.
"""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralcodec.metrics import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_scales, psnr, ssim

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"


def _load_reference_module():
    spec = importlib.util.spec_from_file_location("make_reference", FIXTURES / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _load_reference_module()
VALUES = json.loads((FIXTURES / "reference.json").read_text())["cases"]
CASES = REFERENCE.cases()


def _batch(pixels: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None].to(dtype)


def test_the_weights_are_the_published_ones():
    assert MS_SSIM_WEIGHTS == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    assert math.isclose(sum(MS_SSIM_WEIGHTS), 1.0, abs_tol=1e-3)


# ----------------------------------------------------------------------------- PSNR
def test_psnr_of_a_known_error_is_computed_by_hand():
    a = torch.zeros(1, 3, 4, 4)
    b = torch.full((1, 3, 4, 4), 0.1)
    assert float(psnr(a, b)) == pytest.approx(20.0, abs=1e-5)  # 10 log10(1 / 0.01)
    assert float(psnr(a * 255, b * 255, data_range=255.0)) == pytest.approx(20.0, abs=1e-4)


def test_psnr_averages_per_image_values_not_mses():
    a = torch.zeros(2, 3, 8, 8)
    b = torch.stack([torch.full((3, 8, 8), 0.1), torch.full((3, 8, 8), 0.01)])
    per_image = psnr(a, b, reduction="none")
    assert per_image.shape == (2,)
    assert per_image.tolist() == pytest.approx([20.0, 40.0], abs=1e-4)
    assert float(psnr(a, b)) == pytest.approx(30.0, abs=1e-4)


def test_psnr_of_identical_images_is_infinite():
    x = torch.rand(1, 3, 5, 5)
    assert math.isinf(float(psnr(x, x)))


def test_psnr_is_differentiable():
    a = torch.rand(2, 3, 8, 8, requires_grad=True)
    b = torch.rand(2, 3, 8, 8)
    psnr(a, b).backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


# ------------------------------------------------------------------------- MS-SSIM
@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("even/")])
def test_ms_ssim_matches_pytorch_msssim_when_every_scale_is_even(name):
    a, b = CASES[name]
    x, y = _batch(a), _batch(b)
    expected = VALUES[name]
    assert float(ms_ssim(x, y, data_range=255.0)) == pytest.approx(expected["ms_ssim_255"], abs=1e-6)
    assert float(ms_ssim(x / 255, y / 255)) == pytest.approx(expected["ms_ssim_1"], abs=1e-6)
    assert float(ssim(x, y, data_range=255.0)) == pytest.approx(expected["ssim_255"], abs=1e-5)


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("odd/")])
def test_ms_ssim_differs_from_pytorch_msssim_only_slightly_at_odd_scales(name):
    # pytorch-msssim zero-pads odd sizes before pooling; the reference code replicates.
    a, b = CASES[name]
    x, y = _batch(a), _batch(b)
    expected = VALUES[name]
    assert float(ms_ssim(x, y, data_range=255.0)) == pytest.approx(expected["ms_ssim_255"], abs=2e-3)
    # single-scale SSIM has no pooling, so it still agrees
    assert float(ssim(x, y, data_range=255.0)) == pytest.approx(expected["ssim_255"], abs=1e-5)


def test_float32_gives_the_float64_value_closely():
    a, b = CASES["even/box-blur-3"]
    value32 = float(ms_ssim(_batch(a, torch.float32) / 255, _batch(b, torch.float32) / 255))
    assert value32 == pytest.approx(VALUES["even/box-blur-3"]["ms_ssim_1"], abs=1e-4)


def test_ms_ssim_of_identical_images_is_one_and_the_measure_is_symmetric():
    a, b = CASES["even/pattern-noise"]
    x, y = _batch(a) / 255, _batch(b) / 255
    assert float(ms_ssim(x, x)) == pytest.approx(1.0, abs=1e-12)
    assert float(ms_ssim(x, y)) == pytest.approx(float(ms_ssim(y, x)), abs=1e-12)


def test_ms_ssim_falls_as_noise_grows():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 176, 176, generator=generator, dtype=torch.float64)
    x = torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2)  # some structure
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    values = [float(ms_ssim(x, (x + s * noise).clamp(0, 1))) for s in (0.01, 0.03, 0.1, 0.3)]
    assert values == sorted(values, reverse=True)
    assert 0 <= values[-1] < values[0] < 1


def test_batched_values_equal_one_image_at_a_time():
    a1, b1 = CASES["even/posterize-16"]
    a2, b2 = CASES["even/shift-2px"]
    x = torch.cat([_batch(a1), _batch(a2)]) / 255
    y = torch.cat([_batch(b1), _batch(b2)]) / 255
    per_image = ms_ssim(x, y, reduction="none")
    assert per_image.shape == (2,)
    assert per_image[0].item() == pytest.approx(float(ms_ssim(x[:1], y[:1])), abs=1e-12)
    assert per_image[1].item() == pytest.approx(float(ms_ssim(x[1:], y[1:])), abs=1e-12)
    assert float(ms_ssim(x, y)) == pytest.approx(per_image.mean().item(), abs=1e-12)


def test_ms_ssim_is_differentiable_and_trainable_towards_the_target():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 64, 64)
    x = (target + 0.2 * torch.randn_like(target)).clamp(0, 1).requires_grad_(True)
    loss = 1 - ms_ssim(x, target)
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with torch.no_grad():
        x -= 0.01 * x.grad / x.grad.abs().max()
        assert float(1 - ms_ssim(x, target)) < float(loss)


@pytest.mark.parametrize(
    "side, scales", [(161, 5), (160, 4), (176, 5), (81, 4), (80, 3), (41, 3), (21, 2), (11, 1), (10, 0)]
)
def test_the_number_of_scales_follows_the_window_size(side, scales):
    assert ms_ssim_scales(side, 1000) == scales
    assert ms_ssim_scales(1000, side) == scales


def test_small_images_drop_coarse_scales_and_renormalise_the_weights():
    a, b = CASES["even/box-blur-3"]
    x, y = _batch(a)[..., :64, :64] / 255, _batch(b)[..., :64, :64] / 255
    assert ms_ssim_scales(64, 64) == 3
    weights = MS_SSIM_WEIGHTS[:3]
    explicit = ms_ssim(x, y, weights=[w / sum(weights) for w in weights])
    assert float(ms_ssim(x, y)) == pytest.approx(float(explicit), abs=1e-12)
    with pytest.raises(ValueError, match="at least 161 pixels"):
        ms_ssim(x, y, strict=True)


@pytest.mark.parametrize(
    "a, b, kwargs, message",
    [
        (torch.rand(3, 20, 20), torch.rand(3, 20, 20), {}, r"batches \[B, C, H, W\]"),
        (torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 21), {}, "differ in shape"),
        (torch.rand(1, 3, 8, 30), torch.rand(1, 3, 8, 30), {}, "at least 11x11"),
        (torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 20), {"data_range": 0}, "data_range"),
        (torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 20), {"reduction": "sum"}, "reduction"),
        (torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 20), {"win_size": 4}, "odd"),
        (torch.rand(1, 3, 20, 20), [[0.0]], {}, "torch.Tensor"),
    ],
)
def test_bad_input_raises_a_clear_error(a, b, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ms_ssim(a, b, **kwargs)
