"""Identifying a model by its weights: the hash that files record and decoders check.

Two models decode each other's files exactly when their state_dicts are identical
(transforms *and* integer CDF tables), so a file names its model by a SHA-256 of the
state_dict, not by an index into a table of known models that would shift when one is
added. The hash is defined so that anyone can recompute it from a safetensors or torch
file (``docs/format.md``):

* keys in ascending Unicode code-point order (Python's ``sorted``);
* for each tensor, the UTF-8 text ``"{key}\\n{dtype}\\n{shape}\\n{nbytes}\\n"`` (dtype
  as torch names it without the ``torch.`` prefix, e.g. ``float32``; shape as comma-
  separated sizes, empty for a scalar), then its raw bytes, C order, little-endian;
* all of it after the prefix ``b"neuralcodec state_dict sha256 v1\\n"``.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import Any, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from neuralcodec.ops.versions import tensor_versions

__all__ = ["architecture_of", "weights_sha256"]

_PREFIX = b"neuralcodec state_dict sha256 v1\n"

#: model -> (signature of its tensors, digest, the tensors): hashing a large model takes a
#: while, and the signature (names and :func:`~neuralcodec.ops.tensor_versions`) tells
#: whether any tensor changed.
_CACHE: "weakref.WeakKeyDictionary[nn.Module, Tuple[Tuple[Any, ...], bytes, Any]]" = weakref.WeakKeyDictionary()


def _signature(state_dict: Mapping[str, Tensor]) -> Tuple[Any, ...]:
    return tuple(state_dict) + tensor_versions(state_dict.values())


def _digest(state_dict: Mapping[str, Tensor]) -> bytes:
    digest = hashlib.sha256(_PREFIX)
    for key in sorted(state_dict):
        tensor = state_dict[key]
        if not isinstance(tensor, Tensor):
            raise TypeError(f"state_dict[{key!r}] is a {type(tensor).__name__}, not a tensor")
        tensor = tensor.detach().to("cpu").contiguous()
        dtype = str(tensor.dtype).removeprefix("torch.")
        shape = ",".join(str(s) for s in tensor.shape)
        nbytes = tensor.numel() * tensor.element_size()
        digest.update(f"{key}\n{dtype}\n{shape}\n{nbytes}\n".encode())
        if nbytes:
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.digest()


def weights_sha256(model: "nn.Module | Mapping[str, Tensor]") -> bytes:
    """The 32-byte SHA-256 of a model's state_dict (see the module documentation).

    Results for a module are cached until one of its tensors is replaced or modified
    in place (torch's version counters), so calling this per image is cheap.
    """
    if isinstance(model, nn.Module):
        state_dict = model.state_dict()
        signature = _signature(state_dict)
        cached = _CACHE.get(model)
        if cached is not None and cached[0] == signature:
            return cached[1]
        digest = _digest(state_dict)
        _CACHE[model] = (signature, digest, state_dict)  # keeps the addresses from being reused
        return digest
    if isinstance(model, Mapping):
        return _digest(model)
    raise TypeError(f"expected a model or a state_dict, got {type(model).__name__}")


def architecture_of(model: nn.Module, registry: Optional[Mapping[str, type]] = None) -> Optional[str]:
    """The zoo name of ``model``'s class (or of its nearest registered base class), or None."""
    if registry is None:
        from neuralcodec.zoo.image import ARCHITECTURES

        registry = ARCHITECTURES
    names = {cls: name for name, cls in registry.items()}
    for cls in type(model).__mro__:
        if cls in names:
            return names[cls]
    return None
