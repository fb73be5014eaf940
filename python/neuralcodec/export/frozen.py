"""Inference-only copies of the transforms, with GDN's reparametrisation evaluated once.

A trained :class:`~neuralcodec.layers.GDN` stores ``beta`` and ``gamma`` reparametrised
(:class:`~neuralcodec.ops.NonNegativeParametrizer`, whose lower bound is a custom
autograd function) so that training keeps them non-negative. At inference the
reparametrised values are constants; :func:`freeze` replaces every GDN/IGDN/1-GDN by a
:class:`FrozenGDN` that holds them as buffers, which

* removes the autograd function from the graph, so the transform can be scripted
  (``torch.jit.script``) and exported to ONNX by either exporter;
* shortens the exported graph (one 1x1 convolution, a square root and a product per GDN);
* changes no output bit: :class:`FrozenGDN` runs the same tensor operations on the same
  values as :class:`~neuralcodec.layers.GDN` does, only without recomputing the constants.
"""

# No ``from __future__ import annotations`` here: TorchScript must read the class
# annotations of FrozenGDN as types, not strings.
import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.layers.gdn import GDN, GDN1

__all__ = ["FrozenGDN", "freeze"]


class FrozenGDN(nn.Module):
    """GDN, IGDN or 1-GDN with constant parameters (see the module documentation).

    ``norm = conv1x1(f(x), gamma) + beta`` with ``f(x) = x*x`` (GDN) or ``|x|`` (1-GDN),
    then ``x * rsqrt(norm)``, ``x * sqrt(norm)`` (inverse), ``x / norm`` or ``x * norm``.

    Args:
        beta: ``[C]``, the effective ``beta`` (``>= beta_min``).
        gamma: ``[C, C]``, the effective ``gamma`` (``>= 0``).
        inverse: compute the inverse transform (IGDN).
        simplified: 1-GDN (L1 energy, no square root) instead of GDN.

    Input and output ``[N, C, H, W]``.
    """

    beta: Tensor
    gamma: Tensor

    def __init__(self, beta: Tensor, gamma: Tensor, inverse: bool, simplified: bool) -> None:
        super().__init__()
        channels = beta.numel()
        if gamma.shape != (channels, channels):
            raise ValueError(f"gamma must be [{channels}, {channels}], got {tuple(gamma.shape)}")
        self.register_buffer("beta", beta.detach().clone().reshape(channels))
        self.register_buffer("gamma", gamma.detach().clone().reshape(channels, channels, 1, 1))
        self.inverse = bool(inverse)
        self.simplified = bool(simplified)

    @classmethod
    def from_gdn(cls, gdn: GDN) -> "FrozenGDN":
        """The frozen equivalent of a trained ``gdn``."""
        with torch.no_grad():
            beta = gdn.beta_reparam(gdn.beta)
            gamma = gdn.gamma_reparam(gdn.gamma)
        return cls(beta, gamma, inverse=gdn.inverse, simplified=isinstance(gdn, GDN1))

    def forward(self, x: Tensor) -> Tensor:
        """Normalises ``x`` (``[N, C, H, W]``); same shape out."""
        if self.simplified:
            norm = F.conv2d(torch.abs(x), self.gamma, self.beta)
            if self.inverse:
                return x * norm
            return x * torch.reciprocal(norm)
        norm = F.conv2d(x * x, self.gamma, self.beta)
        if self.inverse:
            return x * torch.sqrt(norm)
        return x * torch.rsqrt(norm)

    def extra_repr(self) -> str:
        return f"{self.beta.numel()}, inverse={self.inverse}, simplified={self.simplified}"


def _replace_gdn(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, GDN):
            setattr(module, name, FrozenGDN.from_gdn(child))
        else:
            _replace_gdn(child)


def freeze(module: nn.Module) -> nn.Module:
    """An inference-only deep copy of ``module``: GDN layers frozen, eval mode, no gradients.

    ``module`` itself is left unchanged. The copy gives bit-identical outputs.
    """
    if isinstance(module, GDN):
        frozen: nn.Module = FrozenGDN.from_gdn(module)
    else:
        frozen = copy.deepcopy(module)
        _replace_gdn(frozen)
    frozen.eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    return frozen
