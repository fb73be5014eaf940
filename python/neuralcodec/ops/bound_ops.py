"""``max(x, bound)`` with a gradient that does not get stuck below the bound.

A plain ``torch.max(x, bound)`` has zero gradient wherever ``x < bound``: a parameter that
wandered below its bound could never come back, because the loss no longer "sees" it.
The bound used by Ballé et al. for GDN parameters and likelihoods ("Density modeling of
images using a generalized normalization transformation", ICLR 2016; "Variational image
compression with a scale hyperprior", ICLR 2018) lets the gradient through below the
bound when it points upwards, i.e. when a descent step would move ``x`` towards the
bound (``grad < 0``), and blocks it when it would push ``x`` further down.

:class:`LowerBound` can be compiled with :func:`torch.jit.script` (as CompressAI's can):
TorchScript cannot call an autograd function, so a scripted module computes the plain
``torch.max(x, bound)``, the same values (scripted models serve inference). This module
therefore does not use postponed annotations (``from __future__ import annotations``),
which TorchScript cannot resolve.
"""

from typing import Any, Optional, Tuple, Union

import torch
from torch import Tensor, nn

__all__ = ["LowerBound", "LowerBoundFunction", "lower_bound", "lower_bound_bwd", "lower_bound_fwd"]


def lower_bound_fwd(x: Tensor, bound: Tensor) -> Tensor:
    """The forward value, ``max(x, bound)`` (broadcast)."""
    return torch.max(x, bound)


def lower_bound_bwd(x: Tensor, bound: Tensor, grad_output: Tensor) -> Tuple[Tensor, None]:
    """The gradients ``(d x, d bound)``: ``grad_output`` where ``x >= bound`` or it is
    negative (a descent step would raise ``x``), zero elsewhere; none for ``bound``."""
    keep = (x >= bound) | (grad_output < 0)
    return grad_output * keep, None


class LowerBoundFunction(torch.autograd.Function):
    """Autograd function: forward ``max(x, bound)``; backward passes ``grad`` where
    ``x >= bound`` or ``grad < 0`` and zero elsewhere. ``bound`` gets no gradient."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, bound: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, bound)
        return lower_bound_fwd(x, bound)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad_output: Tensor
    ) -> Tuple[Tensor, Optional[Tensor]]:
        x, bound = ctx.saved_tensors
        return lower_bound_bwd(x, bound, grad_output)


def lower_bound(x: Tensor, bound: Union[float, Tensor]) -> Tensor:
    """Returns ``max(x, bound)`` (broadcast) with the pass-through gradient described in
    the module docstring.

    Args:
        x: any shape, floating point.
        bound: a float, or a tensor broadcastable to ``x``.
    """
    if not isinstance(bound, Tensor):
        bound = torch.tensor([float(bound)], dtype=x.dtype, device=x.device)
    return LowerBoundFunction.apply(x, bound)


class LowerBound(nn.Module):
    """Module form of :func:`lower_bound` with the bound stored as a buffer.

    Args:
        bound: the lower bound; stored as the float32 buffer ``bound`` of shape ``[1]``
            (the state_dict key CompressAI uses).
    """

    bound: Tensor

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)], dtype=torch.float32))

    @torch.jit.unused
    def lower_bound(self, x: Tensor) -> Tensor:
        """``max(x, bound)`` with the pass-through gradient (eager mode only)."""
        return LowerBoundFunction.apply(x, self.bound)

    def forward(self, x: Tensor) -> Tensor:
        """``max(x, bound)``, same shape as ``x``."""
        if torch.jit.is_scripting():
            return torch.max(x, self.bound)
        return self.lower_bound(x)

    def extra_repr(self) -> str:
        return f"bound={self.bound.item():g}"
