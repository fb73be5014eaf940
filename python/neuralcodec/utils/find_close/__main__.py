"""Find the quality parameter of a codec that comes closest to a target bpp, PSNR or MS-SSIM.

``python -m neuralcodec.utils.find_close CODEC IMAGE TARGET [-m bpp|psnr-rgb|ms-ssim-rgb]
[--save] [codec options]`` (CompressAI's ``find_close``): bisects the codec's quality
range (:attr:`neuralcodec.bench.base.BenchCodec.quality_range`, in the direction
:attr:`~neuralcodec.bench.base.BenchCodec.higher_is_better` says), coding the image at
each probe with the CompressAI codec classes of :mod:`neuralcodec.utils.bench.codecs`,
and prints the metrics of the closest probe (``--save`` writes its reconstruction as
``output_CODEC_qQ.png``).

Example: ``python -m neuralcodec.utils.find_close jpeg picture.png 0.5 --metric bpp``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from PIL import Image

from neuralcodec.utils.bench.codecs import AV1, BPG, HM, JPEG, JPEG2000, VTM, Codec, WebP

__all__ = ["codecs", "find_closest", "get_codec_q_bounds", "main", "setup_args"]

#: The codecs the tool offers, one subcommand each (the class name in lower case).
codecs: List[Any] = [JPEG, WebP, JPEG2000, BPG, VTM, HM, AV1]


def get_codec_q_bounds(codec: Codec) -> Tuple[bool, int, int]:
    """``(reversed, lower, upper)``: the exclusive integer bounds of the codec's quality
    range, and whether a higher parameter means a lower quality (QP-style).

    Raises:
        ValueError: not a codec of :mod:`neuralcodec.utils.bench.codecs`.
    """
    bench_codec = getattr(codec, "bench_codec", None)
    if bench_codec is None:
        raise ValueError(f"Invalid codec {codec}")
    low, high = bench_codec.quality_range
    return not bench_codec.higher_is_better, int(low) - 1, int(high) + 1


def find_closest(
    codec: Codec, img: str, target: float, metric: str = "psnr-rgb"
) -> Tuple[int, Dict[str, float], Optional[Image.Image]]:
    """Bisects the quality range for the probe whose ``metric`` is closest to ``target``.

    Returns:
        ``(last quality probed, metrics of the closest probe, its reconstruction)``.
    """
    reverse, lower, upper = get_codec_q_bounds(codec)
    best: Dict[str, float] = {}
    best_rec: Optional[Image.Image] = None
    measured = ["psnr-rgb"] if metric != "ms-ssim-rgb" else ["psnr-rgb", "ms-ssim-rgb"]
    mid = lower
    while upper > lower + 1:
        mid = (upper + lower) // 2
        values, rec = codec.run(img, mid, metrics=measured, return_rec=True)
        if not best or abs(values[metric] - target) < abs(best[metric] - target):
            best, best_rec = values, rec
        if values[metric] == target:
            break
        too_high = values[metric] > target
        if too_high != reverse:
            upper = mid
        else:
            lower = mid
        sys.stderr.write(f"\rtarget {metric}: {target:.4f} | value: {values[metric]:.4f} | q: {mid}")
        sys.stderr.flush()
    sys.stderr.write("\n")
    sys.stderr.flush()
    return mid, best, best_rec


def setup_args() -> Tuple[argparse.ArgumentParser, "argparse._SubParsersAction[argparse.ArgumentParser]"]:
    """The parser and its codec subcommands (filled by :func:`main`)."""
    parser = argparse.ArgumentParser(description="Find the codec quality closest to a target metric.")
    subparsers = parser.add_subparsers(dest="codec", help="Select codec")
    subparsers.required = True
    parser.add_argument("image", type=str, help="image filepath")
    parser.add_argument("target", type=float, help="target value to match")
    parser.add_argument("-m", "--metric", type=str, choices=["bpp", "psnr-rgb", "ms-ssim-rgb"], default="bpp")
    parser.add_argument("--save", action="store_true", help="Save reconstructed image to disk")
    return parser, subparsers


def main(argv: Sequence[str]) -> None:
    """Runs the tool on ``argv`` (without the program name); prints ``metric: value`` lines."""
    parser, subparsers = setup_args()
    for codec_class in codecs:
        codec_class.setup_args(subparsers.add_parser(codec_class.__name__.lower(), help=codec_class.__name__))
    args = parser.parse_args(list(argv))
    codec_class = next(c for c in codecs if c.__name__.lower() == args.codec)
    codec = codec_class(args)
    quality, metrics, rec = find_closest(codec, args.image, args.target, args.metric)
    for key, value in metrics.items():
        print(f"{key}: {value:.4f}")
    if args.save and rec is not None:
        rec.save(f"output_{codec_class.__name__.lower()}_q{quality}.png")




if __name__ == "__main__":
    main(sys.argv[1:])
