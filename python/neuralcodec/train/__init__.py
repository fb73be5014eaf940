"""Training: rate-distortion training of any zoo architecture, resumable and data-parallel.

* :mod:`neuralcodec.train.config`: :class:`TrainConfig`, the settings of a run.
* :mod:`neuralcodec.train.data`: :class:`CropSampler`, image folders held in memory and
  sampled as random crops with flips (files listed and decoded by
  :mod:`neuralcodec.datasets.image`).
* :class:`RateDistortionLoss` is :mod:`neuralcodec.losses`' (re-exported here).
* :mod:`neuralcodec.train.trainer`: :func:`train` (checkpoints, resume, validation with
  actual bits, DDP under ``torchrun``).
* :mod:`neuralcodec.train.recipe`: how the shipped default weights were trained.

Names are imported on first use, so the command line can read :class:`TrainConfig`
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "neuralcodec.train.config",
    "CropSampler": "neuralcodec.train.data",
    "list_images": "neuralcodec.datasets.image",
    "RateDistortionLoss": "neuralcodec.losses",
    "bits_per_pixel": "neuralcodec.losses",
    "flat_likelihoods": "neuralcodec.losses",
    "TrainResult": "neuralcodec.train.trainer",
    "build_model": "neuralcodec.train.trainer",
    "prepare_for_coding": "neuralcodec.train.trainer",
    "train": "neuralcodec.train.trainer",
    "validate": "neuralcodec.train.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'neuralcodec.train' has no attribute {name!r}")
