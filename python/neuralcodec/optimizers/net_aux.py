"""Optimizers for a compression model's main and auxiliary losses."""

from __future__ import annotations

from typing import Any, Dict, Mapping

import torch
from torch import nn

from neuralcodec.optimizers.net import optimizers_for
from neuralcodec.registry.torch import register_optimizer

__all__ = ["net_aux_optimizer"]


@register_optimizer("net_aux")
def net_aux_optimizer(net: nn.Module, conf: Mapping[str, Any]) -> Dict[str, torch.optim.Optimizer]:
    """Two optimizers over disjoint parameters: ``"aux"`` for the entropy bottlenecks'
    ``quantiles`` (trained by ``net.aux_loss()``), ``"net"`` for every other trainable
    parameter (trained by the rate-distortion loss).

    Args:
        net: the model.
        conf: ``{"net": {"type": "Adam", "lr": 1e-4}, "aux": {"type": "Adam", "lr": 1e-3}}``:
            each entry's ``type`` names a ``torch.optim`` class, the rest are its arguments.

    Returns:
        ``{"net": optimizer, "aux": optimizer}``; parameters are in name order.

    Raises:
        ValueError: a missing entry or ``type``, or an unknown optimizer.
    """
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    aux = {name for name in trainable if name.endswith(".quantiles")}
    return optimizers_for(net, {"net": trainable - aux, "aux": aux}, conf)


#: A factory that takes the model and a config (not parameters): not an optimizer type.
net_aux_optimizer.builds_model_optimizers = True  # type: ignore[attr-defined]
