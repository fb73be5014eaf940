"""Running a codec over a data set: the codec registry and the parallel benchmark loop.

:func:`run_benchmark` codes every image at every quality, in worker processes (one
task per image and quality; results are collected in task order, so the output does not
depend on scheduling), and returns a results dictionary
(:mod:`neuralcodec.eval.results`): per image ``bpp`` (``8 * file bytes / (H * W)``),
PSNR-RGB and MS-SSIM-RGB of the decoded 8-bit image, encode and decode seconds; per
quality the mean over images of each, as CompressAI reports.

Workers are started with ``spawn`` (no inherited threads or locks) and limited to one
thread each, so ``--workers N`` uses about N cores; with one worker the images are coded
in this process, with torch limited to one thread while they are.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np

from neuralcodec.bench.base import BenchCodec, BenchError
from neuralcodec.bench.codecs import AVIF, HEIF, JPEG, JPEG2000, JPEGXL, WebP
from neuralcodec.bench.external import AV1, BPG, HM, TFCI, VTM
from neuralcodec.settings import available_cpus

__all__ = [
    "ALIASES",
    "CODECS",
    "CodecEntry",
    "EXECUTABLE_CODECS",
    "code_image",
    "make_codec",
    "measure",
    "run_benchmark",
]


@dataclass(frozen=True)
class CodecEntry:
    """One name ``neuralcodec bench`` takes: the class and the arguments that make it."""

    name: str
    summary: str
    takes_executables: bool
    codec_class: Type[BenchCodec]
    variant: Dict[str, Any] = field(default_factory=dict)

    def create(
        self,
        encoder: Optional[str],
        decoder: Optional[str],
        config: Optional[str],
        options: Sequence[str],
        **variant: Any,
    ) -> BenchCodec:
        """A new codec of this entry (see :meth:`BenchCodec.create`); ``variant`` overrides
        or adds constructor arguments (e.g. ``colorspace="rgb"`` for VTM)."""
        return self.codec_class.create(encoder, decoder, config, options, **{**self.variant, **variant})


#: The benchmarked codec classes, in the order ``neuralcodec bench --list`` shows them.
CODEC_CLASSES: Tuple[Type[BenchCodec], ...] = (JPEG, WebP, JPEG2000, AVIF, JPEGXL, HEIF, BPG, VTM, HM, AV1, TFCI)


def _registry() -> Tuple[Dict[str, CodecEntry], Dict[str, str]]:
    entries: Dict[str, CodecEntry] = {}
    aliases: Dict[str, str] = {}
    for cls in CODEC_CLASSES:
        variants = cls.variants()
        for name, variant in variants.items():
            summary = cls(**variant).summary  # cheap: constructors load no library
            entries[name] = CodecEntry(name, summary, cls.takes_executables, cls, dict(variant))
        for alias in cls.aliases:
            aliases[alias] = next(iter(variants))
    return entries, aliases


#: Codec name -> its registry entry (the names ``neuralcodec bench`` takes), built from
#: the classes' :attr:`~BenchCodec.name`, :attr:`~BenchCodec.summary` and
#: :meth:`~BenchCodec.variants`.
CODECS: Dict[str, CodecEntry]
#: Other names accepted for a codec (``jpeg`` -> ``jpeg420``).
ALIASES: Dict[str, str]
CODECS, ALIASES = _registry()
#: The codecs that run executables (they take --encoder, --decoder, --config, --codec-arg).
EXECUTABLE_CODECS = tuple(name for name, entry in CODECS.items() if entry.takes_executables)


def make_codec(
    name: str,
    encoder: Optional[str] = None,
    decoder: Optional[str] = None,
    config: Optional[str] = None,
    options: Sequence[str] = (),
    **variant: Any,
) -> BenchCodec:
    """The codec ``name`` (a key of :data:`CODECS` or :data:`ALIASES`).

    Args:
        encoder, decoder: executables (executable codecs only; default: found on PATH).
        config: the encoder's configuration file (VTM, HM).
        options: extra encoder arguments (executable codecs only).
        variant: constructor arguments over the entry's own (``colorspace="rgb"`` for
            VTM/HM, ``model=`` for TFCI, ``cpu_used=`` for AV1).

    Raises:
        ValueError: an unknown name, or executable options given to a library codec.
    """
    entry = CODECS.get(ALIASES.get(name, name))
    if entry is None:
        known = ", ".join([*CODECS, *(f"{a} (= {n})" for a, n in ALIASES.items())])
        raise ValueError(f"unknown codec {name!r}; known: {known}")
    if not entry.takes_executables and (encoder or decoder or config or options):
        raise ValueError(
            f"{entry.name} runs in-process: --encoder, --decoder, --config and --codec-arg apply only to "
            f"{', '.join(EXECUTABLE_CODECS)}"
        )
    return entry.create(encoder, decoder, config, options, **variant)


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def code_image(codec: BenchCodec, rgb: np.ndarray, quality: Any) -> Tuple[Dict[str, float], np.ndarray]:
    """Codes one uint8 RGB ``[H, W, 3]`` image at ``quality`` and decodes it again.

    Returns:
        ``({"bpp", "encoding_time", "decoding_time"}, decoded uint8 [H, W, 3])``: ``bpp``
        is ``8 * file bytes / (H * W)``, the times are seconds of wall clock.

    Raises:
        BenchError: the codec failed, or decoded an image of another size.
    """
    height, width = rgb.shape[:2]
    start = time.perf_counter()
    data = codec.encode(rgb, quality)
    encoding_time = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(data, height, width)
    decoding_time = time.perf_counter() - start
    if decoded.shape != rgb.shape or decoded.dtype != np.uint8:
        raise BenchError(
            f"{codec.name} decoded an image at quality {quality} as {decoded.dtype} {decoded.shape}, "
            f"expected uint8 {rgb.shape}"
        )
    row = {"bpp": 8 * len(data) / (height * width), "encoding_time": encoding_time, "decoding_time": decoding_time}
    return row, decoded


def measure(task: Tuple[BenchCodec, str, Any]) -> Dict[str, float]:
    """Codes one image at one quality: ``{"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}``.

    Args:
        task: ``(codec, image path, quality)``.

    Raises:
        BenchError: the codec failed, or decoded an image of another size.
        neuralcodec.eval.images.DatasetError: the image cannot be read.
    """
    from neuralcodec.eval.images import read_rgb
    from neuralcodec.eval.measure import distortion

    codec, path, quality = task
    rgb = read_rgb(path)
    try:
        row, decoded = code_image(codec, rgb, quality)
    except BenchError as error:
        raise BenchError(f"{Path(path).name}: {error}") from error
    row.update(distortion(rgb, decoded))
    return row


def run_benchmark(
    codec: BenchCodec,
    images: Sequence[Path],
    qualities: Sequence[float],
    workers: Optional[int] = None,
    show_progress: bool = True,
    dataset: Optional[Path] = None,
) -> Dict[str, Any]:
    """Benchmarks ``codec`` on ``images`` at each of ``qualities``; returns a results dictionary.

    Args:
        codec: the codec (it must be available: see :meth:`BenchCodec.unavailable_reason`).
        images: image files.
        qualities: the codec's quality parameters, one rate point each.
        workers: processes to use (default: the CPUs this process may run on); 1 runs in this process.
        show_progress: draw a tqdm bar on stderr.
        dataset: the data set path to record.

    Raises:
        BenchError: the codec is unavailable, a quality is invalid, or coding failed.
    """
    from tqdm import tqdm

    from neuralcodec.eval.results import build_results, environment

    reason = codec.unavailable_reason()
    if reason:
        raise BenchError(reason)
    qualities = [codec.check_quality(q) for q in qualities]
    if not qualities:
        raise BenchError("no qualities to run")
    workers = max(1, int(workers or available_cpus()))
    tasks = [(codec, str(path), q) for q in qualities for path in images]
    bar = tqdm(total=len(tasks), desc=codec.name, unit="image", disable=not show_progress)
    rows: List[Dict[str, float]] = []
    try:
        if workers == 1 or len(tasks) == 1:
            import torch

            # One core, as each worker of the pool below: torch's threads on every core
            # for the metrics cost twice the CPU time on two cores and gained no time.
            previous = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                for task in tasks:
                    rows.append(measure(task))
                    bar.update(1)
            finally:
                torch.set_num_threads(previous)
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
