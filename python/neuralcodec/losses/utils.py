"""Rate terms per latent, for losses that weigh latents separately."""

from __future__ import annotations

from typing import Dict, Mapping

import torch
from torch import Tensor

__all__ = ["compute_rate_loss"]


def compute_rate_loss(likelihoods: Mapping[str, Tensor], batch_size: int, bit_per_bpp: float) -> Dict[str, Tensor]:
    """Bits and bits-per-unit of each latent and of all of them, per batch element.

    Args:
        likelihoods: latent name to likelihood tensor (flat mapping).
        batch_size: the number of elements the bits are averaged over.
        bit_per_bpp: the unit count that turns bits per element into the rate unit
            (pixels for images, points for point clouds).

    Returns:
        ``bit_<name>_loss`` and ``bpp_<name>_loss`` for each latent, and their totals
        ``bit_loss`` and ``bpp_loss`` (scalar tensors).
    """
    bits = {f"bit_{name}_loss": -torch.log2(lik).sum() / batch_size for name, lik in likelihoods.items()}
    rates = {f"bpp_{name}_loss": bits[f"bit_{name}_loss"] / bit_per_bpp for name in likelihoods}
    total = torch.stack(list(bits.values())).sum() if bits else torch.zeros(())
    return {**bits, **rates, "bit_loss": total, "bpp_loss": total / bit_per_bpp}
