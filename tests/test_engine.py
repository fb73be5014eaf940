"""The Rust engine path of the hyperprior-family models: agreement with PyTorch, exact
round trips, and determinism across threads, kernels and encoder-side arithmetic."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from codec_models import FIRST_WAVE, image, widened_model
from neuralcodec import engine
from neuralcodec.ans import StreamError
from neuralcodec.entropy_models import bound_tables
from neuralcodec.models import CompressionModel

MODELS = [name for name in FIRST_WAVE if not name.startswith("bmshj2018-factorized")]


def latents(model: CompressionModel, x: torch.Tensor):
    """(y, z_strings, z_hat) as ``compress`` computes them."""
    with torch.no_grad():
        y = model._analyze(x, model._use_engine())
        z, z_strings, z_hat = model._side_information(y)
    return y, z_strings, z_hat


def digest(*items) -> str:
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, torch.Tensor):
            h.update(item.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(item, (list, tuple)):
            h.update(digest(*item).encode())
        else:
            h.update(bytes(item))
    return h.hexdigest()


@pytest.mark.parametrize("name", list(MODELS))
def test_engine_hyper_parameters_agree_with_pytorch_to_float_tolerance(name):
    model = widened_model(name)
    _, _, z_hat = latents(model, image(64, 128))
    with torch.no_grad():
        torch.testing.assert_close(engine.hyper_parameters(model, z_hat), model.h_s(z_hat), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_engine_round_trip_decodes_the_encoder_latents_exactly(name):
    model = widened_model(name)
    x = image(64, 96, batch=2)
    with torch.no_grad():
        compressed = model.compress(x)
        decoded = model.decompress(compressed["strings"], compressed["shape"], x_size=compressed["x_size"])
        y, _, z_hat = latents(model, x)
        strings, y_hat = engine.compress_graph(model, y, z_hat)
        assert strings == compressed["strings"][0]
        assert torch.equal(engine.decompress_graph(model, strings, z_hat), y_hat)
        expected = model._synthesize(y_hat).clamp(0, 1)
        assert torch.equal(decoded["x_hat"], model.crop(expected, compressed["x_size"]))
    assert decoded["x_hat"].shape == x.shape


@pytest.mark.parametrize("name", list(MODELS))
def test_engine_rate_is_within_half_a_percent_of_the_compat_path(name):
    model = widened_model(name)
    x = image(128, 192, batch=2, seed=3)
    with torch.no_grad():
        engine_bytes = sum(len(s) for s in model.compress(x)["strings"][0])
        model.coding_path = "compat"
        with bound_tables():  # both paths on the same (portable) tables
            compat_bytes = sum(len(s) for s in model.compress(x)["strings"][0])
    assert abs(engine_bytes / compat_bytes - 1) <= 0.005, (engine_bytes, compat_bytes)


@pytest.mark.parametrize("name", ["mbt2018", "cheng2020-anchor", "mbt2018-mean"])
def test_one_and_two_engine_threads_give_identical_bytes_and_latents(name):
    model = widened_model(name)
    x = image(64, 128)
    y, _, z_hat = latents(model, x)
    with torch.no_grad():
        params = [engine.hyper_parameters(model, z_hat, threads=t) for t in (1, 2)]
        assert digest(params[0]) == digest(params[1])
        one = engine.compress_graph(model, y, z_hat, threads=1)
        two = engine.compress_graph(model, y, z_hat, threads=2)
        assert one[0] == two[0]
        assert torch.equal(one[1], two[1])
        decoded = [engine.decompress_graph(model, one[0], z_hat, threads=t) for t in (1, 2)]
        assert torch.equal(decoded[0], one[1]) and torch.equal(decoded[1], one[1])


def compressai_sized(name: str) -> tuple:
    """``(model, y, z_hat)`` for ``name`` at CompressAI's quality-1 sizes (N = 128), random
    weights widened like :func:`widened_model`, on a 96x64 image: large enough that the
    engine splits its layers and coding loop over threads, by rows and by panels."""
    from neuralcodec import zoo

    torch.manual_seed(0)
    model = zoo.load_model(name, quality=1, pretrained=False).eval()
    with torch.no_grad():
        last_conv = [m for m in model.g_a.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        last_conv.weight.mul_(20)
    model.update(force=True)
    y, _, z_hat = latents(model, image(64, 96))
    return model, y, z_hat


@pytest.mark.parametrize("name", ["cheng2020-anchor", "mbt2018-mean"])
def test_many_engine_threads_on_a_full_size_model_give_the_same_bits(name):
    """Thread counts that leave some threads without work (up to 16) must not matter."""
    model, y, z_hat = compressai_sized(name)
    with torch.no_grad():
        params = [digest(engine.hyper_parameters(model, z_hat, threads=t)) for t in (1, 3, 8, 16)]
        assert len(set(params)) == 1
        strings, y_hat = engine.compress_graph(model, y, z_hat, threads=1)
        for threads in (3, 5, 8, 16):
            again = engine.compress_graph(model, y, z_hat, threads=threads)
            assert again[0] == strings and torch.equal(again[1], y_hat), threads
            assert torch.equal(engine.decompress_graph(model, strings, z_hat, threads=threads), y_hat), threads


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc")
def test_asking_for_absurdly_many_engine_threads_starts_no_more_than_the_machine_has():
    model, y, z_hat = compressai_sized("cheng2020-anchor")
    expected, _ = engine.compress_graph(model, y, z_hat, threads=1)
    before = len(os.listdir("/proc/self/task"))
    strings, _ = engine.compress_graph(model, y, z_hat, threads=100_000)
    started = len(os.listdir("/proc/self/task")) - before
    assert strings == expected
    assert started <= max(os.cpu_count() or 1, 2)


#: What a forked child codes (set by the parent before the fork; fork copies it).
_FORKED_CASE: tuple = ()


def _code_in_forked_child() -> list:
    model, y, z_hat = _FORKED_CASE
    return engine.compress_graph(model, y, z_hat)[0]


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_of_a_process_with_engine_threads_codes_without_hanging():
    """The engine keeps worker threads between calls; a forked child has none of them and
    must build its own instead of waiting on the parent's forever."""
    global _FORKED_CASE
    import multiprocessing

    model, y, z_hat = compressai_sized("cheng2020-anchor")
    engine.set_num_threads(2)
    try:
        expected, _ = engine.compress_graph(model, y, z_hat)  # the parent's pool now exists
        _FORKED_CASE = (model, y, z_hat)
        with multiprocessing.get_context("fork").Pool(1) as workers:
            strings = workers.apply_async(_code_in_forked_child).get(timeout=120)
    finally:
        engine.set_num_threads(None)  # back to the default, not to a sticky override of its value
        _FORKED_CASE = ()
    assert strings == expected


SUBPROCESS_SCRIPT = r"""
import sys, torch
from neuralcodec import engine
from neuralcodec.models import JointAutoregressiveHierarchicalPriors
state = torch.load(sys.argv[1])
model = JointAutoregressiveHierarchicalPriors.from_state_dict(state["model"]).eval()
threads = int(sys.argv[2])
strings, y_hat = engine.compress_graph(model, state["y"], state["z_hat"], threads=threads)
decoded = engine.decompress_graph(model, strings, state["z_hat"], threads=threads)
assert torch.equal(decoded, y_hat)
native = engine.latent_graph(model)
print(native.kernel, strings[0].hex(), y_hat.numpy().tobytes().hex())
"""


def test_the_scalar_kernel_in_a_subprocess_gives_identical_bytes_and_latents(tmp_path):
    model = widened_model("mbt2018")
    y, _, z_hat = latents(model, image(64, 64))
    path = tmp_path / "state.pt"
    torch.save({"model": model.state_dict(), "y": y, "z_hat": z_hat}, path)
    outputs = {}
    for scalar, threads in [("0", "1"), ("1", "1"), ("1", "2")]:
        env = dict(os.environ, NEURALCODEC_ENGINE_SCALAR=scalar)
        run = subprocess.run(
            [sys.executable, "-c", SUBPROCESS_SCRIPT, str(path), threads],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        kernel, data, latent = run.stdout.split()
        assert kernel == ("scalar" if scalar == "1" else "vector")
        outputs[(scalar, threads)] = (data, latent)
    strings, y_hat = engine.compress_graph(model, y, z_hat)
    here = (strings[0].hex(), y_hat.numpy().tobytes().hex())
    assert all(value == here for value in outputs.values())


def test_torch_intra_op_threads_do_not_change_the_decoded_latents():
    model = widened_model("mbt2018")
    x = image(64, 64)
    previous = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.no_grad():
                compressed = model.compress(x)
                z_hat = model.entropy_bottleneck.decompress(compressed["strings"][1], compressed["shape"])
                results.append((compressed, engine.decompress_graph(model, compressed["strings"][0], z_hat)))
        # Whatever the encoder's threads did to y, each stream decodes the same way
        # under either thread count.
        for compressed, y_hat in results:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                z_hat = model.entropy_bottleneck.decompress(compressed["strings"][1], compressed["shape"])
                assert torch.equal(engine.decompress_graph(model, compressed["strings"][0], z_hat), y_hat)
    finally:
        torch.set_num_threads(previous)


class Float64(torch.nn.Module):
    """Runs a module in float64 and returns float32, like an encoder on other hardware."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.double()).float()


@pytest.mark.parametrize("name", ["mbt2018", "cheng2020-anchor"])
def test_an_encoder_in_float64_or_with_perturbed_latents_still_round_trips_exactly(name):
    model = widened_model(name)
    x = image(64, 64)
    y32, _, z_hat = latents(model, x)
    import copy

    model64 = copy.deepcopy(model)
    model64.g_a = Float64(model64.g_a)
    y64, _, _ = latents(model64, x)
    generator = torch.Generator().manual_seed(5)
    perturbed = y32 + 1e-4 * torch.randn(y32.shape, generator=generator)
    for y in (y64, perturbed, y32 + 0.5):  # + 0.5 puts many values on rounding ties
        strings, y_hat = engine.compress_graph(model, y, z_hat)
        assert torch.equal(engine.decompress_graph(model, strings, z_hat), y_hat)
    with torch.no_grad():
        compressed = model64.compress(x)
        decoded = model64.decompress(compressed["strings"], compressed["shape"])
    assert decoded["x_hat"].shape == x.shape


@pytest.mark.parametrize("name", ["mbt2018", "mbt2018-mean", "bmshj2018-hyperprior"])
def test_truncated_or_corrupted_strings_raise_instead_of_decoding(name):
    model = widened_model(name)
    with torch.no_grad():
        compressed = model.compress(image(64, 64))
        y_string = compressed["strings"][0][0]
        flipped = bytearray(y_string)
        flipped[len(flipped) // 2] ^= 0x10
        for bad in (y_string[:-4], y_string[:6], b"", y_string + b"\0\0\0\1", bytes(flipped)):
            with pytest.raises((StreamError, ValueError)):
                model.decompress([[bad], compressed["strings"][1]], compressed["shape"])


def test_engine_arguments_are_checked_with_clear_errors():
    model = widened_model("mbt2018")
    _, _, z_hat = latents(model, image(64, 64))
    native = engine.latent_graph(model)
    with pytest.raises(ValueError, match="channels"):
        native.hyper(np.zeros((1, 1, 3), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        native.hyper(np.zeros((2, 2, 8), np.float32)[:, ::-1])
    z = z_hat[0].permute(1, 2, 0).contiguous().numpy()
    with pytest.raises(ValueError, match="latent"):
        native.encode(np.zeros((3, 3, 12), np.float32), z)
    with pytest.raises(ValueError, match="cannot be coded"):
        native.encode(np.full((z.shape[0] * 4, z.shape[1] * 4, 12), np.nan, np.float32), z)
    with pytest.raises(ValueError, match="gain"):
        native.encode(np.zeros((z.shape[0] * 4, z.shape[1] * 4, 12), np.float32), z, gain=np.ones(12, np.float32))
    model.coding_path = "gpu"
    with pytest.raises(ValueError, match="coding_path"):
        model.compress(image(64, 64))


def test_a_module_the_engine_cannot_run_is_refused_by_name():
    model = widened_model("bmshj2018-hyperprior")
    model.h_s.append(torch.nn.Sigmoid())
    with pytest.raises(engine.EngineUnsupportedError, match="Sigmoid"):
        engine.latent_graph(model)


def test_the_engine_is_rebuilt_when_weights_change():
    model = widened_model("mbt2018-mean")
    _, _, z_hat = latents(model, image(64, 64))
    first = engine.latent_graph(model)
    assert engine.latent_graph(model) is first
    before = engine.hyper_parameters(model, z_hat)
    with torch.no_grad():
        model.h_s[0].bias.add_(1.0)
    assert engine.latent_graph(model) is not first
    after = engine.hyper_parameters(model, z_hat)
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, model.h_s(z_hat).detach(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ golden vectors

GOLDEN = Path(__file__).parent / "fixtures" / "engine"
GOLDEN_CASES = ("mbt2018", "cheng2020-anchor", "mbt2018-mean")


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_vectors_decode_and_reencode_to_the_committed_bits(name):
    """Any change of engine output is a bitstream format change, and fails here
    (tests/fixtures/engine/make_golden.py makes the fixtures)."""
    import json

    sys.path.insert(0, str(GOLDEN))
    try:
        from make_golden import digest as golden_digest
        from make_golden import latent_and_hashes, load_case
    finally:
        sys.path.pop(0)
    expected = json.loads((GOLDEN / "golden.json").read_text())[name]
    model, x, y, strings, shape = load_case(GOLDEN, name)
    with torch.no_grad():
        params_digest, y_hat = latent_and_hashes(model, strings, shape)
        assert params_digest == expected["params_sha256"]
        assert golden_digest(y_hat) == expected["y_hat_sha256"]
        z_hat = model.entropy_bottleneck.decompress([strings[1]], shape)
        again, y_hat_encoder = engine.compress_graph(model, y, z_hat)
        assert again == [strings[0]]
        assert torch.equal(y_hat_encoder, y_hat)
        assert model.decompress([[strings[0]], [strings[1]]], shape)["x_hat"].shape == x.shape


@pytest.mark.parametrize("name", ["mbt2018-mean", "cheng2020-anchor"])
def test_engine_path_analysis_is_g_a_in_channels_last_layout(name):
    """The engine path runs g_a on a channels-last copy of the padded input (kept in a
    mapping of its own so it is freed after the first layer); the result is g_a's, with
    the odd size padded, and the caller's tensor is left untouched."""
    from neuralcodec.models.base import _channels_last_copy

    model = widened_model(name)
    x = image(50, 70)
    original = x.clone()
    copy = _channels_last_copy(x)
    assert copy.is_contiguous(memory_format=torch.channels_last) and torch.equal(copy, x)
    with torch.no_grad():
        y = model._analyze(x, True)
        reference = model.g_a(model.pad(x).contiguous(memory_format=torch.channels_last))
        compat = model._analyze(x, False)
    assert torch.equal(x, original)
    assert y.is_contiguous() and torch.equal(y, reference)
    torch.testing.assert_close(y, compat, rtol=1e-4, atol=1e-4)
