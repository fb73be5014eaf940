"""What ``neuralcodec bench`` costs on a classical codec, against the work it must do.

The work a benchmark of a library codec (JPEG, WebP, ...) cannot avoid is the codec itself
(encode and decode of every image at every quality) and one pass of the metrics (PSNR-RGB
and MS-SSIM-RGB of each decoded image). This script measures that floor in one process on
one thread (each image read once, then for each quality: encode, decode, metrics, each
timed, after one untimed warm-up), then runs the command line, ``python -m neuralcodec
bench CODEC DATASET -q ...``, with one worker and with ``--workers N`` (default: the CPUs
this process may use), and prints the ratios:

* ``CPU ratio``: CPU seconds (user + system) of the command and its workers over the
  floor's: what the command adds (start-up, reading the images, the results), and well
  above 1 when workers oversubscribe the cores (each running threads on all of them) or
  spend their time on something else than the codec and the metrics;
* ``wall ratio``: the command's wall-clock time times its workers over the floor's wall
  clock: 1.0 when N workers divide the floor perfectly. Only meaningful on an idle
  machine (the CPU ratio is the one to read on a shared one).

Usage (from the repository root, with neuralcodec importable)::

    python benches/python/bench_classical.py --images ../shared/data/kodak24 \\
        --json benches/results/classical.json

The command line's results must equal the floor's bytes per image (same codec, same
qualities), which is checked, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence


def floor(codec_name: str, images: Sequence[Path], qualities: Sequence[float]) -> Dict[str, Any]:
    """Codec and metric seconds of every (image, quality), in this process on one thread."""
    import torch

    from neuralcodec.bench.runner import make_codec
    from neuralcodec.eval.images import read_rgb
    from neuralcodec.eval.measure import distortion

    torch.set_num_threads(1)
    codec = make_codec(codec_name)
    read_rgb(images[0])  # imports and first-call set-up outside the timings
    distortion(*(read_rgb(images[0]),) * 2)
    wall = {"encode": 0.0, "decode": 0.0, "metric": 0.0, "read": 0.0}
    cpu = dict(wall)
    bpp: Dict[str, List[float]] = {}

    def timed(part: str, function: Any, *args: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        value = function(*args)
        wall[part] += time.perf_counter() - start
        cpu[part] += time.process_time() - start_cpu
        return value

    for path in images:
        rgb = timed("read", read_rgb, path)
        height, width = rgb.shape[:2]
        for quality in qualities:
            data = timed("encode", codec.encode, rgb, codec.check_quality(quality))
            decoded = timed("decode", codec.decode, data, height, width)
            timed("metric", distortion, rgb, decoded)
            bpp.setdefault(path.name, []).append(8 * len(data) / (height * width))
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "floor_wall_s": wall["encode"] + wall["decode"] + wall["metric"],
        "floor_cpu_s": cpu["encode"] + cpu["decode"] + cpu["metric"],
        "bpp": bpp,
    }


def command(codec_name: str, dataset: Path, qualities: Sequence[float], workers: int) -> Dict[str, Any]:
    """Wall-clock and CPU seconds of ``neuralcodec bench`` (its workers included), and its results."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "results.json"
        argv = [sys.executable, "-m", "neuralcodec", "bench", codec_name, str(dataset), "-q", *map(str, qualities),
                "--workers", str(workers), "--quiet", "-o", str(output)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        results = json.loads(output.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"workers": workers, "wall_s": wall, "cpu_s": cpu, "results": results}


def _bpp_per_image(results: Dict[str, Any]) -> Dict[str, List[float]]:
    """``{image name: [bpp at each quality]}`` from a results file of ``neuralcodec bench``."""
    detail = results["per_image"]
    return {name: [point[i] for point in detail["bpp"]] for i, name in enumerate(detail["images"])}


def main(argv: Sequence[str] | None = None) -> int:
    from neuralcodec.bench.runner import make_codec
    from neuralcodec.eval.images import collect_images
    from neuralcodec.settings import available_cpus

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=Path("../shared/data/kodak24"), help="folder of images")
    parser.add_argument("--codec", default="jpeg420", help="a library codec of `neuralcodec bench --list`")
    parser.add_argument("--qualities", type=float, nargs="+", help="default: the codec's default sweep")
    parser.add_argument("--workers", type=int, default=available_cpus(), help="workers of the parallel run")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    codec = make_codec(args.codec)
    if codec.takes_executables:
        parser.error(f"{args.codec} runs executables; this bench measures the library codecs")
    qualities = [int(q) if float(q).is_integer() and codec.integer_quality else q
                 for q in (args.qualities or codec.default_qualities)]
    images = collect_images(args.images)
    codings = len(images) * len(qualities)
    print(f"{codec.name}: {len(images)} images x {len(qualities)} qualities = {codings} codings")

    reference = floor(codec.name, images, qualities)
    cpu = reference["cpu_s"]
    print(f"floor, one thread: codec {cpu['encode'] + cpu['decode']:.2f} s CPU (encode {cpu['encode']:.2f}, decode "
          f"{cpu['decode']:.2f}) + metrics {cpu['metric']:.2f} s = {reference['floor_cpu_s']:.2f} s CPU, "
          f"{reference['floor_wall_s']:.2f} s wall (reading the images once: {cpu['read']:.2f} s)")
    runs = []
    for workers in sorted({1, args.workers}):
        run = command(codec.name, args.images, qualities, workers)
        measured = {name: [round(b, 9) for b in values] for name, values in _bpp_per_image(run["results"]).items()}
        expected = {name: [round(b, 9) for b in values] for name, values in reference["bpp"].items()}
        if measured != expected:
            raise SystemExit(f"the command's bpp differ from the floor's ({workers} workers): not the same work")
        run.pop("results")
        run["cpu_ratio"] = run["cpu_s"] / reference["floor_cpu_s"]
        run["wall_ratio"] = run["wall_s"] * workers / reference["floor_wall_s"]
        runs.append(run)
        print(f"neuralcodec bench --workers {workers}: {run['cpu_s']:.2f} s CPU, {run['wall_s']:.2f} s wall; "
              f"CPU ratio {run['cpu_ratio']:.2f}, wall ratio {run['wall_ratio']:.2f}")

    if args.json:
        import torch

        import neuralcodec

        reference.pop("bpp")
        record = {
            "codec": codec.description(),
            "images": str(args.images),
            "image_count": len(images),
            "qualities": qualities,
            "codings": codings,
            "cpus": available_cpus(),
            "load_average_at_end": os.getloadavg()[0],
            "versions": {"neuralcodec": neuralcodec.__version__, "torch": torch.__version__},
            "floor": reference,
            "command": runs,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
