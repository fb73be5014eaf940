"""Small random models and images shared by the codec tests (fast on a CPU)."""

from __future__ import annotations

import functools
from typing import Callable, Dict

import numpy as np
import torch

from neuralcodec.models import (
    Cheng2020Anchor,
    Cheng2020Attention,
    CompressionModel,
    FactorizedPrior,
    JointAutoregressiveHierarchicalPriors,
    MeanScaleHyperprior,
    ScaleHyperprior,
)

#: Zoo name -> a small configuration of that architecture.
SMALL: Dict[str, Callable[[], CompressionModel]] = {
    "bmshj2018-factorized": lambda: FactorizedPrior(8, 8),
    "bmshj2018-hyperprior": lambda: ScaleHyperprior(8, 8),
    "mbt2018-mean": lambda: MeanScaleHyperprior(8, 8),
    "mbt2018": lambda: JointAutoregressiveHierarchicalPriors(8, 8),
    "cheng2020-anchor": lambda: Cheng2020Anchor(8),
    "cheng2020-attn": lambda: Cheng2020Attention(8),
}
AUTOREGRESSIVE = {"mbt2018", "cheng2020-anchor", "cheng2020-attn"}


def fresh_model(name: str = "mbt2018-mean", seed: int = 0) -> CompressionModel:
    """A new small model of ``name`` with built tables; latents widened so coding has work to do."""
    torch.manual_seed(seed)
    model = SMALL[name]().eval()
    with torch.no_grad():
        last_conv = [m for m in model.g_a.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        last_conv.weight.mul_(20)
    model.update(force=True)
    return model


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
