"""neuralcodec.losses, .optimizers, .typing and .version: what CompressAI's suite does not check."""

import math
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from neuralcodec.losses import RateDistortionLoss, UnknownMetricError
from neuralcodec.losses.utils import compute_rate_loss
from neuralcodec.optimizers import net_aux_optimizer, net_optimizer


def _output(batch=2, size=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, size, size, generator=gen)
    x_hat = (x + 0.05 * torch.randn(x.shape, generator=gen)).requires_grad_(True)
    likelihoods = {
        "y": torch.rand(batch, 4, size // 4, size // 4, generator=gen).clamp_min(1e-3),
        "hyper": {"z": torch.rand(batch, 2, 2, 2, generator=gen).clamp_min(1e-3)},
    }
    return {"x_hat": x_hat, "likelihoods": likelihoods}, x


def _bits(likelihoods):
    return sum(float(-torch.log2(t).sum()) for t in (likelihoods["y"], likelihoods["hyper"]["z"]))


def test_the_loss_gives_compressais_keys_and_the_trainers_with_the_same_values():
    output, x = _output()
    terms = RateDistortionLoss(lmbda=0.02)(output, x)
    expected_bpp = _bits(output["likelihoods"]) / (2 * 32 * 32)
    expected_mse = float(((output["x_hat"].detach() - x) ** 2).mean())
    assert {"loss", "bpp_loss", "mse_loss", "bpp", "mse", "psnr"} <= set(terms)
    assert float(terms["bpp_loss"]) == pytest.approx(expected_bpp, rel=1e-5)
    assert float(terms["mse_loss"].detach()) == pytest.approx(expected_mse, rel=1e-5)
    assert terms["bpp"] is terms["bpp_loss"] and terms["mse"] is terms["mse_loss"]
    assert float(terms["psnr"]) == pytest.approx(-10 * math.log10(expected_mse), rel=1e-5)
    assert float(terms["loss"].detach()) == pytest.approx(0.02 * 255**2 * expected_mse + expected_bpp, rel=1e-5)
    terms["loss"].backward()
    assert output["x_hat"].grad is not None


def test_return_type_picks_one_term_and_is_checked_when_the_loss_is_made():
    output, x = _output()
    full = RateDistortionLoss()(output, x)
    only = RateDistortionLoss(return_type="bpp_loss")(output, x)
    assert isinstance(only, torch.Tensor) and only.dim() == 0
    assert float(only) == pytest.approx(float(full["bpp_loss"]))
    with pytest.raises(ValueError, match="return_type"):
        RateDistortionLoss(return_type="ms_ssim_loss")  # not a term of the mse metric


def test_an_unknown_metric_is_both_a_value_error_and_compressais_not_implemented_error():
    with pytest.raises(NotImplementedError, match="metric"):
        RateDistortionLoss(metric="psnr")
    assert issubclass(UnknownMetricError, ValueError)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lambda"):
            RateDistortionLoss(lmbda=bad)


def test_the_ms_ssim_metric_reports_the_similarity_under_both_names():
    output, x = _output(batch=1, size=64)
    terms = RateDistortionLoss(lmbda=3.0, metric="ms-ssim")(output, x)
    assert terms["ms_ssim_loss"] is terms["ms_ssim"]
    similarity = float(terms["ms_ssim"])
    assert 0.0 < similarity < 1.0
    assert float(terms["loss"]) == pytest.approx(3.0 * (1 - similarity) + float(terms["bpp_loss"]), rel=1e-5)


def test_a_lambda_per_image_weighs_each_image_by_its_own_lambda():
    output, x = _output(batch=2)
    criterion = RateDistortionLoss()
    lambdas = torch.tensor([0.001, 0.1])
    terms = criterion(output, x, lambdas)
    per_image = []
    for i in range(2):
        one = {"x_hat": output["x_hat"][i : i + 1], "likelihoods": {
            "y": output["likelihoods"]["y"][i : i + 1], "z": output["likelihoods"]["hyper"]["z"][i : i + 1]}}
        per_image.append(float(criterion(one, x[i : i + 1], float(lambdas[i]))["loss"]))
    assert float(terms["loss"]) == pytest.approx(sum(per_image) / 2, rel=1e-5)
    same = criterion(output, x, torch.tensor([0.02, 0.02]))
    assert float(same["loss"]) == pytest.approx(float(criterion(output, x, 0.02)["loss"]), rel=1e-5)


def test_compute_rate_loss_splits_bits_by_latent():
    lik = {"y": torch.full((2, 3), 0.5), "z": torch.full((2, 1), 0.25)}
    out = compute_rate_loss(lik, batch_size=2, bit_per_bpp=4)
    assert float(out["bit_y_loss"]) == pytest.approx(3.0) and float(out["bit_z_loss"]) == pytest.approx(2.0)
    assert float(out["bit_loss"]) == pytest.approx(5.0) and float(out["bpp_loss"]) == pytest.approx(1.25)


def test_point_cloud_names_raise_an_import_error_that_says_why():
    import neuralcodec.datasets
    import neuralcodec.losses
    import neuralcodec.transforms

    for module, name in ((neuralcodec.losses, "chamfer_distance"), (neuralcodec.datasets, "ModelNetDataset"),
                         (neuralcodec.transforms, "RandomSample")):
        with pytest.raises(ImportError, match="does not implement"):
            getattr(module, name)
    with pytest.raises(ImportError, match="point-cloud"):
        from neuralcodec.datasets import S3disDataset  # noqa: F401


class _WithQuantiles(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bottleneck = nn.Module()
        self.bottleneck.quantiles = nn.Parameter(torch.zeros(3, 1, 3))
        self.frozen = nn.Parameter(torch.zeros(1), requires_grad=False)


def test_net_aux_optimizer_puts_the_quantiles_apart():
    net = _WithQuantiles()
    conf = {"net": {"type": "Adam", "lr": 1e-4}, "aux": {"type": "SGD", "lr": 1e-3}}
    optimizers = net_aux_optimizer(net, conf)
    assert isinstance(optimizers["net"], torch.optim.Adam) and isinstance(optimizers["aux"], torch.optim.SGD)
    aux_params = optimizers["aux"].param_groups[0]["params"]
    net_params = optimizers["net"].param_groups[0]["params"]
    assert len(aux_params) == 1 and aux_params[0] is net.bottleneck.quantiles
    assert {id(p) for p in net_params} == {id(net.conv.weight), id(net.conv.bias)}
    assert optimizers["net"].param_groups[0]["lr"] == 1e-4
    assert len(net_optimizer(net, conf)["net"].param_groups[0]["params"]) == 3
    with pytest.raises(ValueError, match="unknown optimizer"):
        net_aux_optimizer(net, {"net": {"type": "Adamm", "lr": 1}, "aux": {"type": "Adam"}})
    with pytest.raises(ValueError, match="aux"):
        net_aux_optimizer(net, {"net": {"type": "Adam"}})


def test_the_version_has_one_source_and_compressais_form():
    import neuralcodec
    from neuralcodec.version import __version__

    assert __version__ == neuralcodec.__version__
    assert re.fullmatch(r"([0-9]+)\.([0-9]+)\.([0-9]+)([a-z]+[0-9]+)?", __version__)


def test_the_compat_modules_do_not_import_torchvision():
    code = ("import sys, neuralcodec.datasets, neuralcodec.transforms, neuralcodec.losses, "
            "neuralcodec.optimizers, neuralcodec.typing; print('torchvision' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
