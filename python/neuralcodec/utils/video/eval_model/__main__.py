"""Evaluate a learned video model on raw YUV 4:2:0 sequences (CompressAI's
``compressai.utils.video.eval_model``, same arguments and output files).

``python -m neuralcodec.utils.video.eval_model pretrained DATASET OUTPUT -a ssf2020 -q
1,4`` evaluates the zoo's published weights; ``... checkpoint DATASET OUTPUT -a ssf2020
-p FILE...`` evaluates training checkpoints (tables rebuilt by ``update(force=True)``
unless ``--no-update``). Every ``*.yuv`` under ``DATASET`` is read with its geometry from
its name (``name_WxH_FPSfps_8bit_420.yuv``, :func:`neuralcodec.datasets.rawvideo.get_raw_video_file_info`).

Each sequence is coded frame by frame: the frame is converted to RGB, zero-padded to
multiples of 128, coded (the first frame as a key frame, each later one against the
previous reconstruction) into one binary file, and the reconstruction, clamped and
cropped, is measured against the original (:mod:`neuralcodec.utils.video.frames`). The
bit rate (kbit/s) is the binary file's size times the frame rate over the frame count;
with ``--entropy-estimation`` nothing is coded and it is ``-sum(log2 likelihoods)`` of
the model's forward pass. The binary file layout (big-endian): height and width (uint32),
bit depth (uint8), frame count (uint32), then per coded latent (key frame; motion and
residual of each inter frame) the hyper-latent's ``h, w`` and the string count (uint32)
and each string as its length (uint32) and bytes.

Per sequence a ``{stem}-{run}.json`` goes under ``OUTPUT`` (kept as a cache: an existing
one is reused unless ``--force``); the aggregate, CompressAI's ``{"name", "description",
"results"}`` with a list per metric over the runs, is printed and written to
``-d DIR``/``-o NAME``.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, BinaryIO, Dict, List, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.datasets.rawvideo import RawVideoSequence, VideoFormat
from neuralcodec.eval.results import write_results
from neuralcodec.files import write_atomic
from neuralcodec.models.video.google import ScaleSpaceFlow
from neuralcodec.ops import compute_padding
from neuralcodec.utils import arguments
from neuralcodec.utils.checkpoints import read_state_dict
from neuralcodec.utils.video.frames import plane_psnrs, rgb_distortion, rgb_to_yuv420, to_tensors, yuv420_to_rgb
from neuralcodec.zoo import video_models as pretrained_models

__all__ = [
    "RAWVIDEO_EXTENSIONS",
    "aggregate_results",
    "collect_videos",
    "compute_metrics_for_frame",
    "convert_rgb_to_yuv420",
    "convert_yuv420_to_rgb",
    "create_parser",
    "crop",
    "estimate_bits_frame",
    "eval_model",
    "eval_model_entropy_estimation",
    "filesize",
    "load_checkpoint",
    "load_pretrained",
    "main",
    "models",
    "pad",
    "read_body",
    "read_bytes",
    "read_uchars",
    "read_uints",
    "run_inference",
    "to_tensors",
    "write_body",
    "write_bytes",
    "write_uchars",
    "write_uints",
]

#: Architecture name -> class, for ``-a`` and checkpoints.
models: Dict[str, type] = {"ssf2020": ScaleSpaceFlow}

RAWVIDEO_EXTENSIONS = (".yuv",)

#: Frames are padded to multiples of this (the video model's total stride, 16 x 8).
PAD_MULTIPLE = 2 ** (4 + 3)


def collect_videos(rootpath: Union[str, Path]) -> List[Path]:
    """The raw videos (``*.yuv``) anywhere under ``rootpath``, sorted."""
    found: List[Path] = []
    for ext in RAWVIDEO_EXTENSIONS:
        found.extend(Path(rootpath).rglob(f"*{ext}"))
    return sorted(found)


def aggregate_results(filepaths: Sequence[Path]) -> Dict[str, Any]:
    """The mean over the sequences' JSON files of each metric in their ``results``."""
    metrics: Dict[str, List[float]] = defaultdict(list)
    for path in filepaths:
        with Path(path).open("r") as f:
            data = json.load(f)
        for key, value in data["results"].items():
            metrics[key].append(value)
    return {key: float(np.mean(values)) for key, values in metrics.items()}


def convert_yuv420_to_rgb(frame: Sequence[np.ndarray], device: Union[str, torch.device], max_val: int) -> Tensor:
    """See :func:`neuralcodec.utils.video.frames.yuv420_to_rgb`."""
    return yuv420_to_rgb(frame, device, max_val)


def convert_rgb_to_yuv420(frame: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """See :func:`neuralcodec.utils.video.frames.rgb_to_yuv420`."""
    return rgb_to_yuv420(frame)


def pad(x: Tensor, p: int = PAD_MULTIPLE) -> Tuple[Tensor, Tuple[int, ...]]:
    """``x`` ``[N, C, H, W]`` zero-padded (centred) to multiples of ``p``, and the padding
    ``(left, right, top, bottom)``."""
    padding, _ = compute_padding(x.size(2), x.size(3), min_div=p)
    return F.pad(x, padding, mode="constant", value=0), tuple(padding)


def crop(x: Tensor, padding: Sequence[int]) -> Tensor:
    """Removes :func:`pad`'s ``padding`` from ``x``."""
    return F.pad(x, tuple(-p for p in padding))


def compute_metrics_for_frame(
    org_frame: Sequence[np.ndarray], rec_frame: Tensor, device: Union[str, torch.device] = "cpu", max_val: int = 255
) -> Dict[str, Any]:
    """The distortion of an RGB reconstruction ``rec_frame`` ``[1, 3, H, W]`` (in ``[0,
    1]``) of the YUV 4:2:0 frame ``org_frame``: per-plane PSNRs against the original planes
    (the reconstruction converted back to 4:2:0), and PSNR, MSE and MS-SSIM in RGB against
    the original converted to RGB."""
    original = to_tensors(org_frame, max_value=max_val, device=device)
    out: Dict[str, Any] = plane_psnrs(original, rgb_to_yuv420(rec_frame), max_val)
    out.update(rgb_distortion(yuv420_to_rgb(org_frame, device, max_val), rec_frame, max_val))
    return out


def estimate_bits_frame(likelihoods: Dict[str, Dict[str, Tensor]]) -> Tensor:
    """``-sum(log2 p)`` over the ``y`` and ``z`` likelihoods of every codec of one frame."""
    return sum(
        (torch.log(pair[k]).sum() / (-math.log(2)) for pair in likelihoods.values() for k in ("y", "z")),
        torch.zeros(()),
    )


def filesize(filepath: Union[str, Path]) -> int:
    """The size of ``filepath`` in bytes; ValueError if it is not a file."""
    if not Path(filepath).is_file():
        raise ValueError(f'Invalid file "{filepath}".')
    return Path(filepath).stat().st_size


def write_uints(fd: BinaryIO, values: Sequence[int], fmt: str = ">{:d}I") -> int:
    fd.write(struct.pack(fmt.format(len(values)), *values))
    return len(values) * 4


def write_uchars(fd: BinaryIO, values: Sequence[int], fmt: str = ">{:d}B") -> int:
    fd.write(struct.pack(fmt.format(len(values)), *values))
    return len(values)


def read_uints(fd: BinaryIO, n: int, fmt: str = ">{:d}I") -> Tuple[int, ...]:
    return struct.unpack(fmt.format(n), _read_exactly(fd, n * 4))


def read_uchars(fd: BinaryIO, n: int, fmt: str = ">{:d}B") -> Tuple[int, ...]:
    return struct.unpack(fmt.format(n), _read_exactly(fd, n))


def write_bytes(fd: BinaryIO, values: bytes, fmt: str = ">{:d}s") -> int:
    if len(values) == 0:
        return 0
    fd.write(struct.pack(fmt.format(len(values)), values))
    return len(values)


def read_bytes(fd: BinaryIO, n: int, fmt: str = ">{:d}s") -> bytes:
    return struct.unpack(fmt.format(n), _read_exactly(fd, n))[0]


def _read_exactly(fd: BinaryIO, n: int) -> bytes:
    data = fd.read(n)
    if len(data) != n:
        raise ValueError(f"truncated bitstream: needed {n} bytes, found {len(data)}")
    return data


def read_body(fd: BinaryIO) -> Tuple[List[List[bytes]], Tuple[int, ...]]:
    """One coded latent written by :func:`write_body`: ``([[string] per string], (h, w))``."""
    shape = read_uints(fd, 2)
    count = read_uints(fd, 1)[0]
    return [[read_bytes(fd, read_uints(fd, 1)[0])] for _ in range(count)], shape


def write_body(fd: BinaryIO, shape: Sequence[int], out_strings: Sequence[Sequence[bytes]]) -> int:
    """Writes one coded latent: ``shape`` ``(h, w)``, the string count, and each latent's
    first string with its length. Returns the bytes written."""
    written = write_uints(fd, (int(shape[0]), int(shape[1]), len(out_strings)))
    for strings in out_strings:
        written += write_uints(fd, (len(strings[0]),))
        written += write_bytes(fd, strings[0])
    return written


def _open_sequence(sequence: Path) -> RawVideoSequence:
    org_seq = RawVideoSequence.from_file(str(sequence))
    if org_seq.format != VideoFormat.YUV420:
        raise NotImplementedError(f"Unsupported video format: {org_seq.format}")
    if not org_seq.framerate:
        raise ValueError(f"{sequence.name}: no frame rate in the file name (e.g. name_832x480_30fps_8bit_420.yuv)")
    if len(org_seq) == 0:
        raise ValueError(f"{sequence.name} holds no frame")
    return org_seq


def _mean_results(results: Dict[str, List[Tensor]]) -> Dict[str, Any]:
    return {
        key: torch.mean(torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in values])) for key, values in results.items()
    }


def _as_floats(results: Dict[str, Any]) -> Dict[str, Any]:
    return {key: float(value.item() if isinstance(value, Tensor) else value) for key, value in results.items()}


@torch.no_grad()
def eval_model(net: nn.Module, sequence: Path, binpath: Path, keep_binaries: bool = False) -> Dict[str, Any]:
    """Codes ``sequence`` with ``net`` into ``binpath`` and measures it (see the module
    documentation); the binary file is deleted unless ``keep_binaries``.

    Raises:
        NotImplementedError: the sequence is not YUV 4:2:0.
    """
    org_seq = _open_sequence(sequence)
    device = next(net.parameters()).device
    num_frames = len(org_seq)
    max_val = 2**org_seq.bitdepth - 1
    results: Dict[str, List[Tensor]] = defaultdict(list)
    stream = io.BytesIO()
    print(f" encoding {sequence.stem}", file=sys.stderr)
    write_uints(stream, (org_seq.height, org_seq.width))
    write_uchars(stream, (org_seq.bitdepth,))
    write_uints(stream, (num_frames,))
    x_rec = torch.zeros(())
    for i in range(num_frames):
        x_cur, padding = pad(convert_yuv420_to_rgb(org_seq[i], device, max_val))
        if i == 0:
            x_rec, coded = net.encode_keyframe(x_cur)  # type: ignore[operator]
            write_body(stream, coded["shape"], coded["strings"])
        else:
            x_rec, coded = net.encode_inter(x_cur, x_rec)  # type: ignore[operator]
            for latent in coded["strings"]:
                write_body(stream, coded["shape"][latent], coded["strings"][latent])
        x_rec = x_rec.clamp(0, 1)
        for key, value in compute_metrics_for_frame(org_seq[i], crop(x_rec, padding), device, max_val).items():
            results[key].append(value)
    write_atomic(binpath, stream.getvalue(), force=True)
    seq_results = _mean_results(results)
    seq_results["bitrate"] = float(filesize(binpath)) * 8 * float(org_seq.framerate) / (num_frames * 1000)
    if not keep_binaries:
        binpath.unlink()
    return _as_floats(seq_results)


@torch.no_grad()
def eval_model_entropy_estimation(net: nn.Module, sequence: Path) -> Dict[str, Any]:
    """Measures ``sequence`` through ``net``'s forward pass, the bit rate estimated from
    the likelihoods (nothing is coded)."""
    org_seq = _open_sequence(sequence)
    device = next(net.parameters()).device
    num_frames = len(org_seq)
    max_val = 2**org_seq.bitdepth - 1
    results: Dict[str, List[Tensor]] = defaultdict(list)
    print(f" encoding {sequence.stem}", file=sys.stderr)
    x_rec = torch.zeros(())
    for i in range(num_frames):
        x_cur, padding = pad(convert_yuv420_to_rgb(org_seq[i], device, max_val))
        if i == 0:
            x_rec, likelihoods = net.forward_keyframe(x_cur)  # type: ignore[operator]
        else:
            x_rec, likelihoods = net.forward_inter(x_cur, x_rec)  # type: ignore[operator]
        x_rec = x_rec.clamp(0, 1)
        metrics = compute_metrics_for_frame(org_seq[i], crop(x_rec, padding), device, max_val)
        metrics["bitrate"] = estimate_bits_frame(likelihoods)
        for key, value in metrics.items():
            results[key].append(value)
    seq_results = _mean_results(results)
    seq_results["bitrate"] = float(seq_results["bitrate"]) * float(org_seq.framerate) / 1000
    return _as_floats(seq_results)


def run_inference(
    filepaths: Sequence[Path],
    inputdir: Union[str, Path],
    net: nn.Module,
    outputdir: Union[str, Path],
    force: bool = False,
    entropy_estimation: bool = False,
    trained_net: str = "",
    description: str = "",
    **args: Any,
) -> Dict[str, Any]:
    """Evaluates ``net`` on every sequence (reusing an existing per-sequence JSON unless
    ``force``) and returns the mean of each metric over the sequences. ``args`` are the
    command line's (``half``, ``keep_binaries``, ``architecture``)."""
    results_paths = []
    for filepath in filepaths:
        output_subdir = Path(outputdir) / Path(filepath).parent.relative_to(inputdir)
        output_subdir.mkdir(parents=True, exist_ok=True)
        sequence_metrics_path = output_subdir / f"{filepath.stem}-{trained_net}.json"
        results_paths.append(sequence_metrics_path)
        if force:
            sequence_metrics_path.unlink(missing_ok=True)
        if sequence_metrics_path.is_file():
            continue
        device_type = next(net.parameters()).device.type
        with torch.autocast(device_type=device_type, enabled=bool(args.get("half", False))), torch.no_grad():
            if entropy_estimation:
                metrics = eval_model_entropy_estimation(net, filepath)
            else:
                binpath = sequence_metrics_path.with_suffix(".bin")
                metrics = eval_model(net, filepath, binpath, bool(args.get("keep_binaries", False)))
        output = {
            "source": filepath.stem,
            "name": args.get("architecture", ""),
            "description": f"Inference ({description})",
            "results": metrics,
        }
        write_results(output, sequence_metrics_path, force=True)
    return aggregate_results(results_paths)


def load_checkpoint(arch: str, no_update: bool, checkpoint_path: Union[str, Path]) -> nn.Module:
    """A ``models[arch]`` with a checkpoint's weights (bare state_dict, or under
    ``network``/``state_dict``/``model_state_dict``), tables rebuilt unless ``no_update``,
    in eval mode."""
    net = models[arch]()
    net.load_state_dict(read_state_dict(checkpoint_path))
    if not no_update:
        net.update(force=True)
    return net.eval()


def load_pretrained(model: str, metric: str, quality: int) -> nn.Module:
    """The zoo's published ``model`` at ``quality``, in eval mode."""
    return pretrained_models[model](quality=quality, metric=metric, pretrained=True).eval()


def create_parser() -> argparse.ArgumentParser:
    """The command line: a ``pretrained`` or ``checkpoint`` subcommand, CompressAI's options."""
    parser = argparse.ArgumentParser(
        description="Evaluate a video compression network on a video dataset.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("dataset", type=str, help="sequences directory")
    parent.add_argument("output", type=str, help="output directory")
    arguments.add_architecture_argument(parent, models.keys())
    parent.add_argument("-f", "--force", action="store_true", help="overwrite previous runs")
    parent.add_argument("--cuda", action="store_true", help="use cuda")
    parent.add_argument("--half", action="store_true", help="use AMP")
    parent.add_argument("--entropy-estimation", action="store_true", help="use evaluated entropy estimation (no entropy coding)")
    arguments.add_entropy_coder_argument(parent)
    parent.add_argument("--keep_binaries", action="store_true", help="keep bitstream files in output directory")
    parent.add_argument("-v", "--verbose", action="store_true", help="verbose mode")
    arguments.add_metric_argument(parent, help="metric trained against (default: %(default)s)")
    arguments.add_output_arguments(
        parent,
        directory_help="directory of the aggregate json file (default: the current one)",
        file_help="output json file name, (default: architecture-entropy_coder.json)",
    )
    subparsers = parser.add_subparsers(help="model source", dest="source")
    subparsers.required = True
    arguments.add_model_source_subcommands(
        subparsers,
        parent,
        quality_help="Pretrained model qualities. (example: '1,2,3,4') (default: %(default)s)",
        paths_dest="paths",
        path_help="checkpoint path",
        no_update_help="Disable the default update of the model entropy parameters before eval",
    )
    return parser


def _checkpoint_name(path: str) -> str:
    name = Path(path).name
    for suffix in (".pth.tar", ".tar.pth", ".pth", ".pt", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def main(args: Any = None) -> None:
    """Runs the command line ``args`` (default ``sys.argv[1:]``); see the module documentation.

    Raises:
        SystemExit: bad arguments, ``--help``, or no ``*.yuv`` file in the dataset.
    """
    if args is None:
        args = sys.argv[1:]
    parser = create_parser()
    args = parser.parse_args(args)
    description = "entropy-estimation" if args.entropy_estimation else args.entropy_coder
    filepaths = collect_videos(args.dataset)
    if not filepaths:
        print("Error: no video found in directory.", file=sys.stderr)
        raise SystemExit(1)
    if args.output_directory:
        Path(args.output_directory).mkdir(parents=True, exist_ok=True)

    if args.source == "pretrained":
        try:
            runs: List[Any] = sorted(int(q) for q in args.qualities.split(",") if q)
        except ValueError:
            parser.error(f"--quality takes integers separated by commas, got {args.qualities!r}")
    else:
        runs = list(args.paths)
    results: Dict[str, List[Any]] = defaultdict(list)
    for run in runs:
        if args.verbose:
            print(f"Evaluating {run}", file=sys.stderr)
        if args.source == "pretrained":
            model = load_pretrained(args.architecture, args.metric, run)
            trained_net = f"{args.architecture}-{args.metric}-{run}-{description}"
        else:
            model = load_checkpoint(args.architecture, args.no_update, run)
            trained_net = f"{_checkpoint_name(run)}-{description}"
        print(f"Using trained model {trained_net}", file=sys.stderr)
        if args.cuda and torch.cuda.is_available():
            model = model.to("cuda")
            if args.half:
                model = model.half()
        metrics = run_inference(
            filepaths, args.dataset, model, args.output, trained_net=trained_net, description=description, **vars(args)
        )
        results["q"].append(trained_net)
        for key, value in metrics.items():
            results[key].append(value)

    output = {
        "name": f"{args.architecture}-{args.metric}",
        "description": f"Inference ({description})",
        "results": dict(results),
    }
    name = args.output_file or f"{args.architecture}-{description}"
    write_results(output, (Path(args.output_directory or ".") / name).with_suffix(".json"), force=True)
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
