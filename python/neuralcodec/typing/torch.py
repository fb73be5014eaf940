"""Aliases of the torch types a training script passes around."""

from __future__ import annotations

from typing import Dict, Union

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader, Dataset

__all__ = ["TCriterion", "TDataLoader", "TDataset", "TModel", "TModule", "TOptimizer", "TScheduler"]

TCriterion = nn.Module
TDataLoader = DataLoader
TDataset = Dataset
TModel = nn.Module
TModule = nn.Module
#: One optimizer, or several by name (``net_aux_optimizer``'s ``{"net": ..., "aux": ...}``).
TOptimizer = Union[Optimizer, Dict[str, Optimizer]]
TScheduler = Union[ReduceLROnPlateau, LRScheduler]
