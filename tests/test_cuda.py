"""Streams written by an encoder on a CUDA GPU decode bit-exactly on the CPU.

The analysis transform on a GPU gives other float bits than on the CPU (other kernels,
TF32), so the symbols may differ from a CPU encoder's; what must hold is that every
stream decodes, on any device, to exactly the latents its encoder coded. The engine
makes every coding decision (scales, means, context) from the symbols alone, on the
CPU, so the decoder on the CPU and the decoder on the GPU hand ``g_s`` the same latent,
bit for bit; only the pixels differ, by ``g_s``'s float rounding.

These tests need a CUDA device and are skipped elsewhere (CI has none); they ran on a
GPU machine, see ``docs/determinism.md``.
"""

from __future__ import annotations

import copy
from typing import Any, List, Tuple

import numpy as np
import pytest
import torch
from codec_models import AUTOREGRESSIVE, image, pixels, widened_model
from neuralcodec import engine

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

MODELS = ("bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor")


def _decode(
    model: torch.nn.Module, strings: List[List[bytes]], shape: Tuple[int, int], **kwargs: Any
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(the latent handed to ``g_s``, the decoded image), both on the CPU."""
    seen: List[torch.Tensor] = []
    handle = model.g_s.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().float().cpu()))
    try:
        with torch.no_grad():
            x_hat = model.decompress(strings, shape, **kwargs)["x_hat"].cpu()
    finally:
        handle.remove()
    return seen[0].contiguous(), x_hat


def _encoded_latent(model: torch.nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """The latent the encoder coded, computed beside ``compress`` on the model's device."""
    with torch.no_grad():
        y = model._analyze(x, model._use_engine())
        _, _, z_hat = model._side_information(y)
        _, y_hat = engine.compress_graph(model, y, z_hat)
        return y_hat.float().cpu()


@pytest.mark.parametrize("name", MODELS)
def test_a_stream_encoded_on_cuda_decodes_bit_exactly_on_the_cpu(name):
    cpu_model = widened_model(name)
    gpu_model = copy.deepcopy(cpu_model).cuda()
    x = image(72, 104, batch=2)
    with torch.no_grad():
        coded = gpu_model.compress(x.cuda())
    encoded = _encoded_latent(gpu_model, x.cuda(), name)
    latent_cpu, x_hat_cpu = _decode(cpu_model, coded["strings"], coded["shape"])
    latent_gpu, x_hat_gpu = _decode(gpu_model, coded["strings"], coded["shape"])
    assert torch.equal(latent_cpu, encoded)
    assert torch.equal(latent_gpu, encoded)
    # Pixels: the same latent through g_s on two devices, equal to float rounding.
    assert (x_hat_cpu - x_hat_gpu).abs().max() <= 2 / 255
    # And the CPU encoder's stream decodes the same way on the GPU.
    with torch.no_grad():
        coded_cpu = cpu_model.compress(x)
    latent_cpu2, _ = _decode(cpu_model, coded_cpu["strings"], coded_cpu["shape"])
    latent_gpu2, _ = _decode(gpu_model, coded_cpu["strings"], coded_cpu["shape"])
    assert torch.equal(latent_cpu2, latent_gpu2)


#: The latent-graph models (checkerboard, channel groups, gained leaves and raster scan).
GRAPH_MODELS = ("elic2022-official", "cheng2020-anchor-checkerboard", "elic-lite-vbr", "mbt2018-vbr")


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_a_latent_graph_stream_encoded_on_cuda_decodes_bit_exactly_on_the_cpu(name, device="cuda"):
    from test_latent_graph import build, coding_args, graph_inputs

    cpu_model = build(name)
    gpu_model = copy.deepcopy(cpu_model).to(device)
    args = coding_args(cpu_model)
    x = image(64, 96).to(device)
    with torch.no_grad():
        coded = gpu_model.compress(x, **args)
        _, y, z_hat, gain = graph_inputs(gpu_model, x)
        _, encoded = engine.compress_graph(gpu_model, y, z_hat, gain=gain)
    for model in (cpu_model, gpu_model):
        latent, _ = _decode(model, coded["strings"], coded["shape"], **args)
        assert torch.equal(latent, encoded.float().cpu())
        if model is cpu_model:
            first = latent
        else:
            assert torch.equal(latent, first)


@pytest.mark.parametrize("quality", [1, 4])
def test_a_file_written_with_the_shipped_weights_on_cuda_decodes_on_the_cpu(quality):
    from neuralcodec.codec import Codec

    rgb = pixels(96, 128, seed=3)
    on_gpu = Codec.default(quality, device="cuda")
    on_cpu = Codec.default(quality)
    data = on_gpu.encode(rgb)
    decoded_cpu = np.asarray(on_cpu.decode(data).convert("RGB"), dtype=np.int16)
    decoded_gpu = np.asarray(on_gpu.decode(data).convert("RGB"), dtype=np.int16)
    assert decoded_cpu.shape == rgb.shape
    assert np.abs(decoded_cpu - decoded_gpu).max() <= 2
    latent_cpu, _ = _decode(on_cpu.model, *_strings_of(data))
    latent_gpu, _ = _decode(on_gpu.model, *_strings_of(data))
    assert torch.equal(latent_cpu, latent_gpu)


def test_a_file_refined_on_cuda_decodes_on_the_cpu():
    from neuralcodec.codec import Codec

    rgb = pixels(96, 128, seed=4)
    on_gpu = Codec.default(2, device="cuda")
    data = on_gpu.encode(rgb, effort=1)  # (cuDNN's backward passes need not repeat bit for bit)
    assert data != on_gpu.encode(rgb)
    latent_cpu, _ = _decode(Codec.default(2).model, *_strings_of(data))
    latent_gpu, _ = _decode(on_gpu.model, *_strings_of(data))
    assert torch.equal(latent_cpu, latent_gpu)


def _strings_of(data: bytes):
    """(strings, latent shape) of a neuralcodec file, for the model's ``decompress``."""
    from neuralcodec.codec.container import unpack

    header, strings = unpack(data)
    return [[s] for s in strings], header.latent_shape
