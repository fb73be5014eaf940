"""The rate ladder (``mbt2018-mean-ladder``, issue 28): fixed-rate models as rungs with
gain units between them. At an integer quality it codes its rung's very bytes; between
rungs it codes with the rung's gains; the middle gain level never trains; it refines,
searches a size and goes through the container, its weights files and the trainer."""

from __future__ import annotations

import math

import pytest
import torch
from codec_models import image
from hypothesis import given, settings
from hypothesis import strategies as st
from neuralcodec.codec.api import Codec, decode_image, encode_image
from neuralcodec.codec.container import QUALITY_SCALE, read_header
from neuralcodec.models import MeanScaleHyperprior, MeanScaleLadder
from neuralcodec.models.base import AnalysisMemo, CodingOptions
from neuralcodec.models.gain_units import GAIN_UNIT_NAMES
from neuralcodec.models.ladder import rung_lambdas
from neuralcodec.models.refinement import refine_latent
from neuralcodec.models.variable_rate import interpolate_geometric, is_variable_rate
from neuralcodec.settings import DEFAULT_LAMBDAS, VARIABLE_RATE_ARCHITECTURES
from neuralcodec.train.trainer import trainable_parameters
from neuralcodec.zoo.defaults import load_weights_file, save_weights

LAMBDAS = (0.002, 0.006, 0.018)


def fixed_rate(seed: int) -> MeanScaleHyperprior:
    """A small fixed-rate model with built tables, its latent spread over many steps."""
    torch.manual_seed(seed)
    model = MeanScaleHyperprior(16, 24).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(20 + 10 * seed)
    model.update(force=True)
    return model


@pytest.fixture(scope="module")
def rungs():
    return [fixed_rate(seed) for seed in range(len(LAMBDAS))]


@pytest.fixture(scope="module")
def ladder(rungs):
    model = MeanScaleLadder.from_fixed_rate(rungs, LAMBDAS)
    with torch.no_grad():  # gains away from their starting values, as a trained ladder has
        generator = torch.Generator().manual_seed(5)
        for rung in model.rungs:
            for name in GAIN_UNIT_NAMES:
                table = getattr(rung, name)
                for level in (0, 1, 3, 4):
                    table[level].mul_(0.9 + 0.2 * torch.rand(table.shape[1], generator=generator))
    model.update()
    return model.eval()


def test_registered_variable_rate_model_with_the_shipped_lambdas():
    model = MeanScaleLadder()
    assert "mbt2018-mean-ladder" in VARIABLE_RATE_ARCHITECTURES and is_variable_rate(model)
    assert len(model.rungs) == 4 and model.qualities() == (1.0, 4.0)
    for q, lmbda in DEFAULT_LAMBDAS.items():
        assert model.lambda_for_quality(float(q)) == pytest.approx(lmbda)
    # Each rung trains for the lambdas from half a level below its own to half a level
    # above, in quarters (two rows per side), extrapolated past the ends.
    assert model.rows_per_side == 2 and model.middle_level == 2
    assert rung_lambdas(model.lmbda, 0, 1) == pytest.approx((0.0018 * (0.0018 / 0.0045) ** 0.5, 0.0018, (0.0018 * 0.0045) ** 0.5))
    assert rung_lambdas(model.lmbda, 1) == pytest.approx(tuple(0.0045 * (f / 0.0045) ** t for f, t in (
        (0.0018, 0.5), (0.0018, 0.25), (0.0045, 1), (0.012, 0.25), (0.012, 0.5))))
    assert model.rungs[3].lmbda[4] == pytest.approx(0.032 * (0.032 / 0.012) ** 0.5)
    assert model.rungs[1].lmbda[2] == 0.0045  # exactly its own
    # y's gains start at sqrt(lambda / own lambda): exactly 1 at the rung's own rate.
    for rung in model.rungs:
        assert rung.levels == 5 and torch.equal(rung.y_gain[2], torch.ones(128))
        assert rung.y_gain[0, 0] < rung.y_gain[1, 0] < 1 < rung.y_gain[3, 0] < rung.y_gain[4, 0]
        torch.testing.assert_close(rung.y_gain[4, 0], torch.tensor((rung.lmbda[4] / rung.lmbda[2]) ** 0.5))
    assert MeanScaleLadder(16, 24, rows_per_side=1).rungs[0].levels == 3
    with pytest.raises(ValueError, match="increasing"):
        MeanScaleLadder(lambdas=(0.01, 0.005))
    for bad in (0, 9, 1.5, True):
        with pytest.raises(ValueError, match="rows_per_side"):
            MeanScaleLadder(16, 24, rows_per_side=bad)


def test_interpolate_geometric_extrapolates_past_the_ends():
    values = (1.0, 4.0, 16.0)
    assert interpolate_geometric(values, -0.5) == pytest.approx(0.5)
    assert interpolate_geometric(values, 2.5) == pytest.approx(32.0)
    assert interpolate_geometric(values, 1.5) == pytest.approx(8.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(QUALITY_SCALE, 3 * QUALITY_SCALE), st.sampled_from([1, 2, 3]))
def test_every_stored_quality_has_one_rung_and_an_exact_rung_quality(steps, rows):
    model = MeanScaleLadder(16, 24, lambdas=LAMBDAS, rows_per_side=rows)
    quality = steps / QUALITY_SCALE
    rung, own = model.locate(quality)
    assert 0 <= rung <= 2 and 1.0 <= own <= 2 * rows + 1
    assert abs(quality - (rung + 1)) <= 0.5  # the nearest rung (the lower at a tie)
    assert own == 1 + rows + 2 * rows * (quality - (rung + 1))  # exact: no rounding in float64
    assert float(torch.tensor(own, dtype=torch.float32)) == own  # nor in float32 (the gains' dtype)
    rungs, owns = model._locate_many(torch.tensor([quality], dtype=torch.float64))
    assert (int(rungs[0]), float(owns[0])) == (rung, own)


def test_boundaries_go_to_the_lower_rung_and_the_range_is_checked():
    model = MeanScaleLadder(16, 24, lambdas=LAMBDAS)
    assert model.locate(1.5) == (0, 5.0) and model.locate(1.5 + 1 / QUALITY_SCALE)[0] == 1
    assert model.locate(1.0) == (0, 3.0) and model.locate(3.0) == (2, 3.0) and model.locate(2.75) == (2, 2.0)
    for bad in (0.99, 3.01, math.nan, "high", True):
        with pytest.raises(ValueError, match="1..3"):
            model.locate(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("coding_path", ["engine", "compat"])
def test_an_integer_quality_codes_the_rungs_own_bytes(ladder, rungs, coding_path):
    x = image(96, 128, seed=3)
    for k, model in enumerate(rungs):
        if coding_path == "compat":
            model.update(force=True, method="compressai")
            ladder.rungs[k].update(force=True, method="compressai")
        try:
            alone = model.compress(x, coding_path=coding_path)
            laddered = ladder.compress(x, quality=float(k + 1), coding_path=coding_path)
        finally:
            model.update(force=True)
            ladder.rungs[k].update(force=True)
        assert laddered["strings"] == alone["strings"] and laddered["quality"] == k + 1


def test_between_rungs_the_rate_grows_with_the_quality_and_decodes(ladder):
    x = image(128, 128, seed=4)
    sizes = []
    for quality in (1.0, 1.25, 1.5, 2.0, 2.25, 2.75, 3.0):
        out = ladder.compress(x, quality=quality)
        rung, own = ladder.rung_at(quality)
        assert out["strings"] == rung.compress(x, quality=own["quality"])["strings"]
        decoded = ladder.decompress(out["strings"], out["shape"], x_size=x.shape[-2:], quality=quality)["x_hat"]
        assert torch.equal(decoded, rung.decompress(out["strings"], out["shape"], x_size=x.shape[-2:], **own)["x_hat"])
        sizes.append(sum(len(s[0]) for s in out["strings"]))
    # Within a rung the rate grows with the quality.
    assert sizes[0] < sizes[1] < sizes[2] and sizes[3] < sizes[4] and sizes[5] < sizes[6]


def test_training_pass_routes_each_crop_to_its_rung_and_never_moves_the_middle_level(rungs):
    model = MeanScaleLadder.from_fixed_rate(rungs, LAMBDAS).train()
    x = image(64, 64, seed=1).float().div(255).repeat(4, 1, 1, 1)
    quality = torch.tensor([1.2, 2.9, 1.4, 2.2])
    torch.manual_seed(0)
    out = model(x, quality)
    assert out["x_hat"].shape == x.shape and out["likelihoods"]["y"].shape == (4, 24, 4, 4)
    # Crop 1 (quality 2.9) went through rung 2 at its own quality 2.6, alone.
    torch.manual_seed(0)
    alone = model.rungs[2](x[1:2], torch.tensor([2.6]))
    assert torch.allclose(out["x_hat"][1], alone["x_hat"][0], atol=0.05)
    middle = model.middle_level
    parameters = trainable_parameters(model, ["*gain*"])
    assert len(parameters) == 4 * len(LAMBDAS) and not any(p.requires_grad for n, p in model.named_parameters()
                                                            if "gain" not in n and not n.endswith("quantiles"))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "gain" in n}
    optimizer = torch.optim.Adam(parameters, lr=0.05)
    for _ in range(2):
        optimizer.zero_grad()
        out = model(x, quality)
        loss = sum(-torch.log2(v).sum() for v in out["likelihoods"].values()) / 1e4 + (out["x_hat"] - x).square().mean()
        loss.backward()
        optimizer.step()
    after = dict(model.named_parameters())
    for name, old in before.items():
        assert torch.equal(after[name][middle], old[middle]), name  # exactly the identity still
    assert not torch.equal(after["rungs.0.y_gain"][4], before["rungs.0.y_gain"][4])  # quality 1.4: rows 3 and 4
    assert not torch.equal(after["rungs.1.y_gain"][3], before["rungs.1.y_gain"][3])  # 2.2: rows 2 and 3
    assert not torch.equal(after["rungs.2.y_gain"][1], before["rungs.2.y_gain"][1])  # 2.9: rung 3 below, rows 1 and 2
    with pytest.raises(ValueError, match="matches no parameter"):
        trainable_parameters(model, ["nothing*"])
    with pytest.raises(ValueError, match="one per image"):
        model(x, torch.tensor([1.0, 2.0]))


def test_weights_file_round_trip_and_rung_count_check(ladder, tmp_path):
    path = tmp_path / "ladder.safetensors"
    save_weights(ladder, path, "mbt2018-mean-ladder", metadata={"lambdas": "[0.002, 0.006, 0.018]"})
    loaded = load_weights_file(path)
    assert isinstance(loaded, MeanScaleLadder) and loaded.lmbda == list(LAMBDAS)
    x = image(64, 64, seed=2)
    assert loaded.compress(x, quality=2.3)["strings"] == ladder.compress(x, quality=2.3)["strings"]
    # A rung's weights without the gains are the fixed-rate model's.
    assert set(ladder.fixed_rate_state_dict(1)) == set(MeanScaleHyperprior(16, 24).state_dict())
    with pytest.raises(ValueError, match="3 rungs"):
        MeanScaleLadder.from_state_dict(ladder.state_dict(), lambdas=(0.1, 0.2))


def test_container_size_target_and_refinement(ladder):
    codec = Codec(ladder, architecture="mbt2018-mean-ladder")
    x = image(96, 96, seed=6)
    data = encode_image(x, model=codec, quality=2.25)
    assert read_header(data).coded_quality == 2.25
    decoded = decode_image(data, model=codec, output="tensor")
    direct = ladder.decompress(ladder.compress(x, quality=2.25)["strings"], (2, 2), x_size=(96, 96), quality=2.25)
    assert torch.allclose(decoded.float(), direct["x_hat"].clamp(0, 1), atol=1 / 255)
    small, large = (len(encode_image(x, model=codec, quality=q)) for q in (1.0, 3.0))
    target = (small + large) // 2
    search = codec.encode_target(x, size=target)
    assert len(search.data) <= target and 1.0 <= search.quality <= 3.0
    assert search.data == encode_image(x, model=codec, quality=search.quality)
    # Refinement differentiates the rung of the quality: a latent of its analysis, not the top rung's.
    rung, rate = ladder.coder_at(quality=1.75)
    refined = refine_latent(ladder, x, ladder.lambda_for_quality(1.75), 3, rate={"quality": 1.75})
    start = refine_latent(ladder, x, ladder.lambda_for_quality(1.75), 0, rate={"quality": 1.75}).latent
    assert torch.equal(start, rung.analyze(x)) and not torch.equal(start, ladder.rungs[-1].analyze(x))
    assert refined.loss <= refined.initial_loss
    coded = ladder.compress(x, quality=1.75, latent=refined.latent)["strings"]
    assert coded == rung.compress(x, latent=refined.latent, **rate)["strings"]
    assert len(encode_image(x, model=codec, quality=1.75, effort=1)) > 0


def test_the_analysis_memo_is_per_rung(ladder):
    x = image(64, 64, seed=7)
    memo = AnalysisMemo()
    options = CodingOptions(coding_path="engine", analysis=memo)
    for quality in (1.2, 2.8, 1.2, 3.0):
        with_memo = ladder.compress(x, quality=quality, options=options)["strings"]
        assert with_memo == ladder.compress(x, quality=quality)["strings"], quality



def test_bytes_do_not_depend_on_engine_threads_or_the_scalar_kernel(ladder, monkeypatch):
    """The ladder codes through its rungs' gained engine graphs (whose bit-exactness
    tests/test_latent_graph.py covers for ``mbt2018-mean-gained``); here, through the
    ladder, at a rung's own rate, at a boundary and between rungs."""
    from neuralcodec import engine

    x = image(128, 128, seed=8)
    qualities = (1.5, 2.0, 2.75)
    expected = {q: ladder.compress(x, quality=q)["strings"] for q in qualities}
    previous = engine.get_num_threads()
    try:
        for threads in (1, 3):
            engine.set_num_threads(threads)
            assert {q: ladder.compress(x, quality=q)["strings"] for q in qualities} == expected, threads
    finally:
        engine.set_num_threads(previous)
    monkeypatch.setenv("NEURALCODEC_ENGINE_SCALAR", "1")
    assert engine.latent_graph(ladder.rungs[1]).kernel == "scalar"
    for q in qualities:
        out = ladder.compress(x, quality=q)
        assert out["strings"] == expected[q]
        decoded = ladder.decompress(out["strings"], out["shape"], quality=q)["x_hat"]
        assert decoded.shape == (1, 3, 128, 128)


def test_a_rung_file_with_a_continuous_quality_is_refused(ladder):
    """A file naming one of the ladder's rungs (a fixed-rate model) carries no quality; a
    ``QUAL`` in it is a malformed header, not something to ignore."""
    import dataclasses

    from neuralcodec.codec.container import EXTENSION_QUALITY, encode_quality, pack, unpack
    from neuralcodec.codec.errors import FormatError

    codec = Codec(ladder, architecture="mbt2018-mean-ladder")
    data = encode_image(image(64, 64, seed=9), model=codec, quality=2.0)
    header, strings = unpack(data)
    assert header.model == codec.rung_identity(2) and header.coded_quality is None
    assert decode_image(data, model=codec, output="numpy").shape == (64, 64, 3)
    forged = pack(dataclasses.replace(header, version=2, extensions=((EXTENSION_QUALITY, encode_quality(2.5)),)), strings)
    with pytest.raises(FormatError, match="fixed-rate"):
        decode_image(forged, model=codec)
