"""Latent codecs and the models built on them against CompressAI 1.2.8, from committed data.

``tests/fixtures/compressai/latent_codecs.npz`` was recorded by
``make_latent_codec_vectors.py`` (beside it) in a venv with compressai 1.2.8: each latent
codec on its own (fed recorded inputs) and the four models at small sizes, with their
state_dicts after ``update(force=True)``, ``forward`` in evaluation mode, ``compress``
strings and ``decompress`` outputs; and the state_dict key names and shapes of the four
models at CompressAI's default sizes.

The CDF tables come from the recorded state_dicts (never rebuilt here), and every coded
value was checked by the script to lie at least 2e-4 from a rounding tie (and every scale
from a table boundary), so the strings are compared exactly on any CPU; floats are
compared to 1e-5.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from compressai_vectors import Vectors
from torch import nn

import neuralcodec.latent_codecs as lc
from neuralcodec import layers, models
from neuralcodec.entropy_models import EntropyBottleneck, GaussianConditional
from neuralcodec.latent_codecs import (
    ChannelGroupsNode,
    CheckerboardNode,
    EntropyBottleneckNode,
    GaussianConditionalNode,
    HyperNode,
    HyperpriorNode,
    ModelDescription,
    to_dict,
)

PATH = Path(__file__).parent / "fixtures" / "compressai" / "latent_codecs.npz"
SHARED_TABLE = "shared/gaussian_conditional._quantized_cdf"
NAMESPACE: Dict[str, Any] = {
    **vars(lc),
    **vars(models),
    "nn": nn,
    "EntropyBottleneck": EntropyBottleneck,
    "GaussianConditional": GaussianConditional,
    "MaskedConv2d": layers.MaskedConv2d,
    "CheckerboardMaskedConv2d": layers.CheckerboardMaskedConv2d,
}


VECTORS = Vectors(PATH.name)
_arrays = VECTORS.arrays
tensor = VECTORS.tensor


def names(key: str) -> List[str]:
    return [str(s) for s in _arrays()[key] if str(s)]


CODECS = names("meta/codec_cases")
MODELS = names("meta/model_cases")


def reference_state(case: str) -> Dict[str, torch.Tensor]:
    prefix = f"{case}/state/"
    state = {key[len(prefix) :]: tensor(key) for key in _arrays() if key.startswith(prefix)}
    for key in names(f"{case}/shared_keys"):
        state[key] = tensor(SHARED_TABLE)
    return state


def reference_strings(case: str) -> List[List[bytes]]:
    groups: List[List[bytes]] = []
    while f"{case}/strings/{len(groups)}/0" in _arrays():
        i, group = len(groups), []
        while f"{case}/strings/{i}/{len(group)}" in _arrays():
            group.append(_arrays()[f"{case}/strings/{i}/{len(group)}"].tobytes())
        groups.append(group)
    return groups


def reference_shape(case: str) -> Any:
    return ast.literal_eval(str(_arrays()[f"{case}/shape"]))


def outputs(case: str, part: str) -> Dict[str, torch.Tensor]:
    prefix = f"{case}/{part}/"
    return {key[len(prefix) :]: tensor(key) for key in _arrays() if key.startswith(prefix)}


def flatten(value: Any, prefix: str = "") -> Dict[str, torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    flat: Dict[str, torch.Tensor] = {}
    for key, item in value.items():
        if key in ("strings", "shape", "x_size"):
            continue
        flat.update(flatten(item, f"{prefix}/{key}" if prefix else key))
    return flat


def assert_outputs(ours: Any, case: str, part: str) -> None:
    expected = outputs(case, part)
    got = flatten(ours)
    assert set(got) == set(expected), (set(got), set(expected))
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, atol=1e-5, rtol=1e-5, msg=f"{case} {part}/{key}")


def build(case: str) -> nn.Module:
    module = eval(str(_arrays()[f"{case}/ctor"]), NAMESPACE)
    module.load_state_dict(reference_state(case))
    return module.eval()


def codec_inputs(case: str, key: str) -> List[torch.Tensor]:
    return [tensor(f"{case}/input/{name}") for name in names(f"{case}/{key}")]


def test_the_reference_file_covers_every_codec_and_the_four_models():
    assert str(_arrays()["meta/compressai_version"]) == "1.2.8"
    assert set(MODELS) == {
        "bmshj2018-factorized-relu",
        "cheng2020-anchor-checkerboard",
        "elic2022-official",
        "elic2022-chandelier",
    }
    ctors = " ".join(str(_arrays()[f"codec/{c}/ctor"]) for c in CODECS)
    for name in lc.__all__:
        if name.endswith("LatentCodec") and name != "LatentCodec":
            assert name in ctors, name


# ----------------------------------------------------------------- latent codecs alone
@pytest.mark.parametrize("case", [f"codec/{c}" for c in CODECS])
def test_a_compressai_latent_codec_state_dict_loads_with_the_same_keys(case):
    reference = reference_state(case)
    ours = build(case).state_dict()
    assert set(ours) == set(reference)
    for key, value in reference.items():
        assert ours[key].dtype == value.dtype and torch.equal(ours[key], value), key


@pytest.mark.parametrize("case", [f"codec/{c}" for c in CODECS])
def test_latent_codec_forward_matches_compressai(case):
    with torch.no_grad():
        out = build(case)(*codec_inputs(case, "args"))
    assert_outputs(out, case, "forward")


@pytest.mark.parametrize("case", [f"codec/{c}" for c in CODECS])
def test_latent_codec_compress_gives_compressai_strings_byte_for_byte(case):
    with torch.no_grad():
        out = build(case).compress(*codec_inputs(case, "args"))
    assert out["strings"] == reference_strings(case)
    assert _plain(out["shape"]) == reference_shape(case)
    assert_outputs(out, case, "compress")


@pytest.mark.parametrize("case", [f"codec/{c}" for c in CODECS])
def test_latent_codec_decompress_of_compressai_strings_gives_its_output(case):
    codec = build(case)
    with torch.no_grad():
        out = codec.decompress(reference_strings(case), reference_shape(case), *codec_inputs(case, "decompress_args"))
    if outputs(case, "decompress"):
        assert_outputs(out, case, "decompress")
    else:  # CompressAI cannot decode these (see the script); ours gives what compress coded
        torch.testing.assert_close(out["y_hat"], tensor(f"{case}/compress/y_hat"), atol=1e-5, rtol=1e-5)


def _plain(shape: Any) -> Any:
    if isinstance(shape, dict):
        return {key: _plain(value) for key, value in shape.items()}
    if isinstance(shape, (list, tuple, torch.Size)):
        return [_plain(s) for s in shape]
    return int(shape)


# ----------------------------------------------------------------- models
def loaded_model(case: str) -> models.CompressionModel:
    ctor = str(_arrays()[f"{case}/ctor"])
    cls = getattr(models, ctor.split("(")[0])
    return cls.from_state_dict(reference_state(case)).eval()


def model_input(case: str) -> torch.Tensor:
    return tensor(f"{case}/input/x").float() / 255


@pytest.mark.parametrize("case", [f"model/{m}" for m in MODELS])
def test_compressai_model_state_dict_loads_with_from_state_dict_and_load_state_dict(case):
    reference = reference_state(case)
    fresh = build(case)  # the same constructor call as CompressAI's, then load_state_dict
    for ours in (loaded_model(case).state_dict(), fresh.state_dict()):
        assert set(ours) == set(reference)
        for key, value in reference.items():
            assert torch.equal(ours[key], value), key


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_keys_and_shapes_at_default_sizes_are_compressai_s(name):
    ctor = str(_arrays()[f"keys/{name}/ctor"])
    model = eval(ctor, NAMESPACE)
    ours = [f"{key} {'x'.join(str(s) for s in value.shape)}" for key, value in model.state_dict().items()]
    assert sorted(ours) == sorted(names(f"keys/{name}"))


@pytest.mark.parametrize("case", [f"model/{m}" for m in MODELS])
def test_model_forward_matches_compressai(case):
    with torch.no_grad():
        out = loaded_model(case)(model_input(case))
    assert_outputs(out, case, "forward")


@pytest.mark.parametrize("case", [f"model/{m}" for m in MODELS])
def test_model_compress_gives_compressai_strings_byte_for_byte(case):
    model = loaded_model(case)
    model.coding_path = "compat"  # CompressAI's strings (the engine path writes its own)
    with torch.no_grad():
        out = model.compress(model_input(case))
    assert out["strings"] == reference_strings(case)
    assert _plain(out["shape"]) == reference_shape(case)


@pytest.mark.parametrize("case", [f"model/{m}" for m in MODELS])
def test_model_decompress_of_compressai_strings_gives_its_reconstruction(case):
    model = loaded_model(case)
    model.coding_path = "compat"
    with torch.no_grad():
        x_hat = model.decompress(reference_strings(case), reference_shape(case))["x_hat"]
    torch.testing.assert_close(x_hat, tensor(f"{case}/decompress/x_hat"), atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------- descriptions
def _checkerboard(prefix: str, chunks=("scales", "means"), context_channels: int = 0) -> CheckerboardNode:
    return CheckerboardNode(
        "even",
        f"{prefix}.context_prediction",
        context_channels,
        f"{prefix}.entropy_parameters",
        GaussianConditionalNode(f"{prefix}.y.gaussian_conditional", None, chunks),
    )


def _hyper(channels: int) -> HyperNode:
    return HyperNode(
        "latent_codec.hyper.h_a",
        "latent_codec.hyper.h_s",
        EntropyBottleneckNode("latent_codec.hyper.entropy_bottleneck", channels),
    )


def test_factorized_prior_relu_describes_one_entropy_bottleneck():
    description = models.FactorizedPriorReLU(8, 12).describe()
    assert description == ModelDescription(
        "FactorizedPriorReLU", "g_a", "g_s", EntropyBottleneckNode("entropy_bottleneck", 12), 16
    )
    assert description.strings() == ("y",)


def test_cheng2020_checkerboard_describes_a_checkerboard_over_a_hyperprior():
    description = models.Cheng2020AnchorCheckerboard(8).describe()
    y = _checkerboard("latent_codec.y", context_channels=16)
    assert description == ModelDescription(
        "Cheng2020AnchorCheckerboard", "g_a", "g_s", HyperpriorNode(_hyper(8), y), 64
    )
    assert description.strings() == ("y.anchor", "y.non_anchor", "z")


@pytest.mark.parametrize(
    ("cls", "sources", "chunks"),
    [
        (models.Elic2022Official, ((), (0,), (0, 1), (0, 1, 2), (0, 1, 2, 3)), ("scales", "means")),
        (models.Elic2022Chandelier, ((), (0,), (0, 1), (0, 2), (0, 3)), ("means", "scales")),
    ],
)
def test_elic_describes_channel_groups_of_checkerboards(cls, sources, chunks):
    description = cls(16, 160).describe()
    groups = (16, 16, 32, 64, 32)
    y = ChannelGroupsNode(
        groups,
        sources,
        (None, *(f"latent_codec.y.channel_context.y{k}" for k in range(1, 5))),
        tuple(_checkerboard(f"latent_codec.y.latent_codec.y{k}", chunks, 2 * g) for k, g in enumerate(groups)),
    )
    assert description == ModelDescription(cls.__name__, "g_a", "g_s", HyperpriorNode(_hyper(16), y), 64)
    assert description.strings() == (
        *(f"y{k}.{step}" for k in range(5) for step in ("anchor", "non_anchor")),
        "z",
    )
    plain = to_dict(description)
    assert plain["latent_codec"]["y"]["kind"] == "channel_groups"
    assert plain["latent_codec"]["y"]["context_groups"][3] == list(sources[3])


def _prefixes(value: Any) -> List[str]:
    """Every network or entropy-model prefix in a :func:`to_dict` description."""
    if isinstance(value, list):
        return [p for item in value for p in _prefixes(item)]
    if not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        if isinstance(item, str) and key in ("g_a", "g_s", "h_a", "h_s", "entropy_bottleneck",
                                             "gaussian_conditional", "entropy_parameters", "context_prediction"):
            found.append(item)
        elif key == "channel_context":
            found += [p for p in item if p is not None]
        else:
            found += _prefixes(item)
    return found


def test_every_prefix_in_a_description_is_a_module_of_the_model():
    for model in (models.Elic2022Chandelier(8, 16, groups=[2, 2, 4, 8]), models.Cheng2020AnchorCheckerboard(8)):
        modules = dict(model.named_modules())
        prefixes = _prefixes(to_dict(model.describe()))
        assert len(prefixes) > 5
        assert [p for p in prefixes if p not in modules] == []


def test_a_custom_composition_codes_and_decodes_and_describes_itself():
    """Channel groups without checkerboard over a scale-and-mean hyperprior."""
    torch.manual_seed(0)
    hyper = lc.HyperLatentCodec(
        entropy_bottleneck=EntropyBottleneck(4),
        h_a=nn.Conv2d(6, 4, 3, stride=2, padding=1),
        h_s=nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1),
    )
    groups = lc.ChannelGroupsLatentCodec(
        groups=[2, 4],
        channel_context={"y1": nn.Conv2d(2, 4, 3, padding=1)},
        latent_codec={
            "y0": lc.GaussianConditionalLatentCodec(),
            "y1": lc.GaussianConditionalLatentCodec(entropy_parameters=nn.Conv2d(8, 8, 1)),
        },
    )
    codec = lc.HyperpriorLatentCodec({"y": groups, "hyper": hyper}).eval()
    for module in codec.modules():
        if isinstance(module, GaussianConditional):
            module.update_scale_table(models.get_scale_table())
        elif isinstance(module, EntropyBottleneck):
            module.update()
    y = torch.randn(2, 6, 8, 8) * 3
    with torch.no_grad():
        out = codec.compress(y)
        back = codec.decompress(out["strings"], out["shape"])
    torch.testing.assert_close(back["y_hat"], out["y_hat"])
    assert codec.describe().strings() == ("y0", "y1", "z")
    assert len(out["strings"]) == 3
