"""Training: rate-distortion training of any zoo architecture, resumable and data-parallel.

* :mod:`neuralcodec.train.config`: :class:`TrainConfig`, the settings of a run.
* :mod:`neuralcodec.train.data`: :class:`CropSampler`, image folders held in memory and
  sampled as random crops with flips (files listed and decoded by
  :mod:`neuralcodec.datasets.image`).
* :class:`RateDistortionLoss` is :mod:`neuralcodec.losses`' (re-exported here).
* :mod:`neuralcodec.train.trainer`: :func:`train`, the one trainer: fixed-rate and
  variable-rate (a rate per step or per crop), checkpoints and resume, a wall-time budget,
  :func:`validate` (actual or estimated bits, at one or every integer quality), DDP under
  ``torchrun``.
* :mod:`neuralcodec.train.shards`: weights as float16-kernel shards of at most 15 MiB
  (what the device tool returns; the ``ElicLiteVbr`` checkpoint in
  ``results/training/elic-lite-vbr/``).
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
    "load_shards": "neuralcodec.train.shards",
    "new_model": "neuralcodec.train.trainer",
    "save_shards": "neuralcodec.train.shards",
    "prepare_for_coding": "neuralcodec.train.trainer",
    "train": "neuralcodec.train.trainer",
    "validate": "neuralcodec.train.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'neuralcodec.train' has no attribute {name!r}")
