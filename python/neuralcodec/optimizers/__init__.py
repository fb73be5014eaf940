"""Optimizer factories, at CompressAI's ``compressai.optimizers`` path:
:func:`net_aux_optimizer` (main and auxiliary parameters apart) and :func:`net_optimizer`."""

from __future__ import annotations

from neuralcodec.optimizers.net import net_optimizer, optimizer_class, optimizers_for
from neuralcodec.optimizers.net_aux import net_aux_optimizer

__all__ = ["net_aux_optimizer", "net_optimizer", "optimizer_class", "optimizers_for"]
