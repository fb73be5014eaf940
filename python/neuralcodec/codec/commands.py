"""``neuralcodec compress`` and ``neuralcodec decompress``: image files to neuralcodec files and back.

Registered in :mod:`neuralcodec.cli`. Only argparse runs at registration; torch, the
models and Pillow load when a command runs, so ``neuralcodec --help`` stays fast.

Both commands take files and folders (searched recursively), show a progress bar on a
terminal, report each failure as it happens and carry on with the other inputs, and end
with a summary table on stdout. Outputs are written to a temporary file in the target
folder and renamed into place, and existing files are never overwritten without
``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from neuralcodec import settings
from neuralcodec.cli import options
from neuralcodec.errors import NeuralCodecError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "add_target", "register"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_EXIT_CODES = """\
exit codes:
  0    every input succeeded
  1    at least one input failed (each failure is reported; the other inputs still ran)
  2    bad usage: unknown option, no inputs found, the model could not be loaded
  130  interrupted (Ctrl-C); no partial output file is left behind
"""

_OUTPUT_FORMATS = ("png", "bmp", "tiff", "webp")
_CONTAINER_SUFFIX = ".nci"
_DEFAULT_MAX_PIXELS = 1 << 26  # = container.DEFAULT_MAX_PIXELS, kept literal so --help needs no imports


class _UsageError(NeuralCodecError):
    """Bad arguments: reported with exit code 2 before any input is processed."""


@dataclass
class _Job:
    source: Path
    target: Optional[Path]
    error: Optional[str] = None


@dataclass
class _Row:
    source: Path
    target: Path
    size: Tuple[int, int]
    nbytes: int
    seconds: float
    psnr: Optional[float] = None
    quality: Optional[float] = None

    @property
    def bpp(self) -> float:
        return 8.0 * self.nbytes / (self.size[0] * self.size[1])


# ------------------------------------------------------------------ arguments
def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    """An argparse type: a positive finite number (``--bpp``)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_target(group: Any) -> None:
    """``--bpp BPP`` and ``--size SIZE``, the file-size targets of a variable-rate model
    (``group``: a parser or a mutually exclusive group with ``--quality``); shared by
    ``compress`` and ``demo``."""
    group.add_argument(
        "--bpp", type=_positive_float, metavar="BPP",
        help="variable-rate models: the largest file not over BPP bits per pixel (of the whole file)",
    )
    group.add_argument(
        "--size", type=_size, metavar="SIZE",
        help="variable-rate models: the largest file not over SIZE bytes, e.g. 30000, 30KB (1000 bytes a KB), "
        "29.3KiB (1024), 1.5MB, 2MiB",
    )


def _size(text: str) -> int:
    """An argparse type: a size in bytes such as ``30KB`` (:func:`neuralcodec.codec.rate.parse_size`)."""
    from neuralcodec.codec.rate import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_common(parser: argparse.ArgumentParser, what: str) -> None:
    """The options ``compress`` and ``decompress`` share (``--quiet`` is added by each, since
    ``-q`` is ``--quality`` in ``compress``)."""
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help=f"where to write: a file name when there is one input file and OUT has a suffix, else a folder "
        f"(created; folder inputs keep their layout inside it). Default: beside each input, as {what}",
    )
    options.add_force(parser, help="overwrite existing output files")
    options.add_device(parser)
    parser.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=_DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse images larger than N pixels (default: {_DEFAULT_MAX_PIXELS:,} = 8192x8192)",
    )
    parser.add_argument(
        "--tile-size",
        type=_non_negative_int,
        default=None,
        metavar="PIXELS",
        help=f"run the transforms over tiles of PIXELS for images over 1.5 tiles a side, in memory bounded by the "
        f"tile (default {settings.DEFAULT_TILE_SIZE}; 0: never, the whole image at once)",
    )


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds the ``compress`` and ``decompress`` subcommands to the ``neuralcodec`` parser."""
    compress = commands.add_parser(
        "compress",
        help="compress images into neuralcodec (.nci) files",
        description=textwrap.fill(
            "Compress images (PNG, JPEG, BMP, PPM/PGM, TIFF, WebP; 8-bit) with a learned model into .nci files. "
            "By default the model is neuralcodec's shipped mbt2018-mean at --quality. Naming --model "
            "uses CompressAI's published weights for it (downloaded once, verified); --checkpoint uses your "
            "own weights (a .safetensors file, or a torch/CompressAI checkpoint with --model). "
            "A variable-rate model (the *-vbr models) codes at any --quality in its range (e.g. 2.5), or, "
            "with --bpp or --size instead, writes the largest file not over that target (a search over "
            "the quality on the actual bytes, a few encodes). "
            "Grayscale images are coded as RGB and decoded back to grayscale; images with transparency "
            "are refused unless --drop-alpha; 16-bit images are refused.",
            width=88,
        ),
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compress.add_argument("inputs", nargs="+", type=Path, metavar="IMAGE", help="image files or folders")
    _add_common(compress, "NAME.nci")
    options.add_quiet(compress)
    model = compress.add_argument_group("model")
    rate = model.add_mutually_exclusive_group()
    options.add_model_source(
        model,
        model_help=f"the architecture (CompressAI's published weights unless --checkpoint): "
        f"{', '.join(settings.COMPRESSAI_QUALITIES)}",
        rate=rate,
    )
    add_target(rate)
    model.add_argument("--coding-path", metavar="PATH", help="entropy-parameter path (default: the model's; 'compat' or 'engine' where offered)")
    options.add_effort(compress)
    compress.add_argument("--drop-alpha", action="store_true", help="code images with transparency without their alpha channel")
    compress.add_argument("--psnr", action="store_true", help="decode each file again and report its PSNR (verifies the file)")
    kept = compress.add_mutually_exclusive_group()
    kept.add_argument("--keep-exif", action="store_true", help="also keep the EXIF block (orientation reset to 1); the ICC profile is always kept")
    kept.add_argument("--strip-metadata", action="store_true", help="keep no metadata, not even the ICC colour profile")
    compress.set_defaults(handler=_compress_command)

    decompress = commands.add_parser(
        "decompress",
        help="decompress neuralcodec (.nci) files into images",
        description=textwrap.fill(
            "Decompress .nci files into images (PNG by default). Each file names its model: neuralcodec's "
            "shipped weights and CompressAI's are found without options; files made with your own weights "
            "need --checkpoint. A file made with other weights than the ones at hand, a corrupted or "
            "truncated file, or one larger than --max-pixels is reported and skipped.",
            width=88,
        ),
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    decompress.add_argument("inputs", nargs="+", type=Path, metavar="FILE", help=".nci files or folders")
    _add_common(decompress, "NAME.png")
    options.add_quiet(decompress, short=True)
    decompress.add_argument("--checkpoint", type=Path, metavar="FILE",
                            help="the weights file (or weight-shard folder) the inputs were made with")
    decompress.add_argument(
        "--format", choices=_OUTPUT_FORMATS, default="png", help="image format of outputs named by this command (default: png)"
    )
    decompress.add_argument("--strip-metadata", action="store_true", help="write the images without the ICC profile and EXIF the files keep")
    decompress.set_defaults(handler=_decompress_command)


# ------------------------------------------------------------------ inputs and outputs
def _collect(inputs: Sequence[Path], suffixes: Sequence[str]) -> List[Tuple[Path, Path, bool]]:
    """``(file, path relative to its folder argument, came from a folder)`` for every input."""
    found: List[Tuple[Path, Path, bool]] = []
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            found.extend((p, p.relative_to(item), True) for p in files)
        else:
            found.append((item, Path(item.name), False))
    return found


def _plan(inputs: Sequence[Path], output: Optional[Path], suffixes: Sequence[str], new_suffix: str) -> List[_Job]:
    """Maps inputs to outputs (see the ``-o`` help); inputs that would collide fail."""
    collected = _collect(inputs, suffixes)
    if not collected:
        raise _UsageError(f"no input files found (folders are searched for {', '.join(suffixes)})")
    single_file = len(collected) == 1 and not collected[0][2]
    output_is_file = (
        output is not None
        and single_file
        and bool(output.suffix)
        and not output.is_dir()
        and not str(output).endswith(("/", os.sep))
    )
    if output is not None and not output_is_file and output.exists() and not output.is_dir():
        raise _UsageError(f"-o {output} is an existing file, but these inputs need a folder to write into")
    jobs: List[_Job] = []
    claimed: Dict[Path, Path] = {}
    for source, relative, _ in collected:
        if output is None:
            target = source.with_suffix(new_suffix)
        elif output_is_file:
            target = output
        else:
            target = output / relative.with_suffix(new_suffix)
        key = Path(os.path.abspath(target))
        job = _Job(source, target)
        if key in claimed:
            job.error = f"its output {target} is also the output of {claimed[key]}; rename one of them"
        elif key == Path(os.path.abspath(source)):
            job.error = f"its output would overwrite the input {source}"
        else:
            claimed[key] = source
        jobs.append(job)
    return jobs


# ------------------------------------------------------------------ reporting
class _Reporter:
    """Progress bar on stderr (terminals only), notes and failures, and the summary table."""

    def __init__(self, total: int, quiet: bool, unit: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit=unit, disable=True if quiet else None, file=sys.stderr, dynamic_ncols=True)
        self.quiet = quiet
        self.failures: List[Tuple[Path, str]] = []

    def _write(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    def note(self, source: Path, message: str) -> None:
        if not self.quiet:
            self._write(f"note: {source}: {message}")

    def fail(self, source: Path, message: str) -> None:
        prefix = f"{source}: "
        message = message[len(prefix) :] if message.startswith(prefix) else message
        self.failures.append((source, message))
        self._write(f"error: {source}: {message}")

    def step(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _format_seconds(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _print_table(rows: Sequence[_Row], with_psnr: bool, bytes_label: str) -> None:
    if not rows:
        return
    with_quality = any(row.quality is not None for row in rows)
    header = ["input", "output", "size", bytes_label, "bpp"] + (["quality"] if with_quality else []) + ["time"]
    header += ["PSNR"] if with_psnr else []
    lines = []
    for row in rows:
        cells = [
            str(row.source),
            str(row.target),
            f"{row.size[1]}x{row.size[0]}",
            f"{row.nbytes:,}",
            f"{row.bpp:.4f}",
        ]
        if with_quality:
            cells.append(f"{row.quality:.4f}" if row.quality is not None else "-")
        cells.append(_format_seconds(row.seconds))
        if with_psnr:
            cells.append("exact" if row.psnr == float("inf") else f"{row.psnr:.2f} dB" if row.psnr is not None else "-")
        lines.append(cells)
    total_bytes = sum(r.nbytes for r in rows)
    total_pixels = sum(r.size[0] * r.size[1] for r in rows)
    total = ["total", f"{len(rows)} files", f"{total_pixels:,} px", f"{total_bytes:,}", f"{8 * total_bytes / total_pixels:.4f}"]
    total += [""] if with_quality else []
    total.append(_format_seconds(sum(r.seconds for r in rows)))
    if with_psnr:
        total.append("")
    lines.append(total)
    widths = [max(len(cells[i]) for cells in [header] + lines) for i in range(len(header))]
    numeric = set(range(2, len(header)))

    def render(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(render(header))
    print(render(["-" * w for w in widths]))
    for cells in lines[:-1]:
        print(render(cells))
    if len(rows) > 1:
        print(render(lines[-1]))


def _finish(reporter: _Reporter, rows: Sequence[_Row], jobs: Sequence[_Job], verb: str) -> int:
    failed = len(reporter.failures)
    summary = f"{len(rows)} of {len(jobs)} {'file' if len(jobs) == 1 else 'files'} {verb}"
    if failed:
        print(f"{summary}; {failed} failed:", file=sys.stderr)
        for source, message in reporter.failures:
            print(f"  {source}: {message}", file=sys.stderr)
        return EXIT_FAILED
    print(summary, file=sys.stderr)
    return EXIT_OK


def _describe_error(error: BaseException) -> str:
    from neuralcodec.codec.errors import CodecError

    if isinstance(error, (CodecError, FileExistsError)):
        return str(error)
    if isinstance(error, OSError):
        return f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
    return f"{type(error).__name__}: {error}"


def _run_jobs(jobs: Sequence[_Job], reporter: _Reporter, work: Callable[[_Job], _Row]) -> Tuple[List[_Row], bool]:
    """Runs ``work`` on each job, reporting failures; returns the rows and whether it was interrupted."""
    rows: List[_Row] = []
    try:
        for job in jobs:
            try:
                if job.error is not None:
                    reporter.fail(job.source, job.error)
                else:
                    rows.append(work(job))
            except KeyboardInterrupt:
                raise
            except Exception as error:  # one bad input must not stop the others
                reporter.fail(job.source, _describe_error(error))
            reporter.step()
    except KeyboardInterrupt:
        reporter.close()
        print("interrupted; no partial output was left behind", file=sys.stderr)
        return rows, True
    reporter.close()
    return rows, False


def _check_device(device: str) -> None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise _UsageError("--device cuda: CUDA is not available on this machine")


# ------------------------------------------------------------------ compress
@contextlib.contextmanager
def _tiles(args: argparse.Namespace, reporter: "_Reporter", label: str) -> Iterator[Dict[str, Any]]:
    """The tile keywords of one ``Codec.encode``/``decode`` call: ``--tile-size`` (the
    default size when not given, 0: never tile) and a progress bar over the tiles of a
    large image (on terminals, unless quiet), closed when the block ends."""
    tile_size = settings.DEFAULT_TILE_SIZE if args.tile_size is None else args.tile_size or None
    with _progress_bar(reporter, label, "tile") as progress:
        yield {"tile_size": tile_size, "tile_progress": progress}


@contextlib.contextmanager
def _progress_bar(reporter: "_Reporter", label: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a bar over the ``unit``s of one
    image's work (tiles, refinement steps; on terminals, unless quiet), closed when the
    block ends; no bar until it is first called."""
    from tqdm import tqdm

    bars: List[Any] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit=unit, desc=label, leave=False, file=sys.stderr,
                             disable=True if reporter.quiet else None, dynamic_ncols=True))
        bars[-1].update(done - bars[-1].n)

    try:
        yield progress
    finally:
        for bar in bars:
            bar.close()


def _compress_model(args: argparse.Namespace) -> Any:
    """The codec the model options name (:func:`neuralcodec.cli.options.model_source`,
    loaded by :meth:`neuralcodec.codec.api.Codec.load`, the one loader)."""
    from neuralcodec.codec.api import Codec

    try:
        source = options.model_source(args)
    except options.ModelSourceUsageError as error:
        raise _UsageError(str(error)) from None
    return Codec.load(args.model, args.quality, args.metric, source=source, checkpoint=args.checkpoint,
                      device=args.device, progress=not args.quiet)


def _compress_command(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec compress``."""
    try:
        jobs = _plan(args.inputs, args.output, settings.IMAGE_SUFFIXES, _CONTAINER_SUFFIX)
        _check_device(args.device)
        from neuralcodec.codec.errors import CodecError
        from neuralcodec.zoo import WeightsError

        try:
            codec = _compress_model(args)
        except _UsageError:
            raise
        except (CodecError, ValueError, WeightsError, OSError) as error:
            raise _UsageError(f"cannot load the model: {error}") from None
        try:
            codec.check_coding_path(args.coding_path)
        except ValueError as error:
            raise _UsageError(f"--coding-path {args.coding_path}: {error}") from None
        targeted = args.bpp is not None or args.size is not None
        try:
            codec.check_effort(args.effort)
        except ValueError as error:
            raise _UsageError(f"--effort {args.effort}: {error}") from None
        if targeted and args.effort:
            raise _UsageError("--effort refines the latent at one quality; --bpp/--size search the quality and code "
                              "without refinement: give --quality with --effort, or leave --effort out")
        if targeted and codec.quality_range is None:
            option = "--bpp" if args.bpp is not None else "--size"
            raise _UsageError(
                f"{option} needs a variable-rate model (a continuous quality), but {codec.identity.architecture} has "
                f"discrete rate points; use one of {', '.join(settings.VARIABLE_RATE_ARCHITECTURES)} (--model), "
                "or a variable-rate --checkpoint"
            )
    except _UsageError as error:
        print(f"neuralcodec compress: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        if targeted:
            low, high = codec.quality_range
            target = f"{args.bpp:g} bpp" if args.bpp is not None else f"{args.size:,} bytes"
            rate = f"; the largest file not over {target} (quality {low:g}..{high:g})"
        else:
            rate = f" at quality {codec.quality:g}" if codec.quality is not None else ""
        print(f"model: {codec.identity.describe()}{rate}", file=sys.stderr)

    from neuralcodec.codec.api import write_atomic
    from neuralcodec.codec.images import load_image
    from neuralcodec.metrics import psnr_8bit

    reporter = _Reporter(len(jobs), args.quiet, "image")
    last: List[Any] = []  # the previous image's search: the next one takes its slope

    def work(job: _Job) -> _Row:
        assert job.target is not None
        if not args.force and os.path.lexists(job.target):
            raise FileExistsError(f"{job.target} exists; pass --force to overwrite it")
        start = time.perf_counter()
        loaded = load_image(job.source, drop_alpha=args.drop_alpha, max_pixels=args.max_pixels)
        for note in loaded.notes:
            reporter.note(job.source, note)
        metadata = "none" if args.strip_metadata else "all" if args.keep_exif else "icc"
        quality = codec.quality
        with _tiles(args, reporter, f"{job.source.name}: analysis") as tiles:
            if targeted:
                search = codec.encode_target(
                    loaded, bpp=args.bpp, size=args.size, coding_path=args.coding_path, metadata=metadata,
                    slope=last[-1].slope if last else None,  # its quality depends on the content: not the start
                    **tiles,
                )
                last[:] = [search]
                data, quality = search.data, search.quality
                reporter.note(job.source, f"quality {quality:.4f} after {search.encodes} encodes "
                              f"({len(data):,} of {search.target:,} bytes)")
            else:
                with _progress_bar(reporter, f"{job.source.name}: effort {args.effort}", "step") as progress:
                    data = codec.encode(loaded, coding_path=args.coding_path, metadata=metadata, effort=args.effort,
                                        effort_progress=progress, **tiles)
        write_atomic(job.target, data, force=args.force)
        row = _Row(job.source, job.target, loaded.size, len(data), time.perf_counter() - start, quality=quality)
        if args.psnr:
            decoded = codec.decode(data, output="numpy", max_pixels=args.max_pixels)
            reference = loaded.pixels[..., 0] if loaded.channels == 1 else loaded.pixels
            row.psnr = psnr_8bit(reference, decoded)
        return row

    rows, interrupted = _run_jobs(jobs, reporter, work)
    _print_table(rows, args.psnr, "bytes")
    if interrupted:
        return EXIT_INTERRUPTED
    return _finish(reporter, rows, jobs, "compressed")


# ------------------------------------------------------------------ decompress
def _decompress_command(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec decompress``."""
    try:
        jobs = _plan(args.inputs, args.output, (_CONTAINER_SUFFIX,), f".{args.format}")
        _check_device(args.device)
        if args.checkpoint is not None and not args.checkpoint.exists():
            raise _UsageError(f"--checkpoint {args.checkpoint}: no such file")
    except _UsageError as error:
        print(f"neuralcodec decompress: error: {error}", file=sys.stderr)
        return EXIT_USAGE

    from neuralcodec.codec.api import Codec, decoder_for, save_image_atomic
    from neuralcodec.codec.container import unpack

    reporter = _Reporter(len(jobs), args.quiet, "file")
    codecs: Dict[Tuple[Any, ...], Any] = {}

    def model_for(header: Any) -> Codec:
        named = header.model
        key = ("checkpoint", named.architecture) if args.checkpoint else (named.origin, named.architecture, named.quality, named.metric)
        if key not in codecs:
            try:
                codecs[key] = decoder_for(header, args.checkpoint, device=args.device)
            except Exception as error:  # remembered, so a missing model is not fetched again per file
                codecs[key] = error
        found = codecs[key]
        if isinstance(found, Exception):
            raise found
        return found

    def work(job: _Job) -> _Row:
        assert job.target is not None
        if not args.force and os.path.lexists(job.target):
            raise FileExistsError(f"{job.target} exists; pass --force to overwrite it")
        start = time.perf_counter()
        data = job.source.read_bytes()
        header, strings = unpack(data, max_pixels=args.max_pixels)
        codec = model_for(header)
        with _tiles(args, reporter, f"{job.source.name}: synthesis") as tiles:
            image = codec.decode_parsed(header, strings, output="pil", **tiles)
        if args.strip_metadata:
            image.info.pop("icc_profile", None)
            image.info.pop("exif", None)
        save_image_atomic(image, job.target, force=args.force)
        return _Row(job.source, job.target, (header.height, header.width), len(data), time.perf_counter() - start,
                    quality=header.coded_quality)

    rows, interrupted = _run_jobs(jobs, reporter, work)
    _print_table(rows, False, "file bytes")
    if interrupted:
        return EXIT_INTERRUPTED
    return _finish(reporter, rows, jobs, "decompressed")
