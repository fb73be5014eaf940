"""The CDF tables of the entropy models: their two constructions, and how tables came to be.

``update()`` turns a density into integer CDF tables (16-bit precision, one row per
channel or per scale, an escape bin for the tails). There are two constructions
(:data:`TABLE_METHODS`), and this module holds the arithmetic of both; the models hand it
their parameters (plain tensors and a likelihood function, never the module itself):

- ``"portable"`` (the default): the densities are evaluated in Rust (``rust/tables.rs``)
  in float64 with software transcendental functions, in a fixed order, so the tables are
  a pure function of the float32 parameters: the same on every CPU, SIMD level and thread
  count, and for a model trained on a GPU (:func:`portable_bottleneck_tables`,
  :func:`portable_gaussian_tables`);
- ``"compressai"``: CompressAI 1.2.8's float32 PyTorch construction, bit for bit on the
  machine it runs on (:func:`compressai_bottleneck_pmf`, :func:`compressai_gaussian_pmf`,
  then :func:`pmf_to_cdf`). Its last bits depend on the CPU and on torch's kernels, so two
  machines can build tables that differ by a count (``docs/determinism.md``).

Tables that did not come from an ``update()`` (a state_dict, a checkpoint) are model data,
reported as :data:`STORED`; which construction each coding path accepts is the rule of
:mod:`neuralcodec.entropy_models.paths`.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from neuralcodec import _core, ans

__all__ = [
    "STORED",
    "TABLE_METHODS",
    "check_table_method",
    "compressai_bottleneck_pmf",
    "compressai_gaussian_pmf",
    "float32_numpy",
    "pmf_to_cdf",
    "portable_bottleneck_tables",
    "portable_gaussian_tables",
]

#: How ``update()`` builds CDF tables: ``"portable"`` (the default; the same integers on
#: every machine) or ``"compressai"`` (CompressAI's float32 construction, machine dependent).
TABLE_METHODS: Tuple[str, ...] = ("portable", "compressai")

#: What :attr:`EntropyModel.table_method` reports for tables that did not come from this
#: module's ``update()`` (a state_dict, a checkpoint): model data, used as they are by
#: every coding path, as CompressAI uses the tables shipped in its checkpoints.
STORED = "stored"

#: ``(cdfs, lengths, offsets)``: int32 ``[rows, cols]``, ``[rows]``, ``[rows]``.
Tables = Tuple[np.ndarray, np.ndarray, np.ndarray]
#: ``(pmf, tail_mass, pmf_length, offset)`` of CompressAI's construction (see below).
Pmf = Tuple[Tensor, Tensor, Tensor, Tensor]


def check_table_method(method: str) -> None:
    """Raises ValueError unless ``method`` is one of :data:`TABLE_METHODS`."""
    if method not in TABLE_METHODS:
        raise ValueError(
            f'method must be "portable" (the same tables on every machine) or "compressai" '
            f"(CompressAI's float construction), got {method!r}"
        )


def float32_numpy(tensor: Tensor) -> np.ndarray:
    """``tensor`` detached, on the CPU, as a C-contiguous float32 numpy array."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


# -- the portable construction ---------------------------------------------------------


def portable_bottleneck_tables(
    quantiles: Tensor,
    matrices: Iterable[Tensor],
    biases: Iterable[Tensor],
    factors: Iterable[Tensor],
    step: Optional[float] = None,
) -> Tables:
    """The portable tables of a factorized density (``rust/tables.rs``).

    Args:
        quantiles: ``[C, 3]``: each channel's low quantile, median and high quantile.
        matrices, biases, factors: the density network's parameters, per layer
            (``[C, out, in]``, ``[C, out, 1]``, ``[C, out, 1]``).
        step: the quantization step of the coded values (``None``: unit step).

    Returns:
        ``(cdfs, lengths, offsets)`` int32 numpy arrays, one row per channel.

    Raises:
        ValueError: quantiles that are not finite or span a row wider than a 16-bit CDF
            holds; a density whose masses all round to zero.
    """
    with torch.no_grad():
        arguments = (
            float32_numpy(quantiles),
            [float32_numpy(m) for m in matrices],
            [float32_numpy(b) for b in biases],
            [float32_numpy(f) for f in factors],
        )
        if step is None:
            return _core.bottleneck_tables(*arguments)
        return _core.bottleneck_tables(*arguments, step)


def portable_gaussian_tables(scale_table: Tensor, tail_mass: float) -> Tables:
    """The portable tables of :class:`~neuralcodec.entropy_models.GaussianConditional`:
    one row per scale ``s`` of ``scale_table`` (float ``[S]``), covering ``|v| <= ceil(s *
    Phi^-1(1 - tail_mass/2))`` plus an escape bin (``Phi`` in float64, software ``erfc``).

    Raises:
        ValueError: a scale so large that its row exceeds what a 16-bit CDF holds.
    """
    return _core.gaussian_tables(float32_numpy(scale_table), tail_mass)


# -- CompressAI's construction ---------------------------------------------------------

#: ``likelihood(samples)`` -> ``(likelihood, lower, upper)``, each ``[C, 1, L]`` for
#: ``samples`` ``[C, 1, L]``: the masses of the bins around the samples and the logits of
#: the CDF at their edges, with the density's parameters detached.
BinLikelihood = Callable[[Tensor], Tuple[Tensor, Tensor, Tensor]]


def compressai_bottleneck_pmf(quantiles: Tensor, likelihood: BinLikelihood, step: Optional[Tensor] = None) -> Pmf:
    """The probabilities of CompressAI's table construction for a factorized density, in
    float32.

    Channel ``c`` gets ``ceil((median - q_low)/step)`` bins below the median and
    ``ceil((q_high - median)/step)`` above, bin ``k`` at ``v_k = median + (offset[c] + k)
    step`` (``step`` ``None``: the unit step of CompressAI's ``EntropyBottleneck``, with
    its exact arithmetic; a float32 one-element tensor: its ``EntropyBottleneckVbr``).
    The right tail is read at column ``max_length - 1`` for every channel, as CompressAI
    does.

    Args:
        quantiles: ``[C, 1, 3]``, on the device ``likelihood`` computes on (the CPU for
            CompressAI's numbers).
        likelihood: the density's bin masses (:data:`BinLikelihood`).
        step: the quantization step, or ``None``.

    Returns:
        ``(pmf, tail_mass, pmf_length, offset)``: ``pmf`` ``[C, max_length]`` (row ``c``
        meaningful up to ``pmf_length[c]``), ``tail_mass`` ``[C, 1]``, ``pmf_length`` and
        ``offset`` int32 ``[C]``.

    Raises:
        ValueError: quantiles that are not finite or span more than ``2**24`` steps.
    """
    with torch.no_grad():
        quantiles = quantiles.detach()
        if not bool(torch.isfinite(quantiles).all()):
            raise ValueError("quantiles are not finite; cannot build CDF tables")
        span = (quantiles[:, 0, 2] - quantiles[:, 0, 0]).abs().max().item()
        if step is not None:
            span /= float(step.reshape(-1)[0])
        if span > 2**24:
            raise ValueError(
                f"quantiles span {span:g} quantisation steps; fit them first "
                "(fit_quantiles() or the auxiliary loss)"
            )
        medians = quantiles[:, 0, 1]
        if step is None:
            minima = torch.ceil(medians - quantiles[:, 0, 0]).int().clamp(min=0)
            maxima = torch.ceil(quantiles[:, 0, 2] - medians).int().clamp(min=0)
            pmf_start = medians - minima
        else:
            minima = torch.ceil((medians - quantiles[:, 0, 0]) / step).int().clamp(min=0)
            maxima = torch.ceil((quantiles[:, 0, 2] - medians) / step).int().clamp(min=0)
            pmf_start = medians - minima * step
        pmf_length = maxima + minima + 1
        max_length = int(pmf_length.max().item())
        if step is None:
            steps = torch.arange(max_length, device=quantiles.device)
        else:
            steps = torch.arange(max_length) * step
        samples = steps[None, :] + pmf_start[:, None, None]  # [C, 1, max_length]
        pmf, lower, upper = likelihood(samples)
        # The right tail is read at column max_length - 1 for every channel.
        tail_mass = torch.sigmoid(lower[:, 0, :1]) + torch.sigmoid(-upper[:, 0, -1:])
    return pmf[:, 0, :], tail_mass, pmf_length, -minima


def compressai_gaussian_pmf(
    scale_table: Tensor, multiplier: float, cumulative: Callable[[Tensor], Tensor]
) -> Pmf:
    """The probabilities of CompressAI's table construction for a Gaussian conditional, in
    float32 on the CPU.

    Row ``k`` covers ``|v| <= ceil(scale_table[k] * multiplier)`` with the masses
    ``cumulative((1/2 - |v|)/s) - cumulative((-1/2 - |v|)/s)``, and puts both tails,
    ``2 cumulative((-1/2 - centre)/s)``, in the escape bin.

    Args:
        scale_table: float ``[S]``, on any device (the arithmetic runs on the CPU).
        multiplier: ``Phi^-1(1 - tail_mass/2)``.
        cumulative: the standard normal CDF ``Phi`` (float32).

    Returns:
        ``(pmf, tail_mass, pmf_length, offset)``: ``pmf`` ``[S, max_length]`` (row ``k``
        meaningful up to ``pmf_length[k]``), ``tail_mass`` ``[S, 1]``, ``pmf_length`` and
        ``offset`` int32 ``[S]``.
    """
    with torch.no_grad():
        scales = scale_table.cpu()  # on the CPU, as for the bottleneck
        pmf_center = torch.ceil(scales * multiplier).int()
        pmf_length = 2 * pmf_center + 1
        max_length = int(pmf_length.max().item())
        steps = torch.arange(max_length, device=scales.device).int()
        distance = torch.abs(steps - pmf_center[:, None]).float()  # |v| per column
        column_scales = scales.unsqueeze(1).float()
        upper = cumulative((0.5 - distance) / column_scales)
        lower = cumulative((-0.5 - distance) / column_scales)
        pmf = upper - lower
        tail_mass = 2 * lower[:, :1]
    return pmf, tail_mass, pmf_length, -pmf_center


def pmf_to_cdf(pmf: Tensor, tail_mass: Tensor, pmf_length: Tensor, max_length: int, precision: int) -> Tensor:
    """Quantises each row of ``pmf`` (float ``[rows, >= max_length]``) with its escape
    mass ``tail_mass[r]`` (``[rows, 1]``) appended, to ``2**precision``
    (:func:`neuralcodec.ans.pmf_to_quantized_cdf`, CompressAI's quantisation).

    Returns:
        int32 ``[rows, max_length + 2]`` on ``pmf``'s device; row ``r`` holds
        ``pmf_length[r] + 2`` CDF values, then zeros.

    Raises:
        ValueError: a row whose masses cannot make a CDF (all zero, not finite).
    """
    probabilities = pmf.detach().to("cpu", torch.float32).numpy()
    tails = tail_mass.detach().to("cpu", torch.float32).reshape(-1).numpy()
    lengths = pmf_length.detach().cpu().tolist()
    table = np.zeros((len(lengths), max_length + 2), dtype=np.int32)
    for row, length in enumerate(lengths):
        masses = np.concatenate((probabilities[row, :length], tails[row : row + 1]))
        try:
            cdf = ans.pmf_to_quantized_cdf(masses, precision)
        except ValueError as error:
            raise ValueError(f"cannot build the CDF of row {row}: {error}") from None
        table[row, : length + 2] = cdf
    return torch.from_numpy(table).to(pmf.device)
