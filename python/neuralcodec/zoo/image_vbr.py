"""CompressAI's ``compressai.zoo.image_vbr``: the variable-rate models (Kamisli et al. 2024).

Views of :mod:`neuralcodec.zoo.image` restricted to the variable-rate architectures, in
the shapes CompressAI gives them here: one weights file per architecture and metric
(:data:`model_urls`: name -> metric -> URL) and one size (:data:`cfgs`: name -> (N, M)).
The entry points are those of :mod:`neuralcodec.zoo.image`.
"""

from __future__ import annotations

from typing import Any, Mapping, Tuple, Type

from neuralcodec.models import CompressionModel
from neuralcodec.registry.models import LiveMapping
from neuralcodec.settings import VARIABLE_RATE_ARCHITECTURES
from neuralcodec.zoo import image
from neuralcodec.zoo.image import Pretrained, bmshj2018_hyperprior_vbr, mbt2018_mean_vbr, mbt2018_vbr, root_url

__all__ = ["bmshj2018_hyperprior_vbr", "mbt2018_mean_vbr", "mbt2018_vbr", "root_url"]

#: Zoo name -> class, the variable-rate architectures only.
model_architectures: Mapping[str, Type[CompressionModel]] = LiveMapping(
    lambda: {name: cls for name, cls in image.model_architectures.items() if name in VARIABLE_RATE_ARCHITECTURES}
)

#: Zoo name -> metric -> URL of the one published weights file.
model_urls: Mapping[str, Mapping[str, str]] = LiveMapping(
    lambda: {
        name: {metric: urls[min(urls)] for metric, urls in image.model_urls[name].items()}
        for name in model_architectures
        if name in image.model_urls
    }
)

#: Zoo name -> constructor arguments (N, M): one network for every rate.
cfgs: Mapping[str, Tuple[int, ...]] = LiveMapping(
    lambda: {name: next(iter(image.cfgs[name].values())) for name in model_architectures}
)


def _load_model(
    architecture: str, metric: str, pretrained: Pretrained = False, progress: bool = True, **kwargs: Any
) -> CompressionModel:
    """CompressAI's ``image_vbr._load_model(architecture, metric, ...)``: the variable-rate
    model ``architecture`` (its one network; no quality).

    Raises:
        ValueError: not a variable-rate architecture, or a metric without weights.
    """
    if architecture not in model_architectures:
        raise ValueError(
            f"unknown variable-rate architecture {architecture!r}; known: {', '.join(model_architectures)}"
        )
    return image.load_model(architecture, 0, metric, pretrained, progress, **kwargs)
