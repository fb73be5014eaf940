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

The names, sizes and rate points come from the model registry
(:mod:`neuralcodec.registry.models`): an architecture is a class registered with
:func:`~neuralcodec.registry.register_model` that has a zoo entry, and the tables here
(:data:`model_architectures`, :data:`cfgs`, :data:`image_models`, ...) are live views of it.
The entry points ``bmshj2018_factorized`` etc. are CompressAI's names for some of them;
:data:`image_models` has one for every architecture, registered later ones included.

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
from typing import Any, Callable, Dict, Mapping, Tuple, Type, Union

from neuralcodec.models import CompressionModel, SimpleVAECompressionModel
from neuralcodec.registry.models import MODELS, ZOO_ENTRIES, LiveMapping, NameView
from neuralcodec.settings import METRICS, VARIABLE_RATE_ARCHITECTURES, check_rate_point
from neuralcodec.zoo.urls import BASE_URL, WEIGHT_FILES, weights_url
from neuralcodec.zoo.weights import load_weights

__all__ = [
    "ARCHITECTURES",
    "CONFIGS",
    "LATENT_CODEC_ARCHITECTURES",
    "VBR_ARCHITECTURES",
    "bmshj2018_factorized",
    "bmshj2018_factorized_relu",
    "bmshj2018_hyperprior",
    "bmshj2018_hyperprior_vbr",
    "cfgs",
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
    "model_architectures",
    "model_urls",
]

Pretrained = Union[bool, str, Path]


def _architectures() -> Dict[str, Type[CompressionModel]]:
    return {name: MODELS[name] for name in ZOO_ENTRIES if name in MODELS}  # type: ignore[misc]


#: Zoo name -> model class (CompressAI's ``model_architectures``): the registered models
#: with a zoo entry. A live view of the registry.
model_architectures: Mapping[str, Type[CompressionModel]] = LiveMapping(_architectures)
ARCHITECTURES = model_architectures

#: Zoo name -> quality -> constructor arguments (N, M), or (N,) for Cheng2020 (CompressAI's
#: ``cfgs``). A live view of the registry's zoo entries.
cfgs: Mapping[str, Mapping[int, Tuple[int, ...]]] = LiveMapping(
    lambda: {name: ZOO_ENTRIES[name].sizes for name in _architectures()}
)
CONFIGS = cfgs

#: The variable-rate architectures (:data:`neuralcodec.settings.VARIABLE_RATE_ARCHITECTURES`):
#: forward/compress/decompress take CompressAI's ``stage``, ``s``, ``inputscale``; the codec
#: codes them at a continuous quality; the export does not take them yet.
VBR_ARCHITECTURES = VARIABLE_RATE_ARCHITECTURES

#: The architectures built on :mod:`neuralcodec.latent_codecs` (the
#: :class:`~neuralcodec.models.SimpleVAECompressionModel` s): CompressAI's nested
#: ``strings`` and ``shape`` on the compat path, the engine's flat ones on the engine path
#: (their default); the codec container and the export take them like the other models.
LATENT_CODEC_ARCHITECTURES = NameView(
    lambda: tuple(name for name, cls in _architectures().items() if issubclass(cls, SimpleVAECompressionModel))
)

#: Where CompressAI's weight files are published (CompressAI's ``root_url``).
root_url = BASE_URL.rstrip("/")

#: Zoo name -> metric -> quality -> URL of CompressAI's published weights (CompressAI's
#: ``model_urls``; the variable-rate models' one file is listed at each of their levels).
model_urls: Dict[str, Dict[str, Dict[int, str]]] = {
    name: {metric: {q: BASE_URL + file for q, file in files.items()} for metric, files in metrics.items()}
    for name, metrics in WEIGHT_FILES.items()
}


def _check_metric(architecture: str, metric: str) -> None:
    """The metrics of the published weights where there are any (the variable-rate models:
    MSE only), else :data:`~neuralcodec.settings.METRICS`."""
    allowed = tuple(WEIGHT_FILES.get(architecture, {})) or METRICS
    if metric not in allowed:
        raise ValueError(f"metric must be one of {allowed} for {architecture}, got {metric!r}")


def load_model(
    architecture: str,
    quality: int,
    metric: str = "mse",
    pretrained: Pretrained = False,
    progress: bool = True,
    **kwargs: Any,
) -> CompressionModel:
    """The model ``architecture`` (a zoo name) at ``quality``; see the module documentation.

    Raises:
        ValueError: an unknown architecture, a quality it does not have, or a metric it
            has no weights for (``pretrained=True`` with none published:
            :class:`~neuralcodec.zoo.urls.NoWeightsError`, also a RuntimeError as in CompressAI).
    """
    architectures = _architectures()
    if architecture not in architectures:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(architectures)}")
    entry = ZOO_ENTRIES[architecture]
    if entry.variable_rate and isinstance(quality, int) and not isinstance(quality, bool) and quality == 0:
        quality = entry.qualities[0]  # CompressAI's "no quality": same model
    check_rate_point(quality, architecture)
    _check_metric(architecture, metric)
    cls = architectures[architecture]
    if pretrained is False:
        return cls(*entry.sizes[quality], **kwargs)
    source = weights_url(architecture, metric, quality) if pretrained is True else pretrained
    state_dict = load_weights(source, progress=progress)
    model = cls.from_state_dict(state_dict)
    model.update(force=False)
    return model.eval()


def _load_model(
    architecture: str,
    metric: str,
    quality: int,
    pretrained: Pretrained = False,
    progress: bool = True,
    **kwargs: Any,
) -> CompressionModel:
    """CompressAI's ``_load_model(architecture, metric, quality, ...)``: :func:`load_model`
    with CompressAI's argument order."""
    return load_model(architecture, quality, metric, pretrained, progress, **kwargs)


#: Zoo name -> its entry point, made once per name (by :func:`_entry_point`).
_ENTRY_POINTS: Dict[str, Callable[..., CompressionModel]] = {}


def _entry_point(architecture: str) -> Callable[..., CompressionModel]:
    """The zoo function of ``architecture``: ``(quality, metric="mse", pretrained=False,
    progress=True, **kwargs)``, named after it (``mbt2018-mean`` -> ``mbt2018_mean``); a
    variable-rate model's ``quality`` defaults to 0, as in CompressAI."""
    if architecture in _ENTRY_POINTS:
        return _ENTRY_POINTS[architecture]
    entry = ZOO_ENTRIES[architecture]
    span = f"{entry.qualities[0]}..{entry.qualities[-1]}"
    build: Callable[..., CompressionModel]
    if entry.variable_rate:

        def build(
            quality: int = 0, metric: str = "mse", pretrained: Pretrained = False, progress: bool = True, **kwargs: Any
        ) -> CompressionModel:
            return load_model(architecture, quality, metric, pretrained, progress, **kwargs)

        build.__doc__ = (
            f"'{architecture}', one variable-rate model; ``quality`` 0 (ignored, CompressAI's "
            f"default) or the level {span}; see :mod:`neuralcodec.zoo.image`."
        )
    else:

        def build(
            quality: int, metric: str = "mse", pretrained: Pretrained = False, progress: bool = True, **kwargs: Any
        ) -> CompressionModel:
            return load_model(architecture, quality, metric, pretrained, progress, **kwargs)

        build.__doc__ = f"'{architecture}' at ``quality`` {span}; see :mod:`neuralcodec.zoo.image`."
    build.__name__ = build.__qualname__ = architecture.replace("-", "_")
    _ENTRY_POINTS[architecture] = build
    return build


bmshj2018_factorized = _entry_point("bmshj2018-factorized")
bmshj2018_factorized_relu = _entry_point("bmshj2018-factorized-relu")
bmshj2018_hyperprior = _entry_point("bmshj2018-hyperprior")
mbt2018_mean = _entry_point("mbt2018-mean")
mbt2018 = _entry_point("mbt2018")
cheng2020_anchor = _entry_point("cheng2020-anchor")
cheng2020_attn = _entry_point("cheng2020-attn")
cheng2020_anchor_checkerboard = _entry_point("cheng2020-anchor-checkerboard")
elic2022_official = _entry_point("elic2022-official")
elic2022_chandelier = _entry_point("elic2022-chandelier")
bmshj2018_hyperprior_vbr = _entry_point("bmshj2018-hyperprior-vbr")
mbt2018_mean_vbr = _entry_point("mbt2018-mean-vbr")
mbt2018_vbr = _entry_point("mbt2018-vbr")

#: Zoo name -> entry point (CompressAI's ``image_models``), for every architecture.
image_models: Mapping[str, Callable[..., CompressionModel]] = LiveMapping(
    lambda: {name: _entry_point(name) for name in _architectures()}
)
