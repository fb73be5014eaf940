"""Classical video codecs on raw YUV 4:2:0 sequences (CompressAI's
``compressai.utils.video.bench``, same arguments and output).

``python -m neuralcodec.utils.video.bench x264 DATASET OUTPUT -q 22,27,32,37`` encodes
every ``*.yuv`` under ``DATASET`` at each QP (bitstreams and a log per encode under
``OUTPUT``, mirroring the dataset's folders; an existing bitstream is reused unless
``--force``), decodes it to a temporary raw file and measures it against the original:

* per frame, the MSE of each plane on integer samples, and in RGB (both sequences
  converted as :mod:`neuralcodec.utils.video.frames` does) the MSE and MS-SSIM;
* per sequence, the PSNR of the mean MSE (``psnr-y``, ``psnr-u``, ``psnr-v``,
  ``psnr-rgb``), ``psnr-yuv = (4 Y + U + V) / 6``, the mean MS-SSIM, and the bit rate in
  kbit/s (bitstream size x frame rate / frames);
* per QP, the mean over the sequences.

The output, ``{"name", "description", "results"}`` with a list per metric and ``qp``, is
printed as JSON and written to ``OUTPUT/<name_config>.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
from collections import defaultdict
from itertools import starmap
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from neuralcodec.bench.external import TIMEOUT_S
from neuralcodec.datasets.rawvideo import RawVideoSequence, VideoFormat
from neuralcodec.eval.results import write_results
from neuralcodec.metrics import ms_ssim
from neuralcodec.utils import arguments
from neuralcodec.utils.video.bench.codecs import HM, VTM, Codec, run_command, x264, x265
from neuralcodec.utils.video.frames import Frame, to_tensors, yuv420_to_rgb

__all__ = [
    "codec_classes",
    "collect",
    "compute_metrics_for_frame",
    "create_parser",
    "evaluate",
    "func",
    "get_filesize",
    "main",
    "run_cmdline",
    "to_tensors",
]

#: The codecs, one subcommand each.
codec_classes: List[Callable[[], Codec]] = [x264, x265, VTM, HM]


def run_cmdline(cmdline: Sequence[Any], logpath: Optional[Path] = None, dry_run: bool = False) -> None:
    """Runs ``cmdline`` (printed to stderr first; not run when ``dry_run``). Its output goes
    to ``logpath`` when given, else to stdout. A failure exits with status 1 (the output, or
    the log's path, is shown), as does a missing program."""
    args = [str(c) for c in cmdline]
    print(f"--> Running: {' '.join(args)}", file=sys.stderr)
    if dry_run:
        return
    if logpath is None:
        output = run_command(args)
        if output:
            print(output)
        return
    with logpath.open("wb") as log:
        try:
            result = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, timeout=TIMEOUT_S)
        except FileNotFoundError:
            raise SystemExit(f"error: {args[0]} was not found on PATH; install it or give its location") from None
        except subprocess.TimeoutExpired:
            raise SystemExit(f"error: {args[0]} ran for more than {TIMEOUT_S} s (log: {logpath})") from None
    if result.returncode != 0:
        raise SystemExit(f"error: {args[0]} failed with exit code {result.returncode}; see {logpath}")


def compute_metrics_for_frame(org_frame: Frame, dec_frame: Frame, bitdepth: int = 8) -> Dict[str, Any]:
    """``mse-y``, ``mse-u``, ``mse-v`` (planes as integer-valued tensors), and ``mse-rgb``,
    ``ms-ssim-rgb`` of the frames converted to RGB, on integer samples."""
    max_val = 2**bitdepth - 1
    out: Dict[str, Any] = {}
    for component, a, b in zip("yuv", org_frame, dec_frame):
        out[f"mse-{component}"] = (a.double() - b.double()).pow(2).mean()
    device = org_frame[0].device
    org_rgb, dec_rgb = (
        (yuv420_to_rgb([p.cpu().numpy() for p in frame], device, max_val) * max_val).clamp(0, max_val).round()
        for frame in (org_frame, dec_frame)
    )
    out["mse-rgb"] = (org_rgb - dec_rgb).pow(2).mean()
    out["ms-ssim-rgb"] = ms_ssim(org_rgb, dec_rgb, data_range=max_val)
    return out


def get_filesize(filepath: Union[Path, str]) -> int:
    return Path(filepath).stat().st_size


def _psnr_of_mse(mse: Any, max_val: int) -> float:
    mse = float(mse)
    return float("inf") if mse == 0 else float(20 * np.log10(max_val) - 10 * np.log10(mse))


def evaluate(org_seq_path: Path, dec_seq_path: Path, bitstream_path: Path, cuda: bool = False) -> Dict[str, Any]:
    """The metrics of the decoded raw file ``dec_seq_path`` against ``org_seq_path`` (see
    the module documentation), with the bit rate of ``bitstream_path``.

    Raises:
        RuntimeError: the decoded file has another number of frames.
        NotImplementedError: the sequence is not YUV 4:2:0.
    """
    org_seq = RawVideoSequence.from_file(str(org_seq_path))
    dec_seq = RawVideoSequence.new_like(org_seq, str(dec_seq_path))
    max_val = 2**org_seq.bitdepth - 1
    num_frames = len(org_seq)
    if len(dec_seq) != num_frames:
        raise RuntimeError(f"Invalid number of frames in decoded sequence ({num_frames}!={len(dec_seq)})")
    if org_seq.format != VideoFormat.YUV420:
        raise NotImplementedError(f"Unsupported video format: {org_seq.format}")
    if not org_seq.framerate:
        raise ValueError(f"{org_seq_path.name}: no frame rate in the file name")
    device = "cuda" if cuda else "cpu"
    results: Dict[str, List[Tensor]] = defaultdict(list)
    for i in range(num_frames):
        metrics = compute_metrics_for_frame(
            to_tensors(org_seq[i], device=device), to_tensors(dec_seq[i], device=device), org_seq.bitdepth
        )
        for key, value in metrics.items():
            results[key].append(torch.as_tensor(value, dtype=torch.float64))
    means = {key: float(torch.stack(values).mean()) for key, values in results.items()}
    seq_results: Dict[str, Any] = {"ms-ssim-rgb": means["ms-ssim-rgb"]}
    seq_results["bitrate"] = float(get_filesize(bitstream_path) * 8 * float(org_seq.framerate) / (num_frames * 1000))
    seq_results["psnr-rgb"] = _psnr_of_mse(means["mse-rgb"], max_val)
    for component in "yuv":
        seq_results[f"psnr-{component}"] = _psnr_of_mse(means[f"mse-{component}"], max_val)
    seq_results["psnr-yuv"] = (4 * seq_results["psnr-y"] + seq_results["psnr-u"] + seq_results["psnr-v"]) / 6
    return seq_results


def func(
    codec: Codec, i: int, filepath: Path, qp: int, outputdir: Any, inputdir: Any, cuda: bool, force: bool, dry_run: bool
) -> Tuple[int, int, Dict[str, Any]]:
    """Encodes (unless already done), decodes and measures one sequence at one QP; the
    sequence's results are cached in a JSON file beside its bitstream."""
    binpath = codec.get_bin_path(filepath, qp, outputdir, inputdir)
    if force:
        binpath.unlink(missing_ok=True)
    if not binpath.is_file():
        run_cmdline(codec.get_encode_cmd(filepath, qp, binpath), logpath=binpath.with_suffix(".log"), dry_run=dry_run)
    sequence_metrics_path = binpath.with_suffix(".json")
    if force:
        sequence_metrics_path.unlink(missing_ok=True)
    if sequence_metrics_path.is_file():
        print(f"warning: using existing results {sequence_metrics_path}", file=sys.stderr)
        with sequence_metrics_path.open("r") as f:
            return i, qp, json.load(f)["results"]
    if dry_run:
        return i, qp, {}
    with tempfile.TemporaryDirectory(prefix="neuralcodec-video-bench-") as tmp:
        decoded = Path(tmp) / "decoded.yuv"
        run_cmdline(codec.get_decode_cmd(binpath, decoded, filepath))
        metrics = evaluate(filepath, decoded, binpath, cuda)
    output = {"source": filepath.stem, "name": codec.name_config(), "description": codec.description, "results": metrics}
    write_results(output, sequence_metrics_path, force=True)
    return i, qp, metrics


def collect(
    dataset: Any, codec_class: Codec, outputdir: Any, qps: List[int], num_jobs: int = 1, **args: Any
) -> Dict[str, List[Any]]:
    """Runs :func:`func` for every sequence and QP (``num_jobs`` processes); per QP the mean
    of each metric over the sequences, as ``{metric: [value per QP]}`` with ``qp``."""
    Path(outputdir).mkdir(parents=True, exist_ok=True)
    filepaths = sorted(Path(dataset).rglob("*.yuv"))
    if not filepaths:
        raise SystemExit(f"error: no .yuv sequence under {dataset}")
    tasks = [
        (codec_class, i, f, q, outputdir, dataset, args.get("cuda", False), args.get("force", False), args.get("dry_run", False))
        for i, q in enumerate(qps)
        for f in filepaths
    ]
    if num_jobs > 1:
        with mp.Pool(num_jobs) as pool:
            rv = pool.starmap(func, tasks)
    else:
        rv = list(starmap(func, tasks))
    totals: List[Dict[str, Any]] = [defaultdict(float) for _ in qps]
    for i, qp, metrics in rv:
        totals[i]["qp"] = qp
        for key, value in metrics.items():
            totals[i][key] += value / len(filepaths)
    out: Dict[str, List[Any]] = defaultdict(list)
    for row in totals:
        for key, value in row.items():
            out[key].append(value)
    return dict(out)


def create_parser() -> Tuple[argparse.ArgumentParser, argparse.ArgumentParser, Any]:
    """The parser, the options every codec's subcommand shares, and the subparsers."""
    parser = argparse.ArgumentParser(description="Video codec baselines.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("dataset", type=str, help="sequences directory")
    parent.add_argument("outputdir", type=str, help="output directory")
    parent.add_argument("-n", "--dry-run", action="store_true", help="dry run")
    parent.add_argument("-f", "--force", action="store_true", help="overwrite previous runs")
    arguments.add_num_jobs_argument(parent)
    arguments.add_qps_argument(
        parent, default="1", help="list of quality/quantization parameter. (example: '22,27,32,37') (default: %(default)s)"
    )
    parent.add_argument("--cuda", action="store_true", help="use cuda")
    subparsers = parser.add_subparsers(dest="codec", help="video codec")
    subparsers.required = True
    return parser, parent, subparsers


def main(args: Any = None) -> None:
    """Runs the command line ``args`` (default ``sys.argv[1:]``); see the module documentation."""
    if args is None:
        args = sys.argv[1:]
    parser, parent, subparsers = create_parser()
    codec_lookup: Dict[str, Codec] = {}
    for cls in codec_classes:
        codec = cls()
        codec_lookup[codec.name] = codec
        codec.add_parser_args(
            subparsers.add_parser(codec.name, formatter_class=argparse.ArgumentDefaultsHelpFormatter, parents=[parent])
        )
    parsed = parser.parse_args(args)
    codec = codec_lookup[parsed.codec]
    codec.set_args(parsed)
    options = vars(parsed)
    outputdir = options.pop("outputdir")
    try:
        qps = sorted(int(q) for q in options.pop("qps").split(",") if q)
    except ValueError:
        parser.error("--qps takes integers separated by commas")
    results = collect(options.pop("dataset"), codec, outputdir, qps, **options)
    output = {"name": codec.name_config(), "description": codec.description, "results": results}
    write_results(output, Path(outputdir) / f"{codec.name_config()}.json", force=True)
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
