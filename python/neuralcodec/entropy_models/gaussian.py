"""The Gaussian conditional: a Gaussian per element whose scale (and mean) another network
predicts, coded with one CDF row per entry of a table of quantised scales.

:class:`GaussianConditional` is CompressAI 1.2.8's class of that name (arguments,
state_dict keys, float32 arithmetic, and with ``update(method="compressai")`` its tables
and strings byte for byte); :func:`get_scale_table` and :data:`DEFAULT_SCALE_TABLE` give
the scale table of CompressAI's models, the same floats on every machine.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from neuralcodec import _core
from neuralcodec.entropy_models.base import EntropyModel, float32_without_autocast
from neuralcodec.entropy_models.tables import (
    check_table_method,
    compressai_gaussian_pmf,
    portable_gaussian_tables,
)
from neuralcodec.ops.bound_ops import LowerBound
from neuralcodec.ops.ops import quantize_ste

__all__ = [
    "DEFAULT_SCALE_TABLE",
    "SCALES_LEVELS",
    "SCALES_MAX",
    "SCALES_MIN",
    "GaussianConditional",
    "ScaleTable",
    "get_scale_table",
]

#: Smallest scale of the default Gaussian scale table (in quantisation steps).
SCALES_MIN: float = 0.11
#: Largest scale of the default Gaussian scale table.
SCALES_MAX: float = 256.0
#: Number of scales in the default table.
SCALES_LEVELS: int = 64


def get_scale_table(
    min: float = SCALES_MIN, max: float = SCALES_MAX, levels: int = SCALES_LEVELS
) -> Tensor:
    """``levels`` scales spaced evenly in log from ``min`` to ``max``, float32 ``[levels]``.

    CompressAI's ``compressai.models.base.get_scale_table``,
    ``exp(linspace(log(min), log(max), levels))``, computed in Rust
    (``rust/tables.rs``) so that the values are the same on every machine: torch's own
    ``linspace`` and ``exp`` give other last bits with its scalar kernels
    (``ATEN_CPU_CAPABILITY=default``) than with its AVX2/AVX-512 ones. The values are
    those of the vector kernels, with which CompressAI's recorded tables were made.

    Raises:
        ValueError: unless ``0 < min <= max`` and ``levels >= 1``.
    """
    return torch.from_numpy(_core.scale_table(float(min), float(max), int(levels)))


#: The default scale table of :class:`GaussianConditional`, as Python floats
#: (exactly the float32 values of :func:`get_scale_table`).
DEFAULT_SCALE_TABLE: Tuple[float, ...] = tuple(get_scale_table().tolist())

ScaleTable = Union[Sequence[float], Tensor, np.ndarray]


class GaussianConditional(EntropyModel):
    r"""Gaussian density with per-element scale (and mean), convolved with a unit box.

    Ballé et al. 2018 (scale hyperprior) and Minnen, Ballé, Toderici 2018 (mean and scale
    from a hyperprior and a context model): each latent ``y`` is modelled as
    ``N(mean, scale^2)``; its likelihood is ``Phi((1/2 - |y - mean|)/scale) -
    Phi((-1/2 - |y - mean|)/scale)``, with ``Phi`` computed in float32 from ``erfc``.

    For coding, each scale is mapped to the first entry of ``scale_table`` at or above it
    (:meth:`build_indexes`). Entry ``s`` has a CDF row covering
    ``|v| <= ceil(s * Phi^-1(1 - tail_mass/2))`` plus an escape bin, and ``round(y - mean)``
    is coded with it.

    Typical use::

        >>> import torch
        >>> from neuralcodec.entropy_models import GaussianConditional
        >>> gc = GaussianConditional()    # 64 scales from 0.11 to 256
        >>> scales, means = torch.full((1, 2, 4, 4), 3.0), torch.zeros(1, 2, 4, 4)
        >>> y = means + scales * torch.randn(1, 2, 4, 4)
        >>> y_tilde, likelihoods = gc(y, scales, means)   # training
        >>> gc.update()                   # build the tables once
        True
        >>> indexes = gc.build_indexes(scales)
        >>> strings = gc.compress(y, indexes, means)
        >>> y_hat = gc.decompress(strings, indexes, means=means)
        >>> torch.equal(y_hat, torch.round(y - means) + means)
        True

    Args:
        scale_table: increasing positive scales (default :data:`DEFAULT_SCALE_TABLE`, 64
            values log-spaced from 0.11 to 256), or ``None`` for an empty table to be
            set later with :meth:`update_scale_table` (CompressAI's models do this).
        *args: passed to :class:`EntropyModel`.
        scale_bound: lower bound applied to scales; ``None`` takes the first table entry.
        tail_mass: probability mass escape-coded per table row.

    Attribute ``training_outputs`` (not part of the state) picks what :meth:`forward`
    returns in training: ``"noise"`` (default, as CompressAI: the noisy values whose
    likelihoods are computed) or ``"ste"`` ("mixed quantization", Minnen & Singh 2020:
    the likelihoods still come from the noisy values, but the outputs are
    ``round(y - mean) + mean`` with a straight-through gradient, so the synthesis
    transform trains on the values it decodes).

    State (CompressAI keys): ``scale_table`` ``[S]``, ``scale_bound`` ``[1]``,
    ``_offset``, ``_quantized_cdf``, ``_cdf_length``, ``lower_bound_scale.bound``,
    ``likelihood_lower_bound.bound``.
    """

    scale_table: Tensor
    scale_bound: Tensor

    _resizable_buffers = EntropyModel._resizable_buffers + ("scale_table",)

    def __init__(
        self,
        scale_table: Optional[ScaleTable] = DEFAULT_SCALE_TABLE,
        *args: Any,
        scale_bound: Optional[float] = 0.11,
        tail_mass: float = 1e-9,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        table = self._validate_scale_table(scale_table) if scale_table is not None else []
        if not 0.0 < tail_mass < 1.0:
            raise ValueError(f"tail_mass must be in (0, 1), got {tail_mass}")
        self.tail_mass = float(tail_mass)
        if scale_bound is None:
            if not table:
                raise ValueError("scale_bound=None needs a scale_table to take the bound from")
            scale_bound = table[0]
        if not float(scale_bound) > 0:
            raise ValueError(f"scale_bound must be positive, got {scale_bound}")
        self.lower_bound_scale = LowerBound(float(scale_bound))
        self.register_buffer(
            "scale_table",
            self._prepare_scale_table(table) if table else torch.zeros(0, dtype=torch.float32),
        )
        self.register_buffer("scale_bound", torch.tensor([float(scale_bound)]))
        self.training_outputs = "noise"

    @property
    def training_outputs(self) -> str:
        """``"noise"`` or ``"ste"``: what :meth:`forward` returns in training (see the class doc)."""
        return self.__dict__.get("_training_outputs", "noise")  # absent in old pickles

    @training_outputs.setter
    def training_outputs(self, value: str) -> None:
        if value not in ("noise", "ste"):
            raise ValueError(f'training_outputs must be "noise" or "ste", got {value!r}')
        self.__dict__["_training_outputs"] = value

    @staticmethod
    def _validate_scale_table(scale_table: ScaleTable) -> List[float]:
        if isinstance(scale_table, (str, bytes)):
            raise ValueError("scale_table must be a sequence of floats")
        if isinstance(scale_table, (Tensor, np.ndarray)):
            if scale_table.ndim != 1:
                raise ValueError(f"scale_table must be 1-D, got shape {tuple(scale_table.shape)}")
            values = [float(s) for s in scale_table.tolist()]
        else:
            try:
                values = [float(s) for s in scale_table]
            except TypeError:
                raise ValueError(
                    f"scale_table must be a sequence of floats, got {type(scale_table).__name__}"
                ) from None
        if not values:
            raise ValueError("scale_table must not be empty")
        if any(not (s > 0 and math.isfinite(s)) for s in values) or values != sorted(values):
            raise ValueError("scale_table must hold finite positive values in increasing order")
        return values

    @staticmethod
    def _prepare_scale_table(scale_table: Sequence[float]) -> Tensor:
        return torch.tensor([float(s) for s in scale_table], dtype=torch.float32)

    @staticmethod
    def _standardized_cumulative(inputs: Tensor) -> Tensor:
        """Standard normal CDF ``Phi(x) = erfc(-x / sqrt 2) / 2`` (accurate in the left tail)."""
        return 0.5 * torch.erfc(-(2**-0.5) * inputs)

    @staticmethod
    def _standardized_quantile(quantile: float) -> float:
        """``Phi^-1(quantile)`` in float64."""
        return float(torch.special.ndtri(torch.tensor(float(quantile), dtype=torch.float64)))

    def update_scale_table(
        self, scale_table: ScaleTable, force: bool = False, method: str = "portable"
    ) -> bool:
        """Replaces the scale table and rebuilds the CDF tables (``method`` as in :meth:`update`).

        Returns:
            Whether it did; ``False`` (and nothing changes) when tables exist and not
            ``force``, as in CompressAI.
        """
        check_table_method(method)
        if self._offset.numel() > 0 and not force:
            return False
        values = self._validate_scale_table(scale_table)
        self.scale_table = self._prepare_scale_table(values).to(self.scale_table.device)
        self.update(force=True, method=method)
        return True

    def update(self, force: bool = False, method: str = "portable") -> bool:
        """Builds one CDF row per entry of ``scale_table``.

        Row ``k`` covers ``|v| <= ceil(scale_table[k] * Phi^-1(1 - tail_mass/2))`` with
        the discretised Gaussian masses, and puts the two tails in the escape bin.

        ``method="portable"`` (default) evaluates ``Phi`` in Rust (float64, software
        ``erfc``) from the float32 scales, so every machine builds the same integers.
        ``method="compressai"`` is bit-exact with CompressAI's ``update()`` on the same
        machine (float32 ``torch.erfc``, whose last bits depend on the CPU and on torch's
        kernels). Both compute on the CPU whatever the module's device.

        Returns:
            Whether the tables were (re)built; ``False`` when they exist and not ``force``.

        Raises:
            ValueError: the scale table is empty; an unknown ``method``; a scale so large
                that its row exceeds what a 16-bit CDF holds (portable construction).
        """
        check_table_method(method)
        if self._offset.numel() > 0 and not force:
            return False
        if self.scale_table.numel() == 0:
            raise ValueError(
                "GaussianConditional has an empty scale_table: pass one to the constructor "
                "or call update_scale_table(table)"
            )
        if method == "portable":
            cdfs, lengths, offsets = portable_gaussian_tables(self.scale_table, self.tail_mass)
            self._store_tables(cdfs, lengths, offsets, self.scale_table.device, method)
            return True
        pmf, tail_mass, pmf_length, offset = self._compressai_pmf()
        quantized_cdf = self._pmf_to_cdf(pmf, tail_mass, pmf_length, pmf.size(1))
        self._store_tables(quantized_cdf, pmf_length + 2, offset, self.scale_table.device, method)
        return True

    def _compressai_pmf(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """The probabilities of CompressAI's table construction, in float32 on the CPU
        (:func:`~neuralcodec.entropy_models.tables.compressai_gaussian_pmf`, with this
        class's ``Phi`` and ``Phi^-1``).

        Returns:
            ``(pmf, tail_mass, pmf_length, offset)``: ``pmf`` ``[S, max_length]`` (row
            ``k`` meaningful up to ``pmf_length[k]``), ``tail_mass`` ``[S, 1]``,
            ``pmf_length`` and ``offset`` int32 ``[S]``.
        """
        multiplier = -self._standardized_quantile(self.tail_mass / 2)
        return compressai_gaussian_pmf(self.scale_table, multiplier, self._standardized_cumulative)

    def _likelihood(
        self, inputs: Tensor, scales: Tensor, means: Optional[Tensor] = None
    ) -> Tensor:
        """Mass of the unit bin around ``inputs`` under ``N(means, scales^2)``, without the
        likelihood bound; shapes broadcast."""
        values = inputs if means is None else inputs - means
        scales = self.lower_bound_scale(scales)
        values = torch.abs(values)
        upper = self._standardized_cumulative((0.5 - values) / scales)
        lower = self._standardized_cumulative((-0.5 - values) / scales)
        return upper - lower

    def forward(
        self,
        inputs: Tensor,
        scales: Tensor,
        means: Optional[Tensor] = None,
        training: Optional[bool] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Quantises ``inputs`` and returns its likelihoods.

        Args:
            inputs: any shape, e.g. ``[N, M, H, W]``.
            scales: positive, same shape (bounded below by ``scale_bound``).
            means: optional, same shape.
            training: add uniform noise (True) or round around ``means`` (False); default:
                ``self.training``.

        Returns:
            ``(outputs, likelihoods)``, shaped like ``inputs``. In training the outputs
            are the noisy values, or with ``training_outputs == "ste"`` the rounded ones
            (straight-through gradient); the likelihoods are of the noisy values in both.
        """
        if training is None:
            training = self.training
        training_outputs = self.training_outputs
        full_precision, (inputs, scales, means) = float32_without_autocast(inputs, scales, means)
        with full_precision:
            values = self.quantize(inputs, "noise" if training else "dequantize", means)
            likelihood = self._likelihood(values, scales, means)
            if self.use_likelihood_bound:
                likelihood = self.likelihood_lower_bound(likelihood)
            if training and training_outputs == "ste":
                values = quantize_ste(inputs if means is None else inputs - means)
                if means is not None:
                    values = values + means
        return values, likelihood

    def build_indexes(self, scales: Tensor) -> Tensor:
        """The CDF row of each scale: the first table entry ``>= scale`` (after the
        lower bound), or the last row for larger scales.

        Args:
            scales: any shape.

        Returns:
            int32, same shape, values in ``0 .. len(scale_table) - 1``.
        """
        if self.scale_table.numel() == 0:
            raise ValueError("GaussianConditional has an empty scale_table")
        bounded = self.lower_bound_scale(scales.detach())
        dtype = torch.promote_types(bounded.dtype, self.scale_table.dtype)
        boundaries = self.scale_table[:-1].to(device=bounded.device, dtype=dtype).contiguous()
        indexes = torch.searchsorted(boundaries, bounded.to(dtype).contiguous(), right=False)
        return indexes.to(torch.int32)
