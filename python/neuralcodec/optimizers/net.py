"""One optimizer for a whole model, and the construction that every factory here shares.

Optimizers are looked up by name in :data:`neuralcodec.registry.OPTIMIZERS` (``torch.optim``'s
classes and any registered with :func:`~neuralcodec.registry.register_optimizer`), as
CompressAI's factories do; the factories themselves are registered there too (``"net"``,
``"net_aux"``), under CompressAI's names.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Mapping, Set

import torch
from torch import nn

from neuralcodec.registry.torch import OPTIMIZERS, register_optimizer

__all__ = ["net_optimizer", "optimizer_class", "optimizers_for"]


def optimizer_class(name: str) -> Callable[..., torch.optim.Optimizer]:
    """The optimizer registered as ``name`` in :data:`~neuralcodec.registry.OPTIMIZERS`:
    a ``torch.optim`` class (``"Adam"``, ``"SGD"``...) or one registered with
    :func:`~neuralcodec.registry.register_optimizer`, called as ``optimizer(params, **kwargs)``.

    Raises:
        ValueError: no such optimizer, or ``name`` names a factory of whole-model optimizers
            (``"net"``, ``"net_aux"``: call them with the model) or the abstract base class.
    """
    found = OPTIMIZERS.get(str(name))
    if found is None or found is torch.optim.Optimizer or getattr(found, "builds_model_optimizers", False):
        known = sorted(
            key
            for key, value in OPTIMIZERS.items()
            if value is not torch.optim.Optimizer and not getattr(value, "builds_model_optimizers", False)
        )
        raise ValueError(f"unknown optimizer type {name!r}; registered optimizers: {', '.join(known)}")
    return found


def optimizers_for(net: nn.Module, groups: Mapping[str, Set[str]], conf: Mapping[str, Any]) -> Dict[str, torch.optim.Optimizer]:
    """One optimizer per entry of ``groups`` (name to parameter names), of the type and
    arguments ``conf`` gives for that name; parameters in name order."""
    params = dict(net.named_parameters())
    built = {}
    for key, names in groups.items():
        if key not in conf or "type" not in conf[key]:
            raise ValueError(f"optimizer config needs {key!r}: {{'type': ..., <its arguments>}}, got {dict(conf)!r}")
        kwargs = {k: v for k, v in conf[key].items() if k != "type"}
        chosen: Iterable[nn.Parameter] = (params[name] for name in sorted(names))
        built[key] = optimizer_class(conf[key]["type"])(chosen, **kwargs)
    return built


@register_optimizer("net")
def net_optimizer(net: nn.Module, conf: Mapping[str, Any]) -> Dict[str, torch.optim.Optimizer]:
    """One optimizer, ``{"net": ...}``, over every trainable parameter (``conf`` as for
    :func:`net_aux_optimizer`, with only its ``"net"`` entry)."""
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    return optimizers_for(net, {"net": trainable}, conf)


#: A factory that takes the model and a config (not parameters): not an optimizer type.
net_optimizer.builds_model_optimizers = True  # type: ignore[attr-defined]
