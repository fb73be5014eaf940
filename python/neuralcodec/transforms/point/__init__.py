"""CompressAI's point-cloud transforms: not provided by neuralcodec.

``GeneratePositionNormals``, ``NormalizeScaleV2``, ``RandomPermutation``,
``RandomRotateFull``, ``RandomSample``, ``SamplePointsV2`` and ``ToDict`` are
``torch_geometric`` transforms for CompressAI's point-cloud models, which neuralcodec
(an image codec) does not implement. Asking for one raises an :class:`ImportError` that
says so.
"""

from __future__ import annotations

from typing import List

from neuralcodec.errors import unsupported_names_getattr

#: The names CompressAI's ``compressai.transforms.point`` exports.
UNAVAILABLE = (
    "GeneratePositionNormals",
    "NormalizeScaleV2",
    "RandomPermutation",
    "RandomRotateFull",
    "RandomSample",
    "SamplePointsV2",
    "ToDict",
)

__all__: List[str] = []


__getattr__ = unsupported_names_getattr(__name__, UNAVAILABLE, "point-cloud transform", "torch_geometric")
