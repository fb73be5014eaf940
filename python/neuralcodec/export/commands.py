"""``neuralcodec export``: write a model's transforms to TorchScript and ONNX files.

The model is, in order of precedence: a weights file made by ``neuralcodec train``
(``--weights``); a zoo architecture and quality (``--architecture``/``--quality``) with
CompressAI's published weights, a local checkpoint (``--checkpoint``) or random weights
(``--random``); or, by default, neuralcodec's shipped model at ``--quality``.

Exit codes: 0 exported (and checked, with ``--check``), 1 ``--check`` found a file that
disagrees with PyTorch, 2 bad arguments or a model that could not be loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Tuple

_FORMATS = ("torchscript", "onnx")
_TRANSFORMS = ("g_a", "g_s", "h_a", "h_s")


def _load(args: argparse.Namespace) -> Tuple[Any, Dict[str, str]]:
    """The model named by the arguments, in eval mode, and what to record about it."""
    if args.weights is not None:
        from neuralcodec.zoo.defaults import load_weights_file, read_weights

        _, metadata = read_weights(args.weights)
        recorded = {k: v for k, v in metadata.items() if k in ("architecture", "lambda", "metric", "quality")}
        return load_weights_file(args.weights), {"origin": "weights file", "source": args.weights.name, **recorded}
    if args.architecture is not None:
        from neuralcodec.zoo import load_model

        quality = 1 if args.quality is None else args.quality
        if args.random:
            pretrained: Any = False
            origin = "random initialisation"
        elif args.checkpoint is not None:
            pretrained, origin = args.checkpoint, "checkpoint"
        else:
            pretrained, origin = True, "CompressAI published weights"
        model = load_model(args.architecture, quality, args.metric, pretrained=pretrained, progress=True)
        metadata = {"architecture": args.architecture, "quality": str(quality), "metric": args.metric, "origin": origin}
        return model.eval(), metadata
    from neuralcodec.zoo.defaults import DEFAULT_ARCHITECTURE, DEFAULT_QUALITY, default_model

    quality = DEFAULT_QUALITY if args.quality is None else args.quality
    model = default_model(quality)
    return model, {"architecture": DEFAULT_ARCHITECTURE, "quality": str(quality), "origin": "neuralcodec shipped weights"}


def run_export(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec export``; returns the exit code."""
    from neuralcodec.export.exporter import export

    if (args.checkpoint is not None or args.random) and args.architecture is None:
        print("error: --checkpoint and --random need --architecture", file=sys.stderr)
        return 2
    try:
        model, metadata = _load(args)
        manifest = export(
            model,
            args.out_dir,
            formats=args.formats or _FORMATS,
            transforms=args.transforms,
            method=args.method,
            opset=args.opset,
            exporter=args.exporter,
            metadata=metadata,
            overwrite=args.overwrite,
        )
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    identity = manifest["model"]
    print(
        f"exported {identity['architecture'] or identity['class']} "
        f"(weights sha256 {identity['weights_sha256'][:16]}) to {args.out_dir}"
    )
    for name, entry in manifest["transforms"].items():
        shapes = f"{entry['input']['shape']} -> {entry['output']['shape']}"
        print(f"  {name}: {', '.join(info['path'] for info in entry['files'].values())}  {shapes}")
    if not args.check:
        return 0
    from neuralcodec.export.check import ONNX_RTOL, check_export

    failed = 0
    for result in check_export(model, args.out_dir):
        if result.skipped:
            status = f"skipped: {result.skipped}"
        else:
            status = f"max |error| {result.max_abs_error:.3g} (output up to {result.max_abs_reference:.3g})"
            status += "" if result.ok else f"  FAILED (tolerance: exact for torchscript, {ONNX_RTOL:g} relative for onnx)"
        failed += not result.ok
        print(f"  check {result.transform} {result.format}: {status}")
    return 1 if failed else 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds the ``export`` subcommand to the ``neuralcodec`` parser."""
    parser = commands.add_parser(
        "export",
        help="export a model's transforms (g_a, g_s, h_a, h_s) to TorchScript and ONNX",
        description=(
            "Writes g_a.pt/.onnx, g_s.*, h_a.*, h_s.* and manifest.json (shapes, tensor names, the "
            "model's identity and weights hash) to OUT_DIR. ONNX files have dynamic batch, height and "
            "width. The model: --weights FILE (from `neuralcodec train`); or --architecture with "
            "--quality and CompressAI's published weights, --checkpoint or --random; by default "
            "neuralcodec's shipped model. Exit codes: 0 exported, 1 --check failed, 2 bad arguments."
        ),
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to write (created if needed)")
    source = parser.add_argument_group("model")
    source.add_argument("--weights", type=Path, help="safetensors weights file written by `neuralcodec train`")
    source.add_argument("--architecture", help="zoo name, e.g. mbt2018-mean, cheng2020-anchor")
    source.add_argument("--quality", type=int, help="rate point (default: 1 with --architecture, the shipped default otherwise)")
    source.add_argument("--metric", choices=("mse", "ms-ssim"), default="mse", help="with --architecture (default %(default)s)")
    source.add_argument("--checkpoint", help="with --architecture: a local checkpoint file or URL instead of the published weights")
    source.add_argument("--random", action="store_true", help="with --architecture: random weights (to try the export)")
    parser.add_argument("--format", dest="formats", action="append", choices=_FORMATS,
                        help="export only this format (repeatable; default both)")
    parser.add_argument("--transform", dest="transforms", action="append", choices=_TRANSFORMS,
                        help="export only this transform (repeatable; default all the model has)")
    parser.add_argument("--method", choices=("script", "trace"), default="script",
                        help="how TorchScript is made (default %(default)s)")
    parser.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                        help="torch's ONNX exporter (default %(default)s; dynamo needs onnxscript)")
    parser.add_argument("--opset", type=int, help="ONNX opset (default 17, or 18 with --exporter dynamo)")
    parser.add_argument("--overwrite", action="store_true", help="replace an export of another model in OUT_DIR")
    parser.add_argument("--check", action="store_true",
                        help="run every file on a new input size and compare with PyTorch (onnx needs onnxruntime)")
    parser.set_defaults(handler=run_export)
