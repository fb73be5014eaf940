"""The factorized entropy bottleneck: a learned per-channel density with no side information.

:class:`EntropyBottleneck` is CompressAI 1.2.8's class of that name (arguments, state_dict
keys, float32 arithmetic, and with ``update(method="compressai")`` its tables and strings
byte for byte; ``shared/specs/compressai-compat.md`` sections 7-8), plus
:meth:`EntropyBottleneck.fit_quantiles`, which finds the quantiles by bisection so that no
auxiliary optimiser is needed, and an ``update()`` that says whether it rebuilt the tables.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.entropy_models.base import EntropyModel, float32_without_autocast
from neuralcodec.entropy_models.tables import (
    check_table_method,
    compressai_bottleneck_pmf,
    portable_bottleneck_tables,
)
from neuralcodec.state_dicts import rename_density_keys

__all__ = ["EntropyBottleneck"]


class EntropyBottleneck(EntropyModel):
    r"""Per-channel learned factorized density (Ballé et al. 2018).

    J. Ballé, D. Minnen, S. Singh, S. J. Hwang, N. Johnston, "Variational image
    compression with a scale hyperprior", ICLR 2018, appendix 6.1: each channel ``c`` has
    its own univariate cumulative ``F_c = sigmoid(g_c)``, where ``g_c`` is a small
    monotone network (``filters`` hidden widths, softplus-positive matrices, tanh
    "factors"). The likelihood of a value ``v`` is ``F_c(v + 1/2) - F_c(v - 1/2)``.
    It models the hyper-latent ``z`` of hyperprior models, or ``y`` in a factorized-prior
    model (Ballé et al. 2017).

    ``quantiles`` ``[C, 1, 3]`` holds each channel's ``tail_mass/2`` quantile, median and
    ``1 - tail_mass/2`` quantile. Values are coded as ``round(x - median)``, and the CDF
    tables cover ``[q_low, q_high]`` with an escape bin beyond. The quantiles are learned
    with the auxiliary :meth:`loss` (CompressAI's way) or computed directly with
    :meth:`fit_quantiles`.

    Typical use (training, then coding)::

        >>> import torch
        >>> from neuralcodec.entropy_models import EntropyBottleneck
        >>> eb = EntropyBottleneck(4)
        >>> z = 3 * torch.randn(2, 4, 8, 8)
        >>> z_tilde, likelihoods = eb(z)   # training mode: z + uniform noise
        >>> rate_bits = -torch.log2(likelihoods).sum()
        >>> aux_loss = eb.loss()           # optional: see fit_quantiles()
        >>> eb.update(force=True, update_quantiles=True)   # fit quantiles, build tables
        True
        >>> strings = eb.compress(z)       # one rANS string per batch element
        >>> z_hat = eb.decompress(strings, z.shape[2:])
        >>> torch.equal(z_hat, eb.eval()(z)[0])
        True

    Args:
        channels: ``C``.
        *args: passed to :class:`EntropyModel` (``likelihood_bound``, ...).
        tail_mass: probability left outside ``[q_low, q_high]`` (escape-coded).
        init_scale: initial width of the densities, in quantisation steps.
        filters: hidden widths of the per-channel density network.

    State (CompressAI keys): ``quantiles``, ``matrices.i``, ``biases.i``, ``factors.i``,
    ``target``, ``_offset``, ``_quantized_cdf``, ``_cdf_length``,
    ``likelihood_lower_bound.bound``.
    """

    quantiles: nn.Parameter
    target: Tensor

    def __init__(
        self,
        channels: int,
        *args: Any,
        tail_mass: float = 1e-9,
        init_scale: float = 10,
        filters: Tuple[int, ...] = (3, 3, 3, 3),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not 0.0 < tail_mass < 1.0:
            raise ValueError(f"tail_mass must be in (0, 1), got {tail_mass}")
        self.channels = int(channels)
        self.filters = tuple(int(f) for f in filters)
        self.init_scale = float(init_scale)
        self.tail_mass = float(tail_mass)

        widths = (1,) + self.filters + (1,)
        # Each layer scales by ~ scale, so the initial density has width ~ init_scale.
        scale = self.init_scale ** (1.0 / (len(self.filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(self.filters) + 1):
            fill = math.log(math.expm1(1.0 / scale / widths[i + 1]))  # softplus^-1
            matrix = torch.full((self.channels, widths[i + 1], widths[i]), fill)
            self.matrices.append(nn.Parameter(matrix))
            bias = torch.empty(self.channels, widths[i + 1], 1)
            nn.init.uniform_(bias, -0.5, 0.5)
            self.biases.append(nn.Parameter(bias))
            if i < len(self.filters):
                self.factors.append(nn.Parameter(torch.zeros(self.channels, widths[i + 1], 1)))

        initial = torch.tensor([-self.init_scale, 0.0, self.init_scale])
        self.quantiles = nn.Parameter(initial.repeat(self.channels, 1, 1))
        # logit(tail_mass / 2), 0, logit(1 - tail_mass / 2): the targets of the quantiles.
        logit = math.log(2.0 / self.tail_mass - 1.0)
        self.register_buffer("target", torch.tensor([-logit, 0.0, logit]))

    # -- density -----------------------------------------------------------------------

    def _get_medians(self) -> Tensor:
        """The medians, ``[C, 1, 1]`` (a view of ``quantiles``)."""
        return self.quantiles[:, :, 1:2]

    def _logits_cumulative(self, inputs: Tensor, stop_gradient: bool) -> Tensor:
        """``logit(F_c(x))`` for ``inputs`` ``[C, 1, L]``; returns ``[C, 1, L]``.

        ``stop_gradient`` detaches the density's parameters (not the inputs), as the
        auxiliary loss and the table construction need.
        """
        logits = inputs
        for i, matrix in enumerate(self.matrices):
            bias = self.biases[i]
            if stop_gradient:
                matrix, bias = matrix.detach(), bias.detach()
            logits = torch.matmul(F.softplus(matrix), logits) + bias
            if i < len(self.factors):
                factor = self.factors[i].detach() if stop_gradient else self.factors[i]
                logits = logits + torch.tanh(factor) * torch.tanh(logits)
        return logits

    def _likelihood(
        self, inputs: Tensor, stop_gradient: bool = False
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Mass of ``[x - 1/2, x + 1/2]`` for ``inputs`` ``[C, 1, L]``.

        Returns:
            ``(likelihood, lower, upper)``, each ``[C, 1, L]``; ``lower`` and ``upper`` are
            the logits of the CDF at the bin edges.
        """
        lower = self._logits_cumulative(inputs - 0.5, stop_gradient=stop_gradient)
        upper = self._logits_cumulative(inputs + 0.5, stop_gradient=stop_gradient)
        likelihood = torch.sigmoid(upper) - torch.sigmoid(lower)
        return likelihood, lower, upper

    def forward(self, x: Tensor, training: Optional[bool] = None) -> Tuple[Tensor, Tensor]:
        """Quantises ``x`` and returns its likelihoods.

        Args:
            x: ``[N, C, ...]`` (e.g. ``[N, C, H, W]``).
            training: add uniform noise (True) or round around the medians (False);
                default: ``self.training``.

        Returns:
            ``(outputs, likelihoods)``, both shaped like ``x``; likelihoods are
            probabilities in ``(0, 1]`` (at least ``likelihood_bound``).
        """
        if training is None:
            training = self.training
        if x.dim() < 2 or x.size(1) != self.channels:
            raise ValueError(
                f"expected [N, {self.channels}, ...] input, got shape {tuple(x.shape)}"
            )
        full_precision, (x,) = float32_without_autocast(x)
        with full_precision:
            return self._forward(x, training)

    def _forward(self, x: Tensor, training: bool) -> Tuple[Tensor, Tensor]:
        per_channel = x.transpose(0, 1).contiguous()
        shape = per_channel.shape
        values = per_channel.reshape(shape[0], 1, -1)
        outputs = self.quantize(values, "noise" if training else "dequantize", self._get_medians())
        likelihood, _, _ = self._likelihood(outputs)
        if self.use_likelihood_bound:
            likelihood = self.likelihood_lower_bound(likelihood)
        outputs = outputs.reshape(shape).transpose(0, 1).contiguous()
        likelihood = likelihood.reshape(shape).transpose(0, 1).contiguous()
        return outputs, likelihood

    # -- quantiles ---------------------------------------------------------------------

    def loss(self) -> Tensor:
        """Auxiliary loss (CompressAI's ``aux_loss`` term): ``sum |logit F(q) - target|``.

        Minimising it with its own optimiser moves ``quantiles`` to the tail quantiles and
        median; only ``quantiles`` receives gradient. :meth:`fit_quantiles` reaches the
        same point directly.
        """
        logits = self._logits_cumulative(self.quantiles, stop_gradient=True)
        return torch.abs(logits - self.target).sum()

    @torch.no_grad()
    def fit_quantiles(
        self,
        search_radius: float = 1e5,
        rtol: float = 1e-6,
        atol: float = 1e-6,
        max_iterations: int = 100,
    ) -> Tensor:
        """Sets ``quantiles`` to the solutions of ``logit F_c(q) = target`` by bisection.

        ``F_c`` is monotone, so bisection on ``[-search_radius, search_radius]`` finds the
        ``tail_mass/2`` quantile, the median and the ``1 - tail_mass/2`` quantile of every
        channel at once, to ``atol + rtol * |q|``, in a few dozen evaluations of the small
        density network. This replaces training the auxiliary loss. A quantile that lies
        outside the search interval ends at its edge.

        Returns:
            The new quantiles, ``[C, 1, 3]`` (also written into ``self.quantiles``).
        """
        quantiles = self.quantiles
        target = self.target.to(quantiles.dtype).reshape(1, 1, 3).expand_as(quantiles)
        low = torch.full_like(quantiles, -float(search_radius))
        high = torch.full_like(quantiles, float(search_radius))
        for _ in range(max_iterations):
            mid = 0.5 * (low + high)
            below = self._logits_cumulative(mid, stop_gradient=True) < target
            low = torch.where(below, mid, low)
            high = torch.where(below, high, mid)
            width = high - low
            if bool((width <= atol + rtol * torch.maximum(low.abs(), high.abs())).all()):
                break
        fitted = 0.5 * (low + high)
        quantiles.copy_(fitted)
        return fitted.clone()

    def _update_quantiles(
        self, search_radius: float = 1e5, rtol: float = 1e-4, atol: float = 1e-3
    ) -> None:
        """CompressAI's name for :meth:`fit_quantiles` (which is more precise by default)."""
        self.fit_quantiles(search_radius=search_radius)

    # -- tables ------------------------------------------------------------------------

    def update(
        self, force: bool = False, update_quantiles: bool = False, method: str = "portable"
    ) -> bool:
        """Builds the CDF tables from the density and the quantiles.

        Channel ``c`` gets the integer bins ``median - ceil(median - q_low) .. median +
        ceil(q_high - median)`` (``_offset[c] = -ceil(median - q_low)``) and an escape bin
        for the two tails; bin ``k`` holds ``F_c(v_k + 1/2) - F_c(v_k - 1/2)`` at
        ``v_k = median + _offset[c] + k``.

        ``method="portable"`` (default) evaluates the density in Rust (float64, software
        ``exp``/``log1p``/``tanh``, fixed order) from the float32 parameters, so every
        machine builds the same integers; its escape bin holds each channel's own tails.
        ``method="compressai"`` is CompressAI's float32 construction, bit-exact with
        CompressAI on the same machine, including its right-tail detail (the escape mass
        of every channel is the left tail at its own first bin plus the right tail at the
        *longest* channel's last bin); its last bits depend on the CPU and torch's kernels.
        Either way the arithmetic runs on the CPU, also for a module on a GPU, and the
        tables are then moved to the module's device.

        Args:
            force: rebuild even if tables exist.
            update_quantiles: first run :meth:`fit_quantiles`.
            method: ``"portable"`` or ``"compressai"`` (:data:`TABLE_METHODS`).

        Returns:
            Whether the tables were (re)built; ``False`` when they exist and not ``force``.

        Raises:
            ValueError: an unknown ``method``; quantiles that are not finite or span too
                many steps (more than ``2**24``, or a row wider than a 16-bit CDF holds for
                the portable construction); a density whose masses all round to zero.
        """
        check_table_method(method)
        if self._offset.numel() > 0 and not force:
            return False
        if update_quantiles:
            self.fit_quantiles()
        if method == "portable":
            cdfs, lengths, offsets = portable_bottleneck_tables(
                self.quantiles.reshape(self.channels, 3), self.matrices, self.biases, self.factors
            )
            self._store_tables(cdfs, lengths, offsets, self.quantiles.device, method)
            return True
        pmf, tail_mass, pmf_length, offset = self._compressai_pmf()
        quantized_cdf = self._pmf_to_cdf(pmf, tail_mass, pmf_length, pmf.size(1))
        self._store_tables(quantized_cdf, pmf_length + 2, offset, self.quantiles.device, method)
        return True

    def _compressai_pmf(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """The probabilities of CompressAI's table construction, in float32 on the CPU
        (:func:`~neuralcodec.entropy_models.tables.compressai_bottleneck_pmf`).

        Returns:
            ``(pmf, tail_mass, pmf_length, offset)``: ``pmf`` ``[C, max_length]`` (row
            ``c`` meaningful up to ``pmf_length[c]``), ``tail_mass`` ``[C, 1]`` (read at
            column ``max_length - 1`` for every channel, as CompressAI does),
            ``pmf_length`` and ``offset`` int32 ``[C]``.
        """
        # Computed on the CPU whatever the module's device (a GPU's kernels differ again).
        density = self if self.quantiles.device.type == "cpu" else copy.deepcopy(self).cpu()
        return compressai_bottleneck_pmf(
            density.quantiles, lambda samples: density._likelihood(samples, stop_gradient=True)
        )

    def _load_from_state_dict(
        self,
        state_dict: Dict[str, Any],
        prefix: str,
        local_metadata: Dict[str, Any],
        strict: bool,
        missing_keys: List[str],
        unexpected_keys: List[str],
        error_msgs: List[str],
    ) -> None:
        # Checkpoints of old CompressAI versions name the parameters _matrix0 / _bias0 /
        # _factor0 (or _matrices.0, ...); this module stores matrices.0 / biases.0 / factors.0.
        rename_density_keys(state_dict, prefix, "list")
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    # -- coding ------------------------------------------------------------------------

    @staticmethod
    def _build_indexes(size: Sequence[int]) -> Tensor:
        """int32 tensor of shape ``size`` (``[N, C, ...]``) holding each element's channel."""
        channels = size[1]
        view = [1] * len(size)
        view[1] = channels
        return torch.arange(channels, dtype=torch.int32).view(view).expand(*size).contiguous()

    @staticmethod
    def _extend_ndims(tensor: Tensor, n: int) -> Tensor:
        """``tensor`` flattened to ``[-1]`` followed by ``n`` singleton dimensions."""
        return tensor.reshape(-1, *([1] * n)) if n > 0 else tensor.reshape(-1)

    def compress(self, x: Tensor) -> List[bytes]:  # type: ignore[override]
        """Codes ``round(x - median)`` of each batch element into one string.

        Args:
            x: ``[N, C, ...]``.

        Returns:
            ``N`` rANS strings. Values far outside the quantiles are escape-coded exactly.
        """
        if x.dim() < 2 or x.size(1) != self.channels:
            raise ValueError(
                f"expected [N, {self.channels}, ...] input, got shape {tuple(x.shape)}"
            )
        indexes = self._build_indexes(x.size())
        spatial_dims = x.dim() - 2
        medians = self._extend_ndims(self._get_medians().detach(), spatial_dims)
        medians = medians.expand(x.size(0), *([-1] * (spatial_dims + 1)))
        return super().compress(x, indexes, medians)

    def decompress(  # type: ignore[override]
        self, strings: Sequence[bytes], size: Sequence[int]
    ) -> Tensor:
        """Decodes strings of :meth:`compress`.

        Args:
            strings: ``N`` strings.
            size: the spatial shape (``x.shape[2:]``, e.g. ``(H, W)``).

        Returns:
            float ``[N, C, *size]``: ``round(x - median) + median``.
        """
        self.cdf_table()  # a clear error before update()
        size = tuple(int(s) for s in size)
        output_size = (len(strings), self._quantized_cdf.size(0), *size)
        indexes = self._build_indexes(output_size)
        medians = self._extend_ndims(self._get_medians().detach(), len(size))
        medians = medians.expand(len(strings), *([-1] * (len(size) + 1)))
        return super().decompress(strings, indexes, medians.dtype, medians)
