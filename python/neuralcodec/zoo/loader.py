"""The one model loader: which model, which weights, which lambda.

Every command (``compress``, ``eval``, ``export``, CompressAI's ``eval_model`` and
``update_model``, the demo) and the Python API (:class:`neuralcodec.codec.Codec`) load a
model here. A model is named by a :class:`ModelSpec`:

* ``architecture``: a registered zoo name (``--model NAME``);
* ``quality``: a rate point (an integer), or a variable-rate model's continuous quality;
* ``metric``: ``"mse"`` or ``"ms-ssim"``, what the weights were trained for;
* ``source``: where the weights come from, one of :data:`SOURCES`:

  - ``"shipped"``: neuralcodec's own model (one variable-rate model, any quality in
    ``1 .. 4``; its lambda per quality from :data:`neuralcodec.settings.DEFAULT_LAMBDAS`),
    or with ``architecture`` one neuralcodec shipped before, at one of its rate points
    (:data:`neuralcodec.settings.PREVIOUS_DEFAULTS`: what old files need to decode);
  - ``"pretrained"``: CompressAI's published weights of ``architecture`` at ``quality``
    (downloaded once, verified; lambda from :data:`neuralcodec.settings.COMPRESSAI_LAMBDAS`);
  - ``"checkpoint"``: a weights file (``--checkpoint FILE``; kinds below; lambda from
    its metadata or its training config);
  - ``"random"``: random initialisation with the zoo's sizes at ``quality``, tables built
    (to try an export);

  None picks ``"checkpoint"`` when a checkpoint is given, ``"pretrained"`` when an
  architecture is, else ``"shipped"``.

Checkpoint kinds (:func:`read_any_weights`, the one reader): a neuralcodec
``.safetensors`` weights file (:func:`neuralcodec.zoo.defaults.save_weights`; names its
architecture, sizes and lambda), a folder of weight shards or one shard file
(:mod:`neuralcodec.zoo.shards`, written by ``neuralcodec train --shards-dir``), a
``neuralcodec train`` checkpoint (``checkpoint.pt``, ``best.pt``: its config names the
architecture, ``N``, ``M``, the lambda or lambdas), or a CompressAI checkpoint or bare
state_dict (``state_dict``/``network``/plain: needs ``architecture``). Where the file
names its architecture, a different ``architecture`` is refused
(:class:`ArchitectureMismatchError`). A variable-rate checkpoint trained with its own
lambda table (``neuralcodec train --variable-rate --lambdas ...``) is rebuilt with it.

For a variable-rate model the lambda depends on the quality:
:meth:`LoadedModel.lambda_at` (the model's ``lambda_for_quality``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from neuralcodec.models.base import CompressionModel
from neuralcodec.models.vbr import VariableRateModel
from neuralcodec.settings import (
    COMPRESSAI_LAMBDAS,
    DEFAULT_ARCHITECTURE,
    DEFAULT_QUALITY,
    METRICS,
    PREVIOUS_DEFAULTS,
    VARIABLE_RATE_ARCHITECTURES,
    check_rate_point,
    check_shipped_quality,
)
from neuralcodec.zoo.build import build_model, model_from_weights, recorded_lambda
from neuralcodec.zoo.weights import (
    ArchitectureMismatchError,
    ModelSourceError,
    WeightsError,
    WeightsNotFoundError,
)

__all__ = [
    "SOURCES",
    "ArchitectureMismatchError",
    "LoadedModel",
    "ModelSourceError",
    "ModelSpec",
    "WeightsNotFoundError",
    "build_model",
    "load",
    "read_any_weights",
    "recorded_lambda",
]

PathLike = Union[str, Path]
Device = Union[str, torch.device]

#: Where weights come from (see the module documentation).
SOURCES = ("shipped", "pretrained", "checkpoint", "random")


@dataclass(frozen=True)
class ModelSpec:
    """What to load (see the module documentation). :meth:`check` validates it without
    reading any weights; :meth:`load` loads it."""

    architecture: Optional[str] = None
    quality: Optional[float] = None
    metric: Optional[str] = None
    source: Optional[str] = None
    checkpoint: Optional[PathLike] = None

    def resolved_source(self) -> str:
        """The source, given or implied.

        Raises:
            ModelSourceError: an unknown source, or one that contradicts the other fields.
        """
        source = self.source
        if source is None:
            source = "checkpoint" if self.checkpoint is not None else "pretrained" if self.architecture else "shipped"
        if source not in SOURCES:
            raise ModelSourceError(f"unknown weights source {source!r}; one of {', '.join(SOURCES)}")
        if (source == "checkpoint") != (self.checkpoint is not None):
            raise ModelSourceError(
                "a checkpoint is the weights: do not combine it with other weights"
                if self.checkpoint is not None else "the checkpoint source needs a checkpoint file"
            )
        if source in ("pretrained", "random") and self.architecture is None:
            raise ModelSourceError(f"{source} weights need an architecture (--model NAME)")
        if source == "shipped" and self.architecture not in (None, DEFAULT_ARCHITECTURE, *PREVIOUS_DEFAULTS):
            raise ModelSourceError(
                f"the shipped model is {DEFAULT_ARCHITECTURE} (before it: {', '.join(PREVIOUS_DEFAULTS)}), "
                f"not {self.architecture}"
            )
        if self.metric is not None and self.metric not in METRICS:
            raise ModelSourceError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if source == "shipped" and self.metric not in (None, "mse"):
            raise ModelSourceError(
                "the shipped weights are trained for mse; name an architecture (--model) for CompressAI's ms-ssim weights"
            )
        return source

    def check(self) -> str:
        """Validates the request without reading weights; returns the source.

        Raises:
            ModelSourceError: see :meth:`resolved_source`; an unknown architecture; a
                quality that is not a rate point of the shipped or zoo weights.
        """
        from neuralcodec.zoo.image import ARCHITECTURES

        source = self.resolved_source()
        if self.architecture is not None and self.architecture not in ARCHITECTURES:
            raise ModelSourceError(f"unknown architecture {self.architecture!r}; known: {', '.join(ARCHITECTURES)}")
        try:
            if source == "shipped" and self.architecture in PREVIOUS_DEFAULTS:
                if self.quality not in PREVIOUS_DEFAULTS[self.architecture] or isinstance(self.quality, bool):
                    points = sorted(PREVIOUS_DEFAULTS[self.architecture])
                    raise ValueError(f"neuralcodec shipped {self.architecture} at qualities {points}, got {self.quality!r}")
            elif source == "shipped":
                check_shipped_quality(DEFAULT_QUALITY if self.quality is None else self.quality)
            elif source in ("pretrained", "random") and not self._variable_rate():
                assert self.architecture is not None  # (pretrained and random weights need one: checked above)
                check_rate_point(DEFAULT_QUALITY if self.quality is None else self.quality, self.architecture)
        except ValueError as error:
            raise ModelSourceError(str(error)) from None
        if source == "checkpoint":
            path = Path(self.checkpoint)  # type: ignore[arg-type]
            if not path.exists():
                raise WeightsNotFoundError(f"checkpoint {path} does not exist")
        return source

    def _variable_rate(self) -> bool:
        return self.architecture in VARIABLE_RATE_ARCHITECTURES

    def load(self, device: Device = "cpu", progress: bool = True) -> "LoadedModel":
        """The model, in eval mode on ``device`` with its CDF tables built.

        Raises:
            ModelSourceError: see :meth:`check`; a torch checkpoint without an
                architecture; :class:`ArchitectureMismatchError`.
            WeightsError: weights that cannot be downloaded, read, or do not fit the
                architecture (:class:`WeightsNotFoundError`: no such file).
        """
        source = self.check()
        loader = {"shipped": _shipped, "pretrained": _pretrained, "random": _random, "checkpoint": _checkpoint}[source]
        loaded = loader(self, progress)
        loaded.model = loaded.model.to(device).eval()
        return loaded


@dataclass
class LoadedModel:
    """A loaded model and what is known about it.

    Attributes:
        model: the model, eval mode, tables built.
        architecture: its zoo name.
        source: where its weights came from (:data:`SOURCES`).
        quality: the rate point asked for (an int) or a variable-rate model's continuous
            quality (None: not given).
        metric: the training distortion (``""``: unknown).
        lmbda: the rate-distortion weight the weights were trained with, for a model with
            discrete rate points (None: unknown); see :meth:`lambda_at` for variable rate.
        path: the checkpoint read (None for other sources).
        metadata: what the weights file records (string values; ``{}`` when nothing).
    """

    model: CompressionModel
    architecture: str
    source: str
    quality: Optional[float] = None
    metric: str = ""
    lmbda: Optional[float] = None
    path: Optional[Path] = None
    metadata: Dict[str, str] = field(default_factory=dict)

    @property
    def variable_rate(self) -> bool:
        """Whether the model codes at a continuous quality."""
        return isinstance(self.model, VariableRateModel)

    def lambda_at(self, quality: Optional[float] = None) -> Optional[float]:
        """The lambda the weights were trained with at ``quality``: the model's
        ``lambda_for_quality`` for a variable-rate model (``quality`` or the loaded one;
        None without either), else :attr:`lmbda`."""
        if isinstance(self.model, VariableRateModel):
            wanted = self.quality if quality is None else quality
            return None if wanted is None else float(self.model.lambda_for_quality(float(wanted)))
        return self.lmbda


def load(
    architecture: Optional[str] = None,
    quality: Optional[float] = None,
    metric: Optional[str] = None,
    *,
    source: Optional[str] = None,
    checkpoint: Optional[PathLike] = None,
    device: Device = "cpu",
    progress: bool = True,
) -> LoadedModel:
    """``ModelSpec(architecture, quality, metric, source, checkpoint).load(device, progress)``."""
    return ModelSpec(architecture, quality, metric, source, checkpoint).load(device, progress)


# ------------------------------------------------------------------ sources
def _shipped(spec: ModelSpec, progress: bool) -> LoadedModel:
    from neuralcodec.zoo import defaults

    previous = spec.architecture in PREVIOUS_DEFAULTS
    try:  # defaults, looked up here: the one place that says where the shipped files are
        if previous:
            assert spec.architecture is not None and spec.quality is not None  # checked
            point = int(spec.quality)
            model = defaults.previous_default_model(spec.architecture, point)
            lmbda = PREVIOUS_DEFAULTS[spec.architecture][point]
            return LoadedModel(model, spec.architecture, "shipped", point, "mse", lmbda)
        quality = check_shipped_quality(DEFAULT_QUALITY if spec.quality is None else spec.quality)
        model = defaults.default_model()
    except FileNotFoundError as error:
        raise WeightsNotFoundError(str(error)) from None
    except ValueError as error:
        raise WeightsError(str(error)) from None
    return LoadedModel(model, DEFAULT_ARCHITECTURE, "shipped", quality, "mse")


def _zoo_quality(spec: ModelSpec) -> Tuple[int, Optional[float]]:
    """The zoo level to build and the quality to report: a variable-rate model is one
    network (level 0), coded at the continuous quality asked for."""
    if spec._variable_rate():
        return 0, spec.quality
    assert spec.architecture is not None  # (the zoo's sources need one: ModelSpec checks it)
    quality = int(check_rate_point(DEFAULT_QUALITY if spec.quality is None else spec.quality, spec.architecture))
    return quality, quality


def _pretrained(spec: ModelSpec, progress: bool) -> LoadedModel:
    from neuralcodec import zoo  # zoo.load_model, looked up at each call (tests replace it)

    assert spec.architecture is not None
    metric = spec.metric or "mse"
    level, quality = _zoo_quality(spec)
    model = zoo.load_model(spec.architecture, level, metric, pretrained=True, progress=progress)
    lmbda = None if spec._variable_rate() else COMPRESSAI_LAMBDAS[metric][level - 1]
    return LoadedModel(model, spec.architecture, "pretrained", quality, metric, lmbda)


def _random(spec: ModelSpec, progress: bool) -> LoadedModel:
    from neuralcodec import zoo

    assert spec.architecture is not None
    level, quality = _zoo_quality(spec)
    model = zoo.load_model(spec.architecture, level, spec.metric or "mse")
    with torch.no_grad():
        model.update(force=True)  # random weights, real tables: ready to code and export
    return LoadedModel(model, spec.architecture, "random", quality, spec.metric or "")


def _checkpoint(spec: ModelSpec, progress: bool) -> LoadedModel:
    loaded = _from_file(Path(spec.checkpoint), spec.architecture)  # type: ignore[arg-type]
    loaded.quality = spec.quality
    loaded.metric = spec.metric or loaded.metadata.get("metric", "")
    return loaded


# ------------------------------------------------------------------ files
def read_any_weights(path: PathLike) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """``(state_dict, metadata)`` of any weights file our trainer or CompressAI writes
    (see the module documentation); CompressAI's older key spellings converted.

    Raises:
        WeightsNotFoundError: nothing at ``path``.
        WeightsError: the file (or folder) cannot be read as weights.
    """
    from neuralcodec.zoo.defaults import read_state_dict

    path = Path(path)
    if not path.exists():
        raise WeightsNotFoundError(f"checkpoint {path} does not exist")
    try:
        return read_state_dict(path)
    except WeightsError:
        raise
    except FileNotFoundError as error:
        raise WeightsNotFoundError(str(error)) from None
    except ValueError as error:
        raise WeightsError(str(error)) from None


def _from_file(path: Path, architecture: Optional[str]) -> LoadedModel:
    """The model in the weights file ``path`` (any kind), tables ready, with the
    architecture, lambda and metadata it records."""
    state, metadata = read_any_weights(path)
    model, name = model_from_weights(state, metadata, architecture, path)
    return LoadedModel(
        model.eval(), name, "checkpoint", None, metadata.get("metric", ""), recorded_lambda(metadata), path,
        dict(metadata),
    )
