"""The shipped rate ladder against the fixed-rate models it replaced, in one run.

Issue 28 asks that the new default decode no slower per pixel than the old one. For each
image (default: the first four Kodak photos, 768x512) and each integer quality, this
times the container's encode and decode (:class:`neuralcodec.codec.Codec`) with:

* the previous default: the fixed-rate ``mbt2018-mean`` at that rate point, which is the
  ladder's rung (:meth:`~neuralcodec.models.ladder.MeanScaleLadder.fixed_rate_model`);
* the ladder at that quality (it writes the rung's very file, through the rung's gained
  engine graph with gains of 1);
* the ladder a quarter of a level above (below, at 4): gains between the rungs,

and reports each one's median seconds per megapixel and its ratio to the previous
default; it also checks that the ladder's file at the integer quality is the fixed-rate
model's, byte for byte. One torch thread by default (``--threads``)::

    python benches/python/bench_ladder.py --json benches/results/ladder.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from neuralcodec.codec import Codec
from neuralcodec.codec.images import load_image
from neuralcodec.eval.results import environment
from neuralcodec.settings import DEFAULT_LAMBDAS

REPO = Path(__file__).resolve().parents[2]
KODAK = REPO.parent / "shared" / "data" / "kodak24"


def _median_seconds(function: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(images: List[Path], repeats: int) -> Dict[str, Any]:
    ladder = Codec.default()
    rows: List[Dict[str, Any]] = []
    for path in images:
        loaded = load_image(path)
        megapixels = loaded.size[0] * loaded.size[1] / 1e6
        for quality in sorted(DEFAULT_LAMBDAS):
            previous = Codec.load("mbt2018-mean", quality, source="shipped")
            cases = {
                "previous default": (previous, None),
                "ladder": (ladder, float(quality)),
                "ladder, between rungs": (ladder, quality + 0.25 if quality < 4 else 3.75),
            }
            row: Dict[str, Any] = {"image": path.name, "quality": quality}
            files = {}
            for name, (codec, at) in cases.items():
                data = codec.encode(loaded, quality=at)
                files[name] = data
                encode = _median_seconds(lambda c=codec, q=at: c.encode(loaded, quality=q), repeats)
                decode = _median_seconds(lambda c=codec, d=data: c.decode(d, output="numpy"), repeats)
                row[name] = {"encode_s_per_mp": encode / megapixels, "decode_s_per_mp": decode / megapixels,
                             "bytes": len(data), "quality": at}
            assert files["ladder"] == files["previous default"], "the ladder's file at an integer quality differs"
            rows.append(row)
            base = row["previous default"]
            print(f"{path.name} q{quality}: decode " + ", ".join(
                f"{name} {row[name]['decode_s_per_mp']:.3f} s/MP ({row[name]['decode_s_per_mp'] / base['decode_s_per_mp']:.2f}x)"
                for name in cases))

    def mean_ratio(name: str, key: str) -> float:
        return statistics.mean(row[name][key] / row["previous default"][key] for row in rows)

    return {
        "decode_ratio": {name: mean_ratio(name, "decode_s_per_mp") for name in ("ladder", "ladder, between rungs")},
        "encode_ratio": {name: mean_ratio(name, "encode_s_per_mp") for name in ("ladder", "ladder, between rungs")},
        "rows": rows,
    }


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4, help="how many Kodak photos (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per case (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = sorted(KODAK.glob("kodim*.png"))[: args.images]
    if not images:
        raise SystemExit(f"no Kodak images in {KODAK}")
    results = run(images, args.repeats)
    results["settings"] = {"images": [p.name for p in images], "repeats": args.repeats, "torch_threads": args.threads}
    results["environment"] = environment(torch=torch.__version__, machine=platform.machine(), cpus=str(os.cpu_count()))
    for kind in ("decode_ratio", "encode_ratio"):
        print(f"{kind}: " + ", ".join(f"{name} {value:.3f}x" for name, value in results[kind].items())
              + " the previous default's time per pixel")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
