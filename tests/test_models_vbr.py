"""The variable-rate models (Kamisli, Racapé, Choi, DCC 2024) against CompressAI 1.2.8.

``tests/fixtures/compressai/vbr.npz`` was recorded by ``make_vbr_vectors.py`` (beside it)
in a venv with compressai 1.2.8; see that script for what it holds. Every rounded value in
it is at least 2e-4 from a tie and every scale from a table boundary, so these checks do
not depend on one CPU's float bits. The compat path uses CompressAI's tables from its
state_dict (and, for ``vr_entbttlnck`` models, the tables of ``z`` it built at each gain).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from compressai_vectors import Vectors

from neuralcodec import engine, models
from neuralcodec.entropy_models import EntropyBottleneckVbr, bound_tables
from neuralcodec.models import (
    JointAutoregressiveHierarchicalPriorsVbr,
    MeanScaleHyperpriorVbr,
    ScaleHyperpriorVbr,
)

PATH = Path(__file__).parent / "fixtures" / "compressai" / "vbr.npz"
TOL = dict(atol=1e-5, rtol=1e-5)


VECTORS = Vectors(PATH.name)
_arrays = VECTORS.arrays
tensor = VECTORS.tensor


CASES = [str(name) for name in _arrays()["meta/cases"]]
SETTINGS: Dict[str, Tuple[int, int, float]] = {}
for _line in _arrays()["meta/settings"]:
    _name, _stage, _s, _scale = str(_line).split()
    SETTINGS[_name] = (int(_stage), int(_s), float(_scale))


def kwargs(setting: str) -> dict:
    stage, s, inputscale = SETTINGS[setting]
    return dict(stage=stage, s=s, inputscale=torch.tensor(inputscale) if inputscale else 0)


def reference_state(case: str) -> Dict[str, torch.Tensor]:
    prefix = f"{case}/state/"
    state = {key[len(prefix) :]: tensor(key) for key in _arrays() if key.startswith(prefix)}
    state["gaussian_conditional._quantized_cdf"] = tensor("shared/gc_cdf")
    return state


def reference_input(case: str) -> torch.Tensor:
    return tensor(f"{case}/input").float() / 255


def loaded(case: str, setting: str = "stage1") -> models.CompressionModel:
    """CompressAI's model of ``case`` on the compat path, with the z tables of ``setting``."""
    ctor = str(_arrays()[f"{case}/ctor"])
    cls = getattr(models, ctor.split("(")[0])
    model = cls.from_state_dict(reference_state(case))
    model.coding_path = "compat"
    eb_prefix = f"{case}/code/{setting}/eb/"
    if f"{eb_prefix}_offset" in _arrays():
        eb = model.entropy_bottleneck
        eb.load_state_dict({**eb.state_dict(), **{k: tensor(eb_prefix + k) for k in ("_quantized_cdf", "_offset", "_cdf_length")}})
    return model.eval()


def reference_strings(case: str, setting: str) -> List[List[bytes]]:
    return [[_arrays()[f"{case}/code/{setting}/strings/{i}"].tobytes()] for i in range(2)]


def test_the_reference_file_covers_the_three_models():
    assert set(CASES) >= {"bmshj2018-hyperprior-vbr", "mbt2018-mean-vbr", "mbt2018-vbr"}
    assert str(_arrays()["meta/compressai_version"]) == "1.2.8"
    assert all(float(_arrays()[f"{c}/margin"]) >= 2e-4 for c in CASES)


@pytest.mark.parametrize("case", CASES)
def test_compressai_state_dict_loads_with_the_same_keys(case):
    reference = reference_state(case)
    model = loaded(case)
    ctor = str(_arrays()[f"{case}/ctor"])
    fresh = eval(ctor, vars(models))
    fresh.load_state_dict(reference)  # strict
    for ours in (model.state_dict(), fresh.state_dict()):
        assert set(ours) == set(reference)
        for key, value in reference.items():
            assert ours[key].dtype == value.dtype, key
            assert torch.equal(ours[key], value), key
    assert isinstance(model.entropy_bottleneck, EntropyBottleneckVbr) == ("gayn2zqstep.0.weight" in reference)


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_compressai_in_both_stages_and_at_every_gain(case):
    model = loaded(case)
    x = reference_input(case)
    for setting in SETTINGS:
        with torch.no_grad():
            out = model(x, **kwargs(setting))
        prefix = f"{case}/forward/{setting}/"
        for name in ("y", "z"):
            torch.testing.assert_close(out["likelihoods"][name], tensor(f"{prefix}likelihoods/{name}"), **TOL)
        if f"{prefix}x_hat" in _arrays():
            torch.testing.assert_close(out["x_hat"], tensor(f"{prefix}x_hat"), **TOL)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_compat_strings_are_compressai_bytes_and_its_strings_decode(case, setting):
    model = loaded(case, setting)
    x = reference_input(case)
    strings = reference_strings(case, setting)
    shape = tuple(int(s) for s in _arrays()[f"{case}/code/{setting}/shape"])
    with torch.no_grad():
        compressed = model.compress(x, **kwargs(setting))
        assert compressed["strings"] == strings
        assert tuple(compressed["shape"]) == shape
        x_hat = model.decompress(strings, shape, **kwargs(setting))["x_hat"]
    key = f"{case}/code/{setting}/x_hat"
    if key in _arrays():
        torch.testing.assert_close(x_hat, tensor(key), **TOL)


@pytest.mark.parametrize("method", ["portable", "compressai"])
def test_update_with_a_gain_builds_z_tables_for_that_step(method):
    """CompressAI's construction of the step tables reproduces its recorded ones; the
    portable one agrees with it to a few counts and codes the same values."""
    case = "bmshj2018-hyperprior-vbr"
    model = loaded(case)
    for setting in ("s0", "s7"):
        gain = torch.abs(model.Gain[SETTINGS[setting][1]]).detach()
        assert model.update(force=True, scale=gain, method=method)
        eb = model.entropy_bottleneck
        expected = {k: tensor(f"{case}/code/{setting}/eb/{k}") for k in ("_quantized_cdf", "_offset", "_cdf_length")}
        assert torch.equal(eb._offset, expected["_offset"])
        assert torch.equal(eb._cdf_length, expected["_cdf_length"])
        if method == "compressai":
            assert torch.equal(eb._quantized_cdf, expected["_quantized_cdf"])
        else:
            difference = (eb._quantized_cdf - expected["_quantized_cdf"]).abs()
            assert int(difference[:, :-1].max()) <= 64  # the escape bins differ by design
        # A unit step gives the plain bottleneck's tables.
        assert eb.update_variable(force=True, qs=1.0, method=method)
        unit = eb._quantized_cdf.clone()
        eb.update(force=True, method=method)
        assert torch.equal(unit, eb._quantized_cdf)


def test_gain_for_quality_interpolates_linearly_between_levels():
    model = MeanScaleHyperpriorVbr(8, 12)
    with torch.no_grad():
        model.Gain.copy_(torch.tensor([0.1, 0.2, 0.4, 0.5, 0.8, 1.0, 1.5, 2.0]))
    gains = model.Gain.detach()
    for q in range(1, 9):
        assert model.gain_for_quality(q).item() == gains[q - 1].item()  # exact at the levels
    assert model.gain_for_quality(2.5).item() == pytest.approx(0.3, rel=1e-6)
    assert model.gain_for_quality(7.25).item() == pytest.approx(1.625, rel=1e-6)
    # float32 mul/add only: the value is reproducible from its definition.
    t = np.float32(0.75)
    expected = np.float32(np.float32(0.4) + np.float32(np.float32(np.float32(0.5) - np.float32(0.4)) * t))
    assert model.gain_for_quality(3.75).item() == float(expected)
    qualities = np.linspace(1, 8, 50)
    values = [model.gain_for_quality(q).item() for q in qualities]
    assert values == sorted(values)  # monotone for increasing gains
    assert model.gain_for_quality(8).dtype == torch.float32
    for bad in (0.5, 8.01, float("nan")):
        with pytest.raises(ValueError):
            model.gain_for_quality(bad)


def _images(count: int) -> List[torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    images = []
    for _ in range(count):
        coarse = torch.rand(1, 3, 8, 8, generator=g)
        x = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bilinear", align_corners=False)
        images.append((x + 0.05 * torch.rand(1, 3, 64, 64, generator=g)).clamp(0, 1))
    return images


@pytest.mark.parametrize("case", ["mbt2018-mean-vbr", "mbt2018-vbr"])
def test_bits_grow_with_the_quality_on_average(case):
    """Over a set of images the total size grows with the continuous quality (a single
    image need not be monotone)."""
    model = loaded(case)
    vr = isinstance(model.entropy_bottleneck, EntropyBottleneckVbr)
    images = _images(3)
    totals = []
    for q in (1.0, 3.5, 6.0, 8.0):
        gain = model.gain_for_quality(q)
        if vr:
            model.update(force=True, scale=gain, method="compressai")
        with torch.no_grad():
            totals.append(sum(len(s) for x in images for group in model.compress(x, inputscale=gain)["strings"] for s in group))
    assert totals == sorted(totals) and totals[0] < totals[-1], totals


@pytest.mark.parametrize("case", ["bmshj2018-hyperprior-vbr", "mbt2018-mean-vbr", "mbt2018-mean-vbr-unit-z"])
def test_engine_path_round_trips_at_levels_and_continuous_qualities(case):
    model = loaded(case)
    model.coding_path = "engine"
    model.update(force=True)  # portable tables
    x = _images(1)[0]
    for kw in (dict(stage=1), dict(s=0), dict(s=7), dict(inputscale=model.gain_for_quality(4.3))):
        with torch.no_grad():
            coded = model.compress(x, **kw)
            again = model.compress(x, **kw)
            assert again["strings"] == coded["strings"]
            x_hat = model.decompress(coded["strings"], coded["shape"], **kw)["x_hat"]
            # The engine decodes the symbols the compat path would code with the same tables.
            model.coding_path = "compat"
            if isinstance(model.entropy_bottleneck, EntropyBottleneckVbr) and kw.get("stage") != 1:
                gain = kw.get("inputscale", torch.abs(model.Gain[kw.get("s", 1)]).detach())
                model.update(force=True, scale=gain, method="portable")
            else:
                model.update(force=True, method="portable")
            with bound_tables():  # the compat path on the engine's portable tables
                reference = model.decompress(coded["strings"], coded["shape"], **kw)["x_hat"]
            model.coding_path = "engine"
        assert x_hat.shape == x.shape
        torch.testing.assert_close(x_hat, reference, atol=1e-4, rtol=0)


def test_engine_z_step_is_the_portable_evaluation_of_the_step_network():
    model = loaded("mbt2018-mean-vbr")
    for s in range(model.levels):
        gain = torch.abs(model.Gain[s]).detach()
        portable = model.z_step(gain, portable=True)
        with torch.no_grad():
            torch_step = model.z_step(gain)
        assert portable.dtype == torch.float32 and portable.shape == (1,)
        torch.testing.assert_close(portable, torch_step, atol=1e-6, rtol=1e-6)
        assert float(portable) >= 0.5


def test_the_autoregressive_model_on_the_engine_path_reconstructs_what_the_compat_path_does():
    """mbt2018-vbr's whole loop (gain, context term, offsets fed back as context) runs in
    the engine: the same bytes on every call and thread count, and the picture the compat
    path decodes from its own strings, to float rounding."""
    assert JointAutoregressiveHierarchicalPriorsVbr.coding_path == "engine"
    x = _images(1)[0]
    for kw in (dict(stage=1), dict(s=0), dict(s=7), dict(inputscale=torch.tensor(0.3))):
        model = loaded("mbt2018-vbr")
        model.coding_path = "engine"  # the class default (loaded() picks compat)
        with torch.no_grad():
            compat = model.compress(x, coding_path="compat", **kw)
            reference = model.decompress(compat["strings"], compat["shape"], coding_path="compat", **kw)["x_hat"]
            model.update(force=True)  # portable tables
            coded = []
            for threads in (1, 3):
                engine.set_num_threads(threads)
                try:
                    coded.append(model.compress(x, **kw))
                finally:
                    engine.set_num_threads(None)
            assert coded[0]["strings"] == coded[1]["strings"]
            x_hat = model.decompress(coded[0]["strings"], coded[0]["shape"], **kw)["x_hat"]
        torch.testing.assert_close(x_hat, reference, atol=1e-4, rtol=0)
        if kw.get("stage") != 1:  # (CompressAI's stage 1 picks rows by the gained scale)
            sizes = [len(c["strings"][0][0]) for c in (compat, coded[0])]
            assert abs(sizes[0] - sizes[1]) <= 0.05 * sizes[0] + 8, sizes


def test_invalid_stage_level_and_positional_size_are_refused():
    model = ScaleHyperpriorVbr(8, 12).eval()
    model.update()
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match="stage"):
        model.compress(x, stage=3)
    with pytest.raises(ValueError, match="range"):
        model.compress(x, s=8)
    coded = model.compress(x)
    with pytest.raises(TypeError, match="x_size"):
        model.decompress(coded["strings"], coded["shape"], (64, 64))


def test_zoo_entries_have_compressai_names_sizes_and_weight_files():
    from neuralcodec import zoo
    from neuralcodec.settings import check_rate_point

    expected = {
        "bmshj2018-hyperprior-vbr": (ScaleHyperpriorVbr, "bmshj2018-hyperprior-mse-vbr-cddd26be.pth.tar"),
        "mbt2018-mean-vbr": (MeanScaleHyperpriorVbr, "mbt2018-mean-mse-vbr-45d095e9.pth.tar"),
        "mbt2018-vbr": (JointAutoregressiveHierarchicalPriorsVbr, "mbt2018-mse-vbr-f12581a1.pth.tar"),
    }
    assert set(zoo.VBR_ARCHITECTURES) == {*expected, "elic-lite-vbr", "mbt2018-mean-gained", "mbt2018-mean-ladder"}  # our own: no published weights
    for name, (cls, file_name) in expected.items():
        entry = zoo.image_models[name]
        assert entry.__name__ == name.replace("-", "_")
        model = entry()  # quality=0, CompressAI's default: ignored
        assert type(model) is cls and (model.N, model.M) == (192, 320)
        assert type(entry(quality=5)) is cls
        for quality in range(1, 9):
            check_rate_point(quality, name)
            assert zoo.weights_url(name, "mse", quality) == zoo.BASE_URL + file_name
        with pytest.raises(ValueError, match="ms-ssim"):
            zoo.weights_url(name, "ms-ssim", 1)


def test_from_state_dict_reads_vr_entbttlnck_off_the_checkpoint():
    with_step = ScaleHyperpriorVbr(8, 12, vr_entbttlnck=True)
    state = {f"module.{k}": v for k, v in with_step.state_dict().items()}  # DataParallel names too
    state["QuantOffset"] = torch.zeros(1)  # dropped, as CompressAI does
    assert ScaleHyperpriorVbr.from_state_dict(state).vr_entbttlnck
    assert not MeanScaleHyperpriorVbr.from_state_dict(MeanScaleHyperpriorVbr(8, 12).state_dict()).vr_entbttlnck
