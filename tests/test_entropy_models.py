"""neuralcodec.entropy_models: EntropyBottleneck and GaussianConditional.

Tests marked ``tables`` build CDF tables (or the scale table) through torch's float
kernels and compare them with the golden or CompressAI's recorded ones; ``.ci/run`` runs
them again (``-m tables``) under every ATen CPU capability and 1 and 2 threads.
"""

import copy
import functools
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_modules as ref
from neuralcodec import entropy_models
from neuralcodec.ans import StreamError
from neuralcodec.entropy_models import (
    DEFAULT_SCALE_TABLE,
    EntropyBottleneck,
    GaussianConditional,
    get_scale_table,
)

TABLE_BUFFERS = ("_offset", "_quantized_cdf", "_cdf_length")


def _bottleneck(channels=4, seed=0, **kwargs):
    """An EntropyBottleneck with random (not initial) parameters and channel widths
    spanning about two orders of magnitude, its quantiles fitted."""
    torch.manual_seed(seed)
    eb = EntropyBottleneck(channels, **kwargs)
    with torch.no_grad():
        for m in eb.matrices:
            m.add_(torch.randn(m.shape) * 0.3)
        eb.matrices[0].add_(torch.linspace(-2.5, 1.5, channels).view(-1, 1, 1))
        for p in list(eb.biases) + list(eb.factors):
            p.copy_(torch.randn(p.shape) * 0.5)
    eb.fit_quantiles()
    return eb.eval()


def _latents(eb, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = eb.quantiles.detach()[:, 0]
    view = (1, eb.channels) + (1,) * (len(shape) - 2)
    width = ((q[:, 2] - q[:, 0]) / 8).view(view)
    return torch.randn(shape, generator=g) * width + q[:, 1].view(view)


# --- EntropyBottleneck -----------------------------------------------------------------


def test_entropy_bottleneck_state_dict_keys_are_compressais():
    keys = list(EntropyBottleneck(2).state_dict())
    assert keys == (
        ["quantiles", "_offset", "_quantized_cdf", "_cdf_length", "target"]
        + ["likelihood_lower_bound.bound"]
        + [f"matrices.{i}" for i in range(5)]
        + [f"biases.{i}" for i in range(5)]
        + [f"factors.{i}" for i in range(4)]
    )


def test_entropy_bottleneck_likelihoods_over_the_integer_grid_sum_to_one_minus_the_tail_mass():
    tail_mass = 1e-3
    eb = _bottleneck(channels=3, tail_mass=tail_mass).double()
    eb.update()
    q = eb.quantiles.detach()[:, 0]
    span = (q[:, 2] - q[:, 0]).max().item()
    grid = torch.arange(math.floor(q[:, 0].min() - 50 * span), math.ceil(q[:, 2].max() + 50 * span) + 1)
    with torch.no_grad():
        # Over the whole integer grid (around any offset) the masses telescope to 1.
        likelihood = eb._likelihood((grid + 0.25).double().expand(3, 1, -1))[0][:, 0]
        torch.testing.assert_close(likelihood.sum(-1), torch.ones(3, dtype=torch.float64), atol=1e-6, rtol=0)
        # The mass between the quantiles is 1 - tail_mass.
        inner = torch.sigmoid(eb._logits_cumulative(q[:, None, :].clone(), stop_gradient=True)[:, 0])
        torch.testing.assert_close(inner[:, 2] - inner[:, 0], torch.full((3,), 1 - tail_mass, dtype=torch.float64))
        # The integer bins of the CDF table hold at least that mass: the rest is escaped.
        for c in range(3):
            first = int(eb._offset[c])
            k = torch.arange(first, first + int(eb._cdf_length[c]) - 2, dtype=torch.float64)
            support = eb._likelihood((k + q[c, 1]).expand(3, 1, -1))[0][c, 0].sum().item()
            assert 1 - tail_mass - 1e-7 <= support <= 1.0


def test_entropy_bottleneck_fit_quantiles_solves_for_the_targets_and_zeroes_the_aux_loss():
    eb = _bottleneck(channels=5)
    logits = eb._logits_cumulative(eb.quantiles, stop_gradient=True).detach()
    torch.testing.assert_close(logits, eb.target.expand_as(logits), rtol=1e-3, atol=1e-3)
    assert eb.loss().item() < 0.01
    untrained = EntropyBottleneck(5)
    assert untrained.loss().item() > 10


def test_entropy_bottleneck_aux_loss_trains_the_quantiles_towards_the_bisection_result():
    eb = _bottleneck(channels=2)
    fitted = eb.quantiles.detach().clone()
    with torch.no_grad():
        eb.quantiles.add_(torch.tensor([-1.0, 0.5, 1.0]))
    optimizer = torch.optim.Adam([eb.quantiles], lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        eb.loss().backward()
        optimizer.step()
    torch.testing.assert_close(eb.quantiles.detach(), fitted, atol=0.1, rtol=0)
    for p in list(eb.matrices) + list(eb.biases) + list(eb.factors):
        assert p.grad is None or not p.grad.any()


def test_entropy_bottleneck_training_forward_adds_uniform_noise_and_evaluation_rounds_around_the_medians():
    eb = _bottleneck(channels=3)
    x = _latents(eb, (2, 3, 4, 4))
    noisy, _ = eb(x, training=True)
    assert bool(((noisy - x).abs() <= 0.5).all()) and not torch.equal(noisy, x)
    rounded, likelihoods = eb(x, training=False)
    medians = eb.quantiles.detach()[:, 0, 1].view(1, 3, 1, 1)
    torch.testing.assert_close(rounded, torch.round(x - medians) + medians)
    assert likelihoods.shape == x.shape and bool(((likelihoods > 0) & (likelihoods <= 1)).all())


def test_likelihoods_are_float32_and_unchanged_under_bfloat16_autocast():
    """Mixed-precision training runs the transforms in bfloat16; the entropy models must
    still see float32 (a bfloat16 latent near 100 has a step of 0.5)."""
    eb = _bottleneck(channels=3)
    x = _latents(eb, (2, 3, 4, 4))
    gc = GaussianConditional(None)
    scales, means = torch.rand(2, 3, 4, 4) * 3 + 0.2, torch.randn(2, 3, 4, 4) * 50
    y = means + torch.randn(2, 3, 4, 4)
    expected_eb = eb(x, training=False)
    expected_gc = gc(y, scales, means, training=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got_eb = eb(x.bfloat16().float(), training=False)
        got_gc = gc(y.bfloat16(), scales.bfloat16(), means.bfloat16(), training=False)
        plain_gc = gc(y.bfloat16().float(), scales.bfloat16().float(), means.bfloat16().float(), training=False)
    for got in got_eb + got_gc:
        assert got.dtype == torch.float32
    # Inside autocast the same numbers as outside it, for the same (bfloat16-valued) inputs.
    outside_gc = gc(y.bfloat16().float(), scales.bfloat16().float(), means.bfloat16().float(), training=False)
    outside_eb = eb(x.bfloat16().float(), training=False)
    for got, expected in zip(got_gc + got_eb + plain_gc, outside_gc + outside_eb + outside_gc):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # bfloat16 itself loses the latents' fractional bits: the reason for running in float32.
    assert not torch.equal(y.bfloat16().float(), y) and expected_gc[0].dtype == expected_eb[0].dtype == torch.float32


def test_entropy_bottleneck_update_reports_whether_it_built_the_tables():
    eb = _bottleneck(channels=3)
    assert eb.update() is True
    assert eb.update() is False
    assert eb.update(force=True) is True
    assert eb._quantized_cdf.dtype == eb._offset.dtype == eb._cdf_length.dtype == torch.int32
    assert eb._quantized_cdf.shape == (3, int(eb._cdf_length.max()))


def test_entropy_bottleneck_update_can_fit_the_quantiles_first():
    eb = EntropyBottleneck(2)
    with torch.no_grad():
        eb.matrices[0].add_(2.0)  # narrower than the initial quantiles
    reference = copy.deepcopy(eb)
    assert eb.update(update_quantiles=True) is True
    assert eb.loss().item() < 0.01
    reference.fit_quantiles()
    reference.update()
    for name in TABLE_BUFFERS:
        assert torch.equal(getattr(eb, name), getattr(reference, name))


def test_compress_before_update_raises_a_clear_error():
    eb = EntropyBottleneck(2)
    with pytest.raises(ValueError, match=r"update\(\)"):
        eb.compress(torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match=r"update\(\)"):
        eb.decompress([b"\0" * 8], (3, 3))
    gc = GaussianConditional()
    with pytest.raises(ValueError, match=r"update\(\)"):
        gc.compress(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.int32))


def test_entropy_bottleneck_compress_then_decompress_returns_the_rounded_values_exactly():
    eb = _bottleneck(channels=4)
    eb.update()
    x = _latents(eb, (3, 4, 5, 6), seed=1)
    x[0, 0, 0, 0] = 1e6
    x[1, 3, 4, 5] = -1e6
    x[2, 2, 2, 2] = 2.0**30
    strings = eb.compress(x)
    assert len(strings) == 3 and all(isinstance(s, bytes) for s in strings)
    expected, _ = eb(x, training=False)
    assert torch.equal(eb.decompress(strings, x.shape[2:]), expected.detach())


@settings(max_examples=25)
@given(
    st.integers(1, 3),
    st.lists(st.integers(1, 5), min_size=0, max_size=2),
    st.floats(0.01, 1e4),
    st.integers(0, 2**31 - 1),
)
def test_entropy_bottleneck_round_trips_any_batch_shape_and_scale(batch, spatial, scale, seed):
    eb = _BOTTLENECK
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, eb.channels, *spatial), generator=g) * scale
    strings = eb.compress(x)
    expected, _ = eb(x, training=False)
    assert torch.equal(eb.decompress(strings, spatial), expected.detach())


_BOTTLENECK = _bottleneck(channels=3, seed=5)
_BOTTLENECK.update()


def test_entropy_bottleneck_bits_are_close_to_the_information_content():
    eb = _bottleneck(channels=8, seed=3)
    eb.update()
    x = _latents(eb, (2, 8, 16, 16), seed=2)
    _, likelihoods = eb(x, training=False)
    strings = eb.compress(x)
    for i, string in enumerate(strings):
        estimate = -torch.log2(likelihoods[i]).sum().item()
        actual = 8 * len(string)
        assert estimate > 500
        assert abs(actual - estimate) <= 0.01 * estimate + 96, (actual, estimate)


@pytest.mark.tables
@pytest.mark.parametrize("method", entropy_models.TABLE_METHODS)
def test_entropy_bottleneck_tables_follow_the_quantiles_in_both_constructions(method):
    eb = _bottleneck(channels=4, seed=4)
    eb.update(method=method)
    q = eb.quantiles.detach()[:, 0]
    minima = torch.ceil(q[:, 1] - q[:, 0]).int().clamp(min=0)
    maxima = torch.ceil(q[:, 2] - q[:, 1]).int().clamp(min=0)
    assert torch.equal(eb._offset, -minima)
    assert torch.equal(eb._cdf_length, minima + maxima + 3)
    assert len(set(eb._cdf_length.tolist())) > 1
    for row, length in zip(eb._quantized_cdf, eb._cdf_length.tolist()):
        cdf = row[:length]
        assert cdf[0] == 0 and cdf[-1] == 2**16 and bool((cdf[1:] > cdf[:-1]).all())
        assert bool((row[length:] == 0).all())


def test_entropy_bottleneck_decompress_rejects_a_corrupted_string():
    eb = _BOTTLENECK
    x = torch.randn(1, 3, 4, 4)
    (string,) = eb.compress(x)
    with pytest.raises(StreamError):
        eb.decompress([string[:-4]], (4, 4))
    with pytest.raises(StreamError):
        eb.decompress([string + b"\0\0\0\0"], (4, 4))


def test_entropy_bottleneck_state_dict_loads_into_a_fresh_module_with_plain_load_state_dict():
    source = _bottleneck(channels=3, seed=6)
    source.update()
    x = _latents(source, (2, 3, 4, 4))
    # Nested in a container, as a model would hold it.
    target = torch.nn.Sequential(torch.nn.Identity(), EntropyBottleneck(3))
    target.load_state_dict(torch.nn.Sequential(torch.nn.Identity(), source).state_dict())
    for name in TABLE_BUFFERS:
        assert torch.equal(getattr(target[1], name), getattr(source, name))
    assert target[1].update() is False
    assert target[1].compress(x) == source.compress(x)


def test_entropy_bottleneck_state_dict_replaces_tables_built_by_update():
    source = _bottleneck(channels=3, seed=7)
    source.update()
    target = EntropyBottleneck(3)
    target.update()
    assert target._quantized_cdf.shape != source._quantized_cdf.shape
    target.load_state_dict(source.state_dict())
    x = _latents(source, (1, 3, 4, 4))
    assert target.compress(x) == source.compress(x)


def test_entropy_bottleneck_loads_the_parameter_names_of_old_compressai_checkpoints():
    source = _bottleneck(channels=2, seed=8)
    state = source.state_dict()
    old = {}
    for key, value in state.items():
        for new, legacy in (("matrices.", "_matrix"), ("biases.", "_bias"), ("factors.", "_factor")):
            if key.startswith(new):
                key = legacy + key[len(new) :]
        old[key] = value
    assert "_matrix0" in old and "_factor3" in old
    target = EntropyBottleneck(2)
    target.load_state_dict(old)
    assert torch.equal(target.matrices[0], source.matrices[0])
    assert torch.equal(target.factors[3], source.factors[3])


def test_cached_coder_tables_are_rebuilt_when_the_buffers_change():
    eb = _bottleneck(channels=2, seed=9)
    eb.update()
    x = _latents(eb, (1, 2, 8, 8))
    before = eb.compress(x)
    other = _bottleneck(channels=2, seed=10)
    other.update()
    eb.load_state_dict(other.state_dict())  # in-place copies into the same buffers
    assert eb.compress(x) == other.compress(x) != before
    with torch.no_grad():
        eb.quantiles.mul_(0.5)
    eb.update(force=True)
    assert torch.equal(eb.decompress(eb.compress(x), (8, 8)), eb(x, training=False)[0].detach())


def test_entropy_models_pickle_and_deepcopy_after_coding():
    eb = _BOTTLENECK
    x = torch.randn(1, 3, 2, 2)
    strings = eb.compress(x)
    for clone in (copy.deepcopy(eb), pickle.loads(pickle.dumps(eb))):
        assert clone.compress(x) == strings


def test_entropy_models_refuse_coders_and_precisions_they_cannot_honour():
    with pytest.raises(ValueError, match="ans"):
        EntropyBottleneck(2, entropy_coder="rangecoder")
    with pytest.raises(ValueError, match="16"):
        GaussianConditional(entropy_coder_precision=12)


# --- GaussianConditional ---------------------------------------------------------------


@pytest.mark.tables
def test_gaussian_conditional_default_scale_table_has_64_log_spaced_scales_from_0_11_to_256():
    gc = GaussianConditional()
    table = gc.scale_table
    assert table.shape == (64,) and table.dtype == torch.float32
    assert table[0].item() == pytest.approx(0.11) and table[-1].item() == pytest.approx(256)
    ratios = (table[1:] / table[:-1]).double()
    assert float(ratios.max() - ratios.min()) < 1e-5
    assert torch.equal(table, get_scale_table())
    assert tuple(table.tolist()) == DEFAULT_SCALE_TABLE
    assert gc.tail_mass == 1e-9 and gc.scale_bound.item() == pytest.approx(0.11)


def test_gaussian_conditional_state_dict_keys_are_compressais():
    assert list(GaussianConditional().state_dict()) == [
        "_offset",
        "_quantized_cdf",
        "_cdf_length",
        "scale_table",
        "scale_bound",
        "likelihood_lower_bound.bound",
        "lower_bound_scale.bound",
    ]


def test_gaussian_conditional_likelihoods_over_the_integer_grid_sum_to_one_minus_the_tail_mass():
    tail_mass = 1e-3
    gc = GaussianConditional([0.3, 1.0, 4.0, 30.0], tail_mass=tail_mass).double()
    gc.update()
    for row, scale in enumerate(gc.scale_table.tolist()):
        grid = torch.arange(-2000, 2001, dtype=torch.float64)
        likelihood = gc._likelihood(grid + 0.3, torch.tensor(scale, dtype=torch.float64), torch.tensor(0.3))
        assert likelihood.sum().item() == pytest.approx(1.0, abs=1e-9)
        center = -int(gc._offset[row])
        inner = likelihood[2000 - center : 2000 + center + 1].sum().item()
        assert 1 - tail_mass <= inner <= 1 - tail_mass + 2 * tail_mass
        # The table's escape bin carries about the tail mass, the rest the Gaussian.
        cdf = gc._quantized_cdf[row, : int(gc._cdf_length[row])]
        escape = (cdf[-1] - cdf[-2]).item() / 2**16
        assert escape <= 2 * tail_mass + 2**-15


def test_gaussian_conditional_ste_training_outputs_are_rounded_with_noisy_likelihoods():
    """Mixed quantization: rounded outputs around the means, identity gradient to the
    inputs, and the same likelihoods (of the noisy values) as the default."""
    gc = GaussianConditional()
    gc.train()
    y = (torch.randn(2, 3, 4, 4) * 4).requires_grad_(True)
    scales, means = torch.rand(2, 3, 4, 4) + 0.5, torch.randn(2, 3, 4, 4)
    torch.manual_seed(7)
    noisy, likelihood_noise = gc(y, scales, means)
    gc.training_outputs = "ste"
    torch.manual_seed(7)
    rounded, likelihood_ste = gc(y, scales, means)
    assert torch.equal(likelihood_ste, likelihood_noise)
    assert not torch.equal(rounded, noisy)
    assert torch.equal(rounded.detach(), torch.round(y.detach() - means) + means)
    (grad,) = torch.autograd.grad(rounded.sum(), y)
    assert torch.equal(grad, torch.ones_like(y))
    gc.eval()  # evaluation is unaffected
    assert torch.equal(gc(y, scales, means)[0], torch.round(y - means) + means)
    with pytest.raises(ValueError, match="training_outputs"):  # refused when set, kept as it was
        gc.training_outputs = "round"
    assert gc.training_outputs == "ste"


def test_gaussian_conditional_build_indexes_picks_the_first_table_scale_at_or_above_each_scale():
    gc = GaussianConditional([0.2, 0.5, 1.0, 2.0])
    scales = torch.tensor([0.01, 0.2, 0.21, 0.5, 0.99, 1.0, 1.5, 2.0, 2.1, 1e9])
    assert gc.build_indexes(scales).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 3, 3]
    assert gc.build_indexes(scales).dtype == torch.int32


@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=40))
def test_gaussian_conditional_build_indexes_agrees_with_counting_smaller_table_entries(values):
    gc = _GAUSSIAN
    scales = torch.tensor(values)
    bounded = torch.clamp(scales, min=gc.lower_bound_scale.bound.item())
    expected = torch.full(scales.shape, len(gc.scale_table) - 1, dtype=torch.int32)
    for s in gc.scale_table[:-1]:
        expected -= (bounded <= s).int()
    assert torch.equal(gc.build_indexes(scales), expected)


_GAUSSIAN = GaussianConditional()
_GAUSSIAN.update()


def test_gaussian_conditional_update_reports_whether_it_built_the_tables():
    gc = GaussianConditional([0.5, 1.0])
    assert gc.update() is True
    assert gc.update() is False
    assert gc.update(force=True) is True
    assert gc.update_scale_table([0.5, 1.0, 2.0]) is False
    assert gc.update_scale_table([0.5, 1.0, 2.0], force=True) is True
    assert gc._quantized_cdf.shape[0] == 3


@pytest.mark.tables
def test_gaussian_conditional_tables_cover_ceil_of_scale_times_the_tail_quantile():
    gc = _GAUSSIAN
    multiplier = 6.109410204869  # -Phi^-1(0.5e-9)
    centers = torch.ceil(gc.scale_table.double() * multiplier).int()
    assert torch.equal(-gc._offset, centers)
    assert torch.equal(gc._cdf_length, 2 * centers + 3)
    assert gc._quantized_cdf.shape == (64, int(gc._cdf_length.max()))


def test_gaussian_conditional_compress_then_decompress_returns_the_rounded_values_exactly():
    gc = _GAUSSIAN
    g = torch.Generator().manual_seed(0)
    shape = (3, 4, 5, 6)
    scales = torch.exp(torch.rand(shape, generator=g) * 9 - 4)  # 0.02 .. 150
    means = torch.randn(shape, generator=g) * 5
    y = means + torch.randn(shape, generator=g) * scales
    y[0, 0, 0, 0] = 1e7
    y[2, 3, 4, 5] = -1e7
    y[1, 1, 1, 1] = means[1, 1, 1, 1] + 500 * scales[1, 1, 1, 1]
    indexes = gc.build_indexes(scales)
    strings = gc.compress(y, indexes, means)
    expected, _ = gc(y, scales, means, training=False)
    assert torch.equal(gc.decompress(strings, indexes, means=means), expected)
    strings = gc.compress(y, indexes)
    assert torch.equal(gc.decompress(strings, indexes), torch.round(y))


def test_gaussian_conditional_bits_are_close_to_the_information_content():
    gc = _GAUSSIAN
    g = torch.Generator().manual_seed(1)
    shape = (2, 8, 16, 16)
    scales = torch.exp(torch.rand(shape, generator=g) * 5 - 1)  # 0.37 .. 55
    means = torch.randn(shape, generator=g)
    y = means + torch.randn(shape, generator=g) * scales
    _, likelihoods = gc(y, scales, means, training=False)
    strings = gc.compress(y, gc.build_indexes(scales), means)
    for i, string in enumerate(strings):
        estimate = -torch.log2(likelihoods[i]).sum().item()
        actual = 8 * len(string)
        # Scales are rounded up to the table, which costs a little.
        assert estimate <= actual <= 1.03 * estimate + 96, (actual, estimate)


def test_gaussian_conditional_loads_a_state_dict_with_another_scale_table_size():
    source = GaussianConditional([0.3, 1.0, 3.0])
    source.update()
    target = GaussianConditional()  # 64 scales, no tables
    target.load_state_dict(source.state_dict())
    assert torch.equal(target.scale_table, source.scale_table)
    for name in TABLE_BUFFERS:
        assert torch.equal(getattr(target, name), getattr(source, name))
    empty = GaussianConditional(None)
    empty.load_state_dict(source.state_dict())
    assert torch.equal(empty.scale_table, source.scale_table)


def test_gaussian_conditional_validates_its_scale_table():
    with pytest.raises(ValueError):
        GaussianConditional([])
    with pytest.raises(ValueError):
        GaussianConditional([1.0, 0.5])
    with pytest.raises(ValueError):
        GaussianConditional([0.0, 1.0])
    with pytest.raises(ValueError, match="update_scale_table"):
        GaussianConditional(None).update()
    assert GaussianConditional(torch.tensor([0.5, 1.0]), scale_bound=None).scale_bound.item() == 0.5


# --- CompressAI interop ------------------------------------------------------------------

EB_CASES = ["eb", "eb_small"]
GC_CASES = ["gc", "gc_small"]


def _build(case):
    return eval(ref.text(f"{case}/ctor"), vars(entropy_models))


@pytest.mark.tables
@pytest.mark.parametrize("case", EB_CASES)
def test_compressai_entropy_bottleneck_state_dicts_load_and_give_the_same_outputs(case):
    eb = _build(case).eval()
    state = ref.state(f"{case}/state_init")
    assert list(eb.state_dict()) == list(state)
    eb.load_state_dict(state)
    x = ref.tensor(f"{case}/input")
    with torch.no_grad():
        outputs, likelihoods = eb(x)
        likelihood, lower, upper = eb._likelihood(ref.tensor(f"{case}/likelihood_input"))
    close = dict(rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(outputs, ref.tensor(f"{case}/output"), **close)
    torch.testing.assert_close(likelihoods, ref.tensor(f"{case}/likelihoods"), **close)
    torch.testing.assert_close(likelihood, ref.tensor(f"{case}/likelihood"), **close)
    torch.testing.assert_close(lower, ref.tensor(f"{case}/likelihood_lower"), **close)
    torch.testing.assert_close(upper, ref.tensor(f"{case}/likelihood_upper"), **close)
    torch.testing.assert_close(eb.loss().detach(), ref.tensor(f"{case}/loss"), rtol=1e-5, atol=1e-5)


def _assert_within_one_count(ours, theirs):
    """CompressAI's construction on this machine against its tables recorded on another:
    the same rows, lengths and offsets, and each CDF entry within one count.

    The construction is float32 arithmetic whose last bits depend on the CPU and on
    torch's kernels (ATen CPU capability, thread count), so an exact comparison holds only
    on the machine the reference was recorded on (docs/determinism.md).
    """
    assert torch.equal(ours["_offset"], theirs["_offset"])
    assert torch.equal(ours["_cdf_length"], theirs["_cdf_length"])
    assert ours["_quantized_cdf"].shape == theirs["_quantized_cdf"].shape
    difference = (ours["_quantized_cdf"].long() - theirs["_quantized_cdf"].long()).abs()
    assert int(difference.max()) <= 1, f"{int((difference > 1).sum())} entries differ by more than 1"
    for row, length in enumerate(ours["_cdf_length"].tolist()):
        cdf = ours["_quantized_cdf"][row, :length]
        assert cdf[0] == 0 and cdf[-1] == 2**16 and bool((cdf[1:] > cdf[:-1]).all()), row


def _tables(module):
    return {name: getattr(module, name).clone() for name in TABLE_BUFFERS}


@pytest.mark.tables
@pytest.mark.parametrize("case", EB_CASES)
def test_compressai_construction_of_bottleneck_tables_matches_compressais_within_one_count(case):
    eb = _build(case)
    eb.load_state_dict(ref.state(f"{case}/state_init"))
    assert eb.update(method="compressai") is True
    _assert_within_one_count(_tables(eb), ref.state(f"{case}/state"))


@pytest.mark.tables
@pytest.mark.parametrize("case", EB_CASES)
def test_compressai_construction_of_bottleneck_pmfs_equals_a_float64_evaluation_to_float_tolerance(case):
    eb = _build(case)
    eb.load_state_dict(ref.state(f"{case}/state_init"))
    pmf, tail, lengths, offsets = eb._compressai_pmf()
    pmf64, tail64, lengths64, offsets64 = copy.deepcopy(eb).double()._compressai_pmf()
    assert torch.equal(lengths, lengths64) and torch.equal(offsets, offsets64)
    torch.testing.assert_close(pmf.double(), pmf64, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(tail.double(), tail64, rtol=1e-3, atol=1e-7)


@pytest.mark.tables
@pytest.mark.parametrize("case", EB_CASES)
def test_compressai_entropy_bottleneck_strings_are_byte_identical_both_ways(case):
    eb = _build(case)
    eb.load_state_dict(ref.state(f"{case}/state"))
    x = ref.tensor(f"{case}/input")
    expected = ref.strings(f"{case}/strings")
    assert eb.compress(x) == expected
    decoded = eb.decompress(expected, x.shape[2:])
    torch.testing.assert_close(decoded, ref.tensor(f"{case}/decompressed"), rtol=0, atol=0)


@pytest.mark.tables
def test_fit_quantiles_agrees_with_compressais_bisection():
    eb = _build("eb")
    eb.load_state_dict(ref.state("eb/state_init"))
    theirs = eb.quantiles.detach().clone()
    eb.fit_quantiles()
    torch.testing.assert_close(eb.quantiles.detach(), theirs, rtol=1e-3, atol=2e-3)


@pytest.mark.tables
@pytest.mark.parametrize("case", GC_CASES)
def test_compressai_gaussian_conditional_state_dicts_load_and_give_the_same_outputs(case):
    gc = _build(case).eval()
    state = ref.state(f"{case}/state")
    assert list(gc.state_dict()) == list(state)
    gc.load_state_dict(state)
    y, scales, means = (ref.tensor(f"{case}/{k}") for k in ("input", "scales", "means"))
    close = dict(rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        outputs, likelihoods = gc(y, scales, means)
        torch.testing.assert_close(outputs, ref.tensor(f"{case}/output"), **close)
        torch.testing.assert_close(likelihoods, ref.tensor(f"{case}/likelihoods"), **close)
        outputs, likelihoods = gc(y, scales)
        torch.testing.assert_close(outputs, ref.tensor(f"{case}/output_nomeans"), **close)
        torch.testing.assert_close(likelihoods, ref.tensor(f"{case}/likelihoods_nomeans"), **close)
        likelihood = gc._likelihood(ref.tensor(f"{case}/likelihood_input"), scales, means)
        torch.testing.assert_close(likelihood, ref.tensor(f"{case}/likelihood"), **close)
    assert torch.equal(gc.build_indexes(scales), ref.tensor(f"{case}/indexes"))


@pytest.mark.tables
@pytest.mark.parametrize("case", GC_CASES)
def test_compressai_gaussian_conditional_update_builds_identical_tables(case):
    gc = _build(case)
    state = ref.state(f"{case}/state")
    gc.load_state_dict(state)
    assert gc._standardized_quantile(gc.tail_mass / 2) == pytest.approx(
        -float(ref.tensor(f"{case}/multiplier")), rel=1e-14
    )
    assert gc.update(force=True, method="compressai") is True
    _assert_within_one_count(_tables(gc), state)
    fresh = _build(case)
    scale_table = eval(ref.text(f"{case}/scale_table_expr"), vars(entropy_models))
    assert fresh.update_scale_table(scale_table, method="compressai")
    assert torch.equal(fresh.scale_table, state["scale_table"])
    _assert_within_one_count(_tables(fresh), state)


@pytest.mark.tables
def test_default_gaussian_conditional_builds_compressais_default_tables_within_one_count():
    gc = GaussianConditional()
    gc.update(method="compressai")
    state = ref.state("gc/state")
    assert torch.equal(gc.scale_table, state["scale_table"])
    _assert_within_one_count(_tables(gc), state)


@pytest.mark.tables
def test_compressai_construction_of_gaussian_pmfs_equals_compressais_to_float_tolerance():
    # tests/fixtures/compressai/pmf_to_cdf.npz starts with CompressAI's pmfs of the default
    # 64-scale table, each followed by its tail mass (make_coder_vectors.py).
    with np.load(ref.PATH.parent / "pmf_to_cdf.npz") as archive:
        theirs, lengths = archive["pmfs"][:64], archive["pmf_lengths"][:64]
    pmf, tail, pmf_length, _ = GaussianConditional()._compressai_pmf()
    assert (pmf_length.numpy() + 1 == lengths).all()
    for row, length in enumerate(pmf_length.tolist()):
        ours = np.append(pmf[row, :length].numpy(), tail[row].numpy())
        np.testing.assert_allclose(ours, theirs[row, : length + 1], rtol=1e-5, atol=1e-7)


@pytest.mark.tables
@pytest.mark.parametrize("case", GC_CASES)
def test_compressai_gaussian_conditional_strings_are_byte_identical_both_ways(case):
    gc = _build(case)
    gc.load_state_dict(ref.state(f"{case}/state"))
    y, means, indexes = (ref.tensor(f"{case}/{k}") for k in ("input", "means", "indexes"))
    expected = ref.strings(f"{case}/strings")
    assert gc.compress(y, indexes, means) == expected
    assert gc.compress(y, indexes) == ref.strings(f"{case}/strings_nomeans")
    decoded = gc.decompress(expected, indexes, means=means)
    torch.testing.assert_close(decoded, ref.tensor(f"{case}/decompressed"), rtol=0, atol=0)


# --- portable tables ------------------------------------------------------------------------

GOLDEN = Path(__file__).parent / "fixtures" / "tables" / "golden.npz"


@functools.lru_cache(maxsize=1)
def _golden():
    with np.load(GOLDEN, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


GOLDEN_CASES = sorted({key.split("/")[0] for key in _golden()})


def _golden_module(case):
    arrays = _golden()
    module = eval(str(arrays[f"{case}/ctor"]), vars(entropy_models))
    prefix = f"{case}/state/"
    module.load_state_dict(
        {key[len(prefix) :]: torch.from_numpy(arrays[key].copy()) for key in arrays if key.startswith(prefix)}
    )
    return module


def _golden_tables(case):
    return {name: torch.from_numpy(_golden()[f"{case}/tables/{name}"].copy()) for name in TABLE_BUFFERS}


@pytest.mark.tables
@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_portable_tables_equal_the_committed_golden_tables_bit_for_bit(case):
    # Made by tests/fixtures/tables/make_golden.py; the same on every CPU, ATen CPU
    # capability and thread count (.ci/run and docs/determinism.md).
    module = _golden_module(case)
    assert module.update(force=True) is True  # "portable" is the default
    for name, expected in _golden_tables(case).items():
        assert torch.equal(getattr(module, name), expected), name


@pytest.mark.tables
def test_the_golden_cases_cover_compressais_densities_and_scale_tables():
    assert GOLDEN_CASES == ["eb", "eb_small", "eb_wide", "gc", "gc_odd", "gc_tail"]
    assert str(_golden()["gc/ctor"]) == "GaussianConditional()"


@pytest.mark.tables
@pytest.mark.parametrize("threads", [1, 2])
def test_portable_tables_do_not_depend_on_torch_threads_dtype_or_device_of_the_parameters(threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        eb = _golden_module("eb_wide")
        eb.update(force=True)
        assert torch.equal(eb._quantized_cdf, _golden_tables("eb_wide")["_quantized_cdf"])
        # float64 parameters with float32 values build the float32 parameters' tables
        double = _golden_module("eb_wide").double()
        double.update(force=True)
        assert torch.equal(double._quantized_cdf, eb._quantized_cdf)
        gc = _golden_module("gc")
        gc.update(force=True)
        assert torch.equal(gc._quantized_cdf, _golden_tables("gc")["_quantized_cdf"])
    finally:
        torch.set_num_threads(previous)


@pytest.mark.tables
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_portable_tables_of_a_module_on_the_gpu_equal_the_cpus():
    for case in ("eb", "gc"):
        module = _golden_module(case).cuda()
        module.update(force=True)
        for name, expected in _golden_tables(case).items():
            assert getattr(module, name).device.type == "cuda"
            assert torch.equal(getattr(module, name).cpu(), expected), name


@pytest.mark.tables
@pytest.mark.parametrize("case", ["eb", "gc"])
def test_portable_and_compressai_constructions_agree_to_a_few_counts(case):
    # Same rows, lengths and offsets; the probabilities differ by float32 rounding
    # (and the portable bottleneck's right tail), so a few counts per entry.
    portable, compressai = _golden_module(case), _golden_module(case)
    portable.update(force=True)
    compressai.update(force=True, method="compressai")
    for name in ("_offset", "_cdf_length"):
        assert torch.equal(getattr(portable, name), getattr(compressai, name)), name
    difference = (portable._quantized_cdf.long() - compressai._quantized_cdf.long()).abs()
    assert 0 < int(difference.max()) <= 4


@pytest.mark.tables
def test_portable_tables_code_and_decode_like_compressais():
    eb = _bottleneck(6, seed=3)
    assert eb.update(force=True)
    x = _latents(eb, (2, 6, 9, 7), seed=1)
    strings = eb.compress(x)
    assert torch.equal(eb.decompress(strings, x.shape[2:]), eb.eval()(x)[0])
    reference = copy.deepcopy(eb)
    reference.update(force=True, method="compressai")
    bits = sum(len(s) for s in strings)
    assert abs(bits - sum(len(s) for s in reference.compress(x))) <= 8


def test_update_refuses_an_unknown_table_method():
    with pytest.raises(ValueError, match='"portable".*"compressai"'):
        EntropyBottleneck(2).update(method="float")
    with pytest.raises(ValueError, match='"portable".*"compressai"'):
        GaussianConditional().update(method="exact")


@pytest.mark.tables
def test_portable_construction_refuses_parameters_it_cannot_build_tables_from():
    eb = _bottleneck(2)
    with torch.no_grad():
        eb.quantiles[1, 0, 2] = float("nan")
    with pytest.raises(ValueError, match="quantiles of channel 1 are not finite"):
        eb.update(force=True)
    with torch.no_grad():
        eb.quantiles[1, 0, 2] = 1e6
    with pytest.raises(ValueError, match="fit them first"):
        eb.update(force=True)
    with pytest.raises(ValueError, match="use smaller scales"):
        GaussianConditional([1.0, 1e5]).update()


@pytest.mark.tables
def test_the_default_scale_table_is_compressais_recorded_one_bit_for_bit_on_every_kernel():
    # torch.exp(torch.linspace(...)) itself differs in 10 entries under
    # ATEN_CPU_CAPABILITY=default; get_scale_table does not (.ci/run runs this under each).
    assert torch.equal(get_scale_table(), ref.state("gc/state")["scale_table"])
    assert torch.equal(torch.tensor(DEFAULT_SCALE_TABLE), get_scale_table())
    with pytest.raises(ValueError, match="0 < min <= max"):
        get_scale_table(0.0, 1.0, 4)
