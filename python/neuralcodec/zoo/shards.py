"""Reading weight shards: a model's weights as ``<architecture>-NN.safetensors`` files.

The trainer writes them (:func:`neuralcodec.train.shards.save_shards`, ``--shards-dir``:
files small enough for the device tool to return, convolution kernels as float16);
every command reads them through the one model loader (:mod:`neuralcodec.zoo.loader`),
which is why the reading lives here, below the commands, and the writing with the trainer.

State the weights determine (CDF tables, context-convolution masks) is not stored: call
``update()`` on the loaded model before coding with it (the loader does). The metadata
names the architecture and the model's constructor arguments (``constructor``, JSON;
shards written before it carry ``N``, ``M``, ``groups``, ... as strings, still read).
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Tuple, Union

import torch
from torch import Tensor, nn

from neuralcodec.models.base import CompressionModel

__all__ = [
    "DERIVED_SUFFIXES",
    "SHARD_NAME",
    "architecture_class",
    "build_from_arguments",
    "constructor_arguments",
    "is_shard",
    "legacy_arguments",
    "load_shards",
    "read_shards",
    "shard_paths",
]

#: State that the weights determine (CDF tables, context-convolution masks): not stored.
DERIVED_SUFFIXES = ("_quantized_cdf", "_offset", "_cdf_length", ".mask")
#: A shard's file name: ``<architecture>-NN.safetensors``.
SHARD_NAME = re.compile(r"^(?P<architecture>.+)-(?P<index>\d{2})\.safetensors$")


def architecture_class(architecture: str) -> Callable[..., nn.Module]:
    """The model class the registry has under ``architecture`` (a registered model with a
    zoo entry, :data:`neuralcodec.zoo.image.ARCHITECTURES`).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    from neuralcodec.zoo.image import ARCHITECTURES

    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture]  # type: ignore[no-any-return]


def constructor_arguments(model: nn.Module) -> Dict[str, Any]:
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


def is_shard(path: Union[str, Path]) -> bool:
    """Whether ``path`` is a shard file (by its name, ``<architecture>-NN.safetensors``,
    and its metadata ``format``)."""
    path = Path(path)
    if not path.is_file() or not SHARD_NAME.match(path.name):
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("format") == "neuralcodec-weights-shard"
    except Exception:  # safetensors raises its own error types; not a shard then
        return False


def shard_paths(source: Union[str, Path]) -> List[Path]:
    """The shard files of one model: those in the folder ``source``, or, for a shard file,
    those of the same architecture beside it; in order.

    Raises:
        FileNotFoundError: no shards there.
        ValueError: a folder with the shards of several models.
    """
    source = Path(source)
    if source.is_file():
        match = SHARD_NAME.match(source.name)
        if match is None:
            raise ValueError(f"{source} is not a weight shard (<architecture>-NN.safetensors)")
        folder, name = source.parent, match.group("architecture")
    else:
        folder, name = source, None
    paths = sorted(p for p in folder.glob("*.safetensors") if SHARD_NAME.match(p.name))
    if name is not None:
        paths = [p for p in paths if SHARD_NAME.match(p.name).group("architecture") == name]  # type: ignore[union-attr]
    if not paths:
        raise FileNotFoundError(f"no weight shards (<architecture>-NN.safetensors) in {folder}")
    names = {SHARD_NAME.match(p.name).group("architecture") for p in paths}  # type: ignore[union-attr]
    if len(names) > 1:
        raise ValueError(f"{folder} holds the shards of several models: {', '.join(sorted(names))}")
    return paths


def read_shards(source: Union[str, Path]) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """``(state_dict, metadata)`` of the shards in the folder ``source`` (or of the model
    whose shard file ``source`` is), float16 widened to float32.

    Raises:
        FileNotFoundError: no shards there.
        ValueError: shards of several models, or unreadable ones.
    """
    from safetensors import safe_open

    state: Dict[str, Tensor] = {}
    info: Dict[str, str] = {}
    for path in shard_paths(source):
        try:
            with safe_open(str(path), framework="pt") as handle:
                info = dict(handle.metadata() or {})
                for key in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                    tensor = handle.get_tensor(key)
                    state[key] = tensor.float() if tensor.is_floating_point() else tensor
        except Exception as error:  # safetensors raises its own error types
            raise ValueError(f"{path} is not a readable safetensors shard: {error}") from error
    return state, info


def legacy_arguments(info: Mapping[str, str], cls: Callable[..., nn.Module]) -> Dict[str, Any]:
    """Constructor arguments of shards written before ``constructor``: the parameters of
    ``cls`` found as metadata strings (integers, or comma-separated integers)."""
    arguments: Dict[str, Any] = {}
    for name in inspect.signature(cls).parameters:
        if name in info:
            parts = [int(v) for v in info[name].split(",")]
            arguments[name] = parts if "," in info[name] or name in ("groups", "aggregation_channels") else parts[0]
    return arguments


def build_from_arguments(
    cls: Callable[..., nn.Module], arguments: Mapping[str, Any], state: Mapping[str, Tensor], where: object
) -> CompressionModel:
    """``cls(**arguments)`` with the weights of ``state`` (derived state may be missing).

    Raises:
        ValueError: the arguments or the weights do not fit the class.
    """
    try:
        model = cls(**arguments)
        missing, unexpected = model.load_state_dict(dict(state), strict=False)
    except (KeyError, ValueError, TypeError, RuntimeError) as error:
        raise ValueError(f"{where} does not describe a model: {error}") from None
    missing = [k for k in missing if not k.endswith(DERIVED_SUFFIXES)]
    if missing or unexpected:
        raise ValueError(f"{where} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if not isinstance(model, CompressionModel):
        raise ValueError(f"{where} describes a {type(model).__name__}, not a compression model")
    return model


def load_shards(folder: Union[str, Path], device: Union[str, torch.device] = "cpu") -> CompressionModel:
    """The model stored in the shards of ``folder`` (tables not built).

    Raises:
        FileNotFoundError: no shards in ``folder``.
        ValueError: the shards do not describe a model of a known architecture, or their
            tensors do not fit it.
    """
    state, info = read_shards(folder)
    try:
        cls = architecture_class(info.get("architecture", ""))
        arguments = json.loads(info["constructor"]) if "constructor" in info else legacy_arguments(info, cls)
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"the shards in {folder} do not describe a model: {error}") from None
    return build_from_arguments(cls, arguments, state, f"the shards in {folder}").to(device)
