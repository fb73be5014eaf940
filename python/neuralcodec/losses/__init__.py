"""Training objectives, at CompressAI's ``compressai.losses`` path.

* :class:`RateDistortionLoss` (:mod:`neuralcodec.losses.rate_distortion`): the
  rate-distortion loss of our trainer and of CompressAI-style training scripts;
  :func:`bits_per_pixel` and :func:`flat_likelihoods`, the rate estimate it uses.
* :func:`~neuralcodec.losses.utils.compute_rate_loss`: per-latent rate terms.
* :mod:`neuralcodec.losses.pointcloud`: CompressAI's point-cloud losses are not
  provided; their names raise an :class:`ImportError` that says so.
"""

from __future__ import annotations

from typing import Any

from neuralcodec.losses import pointcloud
from neuralcodec.losses.rate_distortion import (
    RateDistortionLoss,
    UnknownMetricError,
    bits_per_pixel,
    flat_likelihoods,
)

__all__ = ["RateDistortionLoss", "UnknownMetricError", "bits_per_pixel", "flat_likelihoods"]


def __getattr__(name: str) -> Any:
    if name in pointcloud.UNAVAILABLE:
        return getattr(pointcloud, name)  # raises the ImportError that explains
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
