"""Large photos: peak memory and time of compress and decompress, tiled against whole-image.

For each size (default 4000x3000, a 12-megapixel phone photo, and 8000x6000), makes a
photo-like PNG (the package's sample photo resized with Lanczos) and runs ``neuralcodec
compress`` then ``decompress`` through the Python API with the shipped default model, each
in a fresh process, once with the transforms over tiles (the default ``tile_size``) and
once over the whole image (``tile_size=None``, the behaviour before tiling; skipped above
``--whole-max`` megapixels, where it needs more memory than the machine has). Reports the
peak resident memory of each process (``VmHWM``, else ``ru_maxrss``), the seconds and seconds per
megapixel, the ratios tiled/whole measured in the same run, and the PSNR difference and
largest pixel difference between the two decoded pictures. Each mode runs ``--repeat``
times, alternating with the other, and the fastest run counts (a 2-core machine's
timings vary by 10-40% from run to run)::

    python benches/python/bench_large.py --json benches/results/large.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

CHILD = r"""
import json, resource, sys, time
from neuralcodec.codec import api
mode, action, source, target = sys.argv[1:5]
tiles = {"tile_size": None} if mode == "whole" else {}  # a setting of each call
start = time.perf_counter()
codec = api.Codec.default()  # the model encode_file codes with, and the files name
if action == "compress":
    api.write_atomic(target, codec.encode(source, **tiles), force=True)
else:
    api.save_image_atomic(codec.decode(source, **tiles), target, force=True)
seconds = time.perf_counter() - start
# VmHWM: this process's own high-water mark. (ru_maxrss can start at the parent's resident
# size at the fork, which after a large comparison in the parent hides the child's.)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    pass
print(json.dumps({"seconds": seconds, "peak_mib": peak}))
"""


def _run(mode: str, action: str, source: Path, target: Path) -> Dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, action, str(source), str(target)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} {action} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _photo(width: int, height: int, path: Path) -> None:
    from PIL import Image

    from neuralcodec.files import sample_image_path

    with Image.open(sample_image_path()) as image:
        image.convert("RGB").resize((width, height), Image.LANCZOS).save(path)


def _compare(first: Path, second: Path) -> Dict[str, float]:
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(first).convert("RGB"), dtype=np.float64)
    b = np.asarray(Image.open(second).convert("RGB"), dtype=np.float64)
    mse = float(((a - b) ** 2).mean())
    return {"max_pixel_difference": float(np.abs(a - b).max()), "mse_between": mse}


def _psnr(reference: Path, decoded: Path) -> float:
    import numpy as np
    from PIL import Image

    from neuralcodec.metrics import psnr_8bit

    a = np.asarray(Image.open(reference).convert("RGB"))
    b = np.asarray(Image.open(decoded).convert("RGB"))
    return float(psnr_8bit(a, b))


def _summary(runs: List[Dict[str, float]], megapixels: float) -> Dict[str, Any]:
    """The fastest of the repeated runs (the one least disturbed by anything else on the
    machine), every run's seconds, and the highest peak memory."""
    seconds = min(run["seconds"] for run in runs)
    return {"seconds": seconds, "seconds_per_mp": seconds / megapixels,
            "runs_seconds": [run["seconds"] for run in runs], "peak_mib": max(run["peak_mib"] for run in runs)}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["4000x3000", "8000x6000"])
    parser.add_argument("--whole-max", type=float, default=13.0, help="largest megapixels run untiled")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode, alternating (fastest kept)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    results: Dict[str, Any] = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                               "sizes": {}}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            megapixels = width * height / 1e6
            photo = work / f"photo-{size}.png"
            _photo(width, height, photo)
            row: Dict[str, Any] = {"megapixels": megapixels}
            modes = ["tiled"] + (["whole"] if megapixels <= args.whole_max else [])
            runs: Dict[str, Dict[str, List[Dict[str, float]]]] = {m: {"compress": [], "decompress": []} for m in modes}
            for _ in range(args.repeat):  # the modes alternate, so a busy spell hits both
                for mode in modes:
                    encoded, decoded = work / f"{mode}-{size}.nci", work / f"{mode}-{size}.png"
                    encoded.unlink(missing_ok=True)
                    decoded.unlink(missing_ok=True)
                    runs[mode]["compress"].append(_run(mode, "compress", photo, encoded))
                    runs[mode]["decompress"].append(_run(mode, "decompress", encoded, decoded))
            for mode in modes:
                row[mode] = {action: _summary(runs[mode][action], megapixels) for action in ("compress", "decompress")}
                row[mode]["bytes"] = (work / f"{mode}-{size}.nci").stat().st_size
                row[mode]["psnr"] = _psnr(photo, work / f"{mode}-{size}.png")
            if "whole" in row:
                row["ratios_tiled_over_whole"] = {
                    f"{action}_{what}": row["tiled"][action][what] / row["whole"][action][what]
                    for action in ("compress", "decompress") for what in ("seconds", "peak_mib")
                }
                row["tiled_vs_whole"] = {
                    **_compare(work / f"tiled-{size}.png", work / f"whole-{size}.png"),
                    "psnr_difference_db": row["tiled"]["psnr"] - row["whole"]["psnr"],
                }
            results["sizes"][size] = row
            print(json.dumps({size: row}, indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
