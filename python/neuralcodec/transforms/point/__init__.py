"""CompressAI's point-cloud transforms: not provided by neuralcodec.

``GeneratePositionNormals``, ``NormalizeScaleV2``, ``RandomPermutation``,
``RandomRotateFull``, ``RandomSample``, ``SamplePointsV2`` and ``ToDict`` are
``torch_geometric`` transforms for CompressAI's point-cloud models, which neuralcodec
(an image codec) does not implement. Asking for one raises an :class:`ImportError` that
says so.
"""

from __future__ import annotations

from typing import Any, List

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


def __getattr__(name: str) -> Any:
    if name in UNAVAILABLE:
        raise ImportError(
            f"neuralcodec does not implement CompressAI's point-cloud transform {name!r} (it codes images); "
            "install compressai with torch_geometric and import it from compressai.transforms.point"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
