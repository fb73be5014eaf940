"""Entropy models of quantised latents: likelihoods for training, rANS strings for use.

Both models follow the same life cycle:

1. **Training.** ``outputs, likelihoods = model(...)``. In training mode uniform noise in
   ``[-1/2, 1/2)`` stands in for rounding (Ballé et al. 2017) and ``likelihoods`` is the
   probability mass of the unit-width bin around each output, so
   ``-log2(likelihoods).sum()`` is the rate in bits that training minimises.
   In evaluation mode the values are rounded (around the median or mean).
2. **Tables.** :meth:`EntropyBottleneck.update` / :meth:`GaussianConditional.update`
   turn the densities into integer CDF tables (16-bit precision, one row per channel or
   per scale, an escape bin for the tails) and store them in the buffers
   ``_quantized_cdf``, ``_cdf_length`` and ``_offset``. The tables are model data: they
   travel in the state_dict, so encoder and decoder use the same integers whatever
   floating-point hardware they run on. Two constructions (``method=``, see
   :data:`TABLE_METHODS`):

   - ``"portable"`` (the default): the densities are evaluated in Rust
     (``rust/tables.rs``) in float64 with software transcendental functions, in a fixed
     order, so the tables are a pure function of the float32 parameters: the same on
     every CPU, SIMD level and thread count, and for a model trained on a GPU;
   - ``"compressai"``: CompressAI 1.2.8's float32 PyTorch construction, bit for bit on
     the machine it runs on. Its last bits depend on the CPU and on torch's kernels, so
     two machines can build tables that differ by a count (``docs/determinism.md``).
3. **Coding.** ``compress`` writes one rANS string per batch element with the Rust coder
   (:mod:`neuralcodec.ans`); ``decompress`` reads it back exactly.

The classes reproduce CompressAI 1.2.8 (names, arguments, state_dict keys, float32
arithmetic, and with ``update(method="compressai")`` the resulting tables, and the strings
byte for byte; see ``shared/specs/compressai-compat.md`` sections 7-8), with these additions:

- ``update()`` builds portable tables unless asked for CompressAI's construction;
- ``update(force=False)`` on both models returns whether it rebuilt the tables;
  :meth:`EntropyBottleneck.fit_quantiles` finds the quantiles by bisection, so no
  auxiliary optimiser is needed (the auxiliary loss remains for compatibility);
- ``compress``/``decompress`` before ``update()`` raise a clear error;
- loading a state_dict resizes the table buffers to the checkpoint's shapes (CompressAI's
  "resize_if_empty" policy, extended to tables rebuilt by ``update()``), inside the
  modules' own ``_load_from_state_dict``, so plain :meth:`torch.nn.Module.load_state_dict`
  works on any model that contains them.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import math
import re
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import neuralcodec
from neuralcodec import _core, ans
from neuralcodec.errors import NeuralCodecError
from neuralcodec.ops.bound_ops import LowerBound
from neuralcodec.ops.ops import quantize_ste

__all__ = [
    "DEFAULT_SCALE_TABLE",
    "SCALES_LEVELS",
    "SCALES_MAX",
    "SCALES_MIN",
    "TABLE_METHODS",
    "EntropyBottleneck",
    "EntropyModel",
    "GaussianConditional",
    "GaussianMixtureConditional",
    "TABLE_METHOD_OF_PATH",
    "TableMismatchError",
    "bound_tables",
    "check_tables",
    "get_scale_table",
]

#: Smallest scale of the default Gaussian scale table (in quantisation steps).
SCALES_MIN: float = 0.11
#: Largest scale of the default Gaussian scale table.
SCALES_MAX: float = 256.0
#: Number of scales in the default table.
SCALES_LEVELS: int = 64

#: How ``update()`` builds CDF tables: ``"portable"`` (the default; the same integers on
#: every machine) or ``"compressai"`` (CompressAI's float32 construction, machine dependent).
TABLE_METHODS: Tuple[str, ...] = ("portable", "compressai")


def _check_table_method(method: str) -> None:
    if method not in TABLE_METHODS:
        raise ValueError(
            f'method must be "portable" (the same tables on every machine) or "compressai" '
            f"(CompressAI's float construction), got {method!r}"
        )


#: The construction each coding path codes with when tables are *built* (not loaded):
#: the engine path's strings are bit-exact on every machine only with portable tables,
#: and the compat path gives CompressAI's strings only with CompressAI's.
TABLE_METHOD_OF_PATH: Dict[str, str] = {"engine": "portable", "compat": "compressai"}

#: What :attr:`EntropyModel.table_method` reports for tables that did not come from this
#: module's ``update()`` (a state_dict, a checkpoint): model data, used as they are by
#: every coding path, as CompressAI uses the tables shipped in its checkpoints.
STORED = "stored"

_BOUND_TABLES: "contextvars.ContextVar[bool]" = contextvars.ContextVar("neuralcodec_bound_tables", default=False)


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


class TableMismatchError(NeuralCodecError, ValueError):
    """Tables built by one construction are about to code on the path of the other.

    Raised before any string is written or read, instead of strings that another
    party's tables would decode to garbage or refuse. The message names the call that
    builds the right tables."""


@contextlib.contextmanager
def bound_tables() -> Iterator[None]:
    """Within this context :func:`check_tables` accepts any tables on any path.

    For callers that bind the tables to the strings themselves: neuralcodec's file format
    names the model by a hash of its state_dict, CDF tables included, so a decoder whose
    tables differ in one count refuses the file before decoding (``docs/format.md``); the
    construction that built them then does not matter. Context-local (threads and asyncio
    tasks each see their own)."""
    token = _BOUND_TABLES.set(True)
    try:
        yield
    finally:
        _BOUND_TABLES.reset(token)


def check_tables(module: nn.Module, path: str) -> None:
    """Refuses to code on ``path`` with tables that another path's construction built.

    Every :class:`EntropyModel` inside ``module`` (itself included) must hold tables that
    were loaded (:data:`STORED`), none yet, or tables built by
    ``TABLE_METHOD_OF_PATH[path]``: ``"portable"`` for ``"engine"``, ``"compressai"`` for
    ``"compat"``. Inside :func:`bound_tables` anything is accepted. Paths this rule does
    not know are accepted.

    Raises:
        TableMismatchError: naming the entropy model, how its tables were built, and the
            ``update(...)`` call that builds the path's tables.
    """
    wanted = TABLE_METHOD_OF_PATH.get(path)
    if wanted is None or _BOUND_TABLES.get():
        return
    for name, child in module.named_modules():
        if not isinstance(child, EntropyModel):
            continue
        built = child.table_method
        if built in (None, STORED, wanted):
            continue
        where = f"{type(module).__name__}.{name}" if name else type(module).__name__
        raise TableMismatchError(
            f"{where} holds CDF tables built by update(method={built!r}), but the {path!r} coding "
            f"path codes with {wanted!r} tables (strings made with other tables would not decode); "
            f"call update(force=True, method={wanted!r}) on the model first"
            + (" (for CompressAI's strings)" if path == "compat" else " (the same tables on every machine)")
        )


class _EntropyCoder:
    """An entropy coder chosen by name (CompressAI's proxy of the same name): its
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
        return (_EntropyCoder, (self.name,))

    def __eq__(self, other: object) -> bool:  # compares as its name, as CompressAI's string did
        if isinstance(other, _EntropyCoder):
            return other.name == self.name
        return other == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"_EntropyCoder({self.name!r})"


#: Coder name -> (encoder class, decoder class).
_CODERS: Dict[str, Tuple[Any, Any]] = {"ans": (ans.RansEncoder, ans.RansDecoder)}


class _StringsError(NeuralCodecError, TypeError, ValueError):
    """``strings`` is not a list of bytes: a ValueError as in CompressAI, and a TypeError."""


def _float32_numpy(tensor: Tensor) -> np.ndarray:
    """``tensor`` detached, on the CPU, as a C-contiguous float32 numpy array."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


def _float32_without_autocast(*tensors: Optional[Tensor]) -> Tuple[Any, List[Any]]:
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
        self.entropy_coder = _EntropyCoder(entropy_coder)
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
        mass ``tail_mass[r]`` (``[rows, 1]``) appended.

        Returns:
            int32 ``[rows, max_length + 2]`` on ``pmf``'s device; row ``r`` holds
            ``pmf_length[r] + 2`` CDF values, then zeros.
        """
        probabilities = pmf.detach().to("cpu", torch.float32).numpy()
        tails = tail_mass.detach().to("cpu", torch.float32).reshape(-1).numpy()
        lengths = pmf_length.detach().cpu().tolist()
        table = np.zeros((len(lengths), max_length + 2), dtype=np.int32)
        for row, length in enumerate(lengths):
            masses = np.concatenate((probabilities[row, :length], tails[row : row + 1]))
            try:
                cdf = ans.pmf_to_quantized_cdf(masses, self.entropy_coder_precision)
            except ValueError as error:
                raise ValueError(f"cannot build the CDF of row {row}: {error}") from None
            table[row, : length + 2] = cdf
        return torch.from_numpy(table).to(pmf.device)

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
            raise _StringsError(f"strings must be a list of bytes, got {type(strings).__name__}")
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


_LEGACY_EB_KEY = re.compile(r"^_(matrix|bias|factor)(\d+)$|^_(matrices|biases|factors)\.(\d+)$")
_PLURAL = {"matrix": "matrices", "bias": "biases", "factor": "factors"}


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
        full_precision, (x,) = _float32_without_autocast(x)
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
        _check_table_method(method)
        if self._offset.numel() > 0 and not force:
            return False
        if update_quantiles:
            self.fit_quantiles()
        if method == "portable":
            with torch.no_grad():
                cdfs, lengths, offsets = _core.bottleneck_tables(
                    _float32_numpy(self.quantiles.reshape(self.channels, 3)),
                    [_float32_numpy(m) for m in self.matrices],
                    [_float32_numpy(b) for b in self.biases],
                    [_float32_numpy(f) for f in self.factors],
                )
            self._store_tables(cdfs, lengths, offsets, self.quantiles.device, method)
            return True
        pmf, tail_mass, pmf_length, offset = self._compressai_pmf()
        quantized_cdf = self._pmf_to_cdf(pmf, tail_mass, pmf_length, pmf.size(1))
        self._store_tables(quantized_cdf, pmf_length + 2, offset, self.quantiles.device, method)
        return True

    def _compressai_pmf(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """The probabilities of CompressAI's table construction, in float32 on the CPU.

        Returns:
            ``(pmf, tail_mass, pmf_length, offset)``: ``pmf`` ``[C, max_length]`` (row
            ``c`` meaningful up to ``pmf_length[c]``), ``tail_mass`` ``[C, 1]`` (read at
            column ``max_length - 1`` for every channel, as CompressAI does),
            ``pmf_length`` and ``offset`` int32 ``[C]``.
        """
        # Computed on the CPU whatever the module's device (a GPU's kernels differ again).
        density = self if self.quantiles.device.type == "cpu" else copy.deepcopy(self).cpu()
        with torch.no_grad():
            quantiles = density.quantiles.detach()
            if not bool(torch.isfinite(quantiles).all()):
                raise ValueError("quantiles are not finite; cannot build CDF tables")
            span = (quantiles[:, 0, 2] - quantiles[:, 0, 0]).abs().max().item()
            if span > 2**24:
                raise ValueError(
                    f"quantiles span {span:g} quantisation steps; fit them first "
                    "(fit_quantiles() or the auxiliary loss)"
                )
            medians = quantiles[:, 0, 1]
            minima = torch.ceil(medians - quantiles[:, 0, 0]).int().clamp(min=0)
            maxima = torch.ceil(quantiles[:, 0, 2] - medians).int().clamp(min=0)
            pmf_start = medians - minima
            pmf_length = maxima + minima + 1
            max_length = int(pmf_length.max().item())
            steps = torch.arange(max_length, device=quantiles.device)
            samples = steps[None, :] + pmf_start[:, None, None]  # [C, 1, max_length]
            pmf, lower, upper = density._likelihood(samples, stop_gradient=True)
            # The right tail is read at column max_length - 1 for every channel.
            tail_mass = torch.sigmoid(lower[:, 0, :1]) + torch.sigmoid(-upper[:, 0, -1:])
        return pmf[:, 0, :], tail_mass, pmf_length, -minima

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
        # _factor0 (or _matrices.0, ...); map them to matrices.0 / biases.0 / factors.0.
        for key in [k for k in state_dict if k.startswith(prefix)]:
            match = _LEGACY_EB_KEY.match(key[len(prefix) :])
            if match:
                kind = match.group(1) or match.group(3)
                index = match.group(2) or match.group(4)
                state_dict[f"{prefix}{_PLURAL.get(kind, kind)}.{index}"] = state_dict.pop(key)
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
        _check_table_method(method)
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
        _check_table_method(method)
        if self._offset.numel() > 0 and not force:
            return False
        if self.scale_table.numel() == 0:
            raise ValueError(
                "GaussianConditional has an empty scale_table: pass one to the constructor "
                "or call update_scale_table(table)"
            )
        if method == "portable":
            cdfs, lengths, offsets = _core.gaussian_tables(
                _float32_numpy(self.scale_table), self.tail_mass
            )
            self._store_tables(cdfs, lengths, offsets, self.scale_table.device, method)
            return True
        pmf, tail_mass, pmf_length, offset = self._compressai_pmf()
        quantized_cdf = self._pmf_to_cdf(pmf, tail_mass, pmf_length, pmf.size(1))
        self._store_tables(quantized_cdf, pmf_length + 2, offset, self.scale_table.device, method)
        return True

    def _compressai_pmf(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """The probabilities of CompressAI's table construction, in float32 on the CPU.

        Returns:
            ``(pmf, tail_mass, pmf_length, offset)``: ``pmf`` ``[S, max_length]`` (row
            ``k`` meaningful up to ``pmf_length[k]``), ``tail_mass`` ``[S, 1]``,
            ``pmf_length`` and ``offset`` int32 ``[S]``.
        """
        multiplier = -self._standardized_quantile(self.tail_mass / 2)
        with torch.no_grad():
            scales = self.scale_table.cpu()  # on the CPU, as in EntropyBottleneck
            pmf_center = torch.ceil(scales * multiplier).int()
            pmf_length = 2 * pmf_center + 1
            max_length = int(pmf_length.max().item())
            steps = torch.arange(max_length, device=scales.device).int()
            distance = torch.abs(steps - pmf_center[:, None]).float()  # |v| per column
            column_scales = scales.unsqueeze(1).float()
            upper = self._standardized_cumulative((0.5 - distance) / column_scales)
            lower = self._standardized_cumulative((-0.5 - distance) / column_scales)
            pmf = upper - lower
            tail_mass = 2 * lower[:, :1]
        return pmf, tail_mass, pmf_length, -pmf_center

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
        full_precision, (inputs, scales, means) = _float32_without_autocast(inputs, scales, means)
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
        scale_table, *args, **kwargs: as :class:`GaussianConditional` (the table is not
            used for coding).
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
