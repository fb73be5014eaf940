"""The rate-distortion objective: the one loss of our trainer and of CompressAI-style code.

:class:`RateDistortionLoss` is what ``neuralcodec train`` minimises, what latent
refinement (:mod:`neuralcodec.models.refinement`) scores, and what a script written for
``compressai.losses.RateDistortionLoss`` gets under ``neuralcodec.losses``.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Union, cast

import torch
from torch import Tensor, nn

from neuralcodec.errors import NeuralCodecError
from neuralcodec.registry import register_criterion

__all__ = ["RateDistortionLoss", "UnknownMetricError", "bits_per_pixel", "flat_likelihoods"]

#: The distortion measures :class:`RateDistortionLoss` knows.
METRICS = ("mse", "ms-ssim")


class UnknownMetricError(NeuralCodecError, ValueError, NotImplementedError):
    """A distortion metric :class:`RateDistortionLoss` does not know.

    A :class:`ValueError` (bad argument) and, as CompressAI raises for it, a
    :class:`NotImplementedError`, so code written against either catches it.
    """


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
    """The rate estimate ``sum(-log2 p) / num_pixels`` over all latents (a scalar tensor);
    ``likelihoods`` as a model's forward gives them, nested or flat."""
    values = flat_likelihoods(likelihoods).values()
    total = cast(Tensor, sum(torch.log(lik).sum() for lik in values))  # a sum of tensors: a tensor
    return total / (-math.log(2) * num_pixels)


def _bits_per_sample(likelihoods: Mapping[str, Any], batch: int) -> Tensor:
    """``sum(-log2 p)`` of each batch element, ``[batch]`` (every likelihood tensor is
    ``[batch, ...]``)."""
    values = flat_likelihoods(likelihoods).values()
    return cast(Tensor, sum(torch.log(lik).reshape(batch, -1).sum(1) for lik in values)) / -math.log(2)


@register_criterion("RateDistortionLoss")
class RateDistortionLoss(nn.Module):
    """``lmbda * 255^2 * MSE + bpp`` (``metric="mse"``) or ``lmbda * (1 - MS-SSIM) + bpp``.

    ``bpp`` is the rate estimate from the model's likelihoods (bits per pixel of the
    batch, i.e. the batch's total ``-log2 p`` over ``N * H * W``); MSE is on ``[0, 1]``
    pixels, hence the ``255^2`` that puts ``lmbda`` on CompressAI's scale (its MSE models
    use 0.0018 at quality 1 up to 0.0932 at 6...8, and 0.01 by default here as there).

    MS-SSIM is :func:`neuralcodec.metrics.ms_ssim` of the reconstruction clamped to
    ``[0, 1]`` (the range an image decoded from the model takes); it equals
    pytorch-msssim's (which CompressAI uses) within 1e-6 on images whose sides are
    multiples of 16, and also handles crops smaller than 161 pixels (see that module).

    Args:
        lmbda: the rate-distortion trade-off, positive and finite (larger: higher
            quality, more bits).
        metric: ``"mse"`` or ``"ms-ssim"``.
        return_type: ``"all"`` for the dict of terms, or the name of one term
            (e.g. ``"loss"``) to get only that scalar.

    Raises:
        ValueError: a non-positive or non-finite ``lmbda``, or a ``return_type`` that is
            not a term of this metric.
        UnknownMetricError: another ``metric`` (both a ``ValueError`` and CompressAI's
            ``NotImplementedError``).
    """

    def __init__(self, lmbda: float = 0.01, metric: str = "mse", return_type: str = "all") -> None:
        super().__init__()
        if not (lmbda > 0 and math.isfinite(lmbda)):
            raise ValueError(f"lambda must be a positive number, got {lmbda!r}")
        if metric not in METRICS:
            raise UnknownMetricError(f"metric must be 'mse' or 'ms-ssim', got {metric!r}")
        terms = self.term_names(metric)
        if return_type != "all" and return_type not in terms:
            raise ValueError(f"return_type must be 'all' or one of {', '.join(terms)}, got {return_type!r}")
        self.lmbda = float(lmbda)
        self.metric = metric
        self.return_type = return_type

    @staticmethod
    def term_names(metric: str = "mse") -> tuple:
        """The keys of the dict :meth:`forward` returns for ``metric``.

        CompressAI's ``bpp_loss``, ``mse_loss`` (``ms_ssim_loss`` for MS-SSIM, the
        similarity itself) and ``loss``, and our trainer's short names for the same
        values (``bpp``, ``mse``, ``ms_ssim``) plus ``psnr`` (dB, no gradient). MSE and
        PSNR are reported for both metrics.
        """
        names = ("loss", "bpp_loss", "mse_loss", "bpp", "mse", "psnr")
        return names + (("ms_ssim_loss", "ms_ssim") if metric == "ms-ssim" else ())

    def forward(
        self, output: Mapping[str, Any], target: Tensor, lmbda: Optional[Union[float, Tensor]] = None
    ) -> Union[Dict[str, Tensor], Tensor]:
        """The loss terms of a model output against ``target``.

        Args:
            output: a model's forward output: ``x_hat`` ``[N, 3, H, W]`` and
                ``likelihoods`` (a mapping of tensors ``[N, ...]``, possibly nested).
            target: the input ``[N, 3, H, W]`` in ``[0, 1]``.
            lmbda: for this call instead of the module's: a number, or a tensor ``[N]``
                of one lambda per image (variable-rate training), in which case the loss
                is the batch mean of each image's ``lmbda_i * D_i + bpp_i``.

        Returns:
            With ``return_type="all"`` a dict of scalar tensors (:meth:`term_names`);
            otherwise the one term named by ``return_type``.
        """
        batch, _, height, width = target.shape
        x_hat = output["x_hat"].float()
        weight: Union[float, Tensor] = self.lmbda if lmbda is None else lmbda
        per_image = isinstance(weight, Tensor) and weight.dim() > 0
        if per_image:
            weight = cast(Tensor, weight).to(target.device, torch.float32).reshape(batch)
            bpp_each = _bits_per_sample(output["likelihoods"], batch) / (height * width)
            mse_each = ((x_hat - target) ** 2).reshape(batch, -1).mean(1)
            bpp, mse = bpp_each.mean(), mse_each.mean()
        else:
            weight = float(weight)
            bpp = bits_per_pixel(output["likelihoods"], batch * height * width)
            mse = torch.mean((x_hat - target) ** 2)
        terms = {"bpp_loss": bpp, "mse_loss": mse, "bpp": bpp, "mse": mse}
        terms["psnr"] = -10 * torch.log10(mse.detach().clamp_min(1e-10))
        if self.metric == "mse":
            if per_image:
                terms["loss"] = (weight * 255.0**2 * mse_each + bpp_each).mean()
            else:
                terms["loss"] = weight * 255.0**2 * mse + bpp
        else:
            from neuralcodec.metrics import ms_ssim

            if per_image:
                similarity_each = ms_ssim(x_hat.clamp(0, 1), target, data_range=1.0, reduction="none")
                similarity = similarity_each.mean()
                terms["loss"] = (weight * (1 - similarity_each) + bpp_each).mean()
            else:
                similarity = ms_ssim(x_hat.clamp(0, 1), target, data_range=1.0)
                terms["loss"] = weight * (1 - similarity) + bpp
            terms["ms_ssim_loss"] = terms["ms_ssim"] = similarity
        if self.return_type == "all":
            return terms
        return terms[self.return_type]
