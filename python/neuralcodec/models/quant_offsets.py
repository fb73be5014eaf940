"""Quantization-reconstruction offsets of the variable-rate models (Kamisli et al., DCC 2024).

A gain-scaled residual ``v = gain (y - mean)`` is coded as ``q = round(v)`` and decoded as
``sign(q) (|q| + offset) / gain + mean``, where the offset is ``-QuantABCD(stdev, gain)``:
a small network of the scaled standard deviation of ``y`` and the gain, zero where ``q``
is 0. :class:`~neuralcodec.models.vbr.ScaleHyperpriorVbr` and its subclasses own the
network (``QuantABCD``, CompressAI's state_dict key); these functions are the maths of
its use, shared by their ``forward``, the compat decoders and the autoregressive loop.
"""

from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor, nn

from neuralcodec.ops import quantize_ste

__all__ = ["offset_network", "reconstruct", "reconstruct_ste", "small_mlp"]

#: ``|q|`` below this is a zero symbol, which gets no offset.
ZERO_SYMBOL = 0.0001


def small_mlp(inputs: int, hidden: int, softplus: bool = False) -> nn.Sequential:
    """``inputs -> hidden -> hidden -> 1``, ReLU between, optionally a softplus on the
    output: the shape of CompressAI's ``QuantABCD`` and ``gayn2zqstep`` (state_dict keys
    ``.0``, ``.2``, ``.4``)."""
    layers: List[nn.Module] = [
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1),
    ]  # fmt: skip
    if softplus:
        layers.append(nn.Softplus())
    return nn.Sequential(*layers)


def offset_network() -> nn.Sequential:
    """A fresh ``QuantABCD``: ``(scaled standard deviation, gain) -> offset``."""
    return small_mlp(2, 12)


def reconstruct(
    offsets: nn.Module, q_abs: Tensor, signs: Tensor, stdev: Tensor, scale: Tensor, means: Optional[Tensor]
) -> Tensor:
    """``signs (q_abs + offset) / scale + means`` (``means`` None: none).

    Args:
        offsets: the ``QuantABCD`` network.
        q_abs, signs: ``|q|`` and ``sign(q)`` of the symbols, any shape ``S``.
        stdev: the gain-scaled standard deviations after the Gaussian conditional's lower
            bound, shape ``S``.
        scale: the gain, a tensor broadcastable to ``S`` (no gradient flows into it here).
        means: the means of ``y`` (unscaled), shape ``S``, or None.
    """
    q_stdev = stdev.unsqueeze(-1)
    stdev_and_gain = torch.cat((q_stdev, scale.detach().expand(q_stdev.shape)), dim=-1)
    q_offsets = (-1) * offsets(stdev_and_gain).squeeze(-1)
    q_offsets[q_abs < ZERO_SYMBOL] = 0  # no offset for values quantized to zero
    y_hat = signs * (q_abs + q_offsets)
    rescale = 1.0 / scale.detach()
    return y_hat * rescale if means is None else y_hat * rescale + means


def reconstruct_ste(
    offsets: nn.Module, scaled: Tensor, stdev: Tensor, scale: Tensor, means: Optional[Tensor]
) -> Tensor:
    """:func:`reconstruct` of the gain-scaled residual ``scaled`` with straight-through
    rounding of ``|scaled|`` (training): ``sign(v) (round|v| + offset) / gain + means``."""
    signs = torch.sign(scaled).detach()
    q_abs = quantize_ste(torch.abs(scaled))
    return reconstruct(offsets, q_abs, signs, stdev, scale, means)
