"""Byte-for-byte compatibility with CompressAI 1.2.8's coder, from committed reference vectors.

The vectors were recorded by ``tests/fixtures/compressai/make_coder_vectors.py`` in a venv
with compressai 1.2.8 (see the README there); these tests need only numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuralcodec.ans import BufferedRansEncoder, CdfTable, RansDecoder, RansEncoder, pmf_to_quantized_cdf

FIXTURES = Path(__file__).parent / "fixtures" / "compressai"
PMFS = np.load(FIXTURES / "pmf_to_cdf.npz", allow_pickle=False)
RANS = np.load(FIXTURES / "rans.npz", allow_pickle=False)
CASES = range(int(RANS["num_cases"]))


def test_every_reference_pmf_quantizes_to_the_reference_cdf():
    # Each PMFS[...] reads and inflates the array from the archive again: once, not per row.
    lengths, pmfs, cdfs = PMFS["pmf_lengths"], PMFS["pmfs"], PMFS["cdfs"]
    assert len(lengths) >= 300
    mismatches = []
    for k, n in enumerate(lengths):
        ours = pmf_to_quantized_cdf(pmfs[k, :n])
        if not np.array_equal(ours, cdfs[k, : n + 1]):
            mismatches.append(k)
    assert mismatches == []


def test_pmfs_the_reference_rejects_are_rejected():
    for pmf, n in zip(PMFS["invalid_pmfs"], PMFS["invalid_pmf_lengths"]):
        with pytest.raises(ValueError):
            pmf_to_quantized_cdf(pmf[:n])


def case(c: int):
    get = lambda key: RANS[f"c{c}_{key}"]  # noqa: E731
    table = CdfTable(get("cdfs"), get("cdf_lengths"), get("offsets"))
    return get("symbols"), get("indexes"), table, get("bytes").tobytes(), get("splits")


@pytest.mark.parametrize("c", CASES)
def test_our_bytes_equal_the_reference_bytes(c):
    symbols, indexes, table, reference, splits = case(c)
    assert RansEncoder().encode_with_indexes(symbols, indexes, table) == reference
    encoder = BufferedRansEncoder()
    for a, b in zip(splits, splits[1:]):
        encoder.encode_with_indexes(symbols[a:b], indexes[a:b], table)
    assert encoder.flush() == reference


@pytest.mark.parametrize("c", CASES)
def test_we_decode_the_reference_strings(c):
    symbols, indexes, table, reference, splits = case(c)
    np.testing.assert_array_equal(RansDecoder().decode_with_indexes(reference, indexes, table), symbols)
    decoder = RansDecoder()
    decoder.set_stream(reference)
    pieces = [decoder.decode_stream(indexes[a:b], table) for a, b in zip(splits, splits[1:])]
    decoder.finish()
    np.testing.assert_array_equal(np.concatenate(pieces), symbols)


def test_the_reference_vectors_exercise_escapes_and_large_tables():
    escapes = 0
    widest = 0
    for c in CASES:
        symbols, indexes, table, _, _ = case(c)
        lengths = RANS[f"c{c}_cdf_lengths"][indexes]
        values = symbols.astype(np.int64) - RANS[f"c{c}_offsets"][indexes]
        escapes += int(np.sum((values < 0) | (values >= lengths - 2)))
        widest = max(widest, table.num_cols)
    assert escapes > 1000 and widest > 3000


@pytest.mark.parametrize(
    ("symbols", "cdf", "expected"),
    [
        ([0], [0, 32768, 65536], "00000000 01000000"),
        ([0, 0], [0, 32768, 65536], "00000000 02000000"),
        ([-1] + [0] * 7, [0, 32768, 65536], "11800000 00800000"),
        ([2**27] + [0] * 7, [0, 32768, 65536], "e7800000 80000000 ffffff00"),
        ([1] * 8, [0, 1, 65536], "05000480 00000000 346413e1"),
    ],
)
def test_documented_byte_level_examples(symbols, cdf, expected):
    table = CdfTable([cdf], [len(cdf)], [0])
    data = RansEncoder().encode_with_indexes(symbols, [0] * len(symbols), table)
    assert data.hex() == expected.replace(" ", "")
