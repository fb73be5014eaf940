"""The ``eval``, ``plot`` and ``bdrate`` subcommands.

* ``neuralcodec eval DATASET [--model ARCH --pretrained | --checkpoint FILE...] [--quality Q...]
  [-o RESULTS.json]``: evaluates learned models (see :mod:`neuralcodec.eval.learned`).
  With no model named it evaluates neuralcodec's shipped models
  (:func:`neuralcodec.zoo.defaults.default_model`).
  A variable-rate model (``--model mbt2018-mean-vbr --pretrained``, or one variable-rate
  ``--checkpoint``) is one set of weights evaluated at every ``--quality`` given, which
  may be any number in its range (``--quality 1 1.5 2``).
* ``neuralcodec plot RESULTS.json... -o FILE.png|svg [--metric psnr|ms-ssim]``: RD curves.
* ``neuralcodec bdrate REFERENCE.json TEST.json...``: BD-rate (%) and BD-PSNR (dB) of each
  TEST against REFERENCE.

Exit codes: 0 success, 1 the run failed, 2 bad usage or unreadable input. Only argparse
is imported here; torch, the models and matplotlib load when a handler runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from neuralcodec import settings
from neuralcodec.cli import options
from neuralcodec.errors import NeuralCodecError

__all__ = ["register", "run_bdrate", "run_eval", "run_plot"]


class UsageError(NeuralCodecError, ValueError):
    """Arguments that do not make sense together (exit code 2)."""


def _error(message: object, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


# ------------------------------------------------------------------------------ eval
def _rate_points(args: argparse.Namespace) -> Tuple[list, str, str, Dict[str, Any]]:
    """The rate points, results name, description and settings the ``eval`` arguments ask
    for. Every model is loaded by the one loader (:mod:`neuralcodec.zoo.loader`), which
    also gives each rate point's lambda."""
    from neuralcodec.eval.learned import RatePoint
    from neuralcodec.zoo import defaults
    from neuralcodec.zoo.image import ARCHITECTURES
    from neuralcodec.zoo.loader import ModelSpec

    try:
        source = options.model_source(args, model_alone=None)
    except options.ModelSourceUsageError as error:
        raise UsageError(str(error)) from None
    if args.model is not None and args.model not in ARCHITECTURES:  # the name, before anything else
        raise UsageError(f"unknown architecture {args.model!r}; known: {', '.join(ARCHITECTURES)}")
    if source == "checkpoint":
        if args.quality and len(args.checkpoint) > 1:
            raise UsageError(
                "--checkpoint files are the rate points; --quality goes with one variable-rate checkpoint"
            )
        for path in args.checkpoint:
            if not path.exists():
                raise UsageError(f"checkpoint {path} does not exist")
        if args.quality:  # one variable-rate model at several qualities
            path = args.checkpoint[0]
            spec = ModelSpec(args.model, metric=args.metric, checkpoint=path)
            load = _variable_rate(_loader(spec, args, f"cannot load checkpoint {path}"), args.quality,
                                  f"--checkpoint {path}")
            points = [RatePoint(q, load, rate=float(q)) for q in args.quality]
            name = args.name or path.stem
            description = f"neuralcodec eval of {path.name} at {len(points)} qualities"
            return points, name, description, {"architecture": args.model, "checkpoints": [str(path)],
                                               "variable_rate": True}
        points = [
            _fixed_point(path.name, ModelSpec(args.model, metric=args.metric, checkpoint=path), args,
                         f"cannot load checkpoint {path}")
            for path in args.checkpoint
        ]
        name = args.name or (f"{args.model}-checkpoints" if args.model else "checkpoints")
        description = f"neuralcodec eval of {len(points)} checkpoint files"
        return points, name, description, {"architecture": args.model, "checkpoints": [str(p) for p in args.checkpoint]}
    if source == "pretrained":
        qualities = args.quality or []
        if not qualities:
            raise UsageError(f"give --quality for {args.model} (one or more of {list(settings.qualities_of(args.model))})")
        metric = args.metric or "mse"
        what = f"--pretrained: CompressAI's {args.model}"
        description = f"neuralcodec eval of {args.model} ({metric}), CompressAI's published weights"
        recorded: Dict[str, Any] = {"architecture": args.model, "metric": metric, "weights": "compressai"}
        if args.model in settings.VARIABLE_RATE_ARCHITECTURES:  # one model, any quality in its range
            load = _variable_rate(_loader(ModelSpec(args.model, None, metric, "pretrained"), args, what), qualities,
                                  args.model)
            points = [RatePoint(q, load, rate=float(q)) for q in qualities]
            return points, args.name or f"{args.model}-{metric}", description, {**recorded, "variable_rate": True}
        specs = [ModelSpec(args.model, q, metric, "pretrained") for q in qualities]
        _check(specs)
        points = [_fixed_point(spec.quality, spec, args, f"{what} quality {spec.quality}") for spec in specs]
        return points, args.name or f"{args.model}-{metric}", description, recorded
    qualities = args.quality or list(settings.qualities_of())  # the shipped model's integer qualities
    for quality in qualities:
        try:
            settings.check_shipped_quality(quality)
        except ValueError as error:
            raise UsageError(str(error)) from None
    if not defaults.default_weights_path().is_file():
        raise UsageError(
            f"the shipped weights {defaults.default_weights_path()} are missing from this installation; "
            "reinstall neuralcodec or name a model"
        )
    what = "the shipped model"
    load = _variable_rate(_loader(ModelSpec(source="shipped"), args, what), qualities, what)
    points = [RatePoint(q, load, rate=float(q)) for q in qualities]
    name = args.name or f"neuralcodec-{defaults.DEFAULT_ARCHITECTURE}"
    description = f"neuralcodec eval of the shipped {defaults.DEFAULT_ARCHITECTURE} model"
    recorded = {
        "architecture": defaults.DEFAULT_ARCHITECTURE,
        "weights": "neuralcodec defaults",
        "lambdas": [settings.DEFAULT_LAMBDAS.get(int(q)) if float(q).is_integer() else None for q in qualities],
        "variable_rate": True,
    }
    return points, name, description, recorded


def _check(specs: Sequence[Any]) -> None:
    """Raises :class:`UsageError` unless every spec names what exists (qualities that are
    rate points; see :meth:`neuralcodec.zoo.loader.ModelSpec.check`)."""
    from neuralcodec.zoo.loader import ModelSourceError

    try:
        for spec in specs:
            spec.check()
    except ModelSourceError as error:
        raise UsageError(str(error)) from None


def _loader(spec: Any, args: argparse.Namespace, what: str) -> Any:
    """A function loading ``spec`` (on the CPU: the evaluation moves it), with loading
    errors as :class:`UsageError` prefixed by ``what``."""

    def load() -> Any:
        from neuralcodec.zoo import WeightsError
        from neuralcodec.zoo.loader import ModelSourceError

        try:
            return spec.load("cpu", progress=not args.quiet).model
        except (ModelSourceError, WeightsError, OSError, KeyError) as error:
            raise UsageError(f"{what}: {error}") from error

    return load


def _fixed_point(label: Any, spec: Any, args: argparse.Namespace, what: str) -> Any:
    """A rate point of a model with discrete rate points, with its lambda: the shipped or
    CompressAI's table's, or (with ``--effort``, which needs it) what a checkpoint records."""
    from neuralcodec.eval.learned import RatePoint

    lmbda = _known_lambda(spec)
    if lmbda is None and args.effort:  # only --effort needs it: a checkpoint's is read ahead
        lmbda = _checkpoint_lambda(spec)
    return RatePoint(label, _loader(spec, args, what), lmbda=lmbda)


def _known_lambda(spec: Any) -> Optional[float]:
    """The lambda of the shipped or CompressAI's weights at a rate point (no loading)."""
    source = spec.resolved_source()
    if source == "shipped" and spec.architecture in settings.PREVIOUS_DEFAULTS:
        return settings.PREVIOUS_DEFAULTS[spec.architecture][int(spec.quality)]
    if source == "pretrained":
        return settings.COMPRESSAI_LAMBDAS[spec.metric or "mse"][int(spec.quality) - 1]
    return None


def _checkpoint_lambda(spec: Any) -> Optional[float]:
    """The lambda a checkpoint file records (its metadata or training config), read
    without building the model; None when unreadable or not recorded."""
    from neuralcodec.zoo import WeightsError
    from neuralcodec.zoo.loader import read_any_weights, recorded_lambda

    try:
        return recorded_lambda(read_any_weights(spec.checkpoint)[1])
    except (WeightsError, OSError, ValueError):
        return None


def _variable_rate(load: Any, qualities: Sequence[float], what: str) -> Any:
    """A loader that loads a variable-rate model once (shared by its rate points) and
    checks ``qualities`` against its range.

    Raises:
        UsageError: the model has discrete rate points, or a quality is outside its range.
    """
    from neuralcodec.models.vbr import VariableRateModel

    kept: List[Any] = []

    def get() -> Any:
        if not kept:
            model = load()
            if not isinstance(model, VariableRateModel):
                raise UsageError(
                    f"{what} holds a {type(model).__name__}, which has discrete rate points: --quality with one "
                    "checkpoint needs a variable-rate model (give one checkpoint per rate point instead)"
                )
            try:
                for quality in qualities:
                    model.check_quality(quality)
            except ValueError as error:
                raise UsageError(f"{what}: {error}") from None
            kept.append(model)
        return kept[0]

    return get


def _print_table(results: Dict[str, Any], stream: Any) -> None:
    table = results["results"]
    has_estimate = "bpp-estimate" in table
    header = f"{'quality':>22}  {'bpp':>7}  " + (f"{'(est.)':>7}  " if has_estimate else "")
    header += f"{'PSNR-RGB':>8}  {'MS-SSIM':>7}  {'enc s':>7}  {'dec s':>7}"
    print(f"{results['name']}: mean over {len(results['per_image']['images'])} images", file=stream)
    print(header, file=stream)
    for i, quality in enumerate(results["qualities"]):
        line = f"{quality!s:>22}  {table['bpp'][i]:7.4f}  "
        if has_estimate:
            line += f"{table['bpp-estimate'][i]:7.4f}  "
        line += (
            f"{table['psnr-rgb'][i]:8.3f}  {table['ms-ssim-rgb'][i]:7.5f}  "
            f"{table['encoding_time'][i]:7.4f}  {table['decoding_time'][i]:7.4f}"
        )
        print(line, file=stream)


def _existing_output(output: Optional[Path], force: bool) -> Optional[str]:
    """The refusal message when ``output`` exists and ``--force`` was not given, else ``None``
    (checked before any work, so an existing results file or plot is never replaced unasked)."""
    if output is None:
        return None
    if output.is_dir():
        return f"{output} is a folder; give a file name for the output"
    if not force and os.path.lexists(output):  # a link counts, even a dangling one
        return f"{output} exists; pass --force to replace it"
    return None


def _finish(results: Dict[str, Any], output: Optional[Path], force: bool) -> int:
    """Writes ``results`` to ``output`` (replacing it only with ``force``) and a table to
    stdout, or the JSON to stdout; returns the exit code. When ``output`` cannot be
    written (it appeared during the run, or a permission error), the JSON goes to stdout
    instead, so a long run's results are not lost."""
    import json

    from neuralcodec.eval.results import write_results

    if output is not None:
        try:
            write_results(results, output, force=force)
        except FileExistsError:
            print(f"error: {output} appeared during the run; pass --force to replace it. "
                  "The results follow on stdout.", file=sys.stderr)
        except OSError as error:
            print(f"error: cannot write {output}: {error}. The results follow on stdout.", file=sys.stderr)
        else:
            _print_table(results, sys.stdout)
            print(f"wrote {output}")
            return 0
    _print_table(results, sys.stderr)
    print(json.dumps(results, indent=1, allow_nan=False))
    return 0 if output is None else 1


def run_eval(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec eval``."""
    from neuralcodec.eval.images import DatasetError, collect_images

    refusal = _existing_output(args.output, args.force)
    if refusal:
        return _error(refusal)
    try:
        images = collect_images(args.dataset)
        points, name, description, recorded = _rate_points(args)
    except (DatasetError, UsageError) as error:
        return _error(error)
    import torch

    from neuralcodec.eval.learned import evaluate

    if args.device == "cuda" and not torch.cuda.is_available():
        return _error("--device cuda: CUDA is not available on this machine")
    if args.effort and any(point.lmbda is None and point.rate is None for point in points):  # a variable-rate model knows its own
        return _error("--effort fits latents to the lambda the weights were trained for, which these --checkpoint "
                      "files do not record: evaluate the shipped or --pretrained weights with it, or weights written "
                      "by `neuralcodec train`")
    if args.effort:
        from neuralcodec.models.refinement import EFFORT_STEPS

        name = name if args.name else f"{name}-effort{args.effort}"
        description += f", latents refined at --effort {args.effort} ({EFFORT_STEPS[args.effort]} steps per image)"
    try:
        results = evaluate(points, images, name, description, args.device, not args.quiet, args.dataset, recorded,
                           effort=args.effort, metric=recorded.get("metric") or "mse")
    except (DatasetError, UsageError, FileNotFoundError) as error:
        return _error(error)
    except (ValueError, RuntimeError, OSError) as error:
        return _error(f"evaluation failed: {error}", 1)
    return _finish(results, args.output, args.force)


# ------------------------------------------------------------------------ plot, bdrate
def _load_all(paths: Sequence[Path]) -> List[Dict[str, Any]]:
    from neuralcodec.eval.results import load_results

    return [load_results(path) for path in paths]


def _parse_size(text: str) -> Tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT in pixels, e.g. 800x600, got {text!r}") from None
    if not (16 <= width <= 10000 and 16 <= height <= 10000):
        raise argparse.ArgumentTypeError(f"size must be between 16 and 10000 pixels a side, got {text!r}")
    return width, height


def run_plot(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec plot``."""
    from neuralcodec.eval.rd import plot_curves
    from neuralcodec.eval.results import ResultsError

    refusal = _existing_output(args.output, args.force)
    if refusal:
        return _error(refusal)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return _error("neuralcodec plot needs matplotlib: pip install matplotlib")
    try:
        results = _load_all(args.results)
        reference = None
        if args.reference is not None:
            names = [str(r.get("name")) for r in results]
            paths = [str(p) for p in args.results]
            if args.reference in paths:
                reference = paths.index(args.reference)
            elif args.reference in names:
                reference = names.index(args.reference)
            else:
                raise UsageError(
                    f"--reference {args.reference!r} is neither a given file nor a curve name ({', '.join(names)})"
                )
        plot_curves(results, args.output, args.metric, reference, args.size, args.dpi, args.title, force=args.force)
    except (ResultsError, UsageError, ValueError, OSError) as error:
        return _error(error)
    print(f"wrote {args.output}")
    return 0


def run_bdrate(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec bdrate``."""
    from neuralcodec.eval.rd import results_bjontegaard
    from neuralcodec.eval.results import ResultsError

    try:
        reference, *tests = _load_all([args.reference, *args.test])
    except ResultsError as error:
        return _error(error)
    quality = "PSNR" if args.metric == "psnr" else "MS-SSIM(dB)"
    print(f"reference: {reference['name']} ({args.reference})")
    status = 0
    for path, test in zip(args.test, tests):
        try:
            delta = results_bjontegaard(reference, test, args.metric)
        except (ResultsError, ValueError) as error:
            print(f"{test['name']} ({path}): {error}", file=sys.stderr)
            status = 1
            continue
        lo, hi = delta.quality_range
        rate_lo, rate_hi = delta.rate_range
        print(f"{test['name']} ({path}):")
        print(f"  BD-rate  {delta.rate_percent:+8.2f} %   (over {quality} {lo:.2f} to {hi:.2f} dB)")
        print(f"  BD-{quality} {delta.quality_db:+8.3f} dB  (over {rate_lo:.3f} to {rate_hi:.3f} bpp)")
    return status


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds the ``eval``, ``plot`` and ``bdrate`` subcommands to the ``neuralcodec`` parser."""
    evaluate = commands.add_parser(
        "eval",
        help="evaluate learned models on an image folder (bpp from real bitstreams, PSNR, MS-SSIM, times)",
        description=(
            "Evaluate learned models on the images of DATASET: bpp counted from the bytes model.compress "
            "writes (the likelihood estimate beside it), PSNR-RGB and MS-SSIM-RGB of the 8-bit decoded "
            "image, encode and decode seconds, per image and averaged; results in CompressAI's JSON layout. "
            "With no --model or --checkpoint, the models shipped with neuralcodec are evaluated."
        ),
    )
    evaluate.add_argument("dataset", type=Path, metavar="DATASET", help="folder of images (not recursive), or one image file")
    options.add_model_source(
        evaluate,
        model_help="zoo architecture of --pretrained weights or --checkpoint files, e.g. mbt2018-mean",
        quality_nargs="+", quality_help=settings.quality_help("default: all of them"),
        checkpoints="many", metric_default="mse",
        checkpoint_help="weight files, one rate point each (.safetensors files or weight-shard folders from "
        "neuralcodec, `neuralcodec train` checkpoints, or state_dict/CompressAI checkpoints with --model); or one "
        "variable-rate checkpoint with --quality",
    )
    options.add_device(evaluate, help="where the models run (default: cpu; the entropy coder runs on the CPU)")
    options.add_effort(evaluate)
    evaluate.add_argument("--name", help="the curve's name in the results (default from the model)")
    evaluate.add_argument(
        "-o", "--output", type=Path, metavar="RESULTS.json", help="write the results here (default: JSON to stdout)"
    )
    options.add_force(evaluate, help="replace an existing --output file")
    options.add_quiet(evaluate)
    evaluate.set_defaults(handler=run_eval)

    plot = commands.add_parser(
        "plot",
        help="draw rate-distortion curves of results files",
        description="Draw PSNR (or MS-SSIM, in dB) against bpp for results files (ours or CompressAI's).",
    )
    plot.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json")
    plot.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="a .png or .svg file")
    plot.add_argument("--metric", choices=("psnr", "ms-ssim"), default="psnr")
    plot.add_argument(
        "--reference", metavar="FILE|NAME", help="label every other curve with its BD-rate against this one"
    )
    plot.add_argument(
        "--size", type=_parse_size, default=(800, 600), metavar="WxH", help="image size in pixels (default 800x600)"
    )
    plot.add_argument("--dpi", type=int, default=100, help="resolution (default 100)")
    plot.add_argument("--title")
    options.add_force(plot, help="replace an existing --output file")
    plot.set_defaults(handler=run_plot)

    bdrate = commands.add_parser(
        "bdrate",
        help="Bjontegaard BD-rate and BD-PSNR of results files against a reference",
        description=(
            "Print the BD-rate (%; negative: fewer bits for the same quality) and BD-PSNR (dB) of each "
            "TEST.json results file against REFERENCE.json, with PCHIP interpolation over the overlapping range."
        ),
    )
    bdrate.add_argument("reference", type=Path, metavar="REFERENCE.json", help="the reference curve")
    bdrate.add_argument("test", type=Path, nargs="+", metavar="TEST.json", help="curves to compare with it")
    bdrate.add_argument(
        "--metric", choices=("psnr", "ms-ssim"), default="psnr", help="quality measure (MS-SSIM is used in dB)"
    )
    bdrate.set_defaults(handler=run_bdrate)
