"""Generalized divisive normalization (GDN), its inverse, and the simplified 1-GDN.

Both layers compile with :func:`torch.jit.script`, as CompressAI's do; TorchScript cannot
resolve postponed annotations, so this module does not use ``from __future__ import
annotations``, and the forward code sticks to what TorchScript compiles (no ``*args``,
no keyword-only arguments).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.ops.parametrizers import NonNegativeParametrizer

__all__ = ["GDN", "GDN1"]


class GDN(nn.Module):
    r"""Generalized divisive normalization, or its inverse (IGDN).

    Ballé, Laparra, Simoncelli, "Density modeling of images using a generalized
    normalization transformation", ICLR 2016; used as the nonlinearity of the analysis
    (GDN) and synthesis (IGDN) transforms in Ballé et al. 2017/2018 and Minnen et al. 2018.
    For an input ``x`` of shape ``[N, C, H, W]`` and each position:

    .. math::
        \mathrm{norm}_i = \beta_i + \sum_j \gamma_{ij}\, x_j^2, \qquad
        y_i = x_i / \sqrt{\mathrm{norm}_i} \;\text{(GDN)}, \qquad
        y_i = x_i \sqrt{\mathrm{norm}_i} \;\text{(IGDN)}.

    ``beta`` and ``gamma`` are stored reparametrised (:class:`NonNegativeParametrizer`) so
    that ``beta >= beta_min`` and ``gamma >= 0`` throughout training.

    Args:
        in_channels: ``C``.
        inverse: compute IGDN (multiply by the norm) instead of GDN.
        beta_min: lower bound of ``beta``, keeps the division away from zero.
        gamma_init: initial diagonal of ``gamma`` (off-diagonal entries start at 0).

    State (CompressAI keys): ``beta`` ``[C]``, ``gamma`` ``[C, C]`` (both reparametrised),
    ``beta_reparam.*``, ``gamma_reparam.*``.

    Example (at initialisation ``beta = 1`` and ``gamma = 0.1 I``, so GDN computes
    ``x / sqrt(1 + 0.1 x^2)`` and IGDN ``x * sqrt(1 + 0.1 x^2)``)::

        >>> import torch
        >>> from neuralcodec.layers import GDN
        >>> x = torch.tensor([3.0, -1.0]).reshape(1, 2, 1, 1)
        >>> GDN(2)(x).flatten()
        tensor([ 2.1764, -0.9535], grad_fn=<ViewBackward0>)
        >>> GDN(2, inverse=True)(x).flatten()
        tensor([ 4.1352, -1.0488], grad_fn=<ViewBackward0>)
    """

    def __init__(
        self,
        in_channels: int,
        inverse: bool = False,
        beta_min: float = 1e-6,
        gamma_init: float = 0.1,
    ) -> None:
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_reparam = NonNegativeParametrizer(minimum=float(beta_min))
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(in_channels)))
        self.gamma_reparam = NonNegativeParametrizer()
        gamma = float(gamma_init) * torch.eye(in_channels)
        self.gamma = nn.Parameter(self.gamma_reparam.init(gamma))

    def _norm(self, x: Tensor, absolute: bool) -> Tensor:
        """``beta_i + sum_j gamma_ij f(x_j)`` with ``f = |.|`` or ``(.)**2``, ``[N, C, H, W]``."""
        if x.dim() != 4:
            raise ValueError(f"GDN expects [N, C, H, W], got {x.dim()} dimensions")
        channels = x.size(1)
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(channels, channels, 1, 1)
        energy = torch.abs(x) if absolute else x * x
        return F.conv2d(energy, gamma, beta)

    def forward(self, x: Tensor) -> Tensor:
        """Normalises ``x`` (``[N, C, H, W]``); same shape out."""
        norm = self._norm(x, False)
        if _tracks_gradients(x, norm):
            return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))
        # Inference: scale in place, one activation-sized buffer fewer at the peak (same bits).
        return (norm.sqrt_() if self.inverse else norm.rsqrt_()).mul_(x)

    def extra_repr(self) -> str:
        return f"{self.beta.numel()}, inverse={self.inverse}"


def _tracks_gradients(x: Tensor, norm: Tensor) -> bool:
    """Whether autograd records operations on ``x`` or ``norm`` (then no in-place arithmetic)."""
    return torch.is_grad_enabled() and (x.requires_grad or norm.requires_grad)


class GDN1(GDN):
    r"""Simplified GDN ("1-GDN"): L1 instead of L2 energy and no square root.

    Johnston, Eban, Gordon, Ballé, "Computationally efficient neural image compression",
    2019: ``norm_i = beta_i + sum_j gamma_ij |x_j|``, ``y_i = x_i / norm_i`` (or
    ``x_i * norm_i`` with ``inverse=True``). Nearly as good as GDN, and cheaper.
    Same arguments and state as :class:`GDN`.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Normalises ``x`` (``[N, C, H, W]``); same shape out."""
        norm = self._norm(x, True)
        if _tracks_gradients(x, norm):
            return x * (norm if self.inverse else torch.reciprocal(norm))
        return (norm if self.inverse else norm.reciprocal_()).mul_(x)
