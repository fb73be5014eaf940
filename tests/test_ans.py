"""Properties of the rANS coder seen from Python: round trips, sizes, and refusals."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuralcodec.ans import (
    BufferedRansEncoder,
    CdfTable,
    RansDecoder,
    RansEncoder,
    StreamError,
    ideal_bits,
    pmf_to_quantized_cdf,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# ----------------------------------------------------------------------------- helpers
def make_table(pmfs: list[np.ndarray], offsets: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows built as the entropy models build them: quantized pmfs, zero-padded."""
    cdfs = [pmf_to_quantized_cdf(p) for p in pmfs]
    width = max(len(c) for c in cdfs)
    table = np.zeros((len(cdfs), width), np.int32)
    for r, c in enumerate(cdfs):
        table[r, : len(c)] = c
    return table, np.array([len(c) for c in cdfs], np.int32), np.array(offsets, np.int32)


def gaussian_pmf(scale: float, tail: float = 1e-9) -> tuple[np.ndarray, int]:
    from math import ceil, erfc, sqrt

    center = ceil(scale * 6.109)
    k = np.arange(-center, center + 1, dtype=np.float64)
    upper = np.array([0.5 * erfc(-(v + 0.5) / (scale * sqrt(2))) for v in k])
    lower = np.array([0.5 * erfc(-(v - 0.5) / (scale * sqrt(2))) for v in k])
    return np.append(upper - lower, tail).astype(np.float32), -center


def gaussian_table(rows: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    scales = np.exp(np.linspace(np.log(0.11), np.log(256), rows))
    pmfs, offsets = zip(*(gaussian_pmf(s) for s in scales))
    return (*make_table(list(pmfs), list(offsets)), scales)


# --------------------------------------------------------------------------- strategies
pmf_strategy = st.one_of(
    # Arbitrary pmfs, with exact zeros and tiny entries.
    st.lists(
        st.one_of(st.just(0.0), st.floats(0, 1, width=32), st.floats(0.0, 2.0**-17, width=32)),
        min_size=1,
        max_size=60,
    ),
    # One dominant symbol.
    st.integers(1, 40).map(lambda n: [1.0] + [1e-7] * (n - 1)),
    # One- and two-symbol alphabets.
    st.sampled_from([[1.0], [0.5, 0.5], [1.0, 0.0], [1e-9, 1.0]]),
).filter(lambda p: any(round(v * 65536) > 0 for v in p))

long_row_strategy = st.integers(3000, 3300).map(lambda n: [1.0 / n] * n)


@st.composite
def tables(draw: st.DrawFn, long_rows: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_rows = draw(st.integers(1, 6))
    row_strategy = st.one_of(pmf_strategy, long_row_strategy) if long_rows else pmf_strategy
    pmfs = [np.array(draw(row_strategy), np.float32) for _ in range(n_rows)]
    offsets = draw(st.lists(st.integers(-50, 50), min_size=n_rows, max_size=n_rows))
    return make_table(pmfs, offsets)


@st.composite
def messages(draw: st.DrawFn, table: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Up to 10^5 symbols: mostly in the rows' alphabets, some escapes up to int32 limits."""
    _, lengths, offsets = table
    n = draw(st.one_of(st.integers(0, 50), st.integers(0, 100_000)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    indexes = rng.integers(0, len(lengths), n).astype(np.int32)
    alphabet = (lengths - 2)[indexes]
    symbols = offsets[indexes].astype(np.int64) + (rng.random(n) * (alphabet + 2)).astype(np.int64) - 1
    escapes = rng.random(n) < draw(st.sampled_from([0.0, 0.01, 0.3]))
    symbols[escapes] = rng.integers(INT32_MIN, INT32_MAX, escapes.sum(), endpoint=True)
    if n:
        symbols[rng.integers(0, n, min(n, 4))] = draw(
            st.lists(st.sampled_from([INT32_MIN, INT32_MAX, 0, -1]), min_size=min(n, 4), max_size=min(n, 4))
        )
    return np.clip(symbols, INT32_MIN, INT32_MAX).astype(np.int32), indexes


table_and_message = tables().flatmap(lambda t: st.tuples(st.just(t), messages(t)))


# ------------------------------------------------------------------------- round trips
@given(table_and_message)
def test_decoding_inverts_encoding_and_bytes_are_deterministic(case):
    (cdfs, lengths, offsets), (symbols, indexes) = case
    data = RansEncoder().encode_with_indexes(symbols, indexes, cdfs, lengths, offsets)
    assert isinstance(data, bytes) and len(data) % 4 == 0 and len(data) >= 8
    assert data == RansEncoder().encode_with_indexes(symbols, indexes, cdfs, lengths, offsets)
    decoded = RansDecoder().decode_with_indexes(data, indexes, cdfs, lengths, offsets)
    assert decoded.dtype == np.int32
    np.testing.assert_array_equal(decoded, symbols)


@given(table_and_message, st.lists(st.integers(0, 100_000), max_size=6))
def test_buffered_encoding_and_stream_decoding_split_anywhere(case, cuts):
    (cdfs, lengths, offsets), (symbols, indexes) = case
    table = CdfTable(cdfs, lengths, offsets)
    bounds = [0, *sorted(c % (len(symbols) + 1) for c in cuts), len(symbols)]
    encoder = BufferedRansEncoder()
    for a, b in zip(bounds, bounds[1:]):
        encoder.encode_with_indexes(symbols[a:b], indexes[a:b], table)
    data = encoder.flush()
    assert data == RansEncoder().encode_with_indexes(symbols, indexes, table)

    decoder = RansDecoder()
    decoder.set_stream(data)
    parts = [decoder.decode_stream(indexes[a:b], table) for a, b in zip(bounds, bounds[1:])]
    assert decoder.is_finished
    decoder.finish()
    np.testing.assert_array_equal(np.concatenate(parts), symbols)


@given(tables(long_rows=False).flatmap(lambda t: st.tuples(st.just(t), messages(t))))
def test_coded_size_stays_within_a_small_bound_of_the_information_content(case):
    (cdfs, lengths, offsets), (symbols, indexes) = case
    data = RansEncoder().encode_with_indexes(symbols, indexes, cdfs, lengths, offsets)
    ideal = ideal_bits(symbols, indexes, cdfs, lengths, offsets)
    actual = 8 * len(data)
    # The 64-bit final state, up to 32 bits of word granularity, and < 1e-4 bit per symbol.
    assert ideal <= actual <= ideal + 96 + 1e-4 * len(symbols)


def test_overhead_on_a_realistic_gaussian_latent_is_below_a_tenth_of_a_percent():
    cdfs, lengths, offsets, scales = gaussian_table(64)
    rng = np.random.default_rng(0)
    indexes = (rng.random(200_000) ** 2 * 64).astype(np.int32)
    symbols = np.round(rng.normal(size=indexes.size) * scales[indexes]).astype(np.int32)
    table = CdfTable(cdfs, lengths, offsets)
    data = RansEncoder().encode_with_indexes(symbols, indexes, table)
    ideal = ideal_bits(symbols, indexes, table)
    assert 8 * len(data) / ideal < 1.001
    np.testing.assert_array_equal(RansDecoder().decode_with_indexes(data, indexes, table), symbols)


def test_an_empty_message_is_eight_bytes_and_decodes_to_nothing():
    table = CdfTable([[0, 32768, 65536]], [3], [0])
    data = RansEncoder().encode_with_indexes([], [], table)
    assert data == bytes([0, 0, 0, 0x80, 0, 0, 0, 0])
    assert RansDecoder().decode_with_indexes(data, [], table).shape == (0,)
    assert BufferedRansEncoder().flush() == data


def test_one_symbol_gives_the_reference_bytes():
    data = RansEncoder().encode_with_indexes([0], [0], [[0, 32768, 65536]], [3], [0])
    assert data == bytes([0, 0, 0, 0, 1, 0, 0, 0])


# ------------------------------------------------------------------- argument handling
def test_torch_tensors_lists_and_other_integer_dtypes_are_accepted():
    torch = pytest.importorskip("torch")
    cdfs, lengths, offsets, _ = gaussian_table(4)
    symbols = np.array([0, 3, -2, 1000, -70000], np.int32)
    indexes = np.array([0, 1, 2, 3, 3], np.int32)
    reference = RansEncoder().encode_with_indexes(symbols, indexes, cdfs, lengths, offsets)
    variants = [
        (torch.from_numpy(symbols), torch.from_numpy(indexes).long(), torch.from_numpy(cdfs)),
        (symbols.tolist(), indexes.tolist(), cdfs.tolist()),
        (symbols.astype(np.int64), indexes.astype(np.uint8), cdfs.astype(np.int64)),
        (symbols[::-1].copy()[::-1], np.asfortranarray(indexes), np.asfortranarray(cdfs)),
    ]
    for s, i, c in variants:
        assert RansEncoder().encode_with_indexes(s, i, c, lengths, offsets) == reference
    decoded = RansDecoder().decode_with_indexes(
        bytearray(reference), torch.from_numpy(indexes), cdfs, torch.from_numpy(lengths), offsets
    )
    np.testing.assert_array_equal(decoded, symbols)


@pytest.mark.parametrize(
    ("symbols", "indexes", "error", "message"),
    [
        ([0, 1], [0], ValueError, "same length"),
        ([0], [2], ValueError, "indexes[0] = 2 is out of range"),
        ([0], [-1], ValueError, "out of range"),
        ([0.5], [0], TypeError, "symbols must hold integers"),
        ([[0]], [0], ValueError, "must be 1-D"),
        ([2**31], [0], ValueError, "outside the int32 range"),
        ("abc", [0], TypeError, "symbols must be an array"),
        (None, [0], TypeError, "symbols must be an array"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(symbols, indexes, error, message):
    table = CdfTable([[0, 32768, 65536], [0, 65536, 0]], [3, 2], [0, 0])
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        RansEncoder().encode_with_indexes(symbols, indexes, table)


@pytest.mark.parametrize(
    ("cdfs", "lengths", "offsets", "message"),
    [
        ([[0, 40000, 30000, 65536]], [4], [0], "not strictly increasing"),
        ([[0, 100, 100, 65536]], [4], [0], "not strictly increasing"),
        ([[5, 100, 65536]], [3], [0], "must start at 0"),
        ([[0, 100, 65535]], [3], [0], "must end at 65536"),
        ([[0, 100, 65536]], [4], [0], r"cdf_lengths\[0\] = 4 is out of range"),
        ([[0, 100, 65536]], [1], [0], r"cdf_lengths\[0\] = 1 is out of range"),
        ([[0, 100, 65536]], [3, 3], [0], "cdf_lengths has 2 entries"),
        ([[0, 100, 65536]], [3], [0, 1], "offsets has 2 entries"),
        (np.zeros((0, 3), np.int32), [], [], "no rows"),
        ([0, 100, 65536], [3], [0], "must be 2-D"),
    ],
)
def test_broken_tables_are_refused_naming_the_row(cdfs, lengths, offsets, message):
    with pytest.raises(ValueError, match=message):
        CdfTable(cdfs, lengths, offsets)
    with pytest.raises(ValueError, match=message):
        RansEncoder().encode_with_indexes([0], [0], cdfs, lengths, offsets)


def test_a_table_and_separate_arrays_cannot_be_mixed():
    table = CdfTable([[0, 32768, 65536]], [3], [0])
    with pytest.raises(TypeError, match="not both"):
        RansEncoder().encode_with_indexes([0], [0], table, [3], [0])
    with pytest.raises(TypeError, match="required"):
        RansEncoder().encode_with_indexes([0], [0], [[0, 32768, 65536]])


def test_a_failed_buffered_call_appends_nothing():
    table = CdfTable([[0, 32768, 65536]], [3], [0])
    encoder = BufferedRansEncoder()
    encoder.encode_with_indexes([1, 0], [0, 0], table)
    with pytest.raises(ValueError):
        encoder.encode_with_indexes([1, 1], [0, 1], table)
    assert encoder.flush() == RansEncoder().encode_with_indexes([1, 0], [0, 0], table)


# ----------------------------------------------------------------- corrupted streams
def reference_stream():
    cdfs, lengths, offsets, scales = gaussian_table(16)
    rng = np.random.default_rng(1)
    indexes = rng.integers(0, 16, 5000).astype(np.int32)
    symbols = np.round(rng.normal(size=5000) * scales[indexes]).astype(np.int32)
    table = CdfTable(cdfs, lengths, offsets)
    return RansEncoder().encode_with_indexes(symbols, indexes, table), symbols, indexes, table


@pytest.mark.parametrize("data", [b"", b"\x00" * 4, b"\x00" * 7, b"\x00" * 8, b"\xff" * 8])
def test_impossible_strings_are_refused_before_decoding(data):
    table = CdfTable([[0, 32768, 65536]], [3], [0])
    with pytest.raises(StreamError):
        RansDecoder().decode_with_indexes(data, [0], table)
    with pytest.raises(StreamError):
        RansDecoder().set_stream(data)


def test_truncated_strings_and_trailing_data_are_detected():
    data, symbols, indexes, table = reference_stream()
    for cut in (4, 8, len(data) // 2, len(data) - 8):
        with pytest.raises(StreamError):
            RansDecoder().decode_with_indexes(data[:cut], indexes, table)
    with pytest.raises(StreamError, match="not fully consumed"):
        RansDecoder().decode_with_indexes(data + b"\x01\x02\x03\x04", indexes, table)
    np.testing.assert_array_equal(
        RansDecoder().decode_with_indexes(data + b"\x01\x02\x03\x04", indexes, table, check_end=False),
        symbols,
    )
    with pytest.raises(StreamError):
        RansDecoder().decode_with_indexes(data, indexes[:-10], table)


def test_stream_decoder_reports_leftover_data_at_finish():
    data, _, indexes, table = reference_stream()
    decoder = RansDecoder()
    decoder.set_stream(data)
    decoder.decode_stream(indexes[:100], table)
    assert not decoder.is_finished
    with pytest.raises(StreamError, match="not fully consumed"):
        decoder.finish()
    with pytest.raises(RuntimeError, match="set_stream"):
        decoder.decode_stream(indexes[:1], table)


def test_decoding_with_other_tables_is_detected():
    data, _, indexes, _ = reference_stream()
    cdfs, lengths, offsets, _ = gaussian_table(16)
    other = CdfTable(cdfs[::-1].copy(), lengths[::-1].copy(), offsets[::-1].copy())
    with pytest.raises(StreamError):
        RansDecoder().decode_with_indexes(data, indexes, other)


@given(st.binary(max_size=400), st.integers(0, 2000), st.booleans())
def test_any_bytes_decode_to_values_or_a_stream_error(data, count, check_end):
    _, _, _, table = reference_stream.cached
    indexes = np.arange(count, dtype=np.int32) % 16
    try:
        out = RansDecoder().decode_with_indexes(data, indexes, table, check_end=check_end)
    except StreamError:
        return
    assert out.shape == (count,) and out.dtype == np.int32


reference_stream.cached = reference_stream()


@given(st.integers(0, 10**9), st.integers(1, 8))
def test_flipped_bits_never_decode_silently_to_the_original(seed, flips):
    data, symbols, indexes, table = reference_stream.cached
    rng = np.random.default_rng(seed)
    corrupted = bytearray(data)
    for bit in rng.choice(len(data) * 8, flips, replace=False):
        corrupted[bit // 8] ^= 1 << (bit % 8)
    try:
        decoded = RansDecoder().decode_with_indexes(bytes(corrupted), indexes, table)
    except StreamError:
        return
    # Decoding is a bijection: a fully consumed corrupted string is another message.
    assert not np.array_equal(decoded, symbols)


def test_decoders_run_concurrently_in_threads_with_correct_results():
    data, symbols, indexes, table = reference_stream.cached

    def work(_):
        return RansDecoder().decode_with_indexes(data, indexes, table)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for out in pool.map(work, range(16)):
            np.testing.assert_array_equal(out, symbols)


# --------------------------------------------------------------- CDF quantization
@given(
    st.lists(
        st.one_of(st.just(0.0), st.floats(0, 1, width=32), st.floats(0.0, 2.0**-17, width=32)),
        min_size=1,
        max_size=3200,
    )
)
def test_quantized_cdfs_are_strictly_increasing_from_zero_to_two_to_the_sixteen(pmf):
    pmf = np.array(pmf, np.float32)
    # Rounding is half away from zero (not numpy's half to even): 2^-17 rounds up to 1.
    if not np.any(np.floor(pmf * np.float32(65536) + np.float32(0.5)) > 0):
        with pytest.raises(ValueError, match="all zeros"):
            pmf_to_quantized_cdf(pmf)
        return
    cdf = pmf_to_quantized_cdf(pmf)
    assert cdf.dtype == np.int32 and cdf.shape == (len(pmf) + 1,)
    assert cdf[0] == 0 and cdf[-1] == 65536
    assert np.all(np.diff(cdf) >= 1)


def test_float64_pmfs_are_rounded_to_float32_first():
    pmf = np.random.default_rng(3).dirichlet(np.ones(50))
    np.testing.assert_array_equal(pmf_to_quantized_cdf(pmf), pmf_to_quantized_cdf(pmf.astype(np.float32)))


def test_torch_pmfs_are_accepted():
    torch = pytest.importorskip("torch")
    pmf = torch.softmax(torch.randn(20), 0)
    np.testing.assert_array_equal(pmf_to_quantized_cdf(pmf), pmf_to_quantized_cdf(pmf.numpy()))


@pytest.mark.parametrize(
    ("pmf", "precision", "error", "message"),
    [
        ([], 16, ValueError, "empty"),
        ([0.5, -0.1], 16, ValueError, r"pmf\[1\] = -0.1"),
        ([0.5, float("nan")], 16, ValueError, "finite"),
        ([float("inf")], 16, ValueError, "finite"),
        ([0.0, 0.0], 16, ValueError, "all zeros"),
        ([[0.5, 0.5]], 16, ValueError, "1-D"),
        (["a"], 16, TypeError, "real numbers"),
        ([0.5, 0.5], 0, ValueError, "between 1 and 16"),
        ([0.5, 0.5], 17, ValueError, "between 1 and 16"),
        ([0.5, 0.5], 1.5, TypeError, "int"),
        ([0.25] * 5, 2, ValueError, "at most 4 bins"),
    ],
)
def test_bad_pmfs_are_refused_with_a_reason(pmf, precision, error, message):
    with pytest.raises(error, match=message):
        pmf_to_quantized_cdf(pmf, precision)


def test_lower_precisions_total_to_their_power_of_two():
    cdf = pmf_to_quantized_cdf([0.1, 0.2, 0.7], precision=8)
    assert cdf[-1] == 256 and np.all(np.diff(cdf) >= 1)
