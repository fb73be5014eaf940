"""Training: rate-distortion training of any zoo architecture, resumable and data-parallel.

* :mod:`neuralcodec.train.data`: image folders sampled as random crops with flips.
* :mod:`neuralcodec.train.loss`: :class:`RateDistortionLoss`.
* :mod:`neuralcodec.train.trainer`: :class:`TrainConfig` and :func:`train` (checkpoints,
  resume, validation with actual bits, DDP under ``torchrun``).
* :mod:`neuralcodec.train.recipe`: how the shipped default weights were trained.
"""

from neuralcodec.train.data import ImageFolder, list_images
from neuralcodec.train.loss import RateDistortionLoss, bits_per_pixel
from neuralcodec.train.trainer import TrainConfig, build_model, prepare_for_coding, train, validate

__all__ = [
    "ImageFolder",
    "RateDistortionLoss",
    "TrainConfig",
    "bits_per_pixel",
    "build_model",
    "list_images",
    "prepare_for_coding",
    "train",
    "validate",
]
