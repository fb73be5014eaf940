"""Weights as safetensors shards small enough for the device tool to return.

A borrowed GPU returns files of at most 16 MiB, and a call carries at most 64 MiB: the
trainer (``TrainConfig.shards_dir``) writes a model's weights as
``<architecture>-00.safetensors``, ``-01``, ... of at most :data:`SHARD_BYTES` each, with
convolution kernels (4-D float tensors) stored as float16 and everything else as float32
(half the size; as the shipped weight files do with ``half_precision_kernels``).
:func:`load_shards` widens them back and rebuilds the model.

State the weights determine (CDF tables, context-convolution masks) is not stored: call
``update()`` on the loaded model before coding with it. The metadata names the
architecture and the model's constructor arguments (``constructor``, JSON; shards
written before it carry ``N``, ``M``, ``groups``, ... as strings, still read).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from neuralcodec.files import write_atomic
from neuralcodec.models.base import CompressionModel
from neuralcodec.train.config import UNLISTED_ARCHITECTURES

__all__ = ["SHARD_BYTES", "architecture_class", "load_shards", "read_shards", "save_shards"]

#: Largest shard written (the device tool returns files of at most 16 MiB).
SHARD_BYTES = 15 * 2**20
#: State that the weights determine (CDF tables, context-convolution masks): not stored.
DERIVED_SUFFIXES = ("_quantized_cdf", "_offset", "_cdf_length", ".mask")
_SHARD_NAME = re.compile(r"^(?P<architecture>.+)-(?P<index>\d{2})\.safetensors$")


def architecture_class(architecture: str) -> Callable[..., nn.Module]:
    """The model class of ``architecture``: the zoo's, or one of
    :data:`~neuralcodec.train.config.UNLISTED_ARCHITECTURES`.

    Raises:
        ValueError: an unknown name.
    """
    from neuralcodec.zoo.image import ARCHITECTURES

    if architecture in ARCHITECTURES:
        return ARCHITECTURES[architecture]  # type: ignore[no-any-return]
    if architecture in UNLISTED_ARCHITECTURES:
        module, name = UNLISTED_ARCHITECTURES[architecture]
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    raise ValueError(f"unknown architecture {architecture!r}")


def _constructor_arguments(model: nn.Module) -> Dict[str, Any]:
    """The arguments of ``type(model)``'s constructor that the model keeps as attributes
    of the same name (``N``, ``M``, ``groups``, ...): what rebuilds it."""
    arguments: Dict[str, Any] = {}
    for name, parameter in inspect.signature(type(model).__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = getattr(model, name, None)
        if isinstance(value, (int, float, str)) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)
        ):
            arguments[name] = list(value) if isinstance(value, tuple) else value
    return arguments


def save_shards(
    model: nn.Module, folder: Union[str, Path], architecture: str, metadata: Optional[Mapping[str, str]] = None
) -> List[Path]:
    """Writes ``model``'s state_dict to ``folder`` as ``<architecture>-NN.safetensors``
    shards of at most :data:`SHARD_BYTES` (float16 kernels), each atomically; shards of
    an earlier save that are no longer needed are removed.

    Returns:
        the shard paths, in order.
    """
    from safetensors.torch import save

    architecture_class(architecture)  # raises on an unknown name
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arguments = _constructor_arguments(model)
    info = {"format": "neuralcodec-weights-shard", "architecture": architecture,
            "constructor": json.dumps(arguments),
            **{k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in arguments.items()},
            **{k: str(v) for k, v in (metadata or {}).items()}}  # fmt: skip
    state: Dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        if key.endswith(DERIVED_SUFFIXES):
            continue
        value = value.detach().cpu().contiguous()
        if value.is_floating_point():
            value = value.half() if value.dim() == 4 else value.float()
        state[key] = value
    shards: List[Dict[str, Tensor]] = [{}]
    size = 0
    for key, value in state.items():
        nbytes = value.numel() * value.element_size()
        if size + nbytes > SHARD_BYTES - 2**16 and shards[-1]:  # 64 KiB for the header
            shards.append({})
            size = 0
        shards[-1][key] = value
        size += nbytes
    paths = []
    for index, tensors in enumerate(shards):
        path = folder / f"{architecture}-{index:02d}.safetensors"
        write_atomic(path, save(tensors, metadata=info), force=True)
        paths.append(path)
    for old in folder.glob(f"{architecture}-*.safetensors"):
        if old not in paths and _SHARD_NAME.match(old.name):
            old.unlink()
    return paths


def _shard_paths(folder: Path) -> List[Path]:
    paths = sorted(p for p in folder.glob("*.safetensors") if _SHARD_NAME.match(p.name))
    names = {_SHARD_NAME.match(p.name).group("architecture") for p in paths}  # type: ignore[union-attr]
    if not paths:
        raise FileNotFoundError(f"no weight shards (<architecture>-NN.safetensors) in {folder}")
    if len(names) > 1:
        raise ValueError(f"{folder} holds the shards of several models: {', '.join(sorted(names))}")
    return paths


def read_shards(folder: Union[str, Path]) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """``(state_dict, metadata)`` of the shards in ``folder``, float16 widened to float32.

    Raises:
        FileNotFoundError: no shards there.
        ValueError: shards of several models, or unreadable ones.
    """
    from safetensors import safe_open

    state: Dict[str, Tensor] = {}
    info: Dict[str, str] = {}
    for path in _shard_paths(Path(folder)):
        try:
            with safe_open(str(path), framework="pt") as handle:
                info = dict(handle.metadata() or {})
                for key in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                    tensor = handle.get_tensor(key)
                    state[key] = tensor.float() if tensor.is_floating_point() else tensor
        except Exception as error:  # safetensors raises its own error types
            raise ValueError(f"{path} is not a readable safetensors shard: {error}") from error
    return state, info


def _legacy_arguments(info: Mapping[str, str], cls: Callable[..., nn.Module]) -> Dict[str, Any]:
    """Constructor arguments of shards written before ``constructor``: the parameters of
    ``cls`` found as metadata strings (integers, or comma-separated integers)."""
    arguments: Dict[str, Any] = {}
    for name in inspect.signature(cls).parameters:
        if name in info:
            parts = [int(v) for v in info[name].split(",")]
            arguments[name] = parts if "," in info[name] or name in ("groups", "aggregation_channels") else parts[0]
    return arguments


def load_shards(folder: Union[str, Path], device: Union[str, torch.device] = "cpu") -> CompressionModel:
    """The model stored by :func:`save_shards` in ``folder`` (tables not built).

    Raises:
        FileNotFoundError: no shards in ``folder``.
        ValueError: the shards do not describe a model of a known architecture, or their
            tensors do not fit it.
    """
    state, info = read_shards(folder)
    try:
        cls = architecture_class(info.get("architecture", ""))
        arguments = json.loads(info["constructor"]) if "constructor" in info else _legacy_arguments(info, cls)
        model = cls(**arguments)
        missing, unexpected = model.load_state_dict(state, strict=False)
    except (KeyError, ValueError, TypeError, RuntimeError) as error:
        raise ValueError(f"the shards in {folder} do not describe a model: {error}") from None
    missing = [k for k in missing if not k.endswith(DERIVED_SUFFIXES)]
    if missing or unexpected:
        raise ValueError(f"the shards in {folder} do not match the model: missing {missing}, unexpected {unexpected}")
    if not isinstance(model, CompressionModel):
        raise ValueError(f"the shards in {folder} describe a {type(model).__name__}, not a compression model")
    return model.to(device)
