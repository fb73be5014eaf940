"""neuralcodec.layers: GDN family, masked convolutions, Cheng2020 blocks."""

import pytest
import torch

import reference_modules as ref
from neuralcodec import layers
from neuralcodec.layers import (
    GDN,
    GDN1,
    AttentionBlock,
    MaskedConv2d,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    conv1x1,
    conv3x3,
    subpel_conv3x3,
)


def _random_gdn(cls, channels, inverse, seed):
    torch.manual_seed(seed)
    module = cls(channels, inverse=inverse).double()
    with torch.no_grad():
        module.beta.copy_(0.5 + torch.rand(channels, dtype=torch.float64))
        module.gamma.copy_(torch.rand(channels, channels, dtype=torch.float64) * 0.6 - 0.1)
    return module


def _direct_norm(module, x, power):
    """beta_i + sum_j gamma_ij |x_j|^power, computed position by position in float64."""
    beta = torch.clamp(module.beta, min=module.beta_reparam.lower_bound.bound.item()) ** 2 - 2.0**-36
    gamma = torch.clamp(module.gamma, min=module.gamma_reparam.lower_bound.bound.item()) ** 2 - 2.0**-36
    n, c, h, w = x.shape
    norm = torch.empty_like(x)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                norm[b, :, i, j] = beta + gamma @ (x[b, :, i, j].abs() ** power)
    return norm


@pytest.mark.parametrize("inverse", [False, True], ids=["gdn", "igdn"])
def test_gdn_matches_the_direct_formula(inverse):
    module = _random_gdn(GDN, 5, inverse, seed=1)
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    norm = _direct_norm(module, x, power=2)
    expected = x * norm.sqrt() if inverse else x / norm.sqrt()
    with torch.no_grad():
        torch.testing.assert_close(module(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("inverse", [False, True], ids=["gdn1", "igdn1"])
def test_simplified_gdn_uses_absolute_values_and_no_square_root(inverse):
    module = _random_gdn(GDN1, 5, inverse, seed=2)
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    norm = _direct_norm(module, x, power=1)
    expected = x * norm if inverse else x / norm
    with torch.no_grad():
        torch.testing.assert_close(module(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [GDN, GDN1])
@pytest.mark.parametrize("inverse", [False, True], ids=["forward", "inverse"])
def test_gdn_inference_path_gives_the_training_paths_bits_and_leaves_the_input_alone(cls, inverse):
    """Without autograd GDN scales its norm buffer in place (less peak memory); the
    numbers must be the very same as with autograd, and the input must not change."""
    module = _random_gdn(cls, 6, inverse, seed=3)
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    kept = x.clone()
    tracked = module(x)
    assert tracked.requires_grad
    with torch.no_grad():
        untracked = module(x)
    with torch.inference_mode():
        inference = module(x)
    assert torch.equal(tracked.detach(), untracked) and torch.equal(untracked, inference)
    assert torch.equal(x, kept)


def test_gdn_starts_close_to_the_identity_scaled_by_its_initial_gamma():
    module = GDN(3)
    assert module.beta_reparam(module.beta).tolist() == pytest.approx([1.0] * 3, abs=1e-6)
    torch.testing.assert_close(module.gamma_reparam(module.gamma), 0.1 * torch.eye(3), atol=1e-6, rtol=0)


def test_gdn_gradients_match_finite_differences():
    module = _random_gdn(GDN, 3, False, seed=3)
    x = torch.randn(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))


def test_gdn_state_dict_keys_are_compressais():
    assert list(GDN(4).state_dict()) == [
        "beta",
        "gamma",
        "beta_reparam.pedestal",
        "beta_reparam.lower_bound.bound",
        "gamma_reparam.pedestal",
        "gamma_reparam.lower_bound.bound",
    ]


def test_masked_convolution_masks_of_type_a_hide_the_centre_and_everything_after_it():
    mask = MaskedConv2d(1, 1, kernel_size=5, padding=2, mask_type="A").mask[0, 0]
    assert mask.tolist() == [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]


def test_masked_convolution_masks_of_type_b_keep_the_centre():
    mask = MaskedConv2d(2, 3, kernel_size=3, padding=1, mask_type="B").mask
    assert mask.shape == (3, 2, 3, 3)
    assert bool((mask == torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0]])).all())


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_convolution_output_depends_only_on_already_decoded_positions(mask_type):
    torch.manual_seed(0)
    conv = MaskedConv2d(2, 3, kernel_size=5, padding=2, mask_type=mask_type)
    x = torch.randn(1, 2, 6, 7, requires_grad=True)
    row, col = 3, 4
    conv(x)[0, :, row, col].sum().backward()
    sees = x.grad[0].abs().sum(0) != 0
    for i in range(6):
        for j in range(7):
            causal = i < row or (i == row and (j < col or (mask_type == "B" and j == col)))
            if not causal:
                assert not sees[i, j], (i, j)
    assert sees[row - 1, col] and sees[row, col - 1]
    assert bool(sees[row, col]) == (mask_type == "B")


def test_masked_convolution_leaves_its_weight_untouched_and_gives_masked_taps_no_gradient():
    conv = MaskedConv2d(2, 2, kernel_size=3, padding=1)
    before = conv.weight.detach().clone()
    conv(torch.randn(1, 2, 4, 4)).sum().backward()
    assert torch.equal(conv.weight.detach(), before)
    assert bool((conv.weight.grad[conv.mask == 0] == 0).all())


def test_masked_convolution_rejects_unknown_mask_types():
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2d(1, 1, kernel_size=3, mask_type="C")


def test_cheng2020_helpers_produce_the_documented_shapes():
    x = torch.randn(2, 4, 8, 6)
    assert conv3x3(4, 5)(x).shape == (2, 5, 8, 6)
    assert conv3x3(4, 5, stride=2)(x).shape == (2, 5, 4, 3)
    assert conv1x1(4, 5)(x).shape == (2, 5, 8, 6)
    assert subpel_conv3x3(4, 5, r=2)(x).shape == (2, 5, 16, 12)
    assert ResidualBlock(4, 5)(x).shape == (2, 5, 8, 6)
    assert ResidualBlockWithStride(4, 5)(x).shape == (2, 5, 4, 3)
    assert ResidualBlockUpsample(4, 5)(x).shape == (2, 5, 16, 12)
    assert AttentionBlock(4)(x).shape == (2, 4, 8, 6)


def test_residual_blocks_have_a_skip_convolution_only_when_the_shape_changes():
    assert ResidualBlock(4, 4).skip is None and ResidualBlock(4, 5).skip is not None
    assert ResidualBlockWithStride(4, 4, stride=1).skip is None
    assert ResidualBlockWithStride(4, 4, stride=2).skip is not None
    block = ResidualBlock(3, 3)
    for conv in (block.conv1, block.conv2):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    x = torch.randn(1, 3, 4, 4)
    assert torch.equal(block(x), x)


def test_attention_block_state_dict_keys_are_compressais():
    keys = list(AttentionBlock(4).state_dict())
    assert keys[:6] == [f"conv_a.0.conv.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    assert keys[-2:] == ["conv_b.3.weight", "conv_b.3.bias"]
    assert len(keys) == 6 * 6 + 2


# --- CompressAI interop ------------------------------------------------------------------

LAYER_CASES = [
    "gdn",
    "igdn",
    "gdn1",
    "igdn1",
    "masked_a",
    "masked_b",
    "conv3x3",
    "conv1x1",
    "subpel_conv3x3",
    "residual_block",
    "residual_block_same",
    "residual_block_stride",
    "residual_block_stride1",
    "residual_block_upsample",
    "attention_block",
]


@pytest.mark.parametrize("case", LAYER_CASES)
def test_compressai_layer_state_dicts_load_and_give_the_same_outputs(case):
    module = eval(ref.text(f"{case}/ctor"), vars(layers))
    state = ref.state(f"{case}/state")
    assert list(module.state_dict()) == list(state)
    module.load_state_dict(state)
    with torch.no_grad():
        output = module(ref.tensor(f"{case}/input"))
    torch.testing.assert_close(output, ref.tensor(f"{case}/output"), rtol=1e-6, atol=1e-6)
