"""Type aliases, at CompressAI's ``compressai.typing`` path, for annotating training code."""

from __future__ import annotations

from typing import Callable

from neuralcodec.typing.torch import TCriterion, TDataLoader, TDataset, TModel, TModule, TOptimizer, TScheduler

__all__ = ["TCriterion", "TDataLoader", "TDataset", "TModel", "TModule", "TOptimizer", "TScheduler", "TTransform"]

#: Anything that maps a sample to a sample.
TTransform = Callable
