"""Running a codec over a data set: the codec registry and the parallel benchmark loop.

:func:`run_benchmark` codes every image at every quality, in worker processes (one
task per image and quality; results are collected in task order, so the output does not
depend on scheduling), and returns a results dictionary
(:mod:`neuralcodec.eval.results`): per image ``bpp`` (``8 * file bytes / (H * W)``),
PSNR-RGB and MS-SSIM-RGB of the decoded 8-bit image, encode and decode seconds; per
quality the mean over images of each, as CompressAI reports.

Workers are started with ``spawn`` (no inherited threads or locks) and limited to one
thread each, so ``--workers N`` uses about N cores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from neuralcodec.bench.codecs import AVIF, HEIF, JPEG, JPEG2000, JPEGXL, Codec, CodecError, WebP
from neuralcodec.bench.external import AV1, BPG, CJXL, HM, VTM

__all__ = ["CODECS", "EXECUTABLE_CODECS", "make_codec", "measure", "run_benchmark"]

#: Codec name -> one line on it (the names ``neuralcodec bench`` takes).
CODECS: Dict[str, str] = {
    "jpeg420": "JPEG 4:2:0 (Pillow, libjpeg-turbo)",
    "jpeg444": "JPEG 4:4:4 (Pillow, libjpeg-turbo)",
    "webp": "WebP (Pillow, libwebp)",
    "jpeg2000": "JPEG 2000 (Pillow, OpenJPEG); quality = compression ratio",
    "avif": "AVIF (Pillow's libavif)",
    "jpegxl": "JPEG XL (imagecodecs, or cjxl/djxl)",
    "heif": "HEIF/HEVC intra (pillow-heif)",
    "bpg": "BPG 4:4:4 (bpgenc/bpgdec)",
    "bpg420": "BPG 4:2:0 (bpgenc/bpgdec)",
    "vtm": "VVC intra (VTM EncoderApp/DecoderApp, needs --config)",
    "hm": "HEVC intra (HM TAppEncoder/TAppDecoder, needs --config)",
    "av1": "AV1 intra (aomenc/aomdec)",
}
#: The codecs that run executables (they take --encoder, --decoder, --config, --codec-arg).
EXECUTABLE_CODECS = ("jpegxl", "bpg", "bpg420", "vtm", "hm", "av1")


def make_codec(
    name: str,
    encoder: Optional[str] = None,
    decoder: Optional[str] = None,
    config: Optional[str] = None,
    options: Sequence[str] = (),
) -> Codec:
    """The codec ``name`` (a key of :data:`CODECS`).

    Args:
        encoder, decoder: executables (executable codecs only; default: found on PATH).
        config: the encoder's configuration file (VTM, HM).
        options: extra encoder arguments (executable codecs only).

    Raises:
        ValueError: an unknown name, or executable options given to a library codec.
    """
    if name not in CODECS:
        raise ValueError(f"unknown codec {name!r}; known: {', '.join(CODECS)}")
    external = dict(encoder=encoder, decoder=decoder, config=config, options=options)
    if name not in EXECUTABLE_CODECS and (encoder or decoder or config or options):
        raise ValueError(
            f"{name} runs in-process: --encoder, --decoder, --config and --codec-arg apply only to "
            f"{', '.join(EXECUTABLE_CODECS)}"
        )
    if name in ("jpeg420", "jpeg444"):
        return JPEG("4:2:0" if name == "jpeg420" else "4:4:4")
    if name == "webp":
        return WebP()
    if name == "jpeg2000":
        return JPEG2000()
    if name == "avif":
        return AVIF()
    if name == "heif":
        return HEIF()
    if name == "jpegxl":
        library = JPEGXL()
        if not (encoder or decoder or options) and library.unavailable_reason() is None:
            return library
        executable = CJXL(encoder, decoder, None, options)
        if executable.unavailable_reason() is None or encoder or decoder:
            return executable
        return library
    if name in ("bpg", "bpg420"):
        return BPG(encoder, decoder, None, options, chroma="444" if name == "bpg" else "420")
    if name == "av1":
        return AV1(encoder, decoder, None, options)
    return (VTM if name == "vtm" else HM)(**external)  # type: ignore[arg-type]


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def measure(task: Tuple[Codec, str, Any]) -> Dict[str, float]:
    """Codes one image at one quality: ``{"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}``.

    Args:
        task: ``(codec, image path, quality)``.

    Raises:
        CodecError: the codec failed, or decoded an image of another size.
        neuralcodec.eval.images.DatasetError: the image cannot be read.
    """
    from neuralcodec.eval.images import read_rgb
    from neuralcodec.eval.measure import distortion

    codec, path, quality = task
    rgb = read_rgb(path)
    height, width = rgb.shape[:2]
    start = time.perf_counter()
    data = codec.encode(rgb, quality)
    encoding_time = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(data, height, width)
    decoding_time = time.perf_counter() - start
    if decoded.shape != rgb.shape or decoded.dtype != np.uint8:
        raise CodecError(
            f"{codec.name} decoded {Path(path).name} at quality {quality} as {decoded.dtype} {decoded.shape}, "
            f"expected uint8 {rgb.shape}"
        )
    row = {"bpp": 8 * len(data) / (height * width), "encoding_time": encoding_time, "decoding_time": decoding_time}
    row.update(distortion(rgb, decoded))
    return row


def run_benchmark(
    codec: Codec,
    images: Sequence[Path],
    qualities: Sequence[float],
    workers: Optional[int] = None,
    show_progress: bool = True,
    dataset: Optional[Path] = None,
) -> Dict[str, Any]:
    """Benchmarks ``codec`` on ``images`` at each of ``qualities``; returns a results dictionary.

    Args:
        codec: the codec (it must be available: see :meth:`Codec.unavailable_reason`).
        images: image files.
        qualities: the codec's quality parameters, one rate point each.
        workers: processes to use (default: the CPU count); 1 runs in this process.
        show_progress: draw a tqdm bar on stderr.
        dataset: the data set path to record.

    Raises:
        CodecError: the codec is unavailable, a quality is invalid, or coding failed.
    """
    from tqdm import tqdm

    from neuralcodec.eval.results import build_results, environment

    reason = codec.unavailable_reason()
    if reason:
        raise CodecError(reason)
    qualities = [codec.check_quality(q) for q in qualities]
    if not qualities:
        raise CodecError("no qualities to run")
    workers = max(1, int(workers or os.cpu_count() or 1))
    tasks = [(codec, str(path), q) for q in qualities for path in images]
    bar = tqdm(total=len(tasks), desc=codec.name, unit="image", disable=not show_progress)
    rows: List[Dict[str, float]] = []
    try:
        if workers == 1 or len(tasks) == 1:
            for task in tasks:
                rows.append(measure(task))
                bar.update(1)
        else:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            with context.Pool(min(workers, len(tasks)), initializer=_init_worker) as pool:
                for row in pool.imap(measure, tasks, chunksize=1):
                    rows.append(row)
                    bar.update(1)
    finally:
        bar.close()
    per_image = [rows[i * len(images) : (i + 1) * len(images)] for i in range(len(qualities))]
    extra = {
        "environment": environment(**codec.versions()),
        "settings": {"codec": codec.name, "quality": codec.quality_help, "workers": workers},
    }
    description = f"{codec.description()}; quality parameter: {codec.quality_help}"
    return build_results(codec.name, description, qualities, per_image, [Path(p).name for p in images], dataset, extra)
