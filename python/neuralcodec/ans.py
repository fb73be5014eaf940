"""Asymmetric numeral systems (rANS) entropy coding, byte-compatible with CompressAI.

This is the Python face of neuralcodec's Rust coder. The names follow CompressAI's
``compressai.ans`` so code written for it ports by changing the import, and the bytes
are identical to CompressAI 1.2.8's for the same inputs (see ``docs/bitstream.md``).

A message is a sequence of integer ``symbols``; ``indexes[i]`` picks the row of a CDF
table that ``symbols[i]`` is coded with. Row ``r`` covers the values
``offsets[r] + 0 .. offsets[r] + cdf_lengths[r] - 3`` directly; anything outside goes
through an escape symbol plus raw 4-bit chunks, so every int32 value can be coded.

Arguments may be numpy arrays, torch tensors (moved to the CPU) or, for compatibility,
Python sequences; they are converted here, at the edge, and cross into Rust as
contiguous int32 (float32 for pmfs) arrays. Coding runs with the GIL released.

Typical use::

    >>> import numpy as np
    >>> from neuralcodec.ans import CdfTable, RansEncoder, RansDecoder, pmf_to_quantized_cdf
    >>> cdf = pmf_to_quantized_cdf(np.array([0.25, 0.5, 0.25 - 1e-6, 1e-6], np.float32))
    >>> table = CdfTable(cdf[None, :], [len(cdf)], [-1])
    >>> data = RansEncoder().encode_with_indexes([-1, 0, 1, 40], [0, 0, 0, 0], table)
    >>> RansDecoder().decode_with_indexes(data, [0, 0, 0, 0], table).tolist()
    [-1, 0, 1, 40]

Building a :class:`CdfTable` validates the table once; pass it instead of the three
arrays when the same table codes many messages (as the entropy models do).
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from neuralcodec import _core

__all__ = [
    "PRECISION",
    "BufferedRansEncoder",
    "CdfTable",
    "RansDecoder",
    "RansEncoder",
    "StreamError",
    "ideal_bits",
    "pmf_to_quantized_cdf",
]

#: Probability precision of the coder in bits; every CDF row ends at ``2**PRECISION``.
PRECISION: int = _core.PRECISION

#: Raised when a string cannot be decoded (truncated, corrupted, trailing data, or
#: other tables/indexes than at encoding). A subclass of ``ValueError``.
StreamError = _core.StreamError

_INT32 = np.iinfo(np.int32)


def _to_numpy(name: str, value: Any) -> np.ndarray:
    """Returns ``value`` as a numpy array; torch tensors are detached and moved to the CPU."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    if isinstance(value, (str, bytes, bytearray)) or value is None:
        raise TypeError(f"{name} must be an array of integers, got {type(value).__name__}")
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers: {error}") from None


def _int32_array(name: str, value: Any, ndim: int) -> np.ndarray:
    """Converts an integer array-like to a C-contiguous int32 array of ``ndim`` dimensions.

    Integer dtypes other than int32 are accepted when every value fits; floats and
    booleans are refused rather than silently truncated.
    """
    array = _to_numpy(name, value)
    if array.ndim != ndim:
        hint = " (flatten it with .reshape(-1))" if ndim == 1 and array.ndim > 1 else ""
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(array.shape)}{hint}")
    if array.size == 0 and array.dtype.kind not in "iu":
        array = array.astype(np.int32)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.dtype != np.int32:
        if array.size and (array.min() < _INT32.min or array.max() > _INT32.max):
            raise ValueError(
                f"{name} has values outside the int32 range "
                f"[{_INT32.min}, {_INT32.max}]: {array.min()} .. {array.max()}"
            )
        array = array.astype(np.int32)
    return np.ascontiguousarray(array)


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, np.ndarray) and data.dtype == np.uint8:
        return data.tobytes()
    raise TypeError(f"data must be bytes (a rANS string), got {type(data).__name__}")


class CdfTable:
    """A table of integer CDFs, validated once and reusable across calls.

    Args:
        cdfs: int32 ``[rows, cols]``. Row ``r`` holds ``cdf_lengths[r]`` meaningful values
            (the rest is padding): 0, strictly increasing, ending at ``2**16``. Its last
            bin is the escape symbol, whose frequency is the tail mass.
        cdf_lengths: int32 ``[rows]``, each in ``2 .. cols``.
        offsets: int32 ``[rows]``, the value coded by alphabet position 0 of each row.

    Raises:
        ValueError: naming the first row that breaks the contract and how.
    """

    __slots__ = ("_native",)

    def __init__(self, cdfs: Any, cdf_lengths: Any, offsets: Any) -> None:
        self._native = _core.CdfTable(
            _int32_array("cdfs", cdfs, 2),
            _int32_array("cdf_lengths", cdf_lengths, 1),
            _int32_array("offsets", offsets, 1),
        )

    @property
    def num_rows(self) -> int:
        """Number of rows (distributions)."""
        return self._native.num_rows

    @property
    def num_cols(self) -> int:
        """Width of the padded table."""
        return self._native.num_cols

    @property
    def native(self) -> Any:
        """The compiled table (``neuralcodec._core.CdfTable``) this validated wrapper holds,
        for callers of the native coder and engine (:mod:`neuralcodec.engine`, the ONNX
        decoder)."""
        return self._native

    def __repr__(self) -> str:
        return f"CdfTable(num_rows={self.num_rows}, num_cols={self.num_cols})"


TableLike = Union[CdfTable, Any]


def _table(cdfs: TableLike, cdf_lengths: Any, offsets: Any) -> Any:
    """The native table for either a :class:`CdfTable` or the three arrays."""
    if isinstance(cdfs, CdfTable):
        if cdf_lengths is not None or offsets is not None:
            raise TypeError("pass either a CdfTable or cdfs, cdf_lengths and offsets, not both")
        return cdfs._native
    if cdf_lengths is None or offsets is None:
        raise TypeError("cdf_lengths and offsets are required unless cdfs is a CdfTable")
    return CdfTable(cdfs, cdf_lengths, offsets)._native


class RansEncoder:
    """Encodes a whole message into one string per call."""

    def encode_with_indexes(
        self,
        symbols: Any,
        indexes: Any,
        cdfs: TableLike,
        cdf_lengths: Any = None,
        offsets: Any = None,
    ) -> bytes:
        """Encodes ``symbols[i]`` with row ``indexes[i]``; returns the string.

        Args:
            symbols: 1-D integers, any int32 value.
            indexes: 1-D integers, same length, each a row of the table.
            cdfs: a :class:`CdfTable`, or the int32 ``[rows, cols]`` table with
                ``cdf_lengths`` and ``offsets`` (see :class:`CdfTable`).

        Returns:
            The rANS string; ``4 * k`` bytes with ``k >= 2``.
        """
        table = _table(cdfs, cdf_lengths, offsets)
        return _core.encode(
            _int32_array("symbols", symbols, 1), _int32_array("indexes", indexes, 1), table
        )


class BufferedRansEncoder:
    """Collects several messages (e.g. one per autoregressive step, each with its own
    table) and writes them as one string at :meth:`flush`."""

    def __init__(self) -> None:
        self._native = _core.BufferedEncoder()

    def encode_with_indexes(
        self,
        symbols: Any,
        indexes: Any,
        cdfs: TableLike,
        cdf_lengths: Any = None,
        offsets: Any = None,
    ) -> None:
        """Appends a message (arguments as :meth:`RansEncoder.encode_with_indexes`).
        On error nothing is appended."""
        table = _table(cdfs, cdf_lengths, offsets)
        self._native.encode(
            _int32_array("symbols", symbols, 1), _int32_array("indexes", indexes, 1), table
        )

    def flush(self) -> bytes:
        """Returns the string of everything appended so far and empties the encoder."""
        return self._native.flush()


class RansDecoder:
    """Decodes whole strings, or one string across several calls (:meth:`set_stream`
    then :meth:`decode_stream`), as autoregressive models need."""

    def __init__(self) -> None:
        self._stream: Optional[Any] = None

    def decode_with_indexes(
        self,
        data: bytes,
        indexes: Any,
        cdfs: TableLike,
        cdf_lengths: Any = None,
        offsets: Any = None,
        *,
        check_end: bool = True,
    ) -> np.ndarray:
        """Decodes ``len(indexes)`` values from a whole string.

        Args:
            data: the string from :meth:`RansEncoder.encode_with_indexes`.
            indexes, cdfs, cdf_lengths, offsets: as used for encoding.
            check_end: also verify the string was consumed exactly (no missing or
                trailing words, final state restored), so a corrupted string or one
                decoded with other tables is refused instead of decoded to garbage.

        Returns:
            int32 array of ``len(indexes)`` values.

        Raises:
            StreamError: the string cannot be what the encoder wrote.
            ValueError, TypeError: malformed arguments.
        """
        table = _table(cdfs, cdf_lengths, offsets)
        return _core.decode(
            _as_bytes(data), _int32_array("indexes", indexes, 1), table, check_end
        )

    def set_stream(self, data: bytes) -> None:
        """Starts decoding ``data``; :meth:`decode_stream` then continues its state."""
        self._stream = _core.StreamDecoder(_as_bytes(data))

    def decode_stream(
        self,
        indexes: Any,
        cdfs: TableLike,
        cdf_lengths: Any = None,
        offsets: Any = None,
    ) -> np.ndarray:
        """Decodes the next ``len(indexes)`` values of the stream given to :meth:`set_stream`."""
        if self._stream is None:
            raise RuntimeError("call set_stream(data) before decode_stream()")
        table = _table(cdfs, cdf_lengths, offsets)
        return self._stream.decode(_int32_array("indexes", indexes, 1), table)

    @property
    def is_finished(self) -> bool:
        """Whether the stream has been consumed exactly."""
        if self._stream is None:
            raise RuntimeError("no stream: call set_stream(data) first")
        return self._stream.is_finished()

    def finish(self) -> None:
        """Checks that the stream was consumed exactly and forgets it.

        Raises:
            StreamError: words are left over or the final state is wrong.
        """
        if self._stream is None:
            raise RuntimeError("no stream: call set_stream(data) first")
        stream, self._stream = self._stream, None
        stream.check_finished()


def pmf_to_quantized_cdf(pmf: Any, precision: int = PRECISION) -> np.ndarray:
    """Quantizes a probability mass function to a strictly increasing integer CDF.

    Bit-exact with CompressAI 1.2.8's function of the same name for float32 input
    (float64 input is rounded to float32 first, as CompressAI's binding does).

    Args:
        pmf: 1-D, finite, non-negative; it is renormalised, need not sum to 1.
        precision: bits of the CDF total (1 to 16; the coder needs 16).

    Returns:
        int32 array of ``len(pmf) + 1`` values from 0 to ``2**precision``, every bin >= 1.

    Raises:
        ValueError: empty, negative, non-finite or all-zero pmf, or too many bins.
    """
    array = _to_numpy("pmf", pmf)
    if array.ndim != 1:
        raise ValueError(f"pmf must be 1-D, got shape {tuple(array.shape)}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"pmf must hold real numbers, got dtype {array.dtype}")
    if not isinstance(precision, (int, np.integer)) or isinstance(precision, bool):
        raise TypeError(f"precision must be an int, got {type(precision).__name__}")
    return _core.pmf_to_quantized_cdf(
        np.ascontiguousarray(array, dtype=np.float32), int(precision)
    )


def ideal_bits(
    symbols: Any,
    indexes: Any,
    cdfs: TableLike,
    cdf_lengths: Any = None,
    offsets: Any = None,
) -> float:
    """Information content of a message under the table, in bits.

    Sum of ``16 - log2(freq)`` over coded symbols plus 4 bits per raw escape chunk: the
    size an ideal coder would reach. The real string is longer only by the 64-bit
    final state, word granularity, and a tiny per-symbol rANS loss.
    """
    table = _table(cdfs, cdf_lengths, offsets)
    return _core.ideal_bits(
        _int32_array("symbols", symbols, 1), _int32_array("indexes", indexes, 1), table
    )
