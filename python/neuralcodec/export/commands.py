"""``neuralcodec export``: write a model's transforms to TorchScript and ONNX files.

The model is named as ``neuralcodec compress`` names it (:func:`neuralcodec.cli.options.add_model_source`,
loaded by :mod:`neuralcodec.zoo.loader`): by default neuralcodec's shipped model at
``--quality``; ``--model`` (with ``--quality``, ``--metric``; ``--pretrained`` says it
too) for CompressAI's published weights; ``--checkpoint FILE`` for your own weights (a
``.safetensors`` file or shard folder from ``neuralcodec train``, a training
``checkpoint.pt``, or a torch checkpoint with ``--model``); ``--model NAME --random``
for random weights (their CDF tables built, so ``entropy.safetensors`` is written too).

Exit codes: 0 exported (and checked, with ``--check``), 1 ``--check`` found a file that
disagrees with PyTorch, 2 bad arguments or a model that could not be loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Tuple, cast

from neuralcodec.cli import options

_FORMATS = ("torchscript", "onnx")
_TRANSFORMS = ("g_a", "g_s", "h_a", "h_s")


def _load(args: argparse.Namespace) -> Tuple[Any, Dict[str, str]]:
    """The model named by the arguments (as ``neuralcodec compress`` names it, through
    the one loader, :mod:`neuralcodec.zoo.loader`), in eval mode with its tables built,
    and what to record about it in the manifest."""
    from neuralcodec.codec.api import Codec
    from neuralcodec.codec.container import ModelIdentity
    from neuralcodec.models.ladder import MeanScaleLadder

    source = options.model_source(args)
    codec = Codec.load(args.model, args.quality, args.metric, source=source, checkpoint=args.checkpoint)
    identity = codec.identity
    model, quality = codec.model, codec.quality
    if isinstance(model, MeanScaleLadder) and quality is not None:  # one rung: the transforms of one rate
        rung = model.rung_of_quality(quality)
        if rung is None:
            raise ValueError(
                f"{identity.architecture} is a rate ladder: export writes the transforms of one of its rungs, at an "
                f"integer --quality (1..{len(model.rungs)}), got {quality:g}"
            )
        identity, quality = cast(ModelIdentity, codec.rung_identity(rung + 1)), None
        model = model.fixed_rate_model(rung)
    origin = "random initialisation" if source == "random" else identity.origin.label
    metadata = {"architecture": identity.architecture, "origin": origin}
    if identity.quality:
        metadata["quality"] = str(identity.quality)
    elif quality is not None:
        metadata["quality"] = f"{quality:g}"
    if identity.metric:
        metadata["metric"] = identity.metric
    if args.checkpoint is not None:
        metadata["source"] = args.checkpoint.name
    return model.eval(), metadata


def run_export(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec export``; returns the exit code."""
    from neuralcodec.codec.errors import CodecError
    from neuralcodec.export.exporter import export

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
            overwrite=args.force,
            entropy=False if args.no_entropy else None,
        )
    except (CodecError, options.ModelSourceUsageError, FileExistsError, FileNotFoundError, ValueError,
            RuntimeError) as error:
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
    entropy = manifest.get("entropy")
    if entropy and "path" in entropy:
        print(f"  entropy: {entropy['path']} ({entropy['kind']}; with g_s.onnx, decodes without PyTorch)")
    elif entropy:
        print(f"  entropy: not exported ({entropy['skipped']})")
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
            "Writes g_a.pt/.onnx, g_s.*, h_a.*, h_s.*, entropy.safetensors (CDF tables and the engine's "
            "networks: with g_s.onnx, a decoder without PyTorch, see neuralcodec.export.ort_decoder) and "
            "manifest.json (shapes, tensor names, the model's identity and weights hash) to OUT_DIR. ONNX files have dynamic batch, height and "
            "width. The model is named as for `neuralcodec compress`: by default neuralcodec's shipped "
            "model at --quality; --model for CompressAI's published weights; --checkpoint for your "
            "own. Exit codes: 0 exported, 1 --check failed, 2 bad arguments or a model that cannot be loaded."
        ),
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to write (created if needed)")
    source = parser.add_argument_group("model (as `neuralcodec compress` names it)")
    options.add_model_source(
        source, model_help="the architecture: CompressAI's published weights of it (e.g. mbt2018-mean), or with "
        "--random, --checkpoint", random=True,
    )
    parser.add_argument("--format", dest="formats", action="append", choices=_FORMATS,
                        help="export only this format (repeatable; default both)")
    parser.add_argument("--transform", dest="transforms", action="append", choices=_TRANSFORMS,
                        help="export only this transform (repeatable; default all the model has)")
    parser.add_argument("--method", choices=("script", "trace"), default="script",
                        help="how TorchScript is made (default %(default)s)")
    parser.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                        help="torch's ONNX exporter (default %(default)s; dynamo needs onnxscript)")
    parser.add_argument("--opset", type=int, help="ONNX opset (default 17, or 18 with --exporter dynamo)")
    parser.add_argument("--no-entropy", action="store_true",
                        help="do not write entropy.safetensors (the CDF tables and engine networks that the "
                             "torch-free decoder needs)")
    options.add_force(parser, help="replace an export of another model in OUT_DIR")
    parser.add_argument("--check", action="store_true",
                        help="run every file on a new input size and compare with PyTorch (onnx needs onnxruntime)")
    parser.set_defaults(handler=run_export)
