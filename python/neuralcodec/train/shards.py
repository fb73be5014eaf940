"""Weights as safetensors shards small enough for the device tool to return.

A borrowed GPU returns files of at most 16 MiB, and a call carries at most 64 MiB: the
trainer (``TrainConfig.shards_dir``) writes a model's weights as
``<architecture>-00.safetensors``, ``-01``, ... of at most :data:`SHARD_BYTES` each, with
convolution kernels (4-D float tensors) stored as float16 and everything else as float32
(half the size; as the shipped weight files do with ``half_precision_kernels``).

Reading them is the model loader's (:mod:`neuralcodec.zoo.shards`, re-exported here:
:func:`read_shards`, :func:`load_shards`), so ``compress``, ``eval`` and ``export``
take ``--checkpoint SHARDS_FOLDER`` as they take any other weights file.

State the weights determine (CDF tables, context-convolution masks) is not stored: call
``update()`` on the loaded model before coding with it. The metadata names the
architecture and the model's constructor arguments (``constructor``, JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

from torch import Tensor, nn

from neuralcodec.files import write_atomic
from neuralcodec.zoo.shards import (
    DERIVED_SUFFIXES,
    SHARD_NAME,
    architecture_class,
    constructor_arguments,
    load_shards,
    read_shards,
)

__all__ = ["DERIVED_SUFFIXES", "SHARD_BYTES", "architecture_class", "load_shards", "read_shards", "save_shards"]

#: Largest shard written (the device tool returns files of at most 16 MiB).
SHARD_BYTES = 15 * 2**20


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
    arguments = constructor_arguments(model)
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
        if old not in paths and SHARD_NAME.match(old.name):
            old.unlink()
    return paths
