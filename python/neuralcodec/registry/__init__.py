"""Registries of models, losses, datasets, modules, optimisers, schedulers and transforms,
by name, with CompressAI's names (``compressai.registry``)::

    from neuralcodec.registry import MODELS, register_model

    @register_model("my-model")
    class MyModel(CompressionModel): ...

    model = MODELS["mbt2018-mean"](128, 192)

The model registry is the one owner of model names (see :mod:`neuralcodec.registry.models`
for a model's zoo entry, which gives the zoo its sizes per quality). Models, criterions,
datasets and modules register themselves when their packages are imported
(:mod:`neuralcodec.models`, ...). Importing this package does not import torch: the
registries whose defaults come from torch (:data:`OPTIMIZERS`, :data:`SCHEDULERS`,
:data:`TRANSFORMS`) and their decorators load on first use.
"""

import importlib
from typing import Any

from neuralcodec.registry.models import (
    CRITERIONS,
    DATASETS,
    MODELS,
    MODULES,
    ZOO_ENTRIES,
    ZooEntry,
    add_zoo_entry,
    register_criterion,
    register_dataset,
    register_model,
    register_module,
)

__all__ = [
    "CRITERIONS",
    "DATASETS",
    "MODELS",
    "MODULES",
    "OPTIMIZERS",
    "SCHEDULERS",
    "TRANSFORMS",
    "ZOO_ENTRIES",
    "ZooEntry",
    "add_zoo_entry",
    "register_criterion",
    "register_dataset",
    "register_model",
    "register_module",
    "register_optimizer",
    "register_scheduler",
    "register_transform",
]

#: Names loaded on first use, and the submodule (which imports torch) that defines each.
_LAZY = {
    "OPTIMIZERS": "torch",
    "SCHEDULERS": "torch",
    "register_optimizer": "torch",
    "register_scheduler": "torch",
    "TRANSFORMS": "transforms",
    "register_transform": "transforms",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"neuralcodec.registry.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'neuralcodec.registry' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
