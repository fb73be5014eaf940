"""The base of the entropy models: quantisation, the table buffers, and the calls into the
rANS coder.

Every entropy model follows the same life cycle:

1. **Training.** ``outputs, likelihoods = model(...)``. In training mode uniform noise in
   ``[-1/2, 1/2)`` (:func:`uniform_noise`) stands in for rounding (Ballé et al. 2017) and
   ``likelihoods`` is the probability mass of the unit-width bin around each output, so
   ``-log2(likelihoods).sum()`` is the rate in bits that training minimises.
   In evaluation mode the values are rounded (around the median or mean).
2. **Tables.** ``update()`` turns the density into integer CDF tables and stores them in
   the buffers ``_quantized_cdf``, ``_cdf_length`` and ``_offset`` held by
   :class:`EntropyModel`. The tables are model data: they travel in the state_dict, so
   encoder and decoder use the same integers whatever floating-point hardware they run
   on. Their two constructions are in :mod:`neuralcodec.entropy_models.tables`.
3. **Coding.** ``compress`` writes one rANS string per batch element with the Rust coder
   (:mod:`neuralcodec.ans`); ``decompress`` reads it back exactly.

Loading a state_dict resizes the table buffers to the checkpoint's shapes (CompressAI's
"resize_if_empty" policy, extended to tables rebuilt by ``update()``), inside the modules'
own ``_load_from_state_dict``, so plain :meth:`torch.nn.Module.load_state_dict` works on
any model that contains them. ``compress``/``decompress`` before ``update()`` raise a
clear error.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

import neuralcodec
from neuralcodec import ans
from neuralcodec.entropy_models.tables import STORED, pmf_to_cdf
from neuralcodec.errors import NeuralCodecError
from neuralcodec.ops.bound_ops import LowerBound

__all__ = [
    "EntropyCoder",
    "EntropyModel",
    "StringsError",
    "default_entropy_coder",
    "float32_without_autocast",
    "pmf_to_quantized_cdf",
    "uniform_noise",
]


@torch.compiler.disable
def uniform_noise(like: Tensor) -> Tensor:
    """Noise uniform in ``[-0.5, 0.5)`` of ``like``'s shape, dtype and device: the training
    stand-in for rounding.

    Drawn eagerly from torch's global generator even inside ``torch.compile`` (a graph
    break): a compiled model then draws the same noise as the eager one after the same
    ``torch.manual_seed``, so compiling a training step does not change its numbers
    (compiled code would otherwise draw from its own Philox stream).
    """
    return torch.empty_like(like).uniform_(-0.5, 0.5)


class EntropyCoder:
    """An entropy coder chosen by name (CompressAI's ``_EntropyCoder``): its
    ``encode_with_indexes`` / ``decode_with_indexes`` are those of the coder's encoder
    and decoder. ``"ans"`` is :mod:`neuralcodec.ans`'s rANS coder.

    Raises:
        ValueError: ``name`` is not a string or not one of
            :func:`neuralcodec.available_entropy_coders`.
    """

    def __init__(self, name: Any) -> None:
        if not isinstance(name, str):
            raise ValueError(f"entropy_coder must be a coder's name, got {type(name).__name__}")
        available = neuralcodec.available_entropy_coders()
        if name not in available or name not in _CODERS:
            raise ValueError(f"unknown entropy coder {name!r}; available: {', '.join(available)}")
        encoder, decoder = _CODERS[name]
        self.name = name
        self._encoder = encoder()
        self._decoder = decoder()

    def encode_with_indexes(self, *args: Any, **kwargs: Any) -> bytes:
        return self._encoder.encode_with_indexes(*args, **kwargs)

    def decode_with_indexes(self, *args: Any, **kwargs: Any) -> Any:
        return self._decoder.decode_with_indexes(*args, **kwargs)

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        return (EntropyCoder, (self.name,))

    def __eq__(self, other: object) -> bool:  # compares as its name, as CompressAI's string did
        if isinstance(other, EntropyCoder):
            return other.name == self.name
        return other == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"EntropyCoder({self.name!r})"


#: Coder name -> (encoder class, decoder class).
_CODERS: Dict[str, Tuple[Any, Any]] = {"ans": (ans.RansEncoder, ans.RansDecoder)}


class StringsError(NeuralCodecError, TypeError, ValueError):
    """``strings`` is not a list of bytes: a ValueError as in CompressAI, and a TypeError."""


def default_entropy_coder() -> str:
    """The process's default entropy coder's name (CompressAI's function of this name):
    :func:`neuralcodec.get_entropy_coder`."""
    return neuralcodec.get_entropy_coder()


def pmf_to_quantized_cdf(pmf: Tensor, precision: int = 16) -> Tensor:
    """The integer CDF of the 1-D ``pmf`` quantised to ``2**precision``, int32 ``[len(pmf)
    + 1]`` (CompressAI's function of this name; :func:`neuralcodec.ans.pmf_to_quantized_cdf`).

    Raises:
        ValueError: an empty, negative, non-finite or all-zero ``pmf``.
    """
    values = pmf.detach().cpu() if isinstance(pmf, Tensor) else pmf
    return torch.from_numpy(ans.pmf_to_quantized_cdf(values, precision))


def float32_without_autocast(*tensors: Optional[Tensor]) -> Tuple[Any, List[Any]]:
    """A context that turns autocast off, and ``tensors`` as float32 (``None`` kept).

    The list holds each argument converted, a tensor for a tensor and ``None`` for ``None``;
    its items are typed ``Any`` so that each caller's unpacking keeps its arguments' types.

    Likelihoods and quantization noise need float32: under bfloat16 autocast a
    latent near 100 has a step of 0.5, as wide as the noise that stands in for rounding.
    Mixed-precision training (``TrainConfig.precision``) therefore runs the transforms in
    low precision and the entropy models in float32.
    """
    device_type = next((t.device.type for t in tensors if t is not None), "cpu")
    converted = [t if t is None or t.dtype in (torch.float32, torch.float64) else t.float() for t in tensors]
    return torch.autocast(device_type, enabled=False), converted


class EntropyModel(nn.Module):
    """Base class: quantisation, integer CDF tables and the calls into the rANS coder.

    Subclasses define the density (``forward``, ``update``); this class holds the table
    buffers and codes symbols with them.

    Args:
        likelihood_bound: lower bound applied to the likelihoods returned by ``forward``
            (0 disables it). Keeps ``log(likelihood)`` finite.
        entropy_coder: a coder's name, or ``None`` for the process default
            (:func:`neuralcodec.get_entropy_coder`); ``"ans"`` is neuralcodec's rANS,
            the only one.
        entropy_coder_precision: must be 16, the coder's fixed probability precision.

    State: ``_offset`` int32 ``[rows]``, ``_quantized_cdf`` int32 ``[rows, cols]``,
    ``_cdf_length`` int32 ``[rows]`` (empty until ``update()``), and
    ``likelihood_lower_bound.bound``. Row ``r`` codes the values
    ``_offset[r] .. _offset[r] + _cdf_length[r] - 3`` directly and every other int32
    through its last, escape, bin.

    The tables record how they came to be (:attr:`table_method`): built by ``update()``
    with the ``"portable"`` or the ``"compressai"`` construction, or :data:`STORED`
    (loaded). Models check it against their coding path (:func:`check_tables`).
    """

    _offset: Tensor
    _quantized_cdf: Tensor
    _cdf_length: Tensor

    #: A differentiable stand-in for rounding that training mode uses instead of uniform
    #: noise while it is set (not part of the state): it maps centred values to softly
    #: rounded ones. Latent refinement sets it for one fit
    #: (:func:`neuralcodec.models.refinement.refine_latent`).
    soft_rounding: Optional[Callable[[Tensor], Tensor]] = None

    #: Buffers whose shape follows the checkpoint when a state_dict is loaded.
    _resizable_buffers: Tuple[str, ...] = ("_offset", "_quantized_cdf", "_cdf_length")

    def __init__(
        self,
        likelihood_bound: float = 1e-9,
        entropy_coder: Optional[str] = None,
        entropy_coder_precision: int = 16,
    ) -> None:
        super().__init__()
        if entropy_coder is None:
            entropy_coder = neuralcodec.get_entropy_coder()
        self.entropy_coder = EntropyCoder(entropy_coder)
        if int(entropy_coder_precision) != ans.PRECISION:
            raise ValueError(
                f"entropy_coder_precision must be {ans.PRECISION}, the coder's fixed "
                f"precision; got {entropy_coder_precision}"
            )
        self.entropy_coder_precision = ans.PRECISION
        self.use_likelihood_bound = likelihood_bound > 0
        if self.use_likelihood_bound:
            self.likelihood_lower_bound = LowerBound(likelihood_bound)
        self.register_buffer("_offset", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("_quantized_cdf", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("_cdf_length", torch.zeros(0, dtype=torch.int32))
        # (key, CdfTable, the tensors the key refers to); see cdf_table().
        self._table_cache: Optional[Tuple[Tuple[Any, ...], ans.CdfTable, Tuple[Tensor, ...]]] = None
        # (construction, fingerprint of the tables it built); see table_method.
        self._table_record: Optional[Tuple[str, bytes]] = None
        # (buffer ids and versions, fingerprint): fingerprints are hashed once per change.
        self._fingerprint_cache: Optional[Tuple[Tuple[Any, ...], bytes]] = None

    # -- compatibility accessors -------------------------------------------------------

    @property
    def offset(self) -> Tensor:
        """``_offset``: the value coded by position 0 of each CDF row, int32 ``[rows]``."""
        return self._offset

    @property
    def quantized_cdf(self) -> Tensor:
        """``_quantized_cdf``: the zero-padded integer CDFs, int32 ``[rows, cols]``."""
        return self._quantized_cdf

    @property
    def cdf_length(self) -> Tensor:
        """``_cdf_length``: the meaningful length of each CDF row, int32 ``[rows]``."""
        return self._cdf_length

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_table_cache"] = None  # native object: rebuilt on demand
        state["_fingerprint_cache"] = None  # keyed on object ids
        return state

    # -- how the tables were made ------------------------------------------------------

    def _tables_fingerprint(self) -> bytes:
        """A digest of the three table buffers' integers (cached per buffer version)."""
        tensors = (self._quantized_cdf, self._cdf_length, self._offset)
        key = tuple((id(t), t._version, tuple(t.shape)) for t in tensors)
        cached = self.__dict__.get("_fingerprint_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        digest = hashlib.blake2b(digest_size=16)
        for tensor in tensors:
            array = tensor.detach().to("cpu", torch.int32).contiguous().numpy()
            digest.update(repr(array.shape).encode())
            digest.update(array.tobytes())
        value = digest.digest()
        self._fingerprint_cache = (key, value)
        return value

    def _record_tables(self, method: str) -> None:
        """Notes that ``method`` built the current tables (called by ``update()``)."""
        self._table_cache = None
        self._table_record = (method, self._tables_fingerprint())

    @property
    def table_method(self) -> Optional[str]:
        """How the current CDF tables were made: ``"portable"`` or ``"compressai"`` when
        this module's ``update()`` built them (the record follows the integers through
        ``.to()``, copies and pickling), :data:`STORED` for tables that came any other way
        (a state_dict or checkpoint, an assignment), ``None`` when there are none."""
        if not self._has_tables():
            return None
        record = self.__dict__.get("_table_record")
        if record is not None and record[1] == self._tables_fingerprint():
            return record[0]
        return STORED

    # -- quantisation ------------------------------------------------------------------

    def quantize(self, inputs: Tensor, mode: str, means: Optional[Tensor] = None) -> Tensor:
        """Quantises ``inputs`` (any shape) in one of three modes.

        - ``"noise"``: ``inputs + u``, ``u ~ U[-1/2, 1/2)``, the training proxy for
          rounding (``means`` is ignored: the noise is shift invariant); or, while
          :attr:`soft_rounding` is set, ``soft_rounding(inputs - means) + means``.
        - ``"dequantize"``: ``round(inputs - means) + means``, float.
        - ``"symbols"``: ``round(inputs - means)`` as int32, the integers that are coded.

        Rounding is half to even (:func:`torch.round`), as in CompressAI.

        Raises:
            ValueError: unknown ``mode``; in ``"symbols"`` mode, values that are not finite
                or do not fit in int32.
        """
        if mode not in ("noise", "dequantize", "symbols"):
            raise ValueError(
                f'quantization mode must be "noise", "dequantize" or "symbols", got {mode!r}'
            )
        if mode == "noise":
            if self.soft_rounding is not None:
                centred = inputs if means is None else inputs - means
                soft = self.soft_rounding(centred)
                return soft if means is None else soft + means
            return inputs + uniform_noise(inputs)
        centred = inputs if means is None else inputs - means
        rounded = torch.round(centred)
        if mode == "dequantize":
            return rounded if means is None else rounded + means
        if rounded.numel():
            if not bool(torch.isfinite(rounded).all()):
                raise ValueError("cannot code non-finite values (NaN or infinity)")
            low, high = rounded.min().item(), rounded.max().item()
            if low < -(2.0**31) or high >= 2.0**31:
                raise ValueError(
                    f"symbols must fit in int32, got values from {low:g} to {high:g}"
                )
        return rounded.to(torch.int32)

    @staticmethod
    def dequantize(
        inputs: Tensor, means: Optional[Tensor] = None, dtype: torch.dtype = torch.float
    ) -> Tensor:
        """Integer symbols back to values: ``inputs + means`` (in ``means``' dtype), or
        ``inputs`` cast to ``dtype`` when there are no means."""
        if means is not None:
            return inputs.type_as(means) + means
        return inputs.type(dtype)

    def _quantize(self, inputs: Tensor, mode: str, means: Optional[Tensor] = None) -> Tensor:
        """Deprecated name of :meth:`quantize` (CompressAI's); warns."""
        warnings.warn("_quantize is deprecated; use quantize", UserWarning, stacklevel=2)
        return self.quantize(inputs, mode, means)

    @classmethod
    def _dequantize(cls, inputs: Tensor, means: Optional[Tensor] = None) -> Tensor:
        """Deprecated name of :meth:`dequantize` (CompressAI's); warns."""
        warnings.warn("_dequantize is deprecated; use dequantize", UserWarning, stacklevel=2)
        return cls.dequantize(inputs, means)

    # -- tables ------------------------------------------------------------------------

    def _pmf_to_cdf(
        self, pmf: Tensor, tail_mass: Tensor, pmf_length: Tensor, max_length: int
    ) -> Tensor:
        """Quantises each row of ``pmf`` (float ``[rows, >= max_length]``) with its escape
        mass ``tail_mass[r]`` (``[rows, 1]``) appended, at the coder's precision
        (:func:`neuralcodec.entropy_models.tables.pmf_to_cdf`).

        Returns:
            int32 ``[rows, max_length + 2]`` on ``pmf``'s device; row ``r`` holds
            ``pmf_length[r] + 2`` CDF values, then zeros.
        """
        return pmf_to_cdf(pmf, tail_mass, pmf_length, max_length, self.entropy_coder_precision)

    def _store_tables(
        self,
        cdfs: Union[np.ndarray, Tensor],
        lengths: Union[np.ndarray, Tensor],
        offsets: Union[np.ndarray, Tensor],
        device: torch.device,
        method: str,
    ) -> None:
        """Sets the three table buffers from int32 arrays or tensors (``[rows, cols]``,
        ``[rows]``, ``[rows]``) built by the construction ``method``, and records it."""
        self._quantized_cdf = torch.as_tensor(cdfs, dtype=torch.int32).to(device)
        self._cdf_length = torch.as_tensor(lengths, dtype=torch.int32).to(device)
        self._offset = torch.as_tensor(offsets, dtype=torch.int32).to(device)
        self._record_tables(method)

    def _has_tables(self) -> bool:
        return all(getattr(self, name).numel() > 0 for name in EntropyModel._resizable_buffers)

    def cdf_table(self) -> ans.CdfTable:
        """The coder's view of the table buffers, validated once and cached.

        The cache is keyed on the buffer objects and their version counters, so it is
        rebuilt after ``update()``, ``load_state_dict``, ``.to(device)`` or any in-place
        change.
        """
        cdf, lengths, offsets = self._quantized_cdf, self._cdf_length, self._offset
        if not self._has_tables():
            raise ValueError(
                f"{type(self).__name__} has no CDF tables yet: call update() (or load a "
                "state_dict that contains them) before compress() or decompress()"
            )
        if cdf.dim() != 2 or lengths.dim() != 1 or offsets.dim() != 1:
            raise ValueError(
                "invalid CDF table shapes: _quantized_cdf must be 2-D and _cdf_length and "
                f"_offset 1-D, got {tuple(cdf.shape)}, {tuple(lengths.shape)}, "
                f"{tuple(offsets.shape)}"
            )
        tensors = (cdf, lengths, offsets)
        key = tuple((id(t), t._version) for t in tensors)
        cached = self._table_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        table = ans.CdfTable(cdf.detach().cpu(), lengths.detach().cpu(), offsets.detach().cpu())
        self._table_cache = (key, table, tensors)
        return table

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
        # The table buffers change shape with the model's parameters; take the
        # checkpoint's shape (and then its values) instead of failing on a size mismatch.
        for name in self._resizable_buffers:
            incoming = state_dict.get(prefix + name)
            current = self._buffers.get(name)
            if (
                isinstance(incoming, Tensor)
                and current is not None
                and incoming.shape != current.shape
            ):
                self._buffers[name] = torch.empty(
                    incoming.shape, dtype=current.dtype, device=current.device
                )
        self._table_cache = None
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    # -- coding ------------------------------------------------------------------------

    def compress(
        self, inputs: Tensor, indexes: Tensor, means: Optional[Tensor] = None
    ) -> List[bytes]:
        """Codes ``round(inputs - means)`` element by element with CDF rows ``indexes``.

        Args:
            inputs: float ``[N, ...]`` (at least 2-D); batch element ``i`` becomes string
                ``i``, its values taken in C (row-major) order.
            indexes: integer tensor of the same shape: the CDF row of each element.
            means: optional, broadcastable to ``inputs``.

        Returns:
            ``N`` rANS strings (bytes).

        Raises:
            ValueError: before ``update()``; on mismatched shapes, out-of-range indexes,
                non-finite inputs.
        """
        if inputs.dim() < 2:
            raise ValueError(
                f"inputs must have at least 2 dimensions [N, ...], got shape {tuple(inputs.shape)}"
            )
        if inputs.shape != indexes.shape:
            raise ValueError(
                f"inputs and indexes must have the same shape, got {tuple(inputs.shape)} "
                f"and {tuple(indexes.shape)}"
            )
        table = self.cdf_table()
        symbols = self.quantize(inputs, "symbols", means)
        if symbols.shape != inputs.shape:
            raise ValueError(
                f"means of shape {tuple(means.shape) if means is not None else None} do not "
                f"broadcast to inputs of shape {tuple(inputs.shape)}"
            )
        batch = inputs.size(0)
        if batch == 0:
            return []
        symbol_rows = symbols.reshape(batch, -1).cpu().numpy()
        index_rows = indexes.detach().reshape(batch, -1).cpu().numpy()
        coder = self.entropy_coder
        return [coder.encode_with_indexes(symbol_rows[i], index_rows[i], table) for i in range(batch)]

    def decompress(
        self,
        strings: Sequence[bytes],
        indexes: Tensor,
        dtype: torch.dtype = torch.float,
        means: Optional[Tensor] = None,
    ) -> Tensor:
        """Decodes the strings of :meth:`compress` given the same ``indexes`` and ``means``.

        Args:
            strings: ``N`` strings.
            indexes: integer ``[N, ...]``, the CDF rows used at encoding.
            dtype: output dtype when ``means`` is None.
            means: optional; ``[N, C, ...]`` with each trailing dimension equal to that of
                ``indexes`` or 1.

        Returns:
            The dequantised values, shape of ``indexes``, on the tables' device.

        Raises:
            ValueError: before ``update()``, on mismatched arguments;
                :class:`neuralcodec.ans.StreamError` for a string that was not produced
                with these tables and indexes (truncated, corrupted, trailing data).
        """
        if not isinstance(strings, (list, tuple)):
            raise StringsError(f"strings must be a list of bytes, got {type(strings).__name__}")
        if indexes.dim() < 2:
            raise ValueError(
                "indexes must have at least 2 dimensions [N, ...], got shape "
                f"{tuple(indexes.shape)}"
            )
        if len(strings) != indexes.size(0):
            raise ValueError(
                f"got {len(strings)} strings for a batch of {indexes.size(0)} indexes"
            )
        if means is not None:
            if means.dim() != indexes.dim() or means.shape[:2] != indexes.shape[:2] or any(
                m not in (1, n) for m, n in zip(means.shape[2:], indexes.shape[2:])
            ):
                raise ValueError(
                    f"means of shape {tuple(means.shape)} do not match indexes of shape "
                    f"{tuple(indexes.shape)}"
                )
        table = self.cdf_table()
        batch = indexes.size(0)
        if batch == 0 or indexes.numel() == 0:
            device = self._quantized_cdf.device
            outputs = torch.zeros(indexes.shape, dtype=torch.int32, device=device)
            return self.dequantize(outputs, means, dtype)
        index_rows = indexes.detach().reshape(batch, -1).cpu().numpy()
        values = np.empty(index_rows.shape, dtype=np.int32)
        coder = self.entropy_coder
        for i, string in enumerate(strings):
            values[i] = coder.decode_with_indexes(string, index_rows[i], table)
        outputs = torch.from_numpy(values).reshape(indexes.shape).to(self._quantized_cdf.device)
        return self.dequantize(outputs, means, dtype)
