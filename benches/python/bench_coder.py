"""End-to-end coder benchmark: neuralcodec against CompressAI in the same run.

Codes one Kodak-sized Gaussian latent (320 x 24 x 40 = 307,200 symbols over the
64-row scale table GaussianConditional builds) from an int32 torch tensor to bytes and
back to a tensor:

* neuralcodec: ``RansEncoder``/``RansDecoder`` with a prebuilt ``CdfTable``, tensors
  passed as they are (the way neuralcodec's entropy models call it);
* CompressAI 1.2.8 (when importable): its ``RansEncoder``/``RansDecoder`` called the way
  its ``EntropyModel.compress``/``decompress`` call them, ``.tolist()`` conversions
  and ``torch.tensor(values)`` included, with the same table.

Both must produce identical bytes. Prints medians and the speed-up ratios, and writes
JSON with ``--json``. Run (compressai in the same environment for the ratios)::

    python -m venv /tmp/bench && /tmp/bench/bin/pip install compressai==1.2.8 dist/neuralcodec-*.whl
    /tmp/bench/bin/python benches/python/bench_coder.py --json benches/results/coder.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from typing import Callable

import numpy as np
import torch

import neuralcodec
from neuralcodec.ans import CdfTable, RansDecoder, RansEncoder, pmf_to_quantized_cdf

SHAPE = (1, 320, 24, 40)
TAIL_MASS = 1e-9


def gaussian_scale_table(num_scales: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The scale table, CDFs, lengths and offsets as GaussianConditional builds them."""
    scales = np.exp(np.linspace(math.log(0.11), math.log(256), num_scales)).astype(np.float32)
    multiplier = 6.109410204869
    centers = np.ceil(scales * multiplier).astype(np.int64)
    cdfs = []
    for scale, center in zip(scales, centers):
        k = torch.arange(2 * center + 1, dtype=torch.float32) - center
        s = torch.tensor(float(scale))
        upper = 0.5 * torch.erfc(-(0.5 - k.abs()) / (s * math.sqrt(2)))
        lower = 0.5 * torch.erfc(-(-0.5 - k.abs()) / (s * math.sqrt(2)))
        pmf = torch.cat([upper - lower, torch.tensor([TAIL_MASS])]).numpy()
        cdfs.append(pmf_to_quantized_cdf(pmf))
    width = max(len(c) for c in cdfs)
    table = np.zeros((num_scales, width), np.int32)
    for r, c in enumerate(cdfs):
        table[r, : len(c)] = c
    lengths = np.array([len(c) for c in cdfs], np.int32)
    return scales, table, lengths, (-centers).astype(np.int32)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    torch.manual_seed(0)
    scales, cdfs, lengths, offsets = gaussian_scale_table()
    # Latent channels mostly have small scales: skew the row choice towards them.
    indexes = (torch.rand(SHAPE) ** 2 * len(scales)).long().clamp_max(len(scales) - 1).int()
    symbols = torch.round(torch.randn(SHAPE) * torch.from_numpy(scales)[indexes.long()]).int()
    n = symbols.numel()
    results: dict[str, object] = {
        "workload": {"shape": list(SHAPE), "symbols": n, "table_rows": len(scales)},
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "neuralcodec": neuralcodec.__version__,
    }

    table = CdfTable(cdfs, lengths, offsets)

    def ours_encode() -> bytes:
        return RansEncoder().encode_with_indexes(symbols.reshape(-1), indexes.reshape(-1), table)

    data = ours_encode()

    def ours_decode() -> torch.Tensor:
        values = RansDecoder().decode_with_indexes(data, indexes.reshape(-1), table)
        return torch.from_numpy(values).reshape(SHAPE)

    assert torch.equal(ours_decode(), symbols)
    timings = {
        "neuralcodec": {
            "encode_s": median_seconds(ours_encode, args.repeats),
            "decode_s": median_seconds(ours_decode, args.repeats),
        }
    }
    results["bytes"] = len(data)

    try:
        from compressai import ans as cai_ans  # type: ignore[import-not-found]
    except ImportError:
        cai_ans = None
        print("compressai is not installed here: reporting neuralcodec alone")
    if cai_ans is not None:
        cdf_tensor = torch.from_numpy(cdfs)
        length_tensor = torch.from_numpy(lengths)
        offset_tensor = torch.from_numpy(offsets)

        def theirs_encode() -> bytes:
            return cai_ans.RansEncoder().encode_with_indexes(
                symbols[0].reshape(-1).int().tolist(),
                indexes[0].reshape(-1).int().tolist(),
                cdf_tensor.tolist(),
                length_tensor.reshape(-1).int().tolist(),
                offset_tensor.reshape(-1).int().tolist(),
            )

        def theirs_decode() -> torch.Tensor:
            values = cai_ans.RansDecoder().decode_with_indexes(
                data,
                indexes[0].reshape(-1).int().tolist(),
                cdf_tensor.tolist(),
                length_tensor.reshape(-1).int().tolist(),
                offset_tensor.reshape(-1).int().tolist(),
            )
            return torch.tensor(values).reshape(SHAPE)

        assert theirs_encode() == data, "CompressAI and neuralcodec bytes differ"
        assert torch.equal(theirs_decode(), symbols)
        timings["compressai"] = {
            "encode_s": median_seconds(theirs_encode, args.repeats),
            "decode_s": median_seconds(theirs_decode, args.repeats),
        }

    print(f"{n} symbols, {len(data)} bytes ({8 * len(data) / n:.3f} bits/symbol)")
    for name, t in timings.items():
        print(
            f"{name:>12}: encode {t['encode_s'] * 1e3:8.2f} ms ({n / t['encode_s'] / 1e6:7.1f} Msym/s)"
            f"   decode {t['decode_s'] * 1e3:8.2f} ms ({n / t['decode_s'] / 1e6:7.1f} Msym/s)"
        )
    if "compressai" in timings:
        ratios = {
            op: timings["compressai"][f"{op}_s"] / timings["neuralcodec"][f"{op}_s"]
            for op in ("encode", "decode")
        }
        results["speedup_vs_compressai"] = ratios
        print(f"speed-up over CompressAI: encode {ratios['encode']:.1f}x, decode {ratios['decode']:.1f}x")
    results["timings"] = timings
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
