"""CompressAI's point-cloud datasets: not provided by neuralcodec.

``ModelNetDataset``, ``S3disDataset``, ``SemanticKittiDataset`` and
``ShapeNetCorePartDataset`` download and cache point-cloud corpora for CompressAI's
point-cloud models, which neuralcodec (an image codec) does not implement; they also
need ``pyntcloud`` and ``pandas``. Asking for one raises an :class:`ImportError` that
says so. :class:`neuralcodec.datasets.cache.CacheDataset`, their base, is provided.
"""

from __future__ import annotations

from typing import Any, List

#: The names CompressAI's ``compressai.datasets.pointcloud`` exports.
UNAVAILABLE = ("ModelNetDataset", "S3disDataset", "SemanticKittiDataset", "ShapeNetCorePartDataset")

__all__: List[str] = []


def __getattr__(name: str) -> Any:
    if name in UNAVAILABLE:
        raise ImportError(
            f"neuralcodec does not implement CompressAI's point-cloud dataset {name!r} (it codes images); "
            "install compressai with pyntcloud and pandas and import it from compressai.datasets.pointcloud"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
