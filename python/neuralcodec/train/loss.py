"""The rate-distortion objective."""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, cast

import torch
from torch import Tensor, nn

__all__ = ["RateDistortionLoss", "bits_per_pixel", "flat_likelihoods"]


def flat_likelihoods(likelihoods: Mapping[str, Any]) -> Dict[str, Tensor]:
    """A model's likelihoods as one flat mapping: the latent codecs nest theirs
    (``{"y": ..., "hyper": {"z": ...}}`` becomes ``{"y": ..., "hyper.z": ...}``)."""
    flat: Dict[str, Tensor] = {}
    for name, value in likelihoods.items():
        if isinstance(value, Mapping):
            flat.update({f"{name}.{inner}": tensor for inner, tensor in flat_likelihoods(value).items()})
        else:
            flat[name] = value
    return flat


def bits_per_pixel(likelihoods: Mapping[str, Any], num_pixels: int) -> Tensor:
    """The rate estimate ``sum(-log2 p) / pixels`` over all latents (a scalar tensor);
    ``likelihoods`` as a model's forward gives them, nested or flat."""
    values = flat_likelihoods(likelihoods).values()
    total = cast(Tensor, sum(torch.log(lik).sum() for lik in values))  # a sum of tensors: a tensor
    return total / (-math.log(2) * num_pixels)


class RateDistortionLoss(nn.Module):
    """``lambda * 255^2 * MSE + bpp`` (``metric="mse"``) or ``lambda * (1 - MS-SSIM) + bpp``.

    ``bpp`` is the rate estimate from the likelihoods, averaged over the batch; MSE is
    on ``[0, 1]`` pixels, hence the ``255^2`` that puts ``lambda`` on CompressAI's scale
    (its published MSE models use lambda from 0.0018 at quality 1 to 0.0932 at 6...8).

    Args:
        lmbda: the rate-distortion trade-off (larger: higher quality, more bits).
        metric: ``"mse"`` or ``"ms-ssim"``.
    """

    def __init__(self, lmbda: float = 0.01, metric: str = "mse") -> None:
        super().__init__()
        if not (lmbda > 0 and math.isfinite(lmbda)):
            raise ValueError(f"lambda must be a positive number, got {lmbda!r}")
        if metric not in ("mse", "ms-ssim"):
            raise ValueError(f"metric must be 'mse' or 'ms-ssim', got {metric!r}")
        self.lmbda = float(lmbda)
        self.metric = metric

    def forward(self, output: Dict[str, Any], target: Tensor, lmbda: Optional[float] = None) -> Dict[str, Tensor]:
        """Loss terms for a model output (``x_hat``, ``likelihoods``) against ``target``,
        with ``lmbda`` instead of the module's for this call (variable-rate training).

        Returns:
            ``{"loss", "bpp", "mse", "psnr"}`` (and ``"ms_ssim"`` for that metric); scalars.
        """
        batch, _, height, width = target.shape
        bpp = bits_per_pixel(output["likelihoods"], batch * height * width)
        x_hat = output["x_hat"]
        mse = torch.mean((x_hat - target) ** 2)
        terms = {"bpp": bpp, "mse": mse, "psnr": -10 * torch.log10(mse.detach().clamp_min(1e-10))}
        weight = self.lmbda if lmbda is None else float(lmbda)
        if self.metric == "mse":
            terms["loss"] = weight * 255.0**2 * mse + bpp
        else:
            from neuralcodec.metrics import ms_ssim

            similarity = ms_ssim(x_hat.clamp(0, 1), target, data_range=1.0)
            terms["ms_ssim"] = similarity
            terms["loss"] = weight * (1 - similarity) + bpp
        return terms
