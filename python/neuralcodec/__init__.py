"""neuralcodec: learned image compression.

Neural transforms and entropy models in PyTorch; the rANS coder and CDF quantization in
a Rust core (:mod:`neuralcodec.ans`), bit-exact on every machine and byte-compatible
with CompressAI.

Subpackages by concern: :mod:`neuralcodec.ans` (entropy coder), ``ops``, ``layers``,
``entropy_models``, ``models``, ``zoo`` (pretrained and shipped weights), ``codec`` (the
image file format), ``train``, ``eval``, ``bench``, ``export``. Submodules are imported
on first use, so ``import neuralcodec`` stays cheap and does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from neuralcodec._core import __version__

__all__ = ["__version__", "ans", "codec", "entropy_models", "layers", "models", "ops", "zoo"]

_SUBMODULES = {"ans", "codec", "entropy_models", "layers", "models", "ops", "zoo"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"neuralcodec.{name}")
    raise AttributeError(f"module 'neuralcodec' has no attribute {name!r}")
