"""Building a model from weights: the step every kind of weights file shares.

:func:`build_model` makes a registered architecture from a state_dict and the metadata
its file records (:func:`neuralcodec.zoo.defaults.read_state_dict` reads both from any
kind of file); :func:`model_from_weights` adds the checks and the CDF tables. The model
loader (:mod:`neuralcodec.zoo.loader`), the shipped weights
(:mod:`neuralcodec.zoo.defaults`) and CompressAI's tools build models here.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from neuralcodec.entropy_models import EntropyBottleneck
from neuralcodec.models.base import CompressionModel
from neuralcodec.zoo.weights import (
    TRAIN_CHECKPOINT_FORMAT,
    ArchitectureMismatchError,
    ModelSourceError,
    WeightsError,
)

__all__ = ["build_model", "model_from_weights", "recorded_lambda", "recorded_lambdas"]


def recorded_lambda(metadata: Mapping[str, str]) -> Optional[float]:
    """The ``lambda`` a weights file records (a positive number; ``"variable"`` and
    anything else give None)."""
    try:
        value = float(metadata["lambda"])
    except (KeyError, ValueError, TypeError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def recorded_lambdas(metadata: Mapping[str, str], where: object) -> Optional[Tuple[float, ...]]:
    """The lambda table of a variable-rate checkpoint (``lambdas``, JSON), or None."""
    text = metadata.get("lambdas")
    if not text:
        return None
    try:
        values = tuple(float(v) for v in json.loads(text))
    except (TypeError, ValueError):
        raise WeightsError(f"{where}: its lambdas {text!r} are not a list of numbers") from None
    return values


def _takes(function: Any, name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def build_model(
    architecture: str,
    state: Mapping[str, Tensor],
    metadata: Mapping[str, str],
    where: object = "the weights",
    **options: Any,
) -> CompressionModel:
    """A model of ``architecture`` with the weights ``state`` (tables as stored; none
    built): by the class's ``from_state_dict`` (sizes read off the weights) where it has
    one, else (and for weight shards) by its constructor arguments (the ``constructor`` metadata, JSON; or the
    sizes recorded as strings, or ``N`` and ``M``). A recorded ``lambdas`` table rebuilds
    a variable-rate model with its own lambdas. ``options`` go to ``from_state_dict``
    (CompressAI's tools force ``vr_entbttlnck=True`` as CompressAI's do).

    Raises:
        ModelSourceError: an unknown architecture.
        WeightsError: the weights do not fit it.
    """
    from neuralcodec.zoo.image import ARCHITECTURES
    from neuralcodec.zoo.shards import build_from_arguments, legacy_arguments

    if architecture not in ARCHITECTURES:
        raise ModelSourceError(f"{where}: unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    cls = ARCHITECTURES[architecture]
    lambdas = recorded_lambdas(metadata, where)
    own_reader = cls.from_state_dict.__func__ is not CompressionModel.from_state_dict.__func__  # type: ignore[attr-defined]
    # Shards leave out what the weights determine (tables, masks): their constructor rebuilds them.
    own_reader = own_reader and metadata.get("format") != "neuralcodec-weights-shard"
    try:
        if own_reader:
            extra = {"lambdas": list(lambdas)} if lambdas is not None and _takes(cls.from_state_dict, "lambdas") else {}
            model = cls.from_state_dict(state, **extra, **options)
            if lambdas is not None and not extra:
                table = getattr(model, "lmbda", None)
                if isinstance(table, list) and len(table) == len(lambdas):
                    setattr(model, "lmbda", list(lambdas))  # noqa: B010 (a class-specific attribute)
                else:
                    raise ValueError(f"{cls.__name__} cannot take the lambda table {list(lambdas)}")
        else:
            if "constructor" in metadata:
                arguments = json.loads(metadata["constructor"])
            else:
                arguments = legacy_arguments(metadata, cls)
            if lambdas is not None and _takes(cls, "lambdas"):
                arguments["lambdas"] = list(lambdas)
            model = build_from_arguments(cls, arguments, state, where)
    except WeightsError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError) as error:
        raise WeightsError(f"{where} does not hold a {architecture} model: {error}") from None
    return model


def _fit_quantiles(model: CompressionModel) -> None:
    """Fits every entropy bottleneck's quantiles to its current density (as training ends)."""
    for module in model.modules():
        if isinstance(module, EntropyBottleneck):
            module.fit_quantiles()


def model_from_weights(
    state: Mapping[str, Tensor], metadata: Mapping[str, str], architecture: Optional[str], where: Union[str, Path]
) -> Tuple[CompressionModel, str]:
    """``(model, architecture)`` of the weights ``state`` read from ``where`` with its
    ``metadata``, in eval mode with CDF tables ready: those stored are kept; shards, which
    store none, and ``neuralcodec train`` checkpoints, whose quantiles and tables may be
    stale mid-run, get theirs built.

    Raises:
        ArchitectureMismatchError: the file names another architecture than ``architecture``.
        ModelSourceError: neither names one, or an unknown one.
        WeightsError: the weights do not fit the architecture.
    """
    stored = metadata.get("architecture")
    if architecture is not None and stored is not None and stored != architecture:
        raise ArchitectureMismatchError(f"{where} holds a {stored} model, not {architecture}")
    name = stored or architecture
    if name is None:
        raise ModelSourceError(
            f"{where} does not name its architecture (a torch state_dict or CompressAI checkpoint): "
            "give it (--model NAME, architecture=)"
        )
    model = build_model(name, state, metadata, where)
    with torch.no_grad():
        if metadata.get("format") == TRAIN_CHECKPOINT_FORMAT:
            _fit_quantiles(model)
            model.update(force=True)
        else:
            model.update(force=False)
    return model.eval(), name
