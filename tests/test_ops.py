"""neuralcodec.ops: straight-through rounding, LowerBound, NonNegativeParametrizer."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import reference_modules as ref
from neuralcodec.ops import (
    LowerBound,
    NonNegativeParametrizer,
    compute_padding,
    lower_bound,
    quantize_ste,
)

finite_floats = st.floats(-1e3, 1e3, allow_nan=False, width=32)


def test_quantize_ste_rounds_half_to_even_in_the_forward_pass():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51, 3.7])
    assert quantize_ste(x).tolist() == [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 0.0, -1.0, 4.0]


def test_quantize_ste_has_the_identity_as_its_jacobian():
    x = torch.randn(7, dtype=torch.float64) * 3
    jacobian = torch.autograd.functional.jacobian(quantize_ste, x)
    assert torch.equal(jacobian, torch.eye(7, dtype=torch.float64))


def test_quantize_ste_gradient_of_a_smooth_loss_matches_finite_differences_at_the_rounded_point():
    # d/dx g(ste(x)) = g'(round(x)): the gradient of g taken numerically at round(x).
    def g(v: torch.Tensor) -> torch.Tensor:
        return (torch.sin(v) * v**2).sum()

    x = torch.randn(9, dtype=torch.float64) * 4
    xr = x.clone().requires_grad_(True)
    g(quantize_ste(xr)).backward()
    rounded, eps = torch.round(x), 1e-6
    numeric = torch.stack(
        [(g(rounded + eps * e) - g(rounded - eps * e)) / (2 * eps) for e in torch.eye(9, dtype=torch.float64)]
    )
    torch.testing.assert_close(xr.grad, numeric, rtol=1e-6, atol=1e-6)


def test_lower_bound_gradient_matches_finite_differences_above_the_bound():
    x = (torch.rand(20, dtype=torch.float64) + 0.5).requires_grad_(True)
    bound = torch.tensor([0.25], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: lower_bound(v, bound), (x,))
    module = LowerBound(0.25).double()
    assert torch.autograd.gradcheck(module, (x,))


def test_lower_bound_gradient_matches_finite_differences_of_the_constant_below_the_bound_when_it_pushes_down():
    # Below the bound max(x, b) is constant; a gradient that would push x further down
    # (grad > 0 for descent) is blocked, i.e. equals the true derivative 0.
    x = (torch.rand(20, dtype=torch.float64) - 2.0).requires_grad_(True)
    lower_bound(x, -0.5).backward(torch.ones(20, dtype=torch.float64))
    assert torch.equal(x.grad, torch.zeros(20, dtype=torch.float64))


@given(st.lists(st.tuples(finite_floats, finite_floats), min_size=1, max_size=30), finite_floats)
def test_lower_bound_passes_the_gradient_where_x_is_above_the_bound_or_the_gradient_pulls_x_up(pairs, bound):
    x = torch.tensor([p[0] for p in pairs], requires_grad=True)
    grad = torch.tensor([p[1] for p in pairs])
    out = lower_bound(x, bound)
    assert torch.equal(out, torch.clamp(x.detach(), min=np.float32(bound).item()))
    out.backward(grad)
    keep = (x.detach() >= np.float32(bound)) | (grad < 0)
    assert torch.equal(x.grad, torch.where(keep, grad, torch.zeros_like(grad)))


def test_lower_bound_module_stores_its_bound_as_a_float32_buffer_named_bound():
    module = LowerBound(1e-9)
    assert list(module.state_dict()) == ["bound"]
    assert module.bound.dtype == torch.float32 and module.bound.shape == (1,)
    assert module.bound.item() == np.float32(1e-9)


def test_non_negative_parametrizer_init_is_the_inverse_of_forward_above_the_minimum():
    module = NonNegativeParametrizer(minimum=0.1).double()
    values = torch.rand(50, dtype=torch.float64) * 5 + 0.1
    torch.testing.assert_close(module(module.init(values)), values, rtol=1e-12, atol=1e-12)
    assert bool((module(torch.randn(100, dtype=torch.float64)) >= 0.1 - 1e-6).all())  # float32 bound


def test_non_negative_parametrizer_gradient_matches_finite_differences_above_the_bound():
    module = NonNegativeParametrizer(minimum=1e-6).double()
    x = (torch.rand(10, dtype=torch.float64) + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(module, (x,))


def test_non_negative_parametrizer_state_dict_has_the_pedestal_and_the_bound():
    module = NonNegativeParametrizer()
    assert list(module.state_dict()) == ["pedestal", "lower_bound.bound"]
    assert module.pedestal.item() == 2.0**-36


def test_compute_padding_centres_the_image_in_a_multiple_of_min_div():
    pad, unpad = compute_padding(67, 93, min_div=64)
    assert pad == (17, 18, 30, 31) and unpad == (-17, -18, -30, -31)
    x = torch.randn(1, 3, 67, 93)
    padded = torch.nn.functional.pad(x, pad)
    assert padded.shape[-2:] == (128, 128)
    assert torch.equal(torch.nn.functional.pad(padded, unpad), x)
    assert compute_padding(64, 64, min_div=64) == ((0, 0, 0, 0), (0, 0, 0, 0))
    with pytest.raises(ValueError):
        compute_padding(10, 10, out_h=30, min_div=16)


# --- CompressAI interop ------------------------------------------------------------------


def test_lower_bound_matches_compressai_values_and_gradients():
    module = LowerBound(0.3)
    module.load_state_dict(ref.state("lower_bound/state"))
    x = ref.tensor("lower_bound/input").requires_grad_(True)
    out = module(x)
    out.backward(ref.tensor("lower_bound/grad_output"))
    assert torch.equal(out, ref.tensor("lower_bound/output"))
    assert torch.equal(x.grad, ref.tensor("lower_bound/grad_input"))


def test_non_negative_parametrizer_matches_compressai_values_and_gradients():
    module = NonNegativeParametrizer(minimum=1e-6)
    module.load_state_dict(ref.state("nonneg/state"))
    x = ref.tensor("nonneg/input").requires_grad_(True)
    out = module(x)
    out.backward(ref.tensor("nonneg/grad_output"))
    torch.testing.assert_close(out, ref.tensor("nonneg/output"), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x.grad, ref.tensor("nonneg/grad_input"), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        module.init(ref.tensor("nonneg/input").abs()), ref.tensor("nonneg/init"), rtol=1e-6, atol=1e-6
    )


def test_quantize_ste_matches_compressai():
    assert torch.equal(quantize_ste(ref.tensor("quantize_ste/input")), ref.tensor("quantize_ste/output"))
