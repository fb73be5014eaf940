"""One optimizer for a whole model, and the construction that every factory here shares."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Mapping, Set

import torch
from torch import nn

__all__ = ["net_optimizer", "optimizer_class", "optimizers_for"]


def optimizer_class(name: str) -> Callable[..., torch.optim.Optimizer]:
    """The ``torch.optim`` optimizer called ``name`` (``"Adam"``, ``"SGD"``...).

    Raises:
        ValueError: no such optimizer.
    """
    found = getattr(torch.optim, str(name), None)
    if not (isinstance(found, type) and issubclass(found, torch.optim.Optimizer)):
        known = sorted(
            k
            for k, v in vars(torch.optim).items()
            if isinstance(v, type) and issubclass(v, torch.optim.Optimizer) and k != "Optimizer"
        )
        raise ValueError(f"unknown optimizer type {name!r}; torch.optim has {', '.join(known)}")
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


def net_optimizer(net: nn.Module, conf: Mapping[str, Any]) -> Dict[str, torch.optim.Optimizer]:
    """One optimizer, ``{"net": ...}``, over every trainable parameter (``conf`` as for
    :func:`net_aux_optimizer`, with only its ``"net"`` entry)."""
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    return optimizers_for(net, {"net": trainable}, conf)
