"""Pretrained models: CompressAI's published weights and neuralcodec's own.

* :mod:`neuralcodec.zoo.image`: ``bmshj2018_factorized(quality, metric, pretrained,
  progress)`` and the other entry points, with CompressAI's sizes per quality.
  :mod:`neuralcodec.zoo.image_vbr`: CompressAI's view of the variable-rate models.
  The architectures are the registry's (:mod:`neuralcodec.registry.models`).
* :mod:`neuralcodec.zoo.pretrained`: CompressAI's ``load_pretrained`` (here also
  :func:`load_state_dict`), key conversion of its checkpoints.
* :mod:`neuralcodec.zoo.urls`: the published weight files per architecture, metric and quality.
* :mod:`neuralcodec.zoo.weights`: verified downloads, the cache folder, checkpoint loading
  and CompressAI key conversion.
"""

from typing import Any, Callable, Mapping

from neuralcodec.registry.models import LiveMapping
from neuralcodec.zoo.image import (
    ARCHITECTURES,
    CONFIGS,
    LATENT_CODEC_ARCHITECTURES,
    VBR_ARCHITECTURES,
    bmshj2018_factorized,
    bmshj2018_factorized_relu,
    bmshj2018_hyperprior,
    bmshj2018_hyperprior_vbr,
    cheng2020_anchor,
    cheng2020_anchor_checkerboard,
    cheng2020_attn,
    elic2022_chandelier,
    elic2022_official,
    image_models,
    load_model,
    mbt2018,
    mbt2018_mean,
    mbt2018_mean_vbr,
    mbt2018_vbr,
)
from neuralcodec.zoo.pretrained import load_pretrained as load_state_dict
from neuralcodec.zoo.urls import BASE_URL, WEIGHT_FILES, NoWeightsError, weights_url
from neuralcodec.zoo.video import ssf2020, video_models
from neuralcodec.zoo.weights import (
    WeightsError,
    cache_dir,
    convert_compressai_keys,
    download_weights,
    load_checkpoint,
    load_weights,
)

#: Zoo name -> entry point for every model, image and video (CompressAI's ``zoo.models``).
models: Mapping[str, Callable[..., Any]] = LiveMapping(lambda: {**image_models, **video_models})

__all__ = [
    "ARCHITECTURES",
    "CONFIGS",
    "LATENT_CODEC_ARCHITECTURES",
    "VBR_ARCHITECTURES",
    "bmshj2018_factorized",
    "bmshj2018_factorized_relu",
    "bmshj2018_hyperprior",
    "bmshj2018_hyperprior_vbr",
    "cheng2020_anchor",
    "cheng2020_anchor_checkerboard",
    "cheng2020_attn",
    "elic2022_chandelier",
    "elic2022_official",
    "image_models",
    "load_model",
    "mbt2018",
    "mbt2018_mean",
    "mbt2018_mean_vbr",
    "mbt2018_vbr",
    "models",
    "ssf2020",
    "video_models",
    "BASE_URL",
    "WEIGHT_FILES",
    "NoWeightsError",
    "WeightsError",
    "cache_dir",
    "convert_compressai_keys",
    "download_weights",
    "load_checkpoint",
    "load_state_dict",
    "load_weights",
    "weights_url",
]
