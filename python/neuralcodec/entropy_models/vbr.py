"""The variable-rate entropy bottleneck: a factorized density coded with a quantization step.

Kamisli, Racapé, Choi, "Variable-Rate Learned Image Compression with Multi-Objective
Optimization and Quantization-Reconstruction Offsets", DCC 2024: the hyper-latent ``z``
of a variable-rate model is coded as ``round((z - median) / qs)`` with a step ``qs`` that
the model derives from its rate gain, so its side information shrinks with the rate too.

:class:`EntropyBottleneckVbr` is CompressAI 1.2.8's class of that name (arguments, calls,
state_dict keys ``_matrix0``, ``_bias0``, ``_factor0``, ...): the density of
:class:`~neuralcodec.entropy_models.EntropyBottleneck` plus ``qs`` arguments, and
:meth:`EntropyBottleneckVbr.update_variable` for the tables of one step.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from neuralcodec.entropy_models.base import EntropyModel
from neuralcodec.entropy_models.bottleneck import EntropyBottleneck
from neuralcodec.entropy_models.tables import (
    check_table_method,
    compressai_bottleneck_pmf,
    portable_bottleneck_tables,
)
from neuralcodec.state_dicts import rename_density_keys

__all__ = ["EntropyBottleneckVbr", "EntropyModelVbr"]

Step = Union[float, Tensor]


def _step_tensor(qs: Step) -> Tensor:
    """``qs`` as a float32 CPU tensor (any shape with one element)."""
    step = torch.as_tensor(qs, dtype=torch.float32).detach().cpu()
    if step.numel() != 1:
        raise ValueError(f"qs must hold one value, got shape {tuple(step.shape)}")
    value = float(step.reshape(-1)[0])
    if not value > 0 or value == float("inf"):
        raise ValueError(f"qs must be a positive finite step, got {value}")
    return step


class EntropyModelVbr(EntropyModel):
    """The entropy-model base of variable-rate models (CompressAI's ``EntropyModelVbr``):
    :class:`~neuralcodec.entropy_models.EntropyModel` (tables, coding, ``quantize``) plus
    quantization on a grid of step ``qs`` (:meth:`quantize_variable`,
    :meth:`dequantize_variable`). Arguments as :class:`EntropyModel`.
    """

    # -- quantisation with a step ------------------------------------------------------

    def quantize_variable(
        self, inputs: Tensor, mode: str, means: Optional[Tensor] = None, qs: Optional[Step] = None
    ) -> Tensor:
        """:meth:`quantize` on a grid of step ``qs`` (``None``: unit step).

        Modes: ``"noise"`` (``inputs + u qs``, ``u ~ U[-1/2, 1/2)``), ``"ste"``
        (``round((inputs - means)/qs) qs + means`` forward, identity gradient),
        ``"dequantize"`` (the same without the gradient trick) and ``"symbols"``
        (``round((inputs - means)/qs)`` as int32).
        """
        if mode not in ("noise", "ste", "dequantize", "symbols"):
            raise ValueError(f'quantization mode must be "noise", "ste", "dequantize" or "symbols", got {mode!r}')
        if qs is None and mode != "ste":
            return self.quantize(inputs, mode, means)
        if mode == "noise":
            assert qs is not None  # the unit step returned above
            return inputs + torch.empty_like(inputs).uniform_(-0.5, 0.5) * qs
        centred = inputs if means is None else inputs - means
        if mode == "symbols":
            assert qs is not None
            return self.quantize(centred / qs, "symbols")
        rounded = torch.round(centred) if qs is None else torch.round(centred / qs) * qs
        if mode == "ste":
            rounded = rounded - centred.detach() + centred
        return rounded if means is None else rounded + means

    @staticmethod
    def dequantize_variable(
        inputs: Tensor,
        means: Optional[Tensor] = None,
        dtype: torch.dtype = torch.float,
        qs: Optional[Step] = None,
    ) -> Tensor:
        """Symbols back to values: ``inputs * qs + means`` (``qs`` None: unit step)."""
        if qs is None:
            return EntropyModel.dequantize(inputs, means, dtype)
        if means is not None:
            return inputs.type_as(means) * qs + means
        return inputs.type(dtype) * qs


class EntropyBottleneckVbr(EntropyBottleneck, EntropyModelVbr):
    r"""Entropy bottleneck with an optional quantization step ``qs`` (Kamisli et al. 2024).

    Without ``qs`` it is :class:`~neuralcodec.entropy_models.EntropyBottleneck`. With a step
    ``qs`` (a float or a one-element tensor) values are coded as
    ``round((x - median) / qs)`` and decoded as ``symbol * qs + median``; the tables for that
    step come from :meth:`update_variable`, which must run (with ``force=True`` once tables
    exist) whenever the step changes. Encoder and decoder must use the same step and tables.

    Args: as :class:`~neuralcodec.entropy_models.EntropyBottleneck` (``channels``,
    ``tail_mass``, ``init_scale``, ``filters``).

    State (CompressAI's keys): ``_matrix{i}`` ``[C, out_i, in_i]``, ``_bias{i}``
    ``[C, out_i, 1]``, ``_factor{i}`` ``[C, out_i, 1]``, ``quantiles`` ``[C, 1, 3]``,
    ``target``, ``_offset``, ``_quantized_cdf``, ``_cdf_length``,
    ``likelihood_lower_bound.bound``. Checkpoints spelling the density ``matrices.0`` etc.
    load too.
    """

    def __init__(self, channels: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(channels, *args, **kwargs)
        # CompressAI's EntropyBottleneckVbr names its density parameters _matrix0, ...
        lists = {"matrix": self.matrices, "bias": self.biases, "factor": self.factors}
        for name in ("matrices", "biases", "factors"):
            delattr(self, name)
        for i in range(len(self.filters) + 1):
            self.register_parameter(f"_matrix{i}", lists["matrix"][i])
            self.register_parameter(f"_bias{i}", lists["bias"][i])
            if i < len(self.filters):
                self.register_parameter(f"_factor{i}", lists["factor"][i])

    # The density of the parent reads these three sequences (during the parent's
    # __init__ they are still its ParameterLists).
    def _density(self, kind: str, plural: str, count: int) -> Any:
        if plural in self._modules:
            return self._modules[plural]
        return [getattr(self, f"_{kind}{i}") for i in range(count)]

    @property
    def matrices(self) -> List[nn.Parameter]:  # type: ignore[override]  # CompressAI's _matrix0.. keys, read-only
        """The density's matrices ``_matrix0 ..``, in order."""
        return self._density("matrix", "matrices", len(self.filters) + 1)

    @property
    def biases(self) -> List[nn.Parameter]:  # type: ignore[override]  # CompressAI's _matrix0.. keys, read-only
        """The density's biases ``_bias0 ..``, in order."""
        return self._density("bias", "biases", len(self.filters) + 1)

    @property
    def factors(self) -> List[nn.Parameter]:  # type: ignore[override]  # CompressAI's _matrix0.. keys, read-only
        """The density's factors ``_factor0 ..``, in order."""
        return self._density("factor", "factors", len(self.filters))

    def _likelihood_variable(
        self, inputs: Tensor, stop_gradient: bool = False, qs: Optional[Step] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Mass of ``[x - qs/2, x + qs/2]`` for ``inputs`` ``[C, 1, L]``: ``(likelihood,
        lower, upper)`` as :meth:`_likelihood` (unit width when ``qs`` is None)."""
        half = 0.5 if qs is None else 0.5 * qs
        lower = self._logits_cumulative(inputs - half, stop_gradient=stop_gradient)
        upper = self._logits_cumulative(inputs + half, stop_gradient=stop_gradient)
        return torch.sigmoid(upper) - torch.sigmoid(lower), lower, upper

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        training: Optional[bool] = None,
        qs: Optional[Step] = None,
        ste: Optional[bool] = False,
    ) -> Tuple[Tensor, Tensor]:
        """Quantises ``x`` ``[N, C, ...]`` (noise when training, else rounding, on the grid of
        step ``qs``; ``ste=True``: straight-through rounding) and returns ``(outputs,
        likelihoods)`` shaped like ``x``.

        As in CompressAI 1.2.8 the likelihoods are the masses of unit-width bins around the
        outputs whatever ``qs`` is (its call passes ``qs`` where the bin width goes).
        """
        if training is None:
            training = self.training
        if qs is None:
            return super().forward(x, training)
        per_channel = x.transpose(0, 1).contiguous()
        shape = per_channel.shape
        values = per_channel.reshape(shape[0], 1, -1)
        mode = "ste" if ste else ("noise" if training else "dequantize")
        outputs = self.quantize_variable(values, mode, self._get_medians(), qs)
        likelihood, _, _ = self._likelihood_variable(outputs)
        if self.use_likelihood_bound:
            likelihood = self.likelihood_lower_bound(likelihood)
        outputs = outputs.reshape(shape).transpose(0, 1).contiguous()
        likelihood = likelihood.reshape(shape).transpose(0, 1).contiguous()
        return outputs, likelihood

    # -- tables for one step -----------------------------------------------------------

    def update_variable(self, force: bool = False, qs: Step = 1.0, method: str = "portable") -> bool:
        """Builds the CDF tables for values coded with step ``qs``.

        Channel ``c`` gets ``ceil((median - q_low)/qs)`` bins below the median and
        ``ceil((q_high - median)/qs)`` above (``_offset[c]`` is minus the first), bin ``k``
        holding ``F(v_k + qs/2) - F(v_k - qs/2)`` at ``v_k = median + (_offset[c] + k) qs``,
        and an escape bin for the tails.

        ``method="portable"`` (default) evaluates the density in Rust in float64 from the
        float32 parameters and the float32 step (``rust/tables.rs``,
        ``bottleneck_tables_with_step``): the same integers on every machine for the same
        step. ``method="compressai"`` is CompressAI 1.2.8's float32 construction (its right
        tail read at the longest channel's end, as in :meth:`update`), bit-exact with it on
        the same machine.

        Args:
            force: rebuild even if tables exist.
            qs: the step, a positive float or one-element tensor.
            method: ``"portable"`` or ``"compressai"``.

        Returns:
            Whether the tables were (re)built.
        """
        check_table_method(method)
        if self._offset.numel() > 0 and not force:
            return False
        step = _step_tensor(qs)
        if method == "portable":
            cdfs, lengths, offsets = portable_bottleneck_tables(
                self.quantiles.reshape(self.channels, 3),
                self.matrices,
                self.biases,
                self.factors,
                float(step.reshape(-1)[0]),
            )
            self._store_tables(cdfs, lengths, offsets, self.quantiles.device, method)
            return True
        density = self if self.quantiles.device.type == "cpu" else copy.deepcopy(self).cpu()
        pmf, tail_mass, pmf_length, offset = compressai_bottleneck_pmf(
            density.quantiles,
            lambda samples: density._likelihood_variable(samples, stop_gradient=True, qs=step),
            step,
        )
        quantized_cdf = self._pmf_to_cdf(pmf, tail_mass, pmf_length, pmf.size(1))
        self._store_tables(quantized_cdf, pmf_length + 2, offset, self.quantiles.device, method)
        return True

    # -- coding ------------------------------------------------------------------------

    def compress(self, x: Tensor, qs: Optional[Step] = None) -> List[bytes]:  # type: ignore[override]
        """Codes ``round((x - median) / qs)`` (``qs`` None: unit step) of each batch element
        into one string, with the current tables (see :meth:`update_variable`)."""
        if qs is None:
            return super().compress(x)
        if x.dim() < 2 or x.size(1) != self.channels:
            raise ValueError(f"expected [N, {self.channels}, ...] input, got shape {tuple(x.shape)}")
        indexes = self._build_indexes(x.size())
        spatial_dims = x.dim() - 2
        medians = self._extend_ndims(self._get_medians().detach(), spatial_dims)
        medians = medians.expand(x.size(0), *([-1] * (spatial_dims + 1)))
        symbols = self.quantize_variable(x, "symbols", medians, qs)
        return EntropyModel.compress(self, symbols.to(x.dtype), indexes)

    def decompress(  # type: ignore[override]
        self, strings: Sequence[bytes], size: Sequence[int], qs: Optional[Step] = None
    ) -> Tensor:
        """Decodes strings of :meth:`compress`: ``symbol * qs + median``, float
        ``[N, C, *size]``."""
        if qs is None:
            return super().decompress(strings, size)
        self.cdf_table()
        size = tuple(int(s) for s in size)
        indexes = self._build_indexes((len(strings), self._quantized_cdf.size(0), *size))
        medians = self._extend_ndims(self._get_medians().detach(), len(size))
        medians = medians.expand(len(strings), *([-1] * (len(size) + 1)))
        symbols = EntropyModel.decompress(self, strings, indexes, torch.int32)
        return self.dequantize_variable(symbols.to(torch.int32), medians, medians.dtype, qs)

    # -- loading -----------------------------------------------------------------------

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
        # Any spelling of the density (matrices.0, _matrices.0, _matrix0) -> _matrix0.
        rename_density_keys(state_dict, prefix, "attribute")
        EntropyModel._load_from_state_dict(
            self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
