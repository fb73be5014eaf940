"""CompressAI's point-cloud datasets: not provided by neuralcodec.

``ModelNetDataset``, ``S3disDataset``, ``SemanticKittiDataset`` and
``ShapeNetCorePartDataset`` download and cache point-cloud corpora for CompressAI's
point-cloud models, which neuralcodec (an image codec) does not implement; they also
need ``pyntcloud`` and ``pandas``. Asking for one raises an :class:`ImportError` that
says so. :class:`neuralcodec.datasets.cache.CacheDataset`, their base, is provided.
"""

from __future__ import annotations

from typing import List

from neuralcodec.errors import unsupported_names_getattr

#: The names CompressAI's ``compressai.datasets.pointcloud`` exports.
UNAVAILABLE = ("ModelNetDataset", "S3disDataset", "SemanticKittiDataset", "ShapeNetCorePartDataset")

__all__: List[str] = []


__getattr__ = unsupported_names_getattr(__name__, UNAVAILABLE, "point-cloud dataset", "pyntcloud and pandas")
