"""Model constructors by architecture and quality, with CompressAI's sizes and weights.

Each entry point takes ``(quality, metric="mse", pretrained=False, progress=True)``:

* ``quality``: 1..8 (1..6 for the Cheng2020 models); it picks the sizes ``(N, M)`` that
  CompressAI's published models use, and the weights. CompressAI 1.2.8 publishes no
  weights for ``bmshj2018-factorized-relu`` (its entry point of that name silently
  builds the GDN model and loads the GDN weights; here ``pretrained=True`` says there
  are none), nor for ``cheng2020-anchor-checkerboard``, ``elic2022-official`` and
  ``elic2022-chandelier``, which it has as classes only; their qualities give sizes.
* ``metric``: ``"mse"`` or ``"ms-ssim"``, the distortion the weights were trained for.
* ``pretrained``: ``False`` for random initialisation; ``True`` for the published
  CompressAI weights (downloaded once into :func:`neuralcodec.zoo.weights.cache_dir`
  and verified against the SHA-256 prefix in the file name); or a local path or URL of a
  checkpoint file (a state_dict or a CompressAI training checkpoint). The sizes then
  come from the file.
* ``progress``: show a download progress bar.

The variable-rate models ``bmshj2018-hyperprior-vbr``, ``mbt2018-mean-vbr`` and
``mbt2018-vbr`` (Kamisli et al. 2024) are one network for every rate (N=192, M=320, MSE
weights only): their quality 1..8 names the gain level a codec uses, and ``quality=0``
(CompressAI's default for them, which it ignores) is accepted too. Their published
hyperprior weights code ``z`` with a gain-dependent step (``vr_entbttlnck``), which
``from_state_dict`` reads off the checkpoint.

Pretrained models are returned in ``eval()`` mode with their CDF tables ready (the
tables in the checkpoint are used as they are; missing ones are built by ``update()``).

Example (random weights with CompressAI's sizes; nothing is downloaded)::

    >>> from neuralcodec.zoo import load_model, mbt2018_mean
    >>> model = load_model("mbt2018-mean", quality=2)
    >>> type(model).__name__, model.N, model.M
    ('MeanScaleHyperprior', 128, 192)
    >>> mbt2018_mean(quality=6).M
    320
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Type, Union

from neuralcodec.models import (
    Cheng2020Anchor,
    Cheng2020AnchorCheckerboard,
    Cheng2020Attention,
    CompressionModel,
    Elic2022Chandelier,
    Elic2022Official,
    FactorizedPrior,
    FactorizedPriorReLU,
    JointAutoregressiveHierarchicalPriors,
    JointAutoregressiveHierarchicalPriorsVbr,
    MeanScaleHyperprior,
    MeanScaleHyperpriorVbr,
    ScaleHyperprior,
    ScaleHyperpriorVbr,
)
from neuralcodec.settings import COMPRESSAI_QUALITIES, METRICS, VARIABLE_RATE_ARCHITECTURES, check_quality
from neuralcodec.zoo.urls import weights_url
from neuralcodec.zoo.weights import load_weights

__all__ = [
    "ARCHITECTURES",
    "CONFIGS",
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
]

Pretrained = Union[bool, str, Path]

#: Zoo name -> model class.
ARCHITECTURES: Dict[str, Type[CompressionModel]] = {
    "bmshj2018-factorized": FactorizedPrior,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressiveHierarchicalPriors,
    "cheng2020-anchor": Cheng2020Anchor,
    "cheng2020-attn": Cheng2020Attention,
    "bmshj2018-factorized-relu": FactorizedPriorReLU,
    "cheng2020-anchor-checkerboard": Cheng2020AnchorCheckerboard,
    "elic2022-official": Elic2022Official,
    "elic2022-chandelier": Elic2022Chandelier,
    "bmshj2018-hyperprior-vbr": ScaleHyperpriorVbr,
    "mbt2018-mean-vbr": MeanScaleHyperpriorVbr,
    "mbt2018-vbr": JointAutoregressiveHierarchicalPriorsVbr,
}

#: The variable-rate architectures (:data:`neuralcodec.settings.VARIABLE_RATE_ARCHITECTURES`):
#: forward/compress/decompress take CompressAI's ``stage``, ``s``, ``inputscale``; the codec
#: codes them at a continuous quality; the export does not take them yet.
VBR_ARCHITECTURES = VARIABLE_RATE_ARCHITECTURES

#: The architectures built on :mod:`neuralcodec.latent_codecs`: compat coding path only,
#: with CompressAI's nested ``strings`` and ``shape``; the codec container, the engine and
#: the export do not take them yet.
LATENT_CODEC_ARCHITECTURES = ("cheng2020-anchor-checkerboard", "elic2022-official", "elic2022-chandelier")

_SMALL, _LARGE = (128, 192), (192, 320)

#: Zoo name -> quality -> constructor arguments (N, M), or (N,) for Cheng2020.
#: (The qualities themselves are :data:`neuralcodec.settings.COMPRESSAI_QUALITIES`.)
CONFIGS: Dict[str, Dict[int, Tuple[int, ...]]] = {
    "bmshj2018-factorized": {q: _SMALL if q <= 5 else _LARGE for q in COMPRESSAI_QUALITIES["bmshj2018-factorized"]},
    "bmshj2018-hyperprior": {q: _SMALL if q <= 5 else _LARGE for q in COMPRESSAI_QUALITIES["bmshj2018-hyperprior"]},
    "mbt2018-mean": {q: _SMALL if q <= 4 else _LARGE for q in COMPRESSAI_QUALITIES["mbt2018-mean"]},
    "mbt2018": {q: (192, 192) if q <= 4 else _LARGE for q in COMPRESSAI_QUALITIES["mbt2018"]},
    "cheng2020-anchor": {q: (128,) if q <= 3 else (192,) for q in COMPRESSAI_QUALITIES["cheng2020-anchor"]},
    "cheng2020-attn": {q: (128,) if q <= 3 else (192,) for q in COMPRESSAI_QUALITIES["cheng2020-attn"]},
    "bmshj2018-factorized-relu": {
        q: _SMALL if q <= 5 else _LARGE for q in COMPRESSAI_QUALITIES["bmshj2018-factorized-relu"]
    },
    # CompressAI 1.2.8 has no sizes (and no weights) for these three: the anchor's sizes
    # for the checkerboard model, and ELIC's (N=192, M=320 at every rate, He et al. 2022).
    "cheng2020-anchor-checkerboard": {
        q: (128,) if q <= 3 else (192,) for q in COMPRESSAI_QUALITIES["cheng2020-anchor-checkerboard"]
    },
    "elic2022-official": dict.fromkeys(COMPRESSAI_QUALITIES["elic2022-official"], _LARGE),
    "elic2022-chandelier": dict.fromkeys(COMPRESSAI_QUALITIES["elic2022-chandelier"], _LARGE),
    **{name: dict.fromkeys(COMPRESSAI_QUALITIES[name], _LARGE) for name in VBR_ARCHITECTURES},
}



def load_model(
    architecture: str,
    quality: int,
    metric: str = "mse",
    pretrained: Pretrained = False,
    progress: bool = True,
    **kwargs: Any,
) -> CompressionModel:
    """The model ``architecture`` (a zoo name) at ``quality``; see the module documentation."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    if architecture in VBR_ARCHITECTURES and isinstance(quality, int) and quality == 0:
        quality = min(CONFIGS[architecture])  # CompressAI's "no quality": same model
    check_quality(quality, architecture)
    qualities = CONFIGS[architecture]
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    cls = ARCHITECTURES[architecture]
    if pretrained is False:
        return cls(*qualities[quality], **kwargs)
    source = weights_url(architecture, metric, quality) if pretrained is True else pretrained
    state_dict = load_weights(source, progress=progress)
    model = cls.from_state_dict(state_dict)
    model.update(force=False)
    return model.eval()


def _entry_point(architecture: str) -> Callable[..., CompressionModel]:
    def build(
        quality: int, metric: str = "mse", pretrained: Pretrained = False, progress: bool = True, **kwargs: Any
    ) -> CompressionModel:
        return load_model(architecture, quality, metric, pretrained, progress, **kwargs)

    cls = ARCHITECTURES[architecture]
    build.__name__ = build.__qualname__ = architecture.replace("-", "_")
    build.__doc__ = (
        f"{cls.__name__} ('{architecture}') at ``quality`` "
        f"{min(CONFIGS[architecture])}..{max(CONFIGS[architecture])}; see :mod:`neuralcodec.zoo.image`."
    )
    return build


bmshj2018_factorized = _entry_point("bmshj2018-factorized")
bmshj2018_hyperprior = _entry_point("bmshj2018-hyperprior")
mbt2018_mean = _entry_point("mbt2018-mean")
mbt2018 = _entry_point("mbt2018")
cheng2020_anchor = _entry_point("cheng2020-anchor")
cheng2020_attn = _entry_point("cheng2020-attn")
bmshj2018_factorized_relu = _entry_point("bmshj2018-factorized-relu")
cheng2020_anchor_checkerboard = _entry_point("cheng2020-anchor-checkerboard")
elic2022_official = _entry_point("elic2022-official")
elic2022_chandelier = _entry_point("elic2022-chandelier")


def _vbr_entry_point(architecture: str) -> Callable[..., CompressionModel]:
    def build(
        quality: int = 0, metric: str = "mse", pretrained: Pretrained = False, progress: bool = True, **kwargs: Any
    ) -> CompressionModel:
        return load_model(architecture, quality, metric, pretrained, progress, **kwargs)

    cls = ARCHITECTURES[architecture]
    build.__name__ = build.__qualname__ = architecture.replace("-", "_")
    build.__doc__ = (
        f"{cls.__name__} ('{architecture}'), one variable-rate model; ``quality`` 0 (ignored, "
        "CompressAI's default) or the level 1..8; see :mod:`neuralcodec.zoo.image`."
    )
    return build


bmshj2018_hyperprior_vbr = _vbr_entry_point("bmshj2018-hyperprior-vbr")
mbt2018_mean_vbr = _vbr_entry_point("mbt2018-mean-vbr")
mbt2018_vbr = _vbr_entry_point("mbt2018-vbr")

#: Zoo name -> entry point (CompressAI's ``image_models``).
image_models: Dict[str, Callable[..., CompressionModel]] = {
    "bmshj2018-factorized": bmshj2018_factorized,
    "bmshj2018-hyperprior": bmshj2018_hyperprior,
    "mbt2018-mean": mbt2018_mean,
    "mbt2018": mbt2018,
    "cheng2020-anchor": cheng2020_anchor,
    "cheng2020-attn": cheng2020_attn,
    "bmshj2018-factorized-relu": bmshj2018_factorized_relu,
    "cheng2020-anchor-checkerboard": cheng2020_anchor_checkerboard,
    "elic2022-official": elic2022_official,
    "elic2022-chandelier": elic2022_chandelier,
    "bmshj2018-hyperprior-vbr": bmshj2018_hyperprior_vbr,
    "mbt2018-mean-vbr": mbt2018_mean_vbr,
    "mbt2018-vbr": mbt2018_vbr,
}
models = image_models
