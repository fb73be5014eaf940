"""Small random models and images shared by the codec tests (fast on a CPU)."""

from __future__ import annotations

import functools
from typing import Dict, Type

import numpy as np
import torch
from neuralcodec.models import CompressionModel
from neuralcodec.registry.models import ZOO_ENTRIES
from neuralcodec.zoo import image as zoo_image

#: Zoo name -> architecture: the zoo's own registry, less the variable-rate models, which
#: the container codes at a continuous quality (tests/test_codec_rate.py) and the export
#: does not take yet. The latent-codec models are in: the container, the engine and the
#: export take them like the others.
_NOT_IN_CODEC = zoo_image.VBR_ARCHITECTURES
ARCHITECTURES: Dict[str, Type[CompressionModel]] = {
    name: cls for name, cls in zoo_image.ARCHITECTURES.items() if name not in _NOT_IN_CODEC
}
#: The first-wave architectures, whose ``y`` is one leaf (a Gaussian conditional or a raster
#: scan) under a scale hyperprior: what the engine and model tests that read that structure
#: cover. The latent-codec compositions have their own (tests/test_latent_graph.py).
FIRST_WAVE: Dict[str, Type[CompressionModel]] = {
    name: cls for name, cls in ARCHITECTURES.items() if name not in zoo_image.LATENT_CODEC_ARCHITECTURES
}
AUTOREGRESSIVE = ("mbt2018", "cheng2020-anchor", "cheng2020-attn")


def build_small(name: str, M: int = 12) -> CompressionModel:
    """An untrained ``name`` with N = 8 channels and M latent channels (Cheng2020: N = 8;
    ELIC: M = 16 in groups 4, 4, 8)."""
    takes_n_only = ZOO_ENTRIES[name].arity == 1  # the Cheng2020 models: (N,)
    if name in zoo_image.LATENT_CODEC_ARCHITECTURES:
        architecture = zoo_image.ARCHITECTURES[name]
        return architecture(8) if takes_n_only else architecture(8, 16, groups=[4, 4, 8])
    architecture = ARCHITECTURES[name]
    return architecture(8) if takes_n_only else architecture(8, M)


def widened_model(name: str = "mbt2018-mean", seed: int = 0, M: int = 12) -> CompressionModel:
    """A small ``name`` in eval mode with built tables; random init gives tiny latents, so
    the last analysis convolution is scaled up to give the coder work to do."""
    torch.manual_seed(seed)
    model = build_small(name, M).eval()
    with torch.no_grad():
        last_conv = [m for m in model.g_a.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        last_conv.weight.mul_(20)
    model.update(force=True)
    return model


def fresh_model(name: str = "mbt2018-mean", seed: int = 0) -> CompressionModel:
    """:func:`widened_model` with M = 8 (the codec tests' size)."""
    return widened_model(name, seed, M=8)


def image(height: int, width: int, batch: int = 1, seed: int = 1) -> torch.Tensor:
    """A smooth ``[batch, 3, H, W]`` float image in [0, 1] with a little noise."""
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(
        torch.rand(batch, 3, max(height // 8, 1), max(width // 8, 1), generator=generator),
        size=(height, width),
        mode="bilinear",
        align_corners=False,
    )
    return (smooth + 0.05 * torch.rand(batch, 3, height, width, generator=generator)).clamp(0, 1)


@functools.lru_cache(maxsize=None)
def small_model(name: str = "mbt2018-mean", seed: int = 0) -> CompressionModel:
    """Like :func:`fresh_model`, cached: do not modify it."""
    return fresh_model(name, seed)


def pixels(height: int, width: int, seed: int = 1, channels: int = 3) -> np.ndarray:
    """A smooth-ish uint8 test image ``[H, W, channels]`` (``[H, W]`` for 1 channel)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (max(height // 8, 1), max(width // 8, 1), channels)).astype(np.float64)
    rows = np.linspace(0, base.shape[0] - 1, height).round().astype(int)
    cols = np.linspace(0, base.shape[1] - 1, width).round().astype(int)
    image = base[rows][:, cols] + rng.normal(0, 8, (height, width, channels))
    image = np.clip(image, 0, 255).astype(np.uint8)
    return image[..., 0] if channels == 1 else image


def small_shipped_architecture(seed: int = 0) -> CompressionModel:
    """A small model of the shipped architecture (the rate ladder ``mbt2018-mean-ladder``:
    four fixed-rate rungs of N = M = 8 with the shipped lambdas) in eval mode with built
    tables, each rung's last analysis convolution scaled up as in :func:`widened_model`: a
    fast stand-in for the shipped model."""
    from neuralcodec.models import MeanScaleHyperprior, MeanScaleLadder
    from neuralcodec.settings import DEFAULT_LAMBDAS

    torch.manual_seed(seed)
    rungs = []
    for _ in DEFAULT_LAMBDAS:
        rung = MeanScaleHyperprior(8, 8).eval()
        with torch.no_grad():
            rung.g_a[-1].weight.mul_(20)
        rungs.append(rung)
    model = MeanScaleLadder.from_fixed_rate(rungs, [DEFAULT_LAMBDAS[q] for q in sorted(DEFAULT_LAMBDAS)])
    model.update(force=True)
    return model.eval()
