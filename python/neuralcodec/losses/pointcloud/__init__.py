"""CompressAI's point-cloud losses: not provided by neuralcodec.

``chamfer_distance``, ``ChamferPccRateDistortionLoss`` and
``RateDistortionLoss_hrtzxf2022`` belong to CompressAI's point-cloud models, which
neuralcodec (an image codec) does not implement; they also need ``einops`` and the
``pointops`` CUDA extension. Asking for one raises an :class:`ImportError` that says so.
"""

from __future__ import annotations

from typing import List

from neuralcodec.errors import unsupported_names_getattr

#: The names CompressAI's ``compressai.losses.pointcloud`` exports.
UNAVAILABLE = ("chamfer_distance", "ChamferPccRateDistortionLoss", "RateDistortionLoss_hrtzxf2022")

__all__: List[str] = []


__getattr__ = unsupported_names_getattr(__name__, UNAVAILABLE, "point-cloud loss", "its point-cloud extras (einops, pointops)")
