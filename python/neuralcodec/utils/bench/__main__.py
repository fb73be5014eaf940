"""Benchmark classical codecs on an image folder, with CompressAI's ``bench`` arguments.

``python -m neuralcodec.utils.bench CODEC DATASET [-q 10,20,30] [-j N] [--metrics ...]
[codec options]`` codes every image under ``DATASET`` (subfolders too) at each quality
with one of CompressAI's codec classes (:mod:`neuralcodec.utils.bench.codecs`), through
the benchmark loop of ``neuralcodec bench`` (:func:`neuralcodec.bench.runner.run_benchmark`:
``bpp`` from the coded file, PSNR-RGB and MS-SSIM-RGB of the decoded 8-bit image, encode
and decode seconds, means over the images), and prints the results JSON
(:mod:`neuralcodec.eval.results`) with the codec's CompressAI ``name``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from neuralcodec.bench.runner import run_benchmark
from neuralcodec.eval.images import DatasetError, collect_images
from neuralcodec.utils import arguments
from neuralcodec.utils.bench.codecs import AV1, BPG, HM, JPEG, JPEG2000, TFCI, VTM, Codec, WebP

__all__ = ["codecs", "collect", "main", "setup_args", "setup_common_args"]

#: The codecs the tool offers, one subcommand each (the class name in lower case).
codecs: List[Any] = [JPEG, WebP, JPEG2000, BPG, TFCI, VTM, HM, AV1]

#: The keys every result has besides the metrics asked for.
_ALWAYS = ("bpp", "encoding_time", "decoding_time")


def _benchmark(codec: Codec, dataset: str, qps: List[int], num_jobs: int) -> Dict[str, Any]:
    """The full results dictionary of ``codec`` on the images under ``dataset``.

    Raises:
        OSError: ``dataset`` is not a folder.
        SystemExit: it holds no images.
    """
    if not Path(dataset).is_dir():
        raise OSError(f"No such directory: {dataset}")
    try:
        images = collect_images(dataset, recursive=True)
    except DatasetError:
        print("No images found in the dataset directory")
        sys.exit(1)
    return run_benchmark(codec.bench_codec, images, qps, workers=num_jobs, show_progress=False, dataset=Path(dataset))


def collect(codec: Codec, dataset: str, qps: List[int], metrics: List[str], num_jobs: int = 1) -> Dict[str, List[float]]:
    """``{"bpp", "encoding_time", "decoding_time", <metrics>: [mean over images, per quality]}``.

    Raises:
        OSError: ``dataset`` is not a folder.
        SystemExit: it holds no images.
        ValueError: a metric other than ``psnr-rgb`` and ``ms-ssim-rgb``.
        neuralcodec.bench.base.BenchError: the codec is unavailable or failed.
    """
    results = _benchmark(codec, dataset, qps, num_jobs)["results"]
    unknown = [m for m in metrics if m not in results]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: psnr-rgb, ms-ssim-rgb")
    return {key: results[key] for key in (*_ALWAYS, *metrics)}


def setup_args() -> Tuple[argparse.ArgumentParser, "argparse._SubParsersAction[argparse.ArgumentParser]"]:
    """The parser and its codec subcommands (filled by :func:`main`)."""
    parser = argparse.ArgumentParser(description="Collect codec metrics.")
    subparsers = parser.add_subparsers(dest="codec", help="Select codec")
    subparsers.required = True
    return parser, subparsers


def setup_common_args(parser: argparse.ArgumentParser) -> None:
    """The arguments of every codec subcommand: the data set, jobs, qualities, metrics."""
    parser.add_argument("dataset", type=str)
    arguments.add_num_jobs_argument(parser)
    arguments.add_qps_argument(
        parser, default="75", help="comma-separated quality/quantization parameters (default: %(default)s)"
    )
    parser.add_argument(
        "--metrics", dest="metrics", default=["psnr-rgb", "ms-ssim-rgb"], nargs="+",
        help="metrics to report (leave out ms-ssim-rgb for very small images)",
    )  # fmt: skip


def main(argv: Sequence[str]) -> None:
    """Runs the tool on ``argv`` (without the program name); prints the results JSON."""
    parser, subparsers = setup_args()
    for codec_class in codecs:
        codec_parser = subparsers.add_parser(codec_class.__name__.lower(), help=codec_class.__name__)
        setup_common_args(codec_parser)
        codec_class.setup_args(codec_parser)
    args = parser.parse_args(list(argv))
    codec_class = next(c for c in codecs if c.__name__.lower() == args.codec)
    codec = codec_class(args)
    qps = sorted(int(q) for q in args.qps.split(",") if q)
    output = _benchmark(codec, args.dataset, qps, args.num_jobs)
    unknown = [m for m in args.metrics if m not in output["results"]]
    if unknown:
        parser.error(f"unknown metrics {unknown}; known: psnr-rgb, ms-ssim-rgb")
    output["name"] = codec.name
    output["description"] = codec.description
    output["results"] = {key: output["results"][key] for key in (*_ALWAYS, *args.metrics)}
    print(json.dumps(output, indent=2, allow_nan=False))


if __name__ == "__main__":
    main(sys.argv[1:])
