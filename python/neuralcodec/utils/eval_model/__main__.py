"""Evaluate learned models on an image folder, with CompressAI's ``eval_model`` arguments.

``python -m neuralcodec.utils.eval_model pretrained DATASET -a ARCH -q 1,2,3`` evaluates
the zoo's published weights; ``python -m neuralcodec.utils.eval_model checkpoint DATASET
-a ARCH -p FILE...`` evaluates training checkpoints (each one rate point; their entropy
tables are rebuilt with ``update(force=True)`` first unless ``--no-update``). The output
is a results dictionary (:mod:`neuralcodec.eval.results`: CompressAI's ``name``,
``description`` and ``results``, plus the per-image detail), printed as JSON and, with
``-d DIR``, written to ``DIR/OUTPUT.json`` (``-o``; default ``ARCH-CODER.json``).

Each image is measured as CompressAI measures it: read as 8-bit RGB in ``[0, 1]``,
zero-padded (centred) to multiples of 64, coded with ``model.compress`` and decoded with
``model.decompress`` (:func:`neuralcodec.eval.learned.code_and_decode`: ``bpp`` from the
coded bytes over the unpadded pixels, wall-clock seconds), cropped, and compared on
8-bit values (PSNR-RGB, MS-SSIM-RGB from :mod:`neuralcodec.metrics`). With
``--entropy-estimation`` nothing is coded: ``bpp`` is ``-sum(log2 likelihoods)`` of
``model.forward`` and the forward time is split evenly between "encoding" and
"decoding". Each figure in ``results`` is the mean over the images.

Models are loaded through the zoo (:data:`neuralcodec.zoo.image_models`,
:func:`neuralcodec.utils.checkpoints.read_state_dict`, :data:`neuralcodec.zoo.ARCHITECTURES`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import neuralcodec
from neuralcodec.eval.images import IMAGE_EXTENSIONS, DatasetError, read_rgb
from neuralcodec.eval.images import collect_images as _dataset_images
from neuralcodec.eval.learned import code_and_decode, likelihood_bits
from neuralcodec.eval.results import PSNR_CAP, build_results, write_results
from neuralcodec.metrics import ms_ssim
from neuralcodec.metrics import psnr as _psnr
from neuralcodec.models import CompressionModel
from neuralcodec.ops import compute_padding
from neuralcodec.utils import arguments
from neuralcodec.utils.checkpoints import read_state_dict
from neuralcodec.zoo import ARCHITECTURES, image_models

__all__ = [
    "IMG_EXTENSIONS",
    "collect_images",
    "compute_metrics",
    "eval_model",
    "inference",
    "inference_entropy_estimation",
    "load_checkpoint",
    "load_pretrained",
    "main",
    "psnr",
    "read_image",
    "setup_args",
]

#: The file suffixes read as images (:data:`neuralcodec.eval.images.IMAGE_EXTENSIONS`).
IMG_EXTENSIONS = IMAGE_EXTENSIONS

#: The architectures whose hyper-latent step depends on the gain (``vr_entbttlnck``):
#: their ``z`` tables are rebuilt for each quantization step evaluated.
_GAIN_BOTTLENECK_ARCHITECTURES = ("bmshj2018-hyperprior-vbr", "mbt2018-mean-vbr")
#: Stride every evaluated image is padded to (six stride-2 stages).
_PAD_MULTIPLE = 2**6


def _set_entropy_coder(name: str) -> None:
    setter = getattr(neuralcodec, "set_entropy_coder", None)
    if setter is not None:
        setter(name)


def collect_images(rootpath: Union[str, Path]) -> List[Path]:
    """The image files under ``rootpath`` and its subfolders, sorted; empty when there
    are none (or no such folder)."""
    try:
        return _dataset_images(rootpath, recursive=True)
    except DatasetError:
        return []


def psnr(a: Tensor, b: Tensor, max_val: float = 255) -> Tensor:
    """PSNR in dB of two tensors of any (equal) shape, over all their values, on the
    scale ``max_val`` (a 0-d tensor)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} and {tuple(b.shape)}")
    return _psnr(a.reshape(1, 1, 1, -1), b.reshape(1, 1, 1, -1), data_range=float(max_val))


def compute_metrics(org: Tensor, rec: Tensor, max_val: int = 255) -> Dict[str, Any]:
    """``{"psnr-rgb", "ms-ssim-rgb"}`` of two ``[1, 3, H, W]`` images in ``[0, 1]``,
    measured on their values rounded to integers ``0..max_val`` (8-bit for 255). An
    exact reconstruction's PSNR is :data:`~neuralcodec.eval.results.PSNR_CAP`."""
    org = (org.double() * max_val).clamp(0, max_val).round()
    rec = (rec.double() * max_val).clamp(0, max_val).round()
    value = float(psnr(org, rec, max_val))
    return {
        "psnr-rgb": min(value, PSNR_CAP),
        "ms-ssim-rgb": float(ms_ssim(org, rec, data_range=float(max_val))),
    }


def read_image(filepath: Union[str, Path]) -> Tensor:
    """The image at ``filepath`` as a float ``[3, H, W]`` tensor in ``[0, 1]`` (8-bit RGB).

    Raises:
        neuralcodec.eval.images.DatasetError: the file cannot be read as an image.
    """
    rgb = read_rgb(filepath)
    return torch.from_numpy(rgb).permute(2, 0, 1).to(torch.float32) / 255


def _rate_arguments(vbr_stage: Optional[int], vbr_scale: Optional[Any], with_s: bool) -> Dict[str, Any]:
    if vbr_scale is None:
        return {}
    rate = {"stage": vbr_stage, "inputscale": vbr_scale}
    if with_s:
        rate["s"] = 0
    return rate


@torch.no_grad()
def inference(model: nn.Module, x: Tensor, vbr_stage: Optional[int] = None, vbr_scale: Optional[Any] = None) -> Dict[str, float]:
    """Codes one ``[3, H, W]`` image and measures it (see the module documentation).

    Returns:
        ``{"psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time", "decoding_time"}``.
    """
    x = x.unsqueeze(0)
    height, width = x.shape[-2:]
    pad, unpad = compute_padding(height, width, min_div=_PAD_MULTIPLE)
    padded = F.pad(x, pad, mode="constant", value=0)
    rate = _rate_arguments(vbr_stage, vbr_scale, with_s=True)
    row, x_hat = code_and_decode(model, padded, height * width, rate, crop=False)  # type: ignore[arg-type]
    x_hat = F.pad(x_hat, unpad)
    metrics = compute_metrics(x, x_hat, 255)
    return {"psnr-rgb": metrics["psnr-rgb"], "ms-ssim-rgb": metrics["ms-ssim-rgb"], **row}


@torch.no_grad()
def inference_entropy_estimation(
    model: nn.Module, x: Tensor, vbr_stage: Optional[int] = None, vbr_scale: Optional[Any] = None
) -> Dict[str, float]:
    """Measures one ``[3, H, W]`` image through ``model.forward``, without coding:
    ``bpp`` from the likelihoods; half the forward time each as encoding and decoding."""
    x = x.unsqueeze(0)
    rate = _rate_arguments(vbr_stage, vbr_scale, with_s=False)
    start = time.perf_counter()
    out = model.forward(x, **rate)
    elapsed = time.perf_counter() - start
    x_hat = out["x_hat"]
    if x_hat.shape[-2:] != x.shape[-2:] and isinstance(model, CompressionModel):
        x_hat = model.crop(x_hat, x.shape[-2:])  # our models pad sizes that are not multiples of their stride
    metrics = compute_metrics(x, x_hat, 255)
    pixels = x.shape[0] * x.shape[2] * x.shape[3]
    return {
        "psnr-rgb": metrics["psnr-rgb"],
        "ms-ssim-rgb": metrics["ms-ssim-rgb"],
        "bpp": likelihood_bits(out["likelihoods"]) / pixels,
        "encoding_time": elapsed / 2.0,
        "decoding_time": elapsed / 2.0,
    }


def load_pretrained(model: str, metric: str, quality: int) -> nn.Module:
    """The zoo's published weights of ``model`` (a zoo name) at ``quality``, in eval mode
    (through the one model loader, :mod:`neuralcodec.zoo.loader`)."""
    from neuralcodec.zoo.loader import load

    return load(model, quality, metric, source="pretrained", progress=False).model.eval()


def load_checkpoint(arch: str, no_update: bool, checkpoint_path: Union[str, Path]) -> nn.Module:
    """The model ``arch`` (a zoo name) with the weights of a checkpoint file, in eval
    mode, its entropy tables rebuilt with ``update(force=True)`` unless ``no_update``
    (a variable-rate model with a gain-dependent hyper-latent step: for its largest gain).
    Built by :func:`neuralcodec.zoo.loader.build_model`, as every command builds models.

    Raises:
        KeyError: an unknown architecture.
    """
    from neuralcodec.zoo.loader import build_model

    state_dict = read_state_dict(checkpoint_path)
    if arch not in ARCHITECTURES:
        raise KeyError(arch)  # as CompressAI's tool raises for an unknown name
    if arch in _GAIN_BOTTLENECK_ARCHITECTURES:
        net: Any = build_model(arch, state_dict, {}, checkpoint_path, vr_entbttlnck=True)
        if not no_update:
            net.update(force=True, scale=net.Gain[-1])
    else:
        net = build_model(arch, state_dict, {}, checkpoint_path)
        if not no_update:
            net.update(force=True)
    return net.eval()


def _measure_images(
    model: nn.Module,
    outputdir: Union[str, Path],
    inputdir: Union[str, Path],
    filepaths: Sequence[Path],
    entropy_estimation: bool,
    trained_net: str,
    description: str,
    vbr_stage: Optional[int],
    vbr_scale: Optional[Any],
    args: Dict[str, Any],
) -> List[Dict[str, float]]:
    """One measurement per image (see :func:`eval_model`)."""
    device = next(model.parameters()).device
    rows = []
    for filepath in filepaths:
        filepath = Path(filepath)
        x = read_image(filepath).to(device)
        if entropy_estimation:
            row = inference_entropy_estimation(model, x, vbr_stage, vbr_scale)
        else:
            if args.get("half"):
                model = model.half()
                x = x.half()
            row = inference(model, x, vbr_stage, vbr_scale)
        rows.append(row)
        if args.get("per_image"):
            if not outputdir or not Path(outputdir).is_dir():
                raise FileNotFoundError("--per-image needs an existing output directory (-d DIR)")
            subdir = Path(outputdir) / filepath.parent.relative_to(inputdir)
            subdir.mkdir(parents=True, exist_ok=True)
            record = {
                "source": filepath.stem,
                "name": args["architecture"],
                "description": f"Inference ({description})",
                "results": row,
            }
            write_results(record, subdir / f"{filepath.stem}-{trained_net}.json", force=True)
    return rows


def eval_model(
    model: nn.Module,
    outputdir: Union[str, Path],
    inputdir: Union[str, Path],
    filepaths: Sequence[Path],
    entropy_estimation: bool = False,
    trained_net: str = "",
    description: str = "",
    vbr_stage: Optional[int] = None,
    vbr_scale: Optional[Any] = None,
    **args: Any,
) -> Dict[str, float]:
    """The mean over ``filepaths`` of each measurement of :func:`inference` (or
    :func:`inference_entropy_estimation`) with ``model``.

    ``args`` are the command line's: ``architecture`` (for the per-image files), ``half``
    (code in float16), ``per_image`` (also write ``OUTPUTDIR/<subfolder>/<image>-<trained_net>.json``
    per image, mirroring ``inputdir``'s subfolders).

    Raises:
        FileNotFoundError: ``per_image`` without an existing ``outputdir``.
    """
    rows = _measure_images(
        model, outputdir, inputdir, filepaths, entropy_estimation, trained_net, description, vbr_stage, vbr_scale, args
    )
    means = build_results("", "", [0], [rows], [Path(p).name for p in filepaths])["results"]
    return {key: values[0] for key, values in means.items()}


def setup_args() -> argparse.ArgumentParser:
    """The parser: subcommands ``pretrained`` and ``checkpoint`` with CompressAI's options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("dataset", type=str, help="dataset path (a folder of images, searched recursively)")
    arguments.add_architecture_argument(common, image_models)
    arguments.add_entropy_coder_argument(common)
    common.add_argument("--cuda", action="store_true", help="run on CUDA when available")
    common.add_argument("--half", action="store_true", help="convert the model to half precision (fp16)")
    common.add_argument(
        "--entropy-estimation", action="store_true", help="estimate the rate from the likelihoods (no coding)"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="show progress")
    arguments.add_metric_argument(common, help="metric the weights were trained for (default: %(default)s)")
    arguments.add_output_arguments(
        common,
        directory_help="folder for the results file and per-image results (default: print only)",
        file_help="results file name in the output folder (default: ARCHITECTURE-CODER.json)",
    )
    common.add_argument("--per-image", action="store_true", help="also write each image's results")
    common.add_argument(
        "--vbr_quantstep", dest="vbr_quantstepsizes", type=str,
        default="10.0000,7.1715,5.1832,3.7211,2.6833,1.9305,1.3897,1.0000",
        help="quantization steps (10.0 to 1.0) a variable-rate model is evaluated at, comma-separated",
    )  # fmt: skip
    common.add_argument(
        "--vbr_tr_stage", type=int, choices=[1, 2], default=2,
        help="variable-rate stage: 1 codes as a single-rate model, 2 with the variable-rate tools",
    )  # fmt: skip
    parser = argparse.ArgumentParser(description="Evaluate a model on an image dataset.", add_help=True)
    sources = parser.add_subparsers(help="model source", dest="source")
    arguments.add_model_source_subcommands(
        sources,
        common,
        quality_help="pretrained model qualities, comma-separated, e.g. '1,2,3,4' (default: %(default)s)",
        paths_dest="checkpoint_paths",
        path_help="checkpoint paths",
        no_update_help="keep the checkpoint's entropy tables (no update(force=True))",
    )
    return parser


def _checkpoint_name(path: Union[str, Path]) -> str:
    """A checkpoint's file name less its ``.tar.pth``-long ending (CompressAI cuts eight
    characters, whatever they are)."""
    return Path(path).name[: -len(".tar.pth")]


def main(argv: Sequence[str]) -> None:
    """Runs the tool on ``argv`` (without the program name); prints the results JSON.

    Raises:
        SystemExit: bad arguments, no source subcommand, or no images in the dataset.
    """
    parser = setup_args()
    args = parser.parse_args(list(argv))
    if args.source not in ("checkpoint", "pretrained"):
        print("Error: missing 'checkpoint' or 'pretrained' source.", file=sys.stderr)
        parser.print_help()
        raise SystemExit(1)
    description = "entropy-estimation" if args.entropy_estimation else args.entropy_coder
    filepaths = collect_images(args.dataset)
    if not filepaths:
        print("Error: no images found in directory.", file=sys.stderr)
        raise SystemExit(1)
    _set_entropy_coder(args.entropy_coder)
    is_vbr = args.architecture.endswith("-vbr")
    use_cuda = args.cuda and torch.cuda.is_available()
    if args.output_directory:
        Path(args.output_directory).mkdir(parents=True, exist_ok=True)

    load: Callable[..., Any]
    runs: List[Any]
    if args.source == "pretrained":
        runs = sorted(int(q) for q in args.qualities.split(",") if q)
        opts: tuple = (args.architecture, args.metric)
        if is_vbr:
            opts += (0,)
        load = cast(Callable[..., Any], load_pretrained)
        log_fmt = "\rEvaluating {0} | {run:d} "
    else:
        runs = list(args.checkpoint_paths)
        opts = (args.architecture, args.no_update)
        if is_vbr:
            if len(args.checkpoint_paths) > 1:
                parser.error("a variable-rate model is evaluated from one checkpoint")
            opts += (args.checkpoint_paths[0],)
        load = cast(Callable[..., Any], load_checkpoint)
        log_fmt = "\rEvaluating {run:s} "

    model: Any = None  # a CompressionModel (its vbr attributes are set below)
    labels: List[Any] = list(runs)
    if is_vbr:  # one model, evaluated at each quantization step (gain = 1 / step)
        scales = sorted(1.0 / float(q) for q in args.vbr_quantstepsizes.split(",") if q)
        runs = [torch.tensor(s) for s in scales]
        labels = [round(1.0 / s, 4) for s in scales]
        log_fmt = "\rEvaluating quant step {run:5.2f} "
        model = load(*opts)
        model.no_quantoffset = False
        if args.architecture == "mbt2018-vbr":
            model.scl2ctx = True
        if use_cuda:
            model = model.to("cuda")
            runs = [r.to("cuda") for r in runs]

    per_image: List[List[Dict[str, float]]] = []
    for run in runs:
        if args.verbose:
            sys.stderr.write(log_fmt.format(*opts, run=(run if not is_vbr else 1.0 / float(run))))
            sys.stderr.flush()
        if not is_vbr:
            model = load(*opts, run)
        elif args.architecture in _GAIN_BOTTLENECK_ARCHITECTURES and args.vbr_tr_stage == 2:
            assert model is not None
            model.update(force=True, scale=run)  # z's tables for this gain
        assert model is not None
        if args.source == "pretrained":
            trained_net = f"{args.architecture}-{args.metric}-{run}-{description}"
        else:
            trained_net = f"{_checkpoint_name(run if not is_vbr else args.checkpoint_paths[0])}-{description}"
        print(f"Using trained model {trained_net}", file=sys.stderr)
        if use_cuda and not is_vbr:
            model = model.to("cuda")
        per_image.append(
            _measure_images(
                model, args.output_directory, args.dataset, filepaths, args.entropy_estimation, trained_net,
                description, args.vbr_tr_stage if is_vbr else None, run if is_vbr else None, vars(args),
            )
        )  # fmt: skip
    if args.verbose:
        sys.stderr.write("\n")
        sys.stderr.flush()

    description = "entropy estimation" if args.entropy_estimation else args.entropy_coder
    output = build_results(
        f"{args.architecture}-{args.metric}",
        f"Inference ({description})",
        labels,
        per_image,
        [str(Path(p).relative_to(args.dataset)) for p in filepaths],
        args.dataset,
    )
    if args.output_directory:
        name = args.output_file or f"{args.architecture}-{description}"
        write_results(output, (Path(args.output_directory) / name).with_suffix(".json"), force=True)
    print(json.dumps(output, indent=2, allow_nan=False))


if __name__ == "__main__":
    main(sys.argv[1:])
