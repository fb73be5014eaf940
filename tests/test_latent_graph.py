"""The engine path of the parallel-context models (checkerboard, channel groups, ELIC,
and compositions users write): coded from the model's description by one Rust call per
latent; agreement with the PyTorch (compat) path, exact round trips, determinism across
threads, kernels and encoder-side arithmetic, and committed golden bits."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import torch
from codec_models import image
from neuralcodec import engine
from neuralcodec.ans import StreamError
from neuralcodec.entropy_models import EntropyBottleneck, bound_tables
from neuralcodec.latent_codecs import (
    ChannelGroupsLatentCodec,
    CheckerboardLatentCodec,
    GaussianConditionalLatentCodec,
    HyperLatentCodec,
    HyperpriorLatentCodec,
)
from neuralcodec.layers import CheckerboardMaskedConv2d
from neuralcodec.models import CompressionModel
from neuralcodec.models.elic import Cheng2020AnchorCheckerboard, Elic2022Chandelier, Elic2022Official
from neuralcodec.models.elic_lite import ElicLiteVbr
from neuralcodec.models.gain_units import GainedRates
from neuralcodec.models.gained import MeanScaleHyperpriorGained
from neuralcodec.models.hyperprior import conv, deconv
from neuralcodec.models.simple_vae import SimpleVAECompressionModel
from neuralcodec.models.vbr import JointAutoregressiveHierarchicalPriorsVbr, MeanScaleHyperpriorVbr, ScaleHyperpriorVbr
from torch import nn


class ChannelGroupsOnly(SimpleVAECompressionModel):
    """A composition no shipped model has: channel groups without a spatial context,
    each group's parameters from a pointwise network over ``cat(channel context, h_s)``."""

    downsampling_factor = 32

    def __init__(self, N: int = 8, M: int = 12, groups=(4, 8)) -> None:
        super().__init__()
        self.N, self.M = N, M
        self.g_a = nn.Sequential(conv(3, N), nn.ReLU(), conv(N, M, stride=2), conv(M, M, stride=2), conv(M, M, stride=2))
        self.g_s = nn.Sequential(deconv(M, N), nn.ReLU(), deconv(N, N), deconv(N, N), deconv(N, 3))
        groups = list(groups)
        codecs = {}
        for k, g in enumerate(groups):
            read = 2 * M + (2 * g if k else 0)
            codecs[f"y{k}"] = GaussianConditionalLatentCodec(
                entropy_parameters=nn.Sequential(nn.Conv2d(read, 3 * g, 1), nn.LeakyReLU(), nn.Conv2d(3 * g, 2 * g, 1)),
                quantizer="ste",
            )
        contexts = {f"y{k}": conv(sum(groups[:k]), 2 * g, kernel_size=3, stride=1) for k, g in enumerate(groups) if k}
        self.latent_codec = HyperpriorLatentCodec(
            latent_codec={
                "y": ChannelGroupsLatentCodec(latent_codec=codecs, channel_context=contexts, groups=groups),
                "hyper": HyperLatentCodec(
                    entropy_bottleneck=EntropyBottleneck(N),
                    h_a=nn.Sequential(conv(M, N, kernel_size=3, stride=1), nn.ReLU(), conv(N, N)),
                    h_s=nn.Sequential(deconv(N, N), nn.ReLU(), conv(N, 2 * M, kernel_size=3, stride=1)),
                ),
            }
        )


class ScaleOnlyCheckerboard(SimpleVAECompressionModel):
    """A checkerboard over a scale-only hyperprior (zero means)."""

    downsampling_factor = 32

    def __init__(self, N: int = 8, M: int = 10) -> None:
        super().__init__()
        self.N, self.M = N, M
        self.g_a = nn.Sequential(conv(3, N), nn.ReLU(), conv(N, M, stride=2), conv(M, M, stride=2), conv(M, M, stride=2))
        self.g_s = nn.Sequential(deconv(M, N), nn.ReLU(), deconv(N, N), deconv(N, N), deconv(N, 3))
        self.latent_codec = HyperpriorLatentCodec(
            latent_codec={
                "y": CheckerboardLatentCodec(
                    latent_codec={"y": GaussianConditionalLatentCodec(chunks=("scales",), quantizer="ste")},
                    entropy_parameters=nn.Sequential(nn.Conv2d(M + M, M, 1), nn.ReLU(), nn.Conv2d(M, M, 1)),
                    context_prediction=CheckerboardMaskedConv2d(M, M, kernel_size=5, padding=2),
                ),
                "hyper": HyperLatentCodec(
                    entropy_bottleneck=EntropyBottleneck(N),
                    h_a=nn.Sequential(conv(M, N, kernel_size=3, stride=1), nn.ReLU(), conv(N, N)),
                    h_s=nn.Sequential(deconv(N, N), nn.ReLU(), conv(N, M, kernel_size=3, stride=1)),
                ),
            }
        )


BUILDERS: Dict[str, Callable[[], CompressionModel]] = {
    "cheng2020-anchor-checkerboard": lambda: Cheng2020AnchorCheckerboard(16),
    "elic2022-official": lambda: Elic2022Official(16, 24, groups=[4, 4, 8, 8]),
    "elic2022-chandelier": lambda: Elic2022Chandelier(16, 24, groups=[4, 4, 8, 8]),
    "elic-lite-vbr": lambda: ElicLiteVbr(16, 24, groups=[4, 4, 8, 8], context_channels=16, aggregation_channels=(24, 16)),
    "mbt2018-mean-gained": lambda: MeanScaleHyperpriorGained(16, 24),
    "channel-groups-only": lambda: ChannelGroupsOnly(),
    "checkerboard-scales-only": lambda: ScaleOnlyCheckerboard(),
}
NAMES = list(BUILDERS)
#: CompressAI's variable-rate models on the engine path (gain, reconstruction offsets and,
#: in mbt2018-vbr, the gain's context term and the offsets fed back as context), coded at
#: the gain ``VBR_GAIN``.
VBR_BUILDERS: Dict[str, Callable[[], CompressionModel]] = {
    "mbt2018-mean-vbr": lambda: MeanScaleHyperpriorVbr(16, 24),
    "mbt2018-vbr": lambda: JointAutoregressiveHierarchicalPriorsVbr(16, 24),
}
ALL_BUILDERS = {**BUILDERS, **VBR_BUILDERS}
QUALITY = 2.5  # between two levels of the models with gain units: the interpolated gains
VBR_GAIN = 2.5  # CompressAI's variable-rate models at this gain: many nonzero symbols


def build(name: str, seed: int = 0) -> CompressionModel:
    """A small ``name`` with built tables; the last analysis convolution is scaled up so
    the latents span many quantization steps."""
    torch.manual_seed(seed)
    model = ALL_BUILDERS[name]().eval()
    with torch.no_grad():
        [m for m in model.g_a.modules() if isinstance(m, nn.Conv2d)][-1].weight.mul_(20)
    model.update(force=True)
    return model


def coding_args(model: CompressionModel) -> Dict[str, Any]:
    if isinstance(model, ScaleHyperpriorVbr):
        return {"inputscale": torch.tensor(VBR_GAIN)}
    return {"quality": QUALITY} if isinstance(model, GainedRates) else {}


def graph_inputs(model: CompressionModel, x: torch.Tensor):
    """``(y, z_hat as h_s reads it, gain)`` as the engine path of ``compress`` computes them."""
    with torch.no_grad():
        compressed = model.compress(x, **coding_args(model))
        y = model._analyze(x, True)
        z_hat = [m for m in model.modules() if isinstance(m, EntropyBottleneck)][0].decompress(
            compressed["strings"][-1], compressed["shape"]
        )
        gain = None
        if isinstance(model, ScaleHyperpriorVbr):
            gain = model.engine_gain(**coding_args(model))
        if isinstance(model, GainedRates):
            gains = model.gains(QUALITY)
            z_hat = z_hat * gains["z_gain_inv"]
            gain = (gains["y_gain"].reshape(-1), gains["y_gain_inv"].reshape(-1))
    return compressed, y, z_hat, gain


def digest(*items: Any) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(item.detach().cpu().contiguous().numpy().tobytes() if isinstance(item, torch.Tensor) else bytes(item))
    return h.hexdigest()


@pytest.mark.parametrize("name", NAMES)
def test_engine_path_round_trips_and_agrees_with_the_compat_path(name):
    model = build(name)
    x = image(64, 96, seed=2)
    args = coding_args(model)
    with torch.no_grad(), bound_tables():  # both paths with the same tables
        compressed = model.compress(x, **args)
        assert len(compressed["strings"]) == 2 and len(compressed["shape"]) == 2  # [y, z]; z's (h, w)
        decoded = model.decompress(compressed["strings"], compressed["shape"], x_size=compressed["x_size"], **args)
        compat = model.compress(x, coding_path="compat", **args)
        compat_decoded = model.decompress(
            compat["strings"], compat["shape"], x_size=compat["x_size"], coding_path="compat", **args
        )
    assert decoded["x_hat"].shape == x.shape
    # The engine's y_hat is the compat path's up to the float rounding of the parameters.
    torch.testing.assert_close(decoded["x_hat"], compat_decoded["x_hat"], atol=1e-3, rtol=0)
    _, y, z_hat, gain = graph_inputs(model, x)
    strings, y_hat = engine.compress_graph(model, y, z_hat, gain=gain)
    assert strings == compressed["strings"][0]
    assert torch.equal(engine.decompress_graph(model, strings, z_hat, gain=gain), y_hat)
    if gain is not None:  # quantization in the gained domain: y * gain, y_hat / inverse gain
        y, y_hat = y * gain[0].view(1, -1, 1, 1), y_hat / gain[1].view(1, -1, 1, 1)
    assert bool(((y - y_hat).abs() <= 0.5 + 1e-4).all())


@pytest.mark.parametrize("name", NAMES)
def test_engine_rate_is_within_half_a_percent_of_the_compat_path(name):
    """The same symbols with the same tables: the engine's one string per latent differs
    from the compat path's strings (one per group and pass) by their flushes only."""
    model = build(name, seed=3)
    x = image(384, 384, seed=3)
    args = coding_args(model)
    with torch.no_grad(), bound_tables():  # both paths with the same tables
        engine_strings = model.compress(x, **args)["strings"]
        compat_strings = model.compress(x, coding_path="compat", **args)["strings"]
    engine_bytes = len(engine_strings[0][0])
    compat_bytes = sum(len(s[0]) for s in compat_strings[:-1])
    assert compat_bytes > 500  # enough symbols for the comparison to mean something
    flushes = 8 * (len(compat_strings) - 2)  # a string ends in its 4-byte state and a partial word
    assert engine_bytes <= compat_bytes
    assert compat_bytes - flushes - engine_bytes <= 0.005 * compat_bytes, (engine_bytes, compat_bytes)


@pytest.mark.parametrize("name", ["elic2022-official", "elic-lite-vbr", "mbt2018-vbr", "mbt2018-mean-gained"])
def test_threads_and_the_scalar_kernel_give_identical_bytes_and_latents(name, monkeypatch):
    model = build(name)
    _, y, z_hat, gain = graph_inputs(model, image(128, 128, seed=4))
    strings, y_hat = engine.compress_graph(model, y, z_hat, gain=gain, threads=1)
    for threads in (2, 3, 8):
        again = engine.compress_graph(model, y, z_hat, gain=gain, threads=threads)
        assert again[0] == strings and torch.equal(again[1], y_hat), threads
        assert torch.equal(engine.decompress_graph(model, strings, z_hat, gain=gain, threads=threads), y_hat)
    vector = engine.latent_graph(model)
    monkeypatch.setenv("NEURALCODEC_ENGINE_SCALAR", "1")
    scalar = engine.latent_graph(model)
    assert scalar is not vector and scalar.kernel == "scalar" and vector.kernel == "vector"
    again = engine.compress_graph(model, y, z_hat, gain=gain, threads=2)
    assert again[0] == strings and torch.equal(again[1], y_hat)
    assert torch.equal(engine.decompress_graph(model, strings, z_hat, gain=gain), y_hat)


@pytest.mark.parametrize("name", ["elic2022-chandelier", "elic-lite-vbr", "mbt2018-vbr", "mbt2018-mean-gained"])
def test_torch_intra_op_threads_do_not_change_what_a_stream_decodes_to(name):
    """Whatever PyTorch's threads do to ``y`` on the encoder's side, each stream decodes to
    the same latent under any of them (the decoder's torch work is exact: dequantizing
    ``z``, a gain multiply)."""
    model = build(name)
    args = coding_args(model)
    x = image(64, 64, seed=6)
    seen: list = []
    handle = model.g_s.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].clone()))
    previous = torch.get_num_threads()
    try:
        for encoder_threads in (1, 2):
            torch.set_num_threads(encoder_threads)
            with torch.no_grad():
                compressed = model.compress(x, **args)
            decoded = []
            for decoder_threads in (1, 2):
                torch.set_num_threads(decoder_threads)
                seen.clear()
                with torch.no_grad():
                    model.decompress(compressed["strings"], compressed["shape"], **args)
                decoded.append(seen[0])
            assert torch.equal(decoded[0], decoded[1])
    finally:
        torch.set_num_threads(previous)
        handle.remove()


class Float64(nn.Module):
    """Runs a module in float64 and returns float32, like an encoder on other hardware."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.double()).float()


@pytest.mark.parametrize("name", ["elic2022-chandelier", "elic-lite-vbr", "mbt2018-vbr", "mbt2018-mean-gained"])
def test_an_encoder_in_float64_or_with_perturbed_latents_still_round_trips_exactly(name):
    model = build(name)
    x = image(64, 64, seed=5)
    args = coding_args(model)
    model64 = copy.deepcopy(model)
    model64.g_a = Float64(model64.g_a)
    _, y32, z_hat, gain = graph_inputs(model, x)
    _, y64, _, _ = graph_inputs(model64, x)
    perturbed = y32 + 1e-4 * torch.randn(y32.shape, generator=torch.Generator().manual_seed(5))
    for y in (y64, perturbed, y32.round() + 0.5):  # + 0.5: values on rounding ties
        strings, y_hat = engine.compress_graph(model, y, z_hat, gain=gain)
        assert torch.equal(engine.decompress_graph(model, strings, z_hat, gain=gain), y_hat)
    with torch.no_grad():
        compressed = model64.compress(x, **args)
        # The float32 decoder decodes what the float64 encoder wrote.
        decoded = model.decompress(compressed["strings"], compressed["shape"], x_size=compressed["x_size"], **args)
    assert decoded["x_hat"].shape == x.shape


@pytest.mark.parametrize("name", ["elic2022-official", "checkerboard-scales-only", "mbt2018-vbr"])
def test_truncated_or_corrupted_strings_raise_instead_of_decoding(name):
    model = build(name)
    with torch.no_grad():
        compressed = model.compress(image(64, 64))
        y_string = compressed["strings"][0][0]
        flipped = bytearray(y_string)
        flipped[len(flipped) // 2] ^= 0x10
        for bad in (y_string[:-4], y_string[:6], b"", y_string + b"\0\0\0\1", bytes(flipped)):
            with pytest.raises((StreamError, ValueError)):
                model.decompress([[bad], compressed["strings"][1]], compressed["shape"])


def test_what_the_engine_cannot_code_is_refused_with_the_module_named():
    model = build("checkerboard-scales-only")
    checkerboard = model.latent_codec["y"]
    checkerboard.entropy_parameters[0] = nn.Conv2d(20, 10, 3, padding=1)  # spatial: not pointwise
    with pytest.raises(engine.EngineUnsupportedError, match="entropy_parameters"):
        engine.latent_graph(model)
    model = build("elic2022-official")
    model.latent_codec["y"].channel_context["y1"].append(nn.Sigmoid())
    with pytest.raises(engine.EngineUnsupportedError, match="Sigmoid"):
        engine.latent_graph(model)
    lite = build("elic-lite-vbr")
    _, y, z_hat, _ = graph_inputs(lite, image(64, 64))
    with pytest.raises(ValueError, match="gain"):
        engine.compress_graph(lite, y, z_hat)
    fresh = BUILDERS["elic2022-official"]().eval()
    with pytest.raises(ValueError, match="update"):
        engine.latent_graph(fresh)


def test_the_graph_is_rebuilt_when_weights_change():
    model = build("elic2022-official")
    first = engine.latent_graph(model)
    assert engine.latent_graph(model) is first
    with torch.no_grad():
        model.latent_codec["y"].channel_context["y2"][0].bias.add_(1.0)
    assert engine.latent_graph(model) is not first


def test_engine_and_compat_paths_are_chosen_per_call_without_changing_the_model():
    model = build("cheng2020-anchor-checkerboard")
    x = image(64, 64)
    with torch.no_grad(), bound_tables():  # both paths with the same tables
        compat = model.compress(x, coding_path="compat")
        assert model.coding_path == "engine"
        assert len(compat["strings"]) == 3  # anchors, non-anchors, z
        assert len(model.compress(x)["strings"]) == 2
        with pytest.raises(ValueError, match="coding_path"):
            model.compress(x, coding_path="gpu")


# ------------------------------------------------------------------ golden vectors

GOLDEN = Path(__file__).parent / "fixtures" / "engine"
GOLDEN_CASES = (
    "cheng2020-anchor-checkerboard", "elic-lite-vbr", "channel-groups-only", "mbt2018-mean-vbr", "mbt2018-vbr",
    "mbt2018-mean-gained",
)


def _golden() -> Any:
    sys.path.insert(0, str(GOLDEN))
    try:
        import make_graph_golden
    finally:
        sys.path.pop(0)
    return make_graph_golden


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_vectors_decode_and_reencode_to_the_committed_bits(name):
    """Any change of the graph engine's output is a bitstream format change and fails
    here (tests/fixtures/engine/make_graph_golden.py makes the fixtures)."""
    golden = _golden()
    expected = json.loads((GOLDEN / "graph_golden.json").read_text())[name]
    model, y, z_hat, gain, string = golden.load_case(GOLDEN, name, ALL_BUILDERS[name])
    y_hat = engine.decompress_graph(model, [string], z_hat, gain=gain)
    assert digest(y_hat) == expected["y_hat_sha256"]
    again, y_hat_encoder = engine.compress_graph(model, y, z_hat, gain=gain)
    assert again == [string] and digest(string) == expected["string_sha256"]
    assert engine.encode_graph(model, y, z_hat, gain=gain) == [string]  # (the strings alone)
    assert torch.equal(y_hat_encoder, y_hat)


def test_the_container_stores_the_engine_path_and_refuses_compat_nested_strings():
    from neuralcodec.codec.api import Codec

    model = build("elic2022-official")
    codec = Codec(model, architecture="elic2022-official", quality=1)
    x = image(70, 90, seed=6)
    data = codec.encode(x)
    decoded = codec.decode(data, output="tensor")
    with torch.no_grad():
        compressed = model.compress(x)
        expected = model.decompress(compressed["strings"], compressed["shape"], x_size=(70, 90))["x_hat"]
    assert torch.equal(decoded, expected)
    with pytest.raises(ValueError, match="nested strings"):
        codec.encode(x, coding_path="compat")
