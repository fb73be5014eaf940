"""``neuralcodec demo [IMAGE | FOLDER]``: the main job, on the shipped default weights.

Compresses the sample photo shipped in the package (or the given image, or every image
of a folder such as the Kodak set) with neuralcodec's own variable-rate model at its
integer qualities and at ``--quality`` (or to ``--bpp``/``--size``), decodes the files, and reports bytes, bits per pixel, PSNR
and encode/decode times beside JPEG (4:2:0), WebP and AVIF at the matched rate (a codec
that this Pillow cannot run is left out with a note). The command's
``--help`` text is :data:`DESCRIPTION`.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from neuralcodec import settings
from neuralcodec.cli import options
from neuralcodec.codec.commands import add_target
from neuralcodec.files import sample_image_path

__all__ = ["DESCRIPTION", "register", "run_demo", "sample_image_path"]

#: What ``neuralcodec demo --help`` says (plain text: argparse prints it as it is).
DESCRIPTION = """\
Compress the sample photo shipped with neuralcodec (or IMAGE, or every image of FOLDER,
such as the Kodak set) with neuralcodec's own model at its integer qualities 1..4 and at
--quality (any number in 1..4) or to a file size (--bpp, --size), decode the files, and
report bytes, bits per pixel, PSNR and encode/decode times beside JPEG
(4:2:0), WebP and AVIF at the matched rate (the codec quality whose mean bpp is nearest
to ours; a codec this Pillow cannot run is left out with a note). Figures are means over
the images; times are per image.

It writes into OUT_DIR (default neuralcodec-demo):
  NAME.nci, NAME.decoded.png  each image's file and its decoding, at --quality (or the
                              largest file within --bpp/--size)
  rd.png                      PSNR against bpp for every codec, BD-rates against
                              JPEG in the legend
  results.json                the curves, in the layout that `neuralcodec plot`
                              and `neuralcodec bdrate` read
Existing outputs are not replaced without --force.

exit codes: 0 success, 1 a coding step failed, 2 bad arguments, an unreadable input, or
outputs that exist already.
"""


def _measure_classical(codec: Any, images: Sequence[np.ndarray], quality: int) -> Dict[str, float]:
    """Mean bpp, PSNR and times of a classical codec over ``images`` at ``quality``."""
    from neuralcodec.metrics import psnr_8bit  # torch: imported when the demo runs, not for --help

    bpp, psnr, encode_s, decode_s, total = [], [], [], [], 0
    for rgb in images:
        started = time.perf_counter()
        data = codec.encode(rgb, quality)
        encoded = time.perf_counter()
        decoded = codec.decode(data, rgb.shape[0], rgb.shape[1])
        encode_s.append(encoded - started)
        decode_s.append(time.perf_counter() - encoded)
        total += len(data)
        bpp.append(8 * len(data) / (rgb.shape[0] * rgb.shape[1]))
        psnr.append(psnr_8bit(rgb, decoded))
    return {"quality": quality, "bytes": total / len(images), "bpp": float(np.mean(bpp)),
            "psnr": float(np.mean(psnr)), "encode_ms": 1e3 * float(np.mean(encode_s)),
            "decode_ms": 1e3 * float(np.mean(decode_s))}


def _matched_quality(measure: Callable[[int], Dict[str, float]], target_bpp: float, low: int, high: int) -> Dict[str, float]:
    """The measurement whose mean bpp is nearest ``target_bpp`` (bisection on the quality)."""
    cache: Dict[int, Dict[str, float]] = {}

    def at(q: int) -> Dict[str, float]:
        if q not in cache:
            cache[q] = measure(q)
        return cache[q]

    while high - low > 1:
        middle = (low + high) // 2
        if at(middle)["bpp"] < target_bpp:
            low = middle
        else:
            high = middle
    return min((at(low), at(high)), key=lambda m: abs(m["bpp"] - target_bpp))


def _results(name: str, description: str, rows: List[Dict[str, float]]) -> Dict[str, Any]:
    """A curve in CompressAI's results layout (means over the images)."""
    return {
        "name": name,
        "description": description,
        "results": {
            "quality": [r["quality"] for r in rows],
            "bpp": [r["bpp"] for r in rows],
            "psnr-rgb": [r["psnr"] for r in rows],
            "encoding_time": [r["encode_ms"] / 1e3 for r in rows],
            "decoding_time": [r["decode_ms"] / 1e3 for r in rows],
        },
    }


def _outputs(out_dir: Path, stems: Sequence[str]) -> List[Path]:
    files = [out_dir / "rd.png", out_dir / "results.json"]
    for stem in stems:
        files += [out_dir / f"{stem}.nci", out_dir / f"{stem}.decoded.png"]
    return files


def run_demo(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec demo``; see the module documentation."""
    import json

    import torch
    from PIL import Image

    from neuralcodec.bench.codecs import AVIF, JPEG, WebP
    from neuralcodec.codec import Codec, CodecError
    from neuralcodec.codec.api import save_image_atomic
    from neuralcodec.eval.images import DatasetError, collect_images, read_rgb
    from neuralcodec.eval.rd import plot_curves, results_bjontegaard
    from neuralcodec.files import write_atomic
    from neuralcodec.metrics import psnr_8bit

    source = args.input if args.input is not None else sample_image_path()
    try:
        paths = collect_images(source) if Path(source).is_dir() else [Path(source)]
        images = [read_rgb(p) for p in paths]
    except (DatasetError, OSError, ValueError) as error:
        print(f"error: cannot read {source}: {error}", file=sys.stderr)
        return 2
    quality = settings.DEFAULT_QUALITY if args.quality is None else args.quality
    try:
        quality = settings.check_shipped_quality(quality)
    except ValueError as error:
        print(f"error: --quality: {error}", file=sys.stderr)
        return 2
    targeted = args.bpp is not None or args.size is not None
    target = f"{args.bpp:g} bpp" if args.bpp is not None else f"{args.size:,} bytes" if targeted else ""
    out_dir: Path = args.out_dir
    existing = [p for p in _outputs(out_dir, [p.stem for p in paths]) if p.exists()]
    if existing and not args.force:
        print(f"error: {existing[0]} exists (and {len(existing) - 1} more outputs); pass --force to replace them",
              file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)

    pixels = sum(rgb.shape[0] * rgb.shape[1] for rgb in images)
    print(f"neuralcodec demo: {len(images)} image(s) from {source} ({pixels:,} pixels)")
    ours: List[Dict[str, float]] = []
    files: Dict[str, bytes] = {}
    decoded_images: Dict[str, np.ndarray] = {}
    points: List[Any] = sorted(set(settings.qualities_of()) | ({quality} if not targeted else set()))
    try:
        codec = Codec.default(device="cpu")
        for q in points + (["target"] if targeted else []):
            bpp, psnr, encode_s, decode_s, total = [], [], [], [], 0
            for path, rgb in zip(paths, images):
                started = time.perf_counter()
                if q == "target":
                    data = codec.encode(rgb, bpp=args.bpp, size=args.size)
                else:
                    data = codec.encode(rgb, quality=q)
                encoded = time.perf_counter()
                decoded = np.asarray(codec.decode(data).convert("RGB"))
                decode_s.append(time.perf_counter() - encoded)
                encode_s.append(encoded - started)
                total += len(data)
                bpp.append(8 * len(data) / (rgb.shape[0] * rgb.shape[1]))
                psnr.append(psnr_8bit(rgb, decoded))
                if q == ("target" if targeted else quality):
                    files[path.stem], decoded_images[path.stem] = data, decoded
            ours.append({"quality": q, "bytes": total / len(images), "bpp": float(np.mean(bpp)),
                         "psnr": float(np.mean(psnr)),
                         "encode_ms": 1e3 * float(np.mean(encode_s)), "decode_ms": 1e3 * float(np.mean(decode_s))})
    except CodecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    main = ours.pop() if targeted else next(r for r in ours if r["quality"] == quality)
    at = f"within {target}" if targeted else f"at quality {quality:g}"
    classical = [(JPEG("4:2:0"), "JPEG 4:2:0", 1), (WebP(), "WebP", 0), (AVIF(), "AVIF", 0)]
    rows: List[Tuple[str, Dict[str, float]]] = [("neuralcodec " + (target if targeted else f"q{quality:g}"), main)]
    curves = [_results(f"neuralcodec (shipped {settings.DEFAULT_ARCHITECTURE})", "neuralcodec demo, shipped default weights",
                       ours)]
    for codec_, label, lowest in classical:
        unavailable = codec_.unavailable_reason()
        if unavailable:  # an honest table leaves a codec out only when it cannot run here, and says so
            print(f"note: {unavailable}")
            continue
        curves.append(_results(label, codec_.description(), [_measure_classical(codec_, images, int(q)) for q in codec_.default_qualities]))
        match = _matched_quality(functools.partial(_measure_classical, codec_, images), main["bpp"], lowest, 100)
        rows.append((f"{label} q={match['quality']}", match))

    header = f"{'codec':<22}{'bytes':>10}{'bpp':>8}{'PSNR dB':>9}{'encode ms':>11}{'decode ms':>11}"
    print(f"\n{at} (means over the images; times per image):")
    print(header)
    for label, r in rows:
        print(f"{label:<22}{r['bytes']:>10,.0f}{r['bpp']:>8.3f}{r['psnr']:>9.2f}{r['encode_ms']:>11.1f}{r['decode_ms']:>11.1f}")
    print("\nthe shipped model at each quality (means over the images):")
    print(header)
    for r in ours:
        print(f"{'neuralcodec q' + format(r['quality'], 'g'):<22}{r['bytes']:>10,.0f}{r['bpp']:>8.3f}{r['psnr']:>9.2f}"
              f"{r['encode_ms']:>11.1f}{r['decode_ms']:>11.1f}")

    for reference in curves[1:]:
        try:
            delta = results_bjontegaard(reference, curves[0], "psnr")
            print(f"BD-rate of neuralcodec against {reference['name']}: {delta.rate_percent:+.1f}% "
                  f"(BD-PSNR {delta.quality_db:+.2f} dB)")
        except ValueError as error:
            print(f"BD-rate against {reference['name']}: not computable here ({error})")

    out_dir.mkdir(parents=True, exist_ok=True)
    for stem, data in files.items():
        write_atomic(out_dir / f"{stem}.nci", data, force=True)
        save_image_atomic(Image.fromarray(decoded_images[stem]), out_dir / f"{stem}.decoded.png", force=True)
    plot_curves(curves, out_dir / "rd.png", metric="psnr", reference=1, title=f"{len(images)} image(s) from {Path(source).name}", force=True)
    write_atomic(out_dir / "results.json", json.dumps(curves, indent=2).encode(), force=True)
    print(f"\nwrote {out_dir}/: {len(files)} .nci file(s) and decoded PNG(s) {at}, rd.png, results.json")
    return 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds the ``demo`` subcommand (the main job) to the ``neuralcodec`` parser."""
    parser = commands.add_parser(
        "demo",
        help="compress the sample photo (or IMAGE/FOLDER) with the shipped models, beside JPEG, WebP and AVIF",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input", nargs="?", type=Path, metavar="IMAGE|FOLDER", help="an image or a folder of images (default: the shipped sample)"
    )
    parser.add_argument("-o", "--out-dir", type=Path, default=Path("neuralcodec-demo"), metavar="OUT_DIR",
                        help="output folder (default %(default)s)")
    rate = parser.add_mutually_exclusive_group()
    low, high = settings.shipped_quality_range()
    options.add_quality(
        rate,
        help=f"the quality whose files are written: any number within {low:g}..{high:g} "
        f"(default {settings.DEFAULT_QUALITY})",
    )
    add_target(rate)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    options.add_force(parser, help="replace existing outputs")
    parser.set_defaults(handler=run_demo)
