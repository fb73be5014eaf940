"""The Gaussian mixture conditional: ``K`` Gaussians per element, coded with a CDF built
for each element (Cheng et al. 2020's entropy model; CompressAI's
``GaussianMixtureConditional``)."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralcodec.entropy_models.gaussian import GaussianConditional, ScaleTable

__all__ = ["GaussianMixtureConditional"]


class GaussianMixtureConditional(GaussianConditional):
    r"""A mixture of ``K`` Gaussians per element (CompressAI's ``GaussianMixtureConditional``).

    The likelihood of ``y`` is ``sum_k w_k * P_k(y)``, where ``P_k`` is the mass of the
    unit bin around ``y`` under ``N(mean_k, scale_k^2)`` (as :class:`GaussianConditional`)
    and the weights ``w_k`` are given (they should sum to 1 per element). The parameters
    come channel-stacked: ``scales``, ``means`` and ``weights`` are ``[N, K*M, H, W]`` for
    ``y`` ``[N, M, H, W]``, component ``k`` in channels ``k*M .. (k+1)*M - 1``
    (Cheng et al. 2020 use ``K = 3``).

    Coding builds one CDF per coded element from its mixture (no shared table) over the
    symbols ``-abs_max .. abs_max``; channels that are zero everywhere are skipped and
    flagged in a bitmap, and the first batch element alone is coded (as CompressAI does).

    Args:
        K: number of mixture components.
        scale_table: as :class:`GaussianConditional` (the table is not used for coding).
        args, kwargs: the other arguments of :class:`GaussianConditional`.
    """

    def __init__(
        self, K: int = 3, scale_table: Optional[ScaleTable] = None, *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(scale_table, *args, **kwargs)
        self.K = int(K)

    def _likelihood(  # type: ignore[override]
        self, inputs: Tensor, scales: Tensor, means: Tensor, weights: Tensor
    ) -> Tensor:
        """``sum_k weights_k * GaussianConditional._likelihood(inputs, scales_k, means_k)``,
        shaped like ``inputs`` ``[N, M, ...]``."""
        channels = inputs.size(1)
        likelihood = torch.zeros_like(inputs)
        for k in range(self.K):
            part = slice(channels * k, channels * (k + 1))
            component = super()._likelihood(inputs, scales[:, part], means[:, part])
            likelihood = likelihood + component * weights[:, part]
        return likelihood

    def forward(  # type: ignore[override]
        self,
        inputs: Tensor,
        scales: Tensor,
        means: Tensor,
        weights: Tensor,
        training: Optional[bool] = None,
    ) -> Tuple[Tensor, Tensor]:
        """``(outputs, likelihoods)`` shaped like ``inputs``: ``inputs`` plus uniform noise
        (training) or rounded (evaluation; rounded to integers, not around the means, as in
        CompressAI), and the mixture mass of each output."""
        if training is None:
            training = self.training
        outputs = self.quantize(inputs, "noise" if training else "dequantize", None)
        likelihood = self._likelihood(outputs, scales, means, weights)
        if self.use_likelihood_bound:
            likelihood = self.likelihood_lower_bound(likelihood)
        return outputs, likelihood

    @torch.no_grad()
    def _build_cdf(self, scales: Tensor, means: Tensor, weights: Tensor, abs_max: int) -> Tensor:
        """One integer CDF per coded element, int32 ``[L, 2*abs_max + 3]``.

        ``scales``, ``means``, ``weights`` are ``[K, L]``. Row ``l`` holds the mixture's
        masses of the symbols ``0 .. 2*abs_max`` (values shifted by ``abs_max``), each at
        least ``1/(2^16 - 1)``, scaled to a total of ``2^16 - 1`` and floored; bins that
        end at zero get one count, taken from the smallest bin that can give them all;
        the last entry, ``2^16``, closes an escape bin holding the rounding remainder.
        The arithmetic follows CompressAI's float32 construction.
        """
        limit = 2**self.entropy_coder_precision - 1
        count = 2 * abs_max + 1
        latents = scales.size(1)
        scales = scales.clamp(0.11, 256)
        means = means + abs_max
        samples = torch.arange(count, device=scales.device).unsqueeze(0).expand(latents, -1)
        pmf = torch.zeros(latents, count, device=scales.device)
        for k in range(self.K):
            denominator = (scales[k].unsqueeze(-1) + 1e-10) * 2**0.5
            centre = means[k].unsqueeze(-1)
            upper = 0.5 * (1 + torch.erf((samples + 0.5 - centre) / denominator))
            lower = 0.5 * (1 + torch.erf((samples - 0.5 - centre) / denominator))
            pmf = pmf + (upper - lower) * weights[k].unsqueeze(-1)
        pmf = torch.clamp(pmf, min=1.0 / limit, max=1.0)
        scaled = torch.round(pmf * limit)
        total = scaled.sum(1, keepdim=True)
        cdf = F.pad(torch.cumsum(scaled * limit / total, 1).int(), (1, 0), value=0)
        freq = torch.diff(cdf, dim=1)
        zeros = count - torch.count_nonzero(freq, dim=1)
        donors = torch.where(freq > zeros.unsqueeze(-1), freq, torch.tensor(limit + 1, dtype=freq.dtype))
        donor = donors.argmin(dim=1)
        freq = freq + (freq == 0).int()
        freq[torch.arange(latents, device=freq.device), donor] -= zeros.to(freq.dtype)
        cdf = F.pad(torch.cumsum(freq, 1).int(), (1, 0), value=0)
        return F.pad(cdf, (0, 1), value=limit + 1)

    def reshape_entropy_parameters(
        self, scales: Tensor, means: Tensor, weights: Tensor, nonzero: Sequence[int]
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """The parameters of the channels ``nonzero`` as ``[K, L]`` each (``L`` = batch x
        channels x positions, in that order), from ``[N, K*M, H, W]``."""
        size = (scales.size(0), self.K, scales.size(1) // self.K, -1)
        index = list(nonzero)

        def flat(tensor: Tensor) -> Tensor:
            return tensor.reshape(*size)[:, :, index].permute(1, 0, 2, 3).reshape(self.K, -1)

        return flat(scales), flat(means), flat(weights)

    def compress(  # type: ignore[override]
        self, y: Tensor, scales: Tensor, means: Tensor, weights: Tensor
    ) -> Tuple[Tuple[bytes, int, Tensor], Tensor]:
        """Codes ``round(y)`` (``[1, M, H, W]``) with per-element mixture CDFs.

        Returns:
            ``((string, abs_max, zero_bitmap), y_quantized)``: ``abs_max`` = 1 + the
            largest ``|y|`` (int), ``zero_bitmap`` int ``[M]`` (0: the channel is zero
            everywhere and not coded), and ``round(y)``.
        """
        abs_max = max(int(torch.abs(y.max()).int().item()), int(torch.abs(y.min()).int().item())) + 1
        abs_max = max(abs_max, 1)
        y_quantized = torch.round(y)
        zero_bitmap = torch.where(torch.sum(torch.abs(y_quantized), (3, 2)).squeeze(0) == 0, 0, 1)
        nonzero = torch.nonzero(zero_bitmap).flatten().tolist()
        symbols = y_quantized[:, nonzero] + abs_max
        cdf = self._build_cdf(*self.reshape_entropy_parameters(scales, means, weights, nonzero), abs_max)
        rows = cdf.size(0)
        string = self.entropy_coder.encode_with_indexes(
            symbols.reshape(-1).int().cpu(),
            torch.arange(rows, dtype=torch.int32),
            cdf.cpu(),
            torch.full((rows,), cdf.size(1), dtype=torch.int32),
            torch.zeros(rows, dtype=torch.int32),
        )
        return (string, abs_max, zero_bitmap), y_quantized

    def decompress(  # type: ignore[override]
        self,
        strings: bytes,
        abs_max: int,
        zero_bitmap: Tensor,
        scales: Tensor,
        means: Tensor,
        weights: Tensor,
    ) -> Tensor:
        """Decodes the string of :meth:`compress` given its ``abs_max``, ``zero_bitmap``
        and the same parameters; returns ``y_hat`` float ``[N, M, H, W]`` (zero in the
        channels the bitmap marks empty)."""
        nonzero = torch.nonzero(zero_bitmap).flatten().tolist()
        cdf = self._build_cdf(*self.reshape_entropy_parameters(scales, means, weights, nonzero), abs_max)
        rows = cdf.size(0)
        values = self.entropy_coder.decode_with_indexes(
            strings,
            torch.arange(rows, dtype=torch.int32),
            cdf.cpu(),
            torch.full((rows,), cdf.size(1), dtype=torch.int32),
            torch.zeros(rows, dtype=torch.int32),
        )
        symbols = torch.as_tensor(values) - abs_max
        symbols = symbols.reshape(scales.size(0), -1, scales.size(2), scales.size(3))
        y_hat = torch.zeros(scales.size(0), zero_bitmap.size(0), scales.size(2), scales.size(3))
        y_hat[:, nonzero] = symbols.float()
        return y_hat
