"""The ``bench`` subcommand: classical codecs on an image folder.

``neuralcodec bench CODEC DATASET --quality Q [Q ...] [-o RESULTS.json]`` codes every
image at every quality (in parallel over ``--workers`` processes) and reports per image
and mean bpp, PSNR-RGB, MS-SSIM-RGB and times in the results layout of
:mod:`neuralcodec.eval.results`. ``neuralcodec bench --list`` prints the codecs, whether
each can run here, and what its quality parameter means.

Exit codes: 0 success, 1 the codec failed on an image, 2 bad usage, an unreadable data
set, or a codec that is not available here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuralcodec.cli import options

__all__ = ["register", "run_bench"]


def _error(message: object, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _list_codecs() -> int:
    from neuralcodec.bench.runner import ALIASES, CODECS, make_codec

    for name, entry in CODECS.items():
        codec = make_codec(name)
        reason = codec.unavailable_reason()
        state = "available" if reason is None else f"unavailable: {reason}"
        also = [alias for alias, target in ALIASES.items() if target == name]
        print(f"{name:9} {entry.summary}" + (f" (also: {', '.join(also)})" if also else ""))
        print(f"          quality: {codec.quality_help}; {state}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec bench``."""
    if args.list:
        return _list_codecs()
    if args.codec is None or args.dataset is None:
        return _error("give CODEC and DATASET (or --list to see the codecs)")
    from neuralcodec.bench.codecs import BenchError
    from neuralcodec.bench.runner import make_codec, run_benchmark
    from neuralcodec.eval.commands import _existing_output, _finish
    from neuralcodec.eval.images import DatasetError, collect_images

    refusal = _existing_output(args.output, args.force)
    if refusal:
        return _error(refusal)
    try:
        codec = make_codec(args.codec, args.encoder, args.decoder, args.config, args.codec_arg or ())
        images = collect_images(args.dataset)
        reason = codec.unavailable_reason()
        if reason:
            return _error(reason)
        qualities = args.quality or list(codec.default_qualities)
        for quality in qualities:
            codec.check_quality(quality)
    except (ValueError, DatasetError, BenchError) as error:
        return _error(error)
    if args.workers is not None and args.workers < 1:
        return _error("--workers must be at least 1")
    try:
        results = run_benchmark(codec, images, qualities, args.workers, not args.quiet, args.dataset)
    except DatasetError as error:
        return _error(error)
    except BenchError as error:
        return _error(error, 1)
    if args.name:
        results["name"] = args.name
    return _finish(results, args.output, args.force)


def _number(text: str) -> float:
    """A quality on the command line: an int when it is one, else a float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quality must be a number, got {text!r}") from None
    return int(value) if value.is_integer() else value


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds the ``bench`` subcommand to the ``neuralcodec`` parser."""
    bench = commands.add_parser(
        "bench",
        help="benchmark a classical codec (JPEG, WebP, JPEG 2000, AVIF, JPEG XL, HEIF, BPG, VTM, HM, AV1)",
        description=(
            "Code every image of DATASET at each quality with a classical codec and report bpp (from the file "
            "size), PSNR-RGB, MS-SSIM-RGB and times, per image and averaged, in CompressAI's results layout. "
            "CODEC is one of the names --list shows (which also says which run here and what quality "
            "means); jpeg is JPEG 4:2:0."
        ),
    )
    bench.add_argument("codec", nargs="?", metavar="CODEC", help="codec name, e.g. jpeg, webp, avif (see --list)")
    bench.add_argument(
        "dataset", nargs="?", type=Path, metavar="DATASET", help="folder of images (not recursive), or one image file"
    )
    options.add_quality(
        bench, type=_number, nargs="+", help="the codec's quality parameters (default: a sweep of about 0.1 to 2 bpp)"
    )
    bench.add_argument(
        "-o", "--output", type=Path, metavar="RESULTS.json", help="write the results here (default: JSON to stdout)"
    )
    bench.add_argument("--workers", "-j", type=int, help="worker processes (default: the CPU count)")
    bench.add_argument("--encoder", metavar="PATH", help="encoder executable (bpg, vtm, hm, av1, jpegxl)")
    bench.add_argument("--decoder", metavar="PATH", help="decoder executable (bpg, vtm, hm, av1, jpegxl)")
    bench.add_argument("--config", metavar="FILE", help="encoder configuration (vtm, hm: the all-intra .cfg)")
    bench.add_argument(
        "--codec-arg", action="append", metavar="ARG", help="extra encoder argument (repeatable; executables only)"
    )
    bench.add_argument("--name", help="the curve's name in the results (default: the codec name)")
    bench.add_argument("--list", action="store_true", help="list the codecs and whether each can run here")
    options.add_force(bench, help="replace an existing --output file")
    options.add_quiet(bench)
    bench.set_defaults(handler=run_bench)
