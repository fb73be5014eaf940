"""Reparametrisation that keeps GDN's ``beta`` and ``gamma`` non-negative.

Scriptable with :func:`torch.jit.script` (GDN is), hence no postponed annotations here.
"""

import torch
from torch import Tensor, nn

from neuralcodec.ops.bound_ops import LowerBound

__all__ = ["NonNegativeParametrizer"]


class NonNegativeParametrizer(nn.Module):
    """Maps an unconstrained parameter ``v`` to ``max(v, sqrt(minimum + p))**2 - p``.

    GDN (Ballé et al. 2016, "Density modeling of images using a generalized normalization
    transformation") needs ``beta >= minimum`` and ``gamma >= 0``. Optimising ``v`` with
    ``value = v**2 - pedestal`` instead of the value itself keeps the gradient
    well-scaled near zero, and the small pedestal ``p = reparam_offset**2`` keeps the
    gradient alive at ``value = 0``. The bound uses :class:`LowerBound`, so a parameter
    that falls below it can still be pulled back.

    Args:
        minimum: smallest value the parametrised quantity can take.
        reparam_offset: ``sqrt`` of the pedestal (default ``2**-18``).

    State: buffer ``pedestal`` (``[1]``) and ``lower_bound.bound`` (``[1]``), as in
    CompressAI.
    """

    pedestal: Tensor

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2**-18) -> None:
        super().__init__()
        self.minimum = float(minimum)
        self.reparam_offset = float(reparam_offset)
        pedestal = self.reparam_offset**2
        self.register_buffer("pedestal", torch.tensor([pedestal], dtype=torch.float32))
        self.lower_bound = LowerBound((self.minimum + pedestal) ** 0.5)

    def init(self, x: Tensor) -> Tensor:
        """The unconstrained value that :meth:`forward` maps to ``x`` (for ``x >= 0``)."""
        return torch.sqrt(torch.max(x + self.pedestal, self.pedestal))

    def forward(self, x: Tensor) -> Tensor:
        """The constrained value, ``>= minimum``, same shape as ``x``."""
        bounded = self.lower_bound(x)
        return bounded**2 - self.pedestal

    def extra_repr(self) -> str:
        return f"minimum={self.minimum:g}, reparam_offset={self.reparam_offset:g}"
