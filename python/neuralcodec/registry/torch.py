"""CompressAI's ``compressai.registry.torch``: every registry, with the optimisers and
learning-rate schedulers of :mod:`torch.optim` registered under their class names.

The model, criterion, dataset and module registries are those of
:mod:`neuralcodec.registry.models` (one table each, torch-free); this module adds the two
whose defaults come from torch.
"""

from typing import Any, Callable, Dict, TypeVar

from torch import optim
from torch.optim import lr_scheduler

from neuralcodec.registry.models import (
    CRITERIONS,
    DATASETS,
    MODELS,
    MODULES,
    register_criterion,
    register_dataset,
    register_in,
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
    "register_criterion",
    "register_dataset",
    "register_model",
    "register_module",
    "register_optimizer",
    "register_scheduler",
]

T = TypeVar("T")


def _capitalised(namespace: Dict[str, Any]) -> Dict[str, Any]:
    """The names of ``namespace`` that start with a capital letter (its classes), as
    CompressAI collects them."""
    return {name: value for name, value in namespace.items() if name[:1].isupper()}


#: Name -> optimiser class: ``torch.optim``'s (``"Adam"``, ``"SGD"``, ...) and registered ones.
OPTIMIZERS: Dict[str, Callable[..., Any]] = _capitalised(vars(optim))
#: Name -> scheduler class: ``torch.optim.lr_scheduler``'s (``"StepLR"``, ...) and registered ones.
SCHEDULERS: Dict[str, Callable[..., Any]] = _capitalised(vars(lr_scheduler))


def register_optimizer(name: str) -> Callable[[T], T]:
    """Decorator: registers an optimiser class or factory under ``name`` in :data:`OPTIMIZERS`."""
    return register_in(OPTIMIZERS, name)


def register_scheduler(name: str) -> Callable[[T], T]:
    """Decorator: registers a scheduler class under ``name`` in :data:`SCHEDULERS`."""
    return register_in(SCHEDULERS, name)
