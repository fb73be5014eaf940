"""CompressAI's layers and module paths: scripting of GDN/GDN1/LowerBound, the basic layers,
spectral convolutions, QReLU's surrogate gradient, and models.utils' helpers."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from neuralcodec.layers import (
    GDN,
    GDN1,
    CheckerboardMaskedConv2d,
    Gain,
    Interleave,
    Lambda,
    MaskedConv2d,
    NamedLayer,
    QReLU,
    Reshape,
    SpectralConv2d,
    SpectralConvTranspose2d,
    Transpose,
)
from neuralcodec.ops import LowerBound, NonNegativeParametrizer


def script(module: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated upstream
        return torch.jit.script(module)


@pytest.mark.parametrize(
    "module",
    [GDN(6), GDN(6, inverse=True), GDN1(6), GDN1(6, inverse=True), NonNegativeParametrizer(0.1), LowerBound(0.3)],
    ids=["gdn", "igdn", "gdn1", "igdn1", "parametrizer", "lower_bound"],
)
def test_gdn_and_its_parts_script_and_compute_what_the_eager_modules_do(module):
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 7)
    scripted = script(module)
    assert torch.equal(scripted(x), module(x))
    with torch.no_grad():  # the in-place inference branch too
        assert torch.equal(scripted(x), module(x))


def test_the_eager_lower_bound_keeps_its_pass_through_gradient():
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    LowerBound(0.5)(x).backward(torch.tensor([-1.0, 1.0, 1.0]))
    # below the bound: passed when it points up (a negative gradient), blocked otherwise
    assert x.grad.tolist() == [-1.0, 0.0, 1.0]


def test_gdn_refuses_a_tensor_that_is_not_four_dimensional_in_eager_and_scripted_form():
    for module in (GDN(3), script(GDN(3))):
        with pytest.raises((ValueError, torch.jit.Error), match=r"\[N, C, H, W\]"):
            module(torch.rand(3, 4))


@pytest.mark.parametrize("cls", [MaskedConv2d, CheckerboardMaskedConv2d])
def test_masked_convolutions_refuse_scripting_with_a_reason_as_compressai_does(cls):
    with pytest.raises(RuntimeError, match="not scriptable"):
        script(cls(3, 3, 3, padding=1))


def test_basic_layers():
    x = torch.arange(24.0).reshape(2, 6, 2, 1)
    assert torch.equal(Lambda(torch.neg)(x), -x) and "func=" in repr(Lambda(torch.neg))
    assert NamedLayer("here")(x) is x and repr(NamedLayer("here")) == "NamedLayer(name=here)"
    assert Reshape((3, 4)).forward(x).shape == (2, 3, 4)
    with pytest.raises(RuntimeError, match=r"Cannot reshape input \(2, 6, 2, 1\) to \(2, 5\)"):
        Reshape((5,))(x)
    transposed = Transpose(1, 2)(x)
    assert transposed.shape == (2, 2, 6, 1) and transposed.is_contiguous()
    shuffled = Interleave(groups=2)(torch.arange(6.0).reshape(1, 6, 1, 1))
    assert shuffled.flatten().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    gain = Gain((1, 6, 1, 1), factor=2.0)
    with torch.no_grad():
        gain.gain[0, 1] = 3.0
    out = gain(x)
    assert torch.equal(out[:, 1], 6.0 * x[:, 1]) and torch.equal(out[:, 0], 2.0 * x[:, 0])


@pytest.mark.parametrize(
    ("cls", "args"),
    [(SpectralConv2d, dict(stride=2, padding=2)), (SpectralConvTranspose2d, dict(stride=2, padding=2, output_padding=1))],
)
def test_spectral_convolutions_are_ordinary_convolutions_with_a_kernel_stored_as_its_spectrum(cls, args):
    torch.manual_seed(0)
    layer = cls(4, 6, 5, **args)
    assert set(layer.state_dict()) == {"weight_transformed", "bias"}
    assert layer.weight_transformed.is_complex() and layer.weight_transformed.shape[-1] == 5 // 2 + 1
    plain_cls = nn.Conv2d if cls is SpectralConv2d else nn.ConvTranspose2d
    plain = plain_cls(4, 6, 5, **args)
    with torch.no_grad():
        plain.weight.copy_(layer.weight)
        plain.bias.copy_(layer.bias)
    x = torch.rand(1, 4, 8, 8)
    assert torch.allclose(layer(x), plain(x), atol=1e-6)
    # the parameters the optimiser sees are the spectrum's, and gradients reach them
    assert {name for name, _ in layer.named_parameters()} == {"weight_transformed", "bias"}
    layer(x).square().sum().backward()
    assert layer.weight_transformed.grad is not None and layer.weight_transformed.grad.abs().sum() > 0


def test_qrelu_clamps_and_damps_the_gradient_outside_the_range():
    x = torch.tensor([-100.0, 0.5, 100.0, 300.0], requires_grad=True)
    y = QReLU.apply(x, 8, 2.0)
    assert y.tolist() == [0.0, 0.5, 100.0, 255.0]
    y.backward(torch.ones(4))
    alpha = 0.9943258522851727

    def damped(v):
        return math.exp(-(alpha**2.0) * abs(2.0 * v / 255 - 1) ** 2.0)

    expected = [damped(-100.0), 1.0, 1.0, damped(300.0)]
    assert x.grad.tolist() == pytest.approx(expected, rel=1e-6)


def test_compressai_models_utils():
    from neuralcodec.models.utils import (
        conv,
        deconv,
        find_named_buffer,
        gaussian_blur,
        gaussian_kernel2d,
        meshgrid2d,
        remap_old_keys,
        update_registered_buffers,
    )

    assert conv(3, 8)(torch.rand(1, 3, 16, 16)).shape == (1, 8, 8, 8)
    assert deconv(8, 3)(torch.rand(1, 8, 8, 8)).shape == (1, 3, 16, 16)
    holder = nn.Module()
    holder.register_buffer("table", torch.zeros(0, dtype=torch.int32))
    state = {"x.table": torch.ones(4, 3, dtype=torch.int32)}
    update_registered_buffers(holder, "x", ["table"], state)
    assert find_named_buffer(holder, "table").shape == (4, 3)
    with pytest.raises(ValueError):
        update_registered_buffers(holder, "x", ["table"], state, policy="grow")
    remapped = remap_old_keys("eb", {"eb._bias0": torch.zeros(1), "eb._matrix12": torch.zeros(1), "x._bias0": 0})
    assert list(remapped) == ["eb.biases.0", "eb.matrices.12", "x._bias0"]
    kernel = gaussian_kernel2d(5, 1.0, torch.device("cpu"), torch.float32)
    assert kernel.shape == (5, 5) and float(kernel.sum()) == pytest.approx(1.0)
    flat = torch.full((1, 2, 6, 6), 0.25)
    assert torch.allclose(gaussian_blur(flat, kernel_size=5, sigma=1.0), flat)
    with pytest.raises(RuntimeError):
        gaussian_blur(flat)
    grid = meshgrid2d(1, 2, 6, 6, torch.device("cpu"))
    resampled = nn.functional.grid_sample(flat + torch.rand(1, 2, 6, 6), grid, align_corners=False)
    assert grid.shape == (1, 6, 6, 2) and resampled.shape == (1, 2, 6, 6)


def test_compressai_module_paths_are_our_one_implementation():
    from neuralcodec.models import google, hyperprior, sensetime, waseda
    from neuralcodec.models.base import SCALES_LEVELS, SimpleVAECompressionModel, get_scale_table
    from neuralcodec.models.simple_vae import SimpleVAECompressionModel as Ours

    assert google.MeanScaleHyperprior is hyperprior.MeanScaleHyperprior
    assert waseda.Cheng2020Attention.__module__ == "neuralcodec.models.cheng2020"
    assert sensetime.Elic2022Chandelier.__module__ == "neuralcodec.models.elic"
    assert SimpleVAECompressionModel is Ours and get_scale_table().numel() == SCALES_LEVELS
    assert issubclass(google.FactorizedPriorReLU, google.FactorizedPrior)


def test_compression_model_takes_compressai_deprecated_arguments_with_a_warning():
    from neuralcodec.entropy_models import EntropyBottleneck
    from neuralcodec.models import CompressionModel

    with pytest.warns(DeprecationWarning, match="entropy_bottleneck_channels"):
        model = CompressionModel(entropy_bottleneck_channels=4)
    assert isinstance(model.entropy_bottleneck, EntropyBottleneck) and model.entropy_bottleneck.channels == 4
    with pytest.warns(DeprecationWarning, match="init_weights"):
        CompressionModel(init_weights=True)


def test_compressai_helper_functions_of_the_layers_and_ops():
    from neuralcodec.layers.layers import ramp
    from neuralcodec.ops.bound_ops import lower_bound_bwd, lower_bound_fwd

    assert ramp(1, 4, 4).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert ramp(1, 1000, 4, method="log").tolist() == pytest.approx([1.0, 10.0, 100.0, 1000.0])
    with pytest.raises(ValueError, match="linear"):
        ramp(1, 2, 3, method="cubic")
    x, bound = torch.tensor([0.0, 2.0]), torch.tensor([1.0])
    assert lower_bound_fwd(x, bound).tolist() == [1.0, 2.0]
    grad, none = lower_bound_bwd(x, bound, torch.tensor([1.0, 1.0]))
    assert grad.tolist() == [0.0, 1.0] and none is None
