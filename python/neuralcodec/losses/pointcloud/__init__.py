"""CompressAI's point-cloud losses: not provided by neuralcodec.

``chamfer_distance``, ``ChamferPccRateDistortionLoss`` and
``RateDistortionLoss_hrtzxf2022`` belong to CompressAI's point-cloud models, which
neuralcodec (an image codec) does not implement; they also need ``einops`` and the
``pointops`` CUDA extension. Asking for one raises an :class:`ImportError` that says so.
"""

from __future__ import annotations

from typing import Any, List

#: The names CompressAI's ``compressai.losses.pointcloud`` exports.
UNAVAILABLE = ("chamfer_distance", "ChamferPccRateDistortionLoss", "RateDistortionLoss_hrtzxf2022")

__all__: List[str] = []


def __getattr__(name: str) -> Any:
    if name in UNAVAILABLE:
        raise ImportError(
            f"neuralcodec does not implement CompressAI's point-cloud loss {name!r} (it codes images); "
            "install compressai with its point-cloud extras (einops, pointops) and import it from "
            "compressai.losses.pointcloud"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
