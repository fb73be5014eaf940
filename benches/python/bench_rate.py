"""Rate control (``compress --bpp``) against one plain encode, in one run.

For each image and each target in bits per pixel, times
:meth:`neuralcodec.codec.Codec.encode_target` (the search over the continuous quality on
the actual bytes, the analysis transform run once) and one plain
:meth:`~neuralcodec.codec.Codec.encode` at quality 3 of the same image, and reports:

* the ratio of the two times (what ``--bpp`` costs over a plain encode),
* the number of encodes each search ran (the issue's aim: at most 4 on average),
* whether the file landed within 5% under the target (never over: checked),
* the same with a warm start (each image's search taking the slope the previous image's
  search measured, as ``neuralcodec compress --bpp`` does over a folder; the quality an
  image needs depends on its content, so the start stays the middle of the range),
* the share of a plain encode spent in the analysis transform ``g_a``, which a search
  runs once, so the time ratio stays under the number of encodes.

The model: the trained checkpoint of the variable-rate candidate default, ElicLiteVbr
(``results/training/elic-lite-vbr``, qualities 1..6, about 0.3 to 1.1 bpp on photos),
on its compat path. Images: the first ``--images`` Kodak photos (768x512) from
``../shared/data/kodak24``. Targets a model cannot reach for an image are counted apart.
One torch thread by default (``--threads``)::

    python benches/python/bench_rate.py --json benches/results/rate.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

import neuralcodec
from neuralcodec.codec import Codec
from neuralcodec.codec.errors import TargetOutOfRangeError
from neuralcodec.codec.images import load_image
from neuralcodec.codec.rate import DEFAULT_TOLERANCE
from neuralcodec.train.shards import load_shards

REPO = Path(__file__).resolve().parents[2]
KODAK = REPO.parent / "shared" / "data" / "kodak24"
CHECKPOINT = REPO / "results" / "training" / "elic-lite-vbr"


def _seconds(function: Any, *args: Any, **kwargs: Any) -> tuple:
    """``(seconds, value)`` of one call of ``function(*args, **kwargs)``."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def run(images: List[Path], targets: List[float], repeats: int) -> Dict[str, Any]:
    model = load_shards(CHECKPOINT).eval()
    model.update(force=True)
    codec = Codec(model, architecture="elic-lite-vbr", quality=3)
    rows: List[Dict[str, Any]] = []
    previous: Dict[float, Any] = {}  # target -> the last image's search (warm start)
    for path in images:
        loaded = load_image(path)
        pixels = loaded.size[0] * loaded.size[1]
        plain = statistics.median(_seconds(codec.encode, loaded)[0] for _ in range(repeats))
        x = torch.from_numpy(loaded.pixels.copy()).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            analysis = statistics.median(_seconds(model.g_a, model.pad(x))[0] for _ in range(repeats))
        for bpp in targets:
            row: Dict[str, Any] = {"image": path.name, "target_bpp": bpp, "plain_encode_s": plain, "g_a_s": analysis}
            for start in ("cold", "warm"):
                last = previous.get(bpp) if start == "warm" else None
                try:
                    seconds, search = _seconds(codec.encode_target, loaded, bpp=bpp,
                                               slope=last.slope if last else None)
                except TargetOutOfRangeError as error:
                    row["out_of_range"] = list(error.reachable)
                    break
                assert len(search.data) <= search.target, "over the target"
                row[start] = {
                    "seconds": seconds,
                    "ratio": seconds / plain,
                    "encodes": search.encodes,
                    "quality": search.quality,
                    "bpp": 8 * len(search.data) / pixels,
                    "within_5_percent": len(search.data) >= search.target * (1 - DEFAULT_TOLERANCE),
                }
                if start == "warm":
                    previous[bpp] = search
            rows.append(row)
            if "cold" in row:
                print(f"{path.name} {bpp:.2f} bpp: cold {row['cold']['encodes']} encodes "
                      f"{row['cold']['ratio']:.2f}x, warm {row['warm']['encodes']} encodes "
                      f"{row['warm']['ratio']:.2f}x -> {row['cold']['bpp']:.4f} bpp (plain {plain:.2f} s)")
            else:
                print(f"{path.name} {bpp:.2f} bpp: out of range {row['out_of_range']}")

    def summary(start: str) -> Dict[str, Any]:
        reached = [row[start] for row in rows if start in row]
        return {
            "searches": len(reached),
            "mean_encodes": statistics.mean(r["encodes"] for r in reached),
            "max_encodes": max(r["encodes"] for r in reached),
            "mean_time_ratio": statistics.mean(r["ratio"] for r in reached),
            "max_time_ratio": max(r["ratio"] for r in reached),
            "within_5_percent": sum(r["within_5_percent"] for r in reached) / len(reached),
        }

    return {
        "cold": summary("cold"),
        "warm": summary("warm"),
        "out_of_range": sum("out_of_range" in row for row in rows),
        "g_a_share_of_plain_encode": statistics.mean(row["g_a_s"] / row["plain_encode_s"] for row in rows),
        "rows": rows,
    }


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8, help="how many Kodak photos (default 8)")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.45, 0.6, 0.75], help="targets in bpp")
    parser.add_argument("--repeats", type=int, default=2, help="plain encodes per image (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = sorted(KODAK.glob("kodim*.png"))[: args.images]
    if not images:
        raise SystemExit(f"no Kodak images in {KODAK}")
    results = run(images, args.targets, args.repeats)
    results["settings"] = {
        "model": "ElicLiteVbr, results/training/elic-lite-vbr (compat path)",
        "images": [p.name for p in images],
        "targets_bpp": args.targets,
        "tolerance": DEFAULT_TOLERANCE,
        "torch_threads": args.threads,
    }
    results["environment"] = {
        "neuralcodec": neuralcodec.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    for start in ("cold", "warm"):
        s = results[start]
        print(f"{start}: {s['searches']} searches, {s['mean_encodes']:.2f} encodes on average (max "
              f"{s['max_encodes']}), {s['mean_time_ratio']:.2f}x a plain encode (max {s['max_time_ratio']:.2f}x), "
              f"{100 * s['within_5_percent']:.0f}% within 5% of the target")
    print(f"g_a is {100 * results['g_a_share_of_plain_encode']:.0f}% of a plain encode; "
          f"{results['out_of_range']} targets out of range")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
