"""Pretrained models: CompressAI's published weights and neuralcodec's own.

* :mod:`neuralcodec.zoo.urls`: the published weight files per architecture, metric and quality.
* :mod:`neuralcodec.zoo.weights`: verified downloads, the cache folder, checkpoint loading
  and CompressAI key conversion.
"""

from neuralcodec.zoo.urls import BASE_URL, WEIGHT_FILES, weights_url
from neuralcodec.zoo.weights import (
    WeightsError,
    cache_dir,
    convert_compressai_keys,
    download_weights,
    load_checkpoint,
    load_weights,
)

__all__ = [
    "BASE_URL",
    "WEIGHT_FILES",
    "WeightsError",
    "cache_dir",
    "convert_compressai_keys",
    "download_weights",
    "load_checkpoint",
    "load_weights",
    "weights_url",
]
