"""``neuralcodec train``: rate-distortion training from the command line.

Runs :func:`neuralcodec.train.train`; under ``torchrun --nproc_per_node K -m
neuralcodec train ...`` the same command trains data-parallel on K processes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from neuralcodec import settings
from neuralcodec.cli import options


def _lambda_list(text: str) -> list:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"lambdas must be comma-separated numbers, got {text!r}") from None


def _config_from_args(args: argparse.Namespace) -> Any:
    from neuralcodec.train.config import TrainConfig

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values["train_dir"] = str(args.train_dir)
    values["out_dir"] = str(args.out_dir)
    for name in ("val_dir", "init_from", "shards_dir"):
        if values.get(name) is not None:
            values[name] = str(values[name])
    return TrainConfig(**values)


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``neuralcodec train``; returns the exit code."""
    from neuralcodec.train.trainer import train

    try:
        config = _config_from_args(args)
        result = train(config, resume=args.resume, overwrite=args.overwrite)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result.last_train:
        row = result.last_train
        print(
            f"trained {result.step} steps: loss {row.get('loss', float('nan')):.4f}, "
            f"bpp {row.get('bpp', float('nan')):.4f}, PSNR {row.get('psnr', float('nan')):.2f} dB (training crops)"
        )
    for label, measures in result.validation.items():
        where = f"quality {label}" if label else "validation"
        print(f"{where}: {measures['bpp']:.4f} bpp, PSNR {measures['psnr']:.2f} dB, loss {measures['loss']:.4f} (held-out images)")
    print(f"weights: {result.weights_path}")
    return 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds the ``train`` subcommand to the ``neuralcodec`` parser."""
    from neuralcodec.train.config import TrainConfig

    defaults = TrainConfig(train_dir="", out_dir="")
    parser = commands.add_parser(
        "train",
        help="train a model (rate-distortion loss; resumable; DDP under torchrun)",
        description=(
            "Trains a model on the images of TRAIN_DIR (random crops and flips) with the loss "
            "lambda*255^2*MSE + bpp (or lambda*(1-MS-SSIM) + bpp); with --variable-rate, one variable-rate "
            "model for every rate (lambda drawn with the rate at each step, or per crop). OUT_DIR receives "
            "checkpoint.pt, best.pt, log.csv, weights.safetensors and history.json; --minutes trains to a wall-time "
            "budget, --shards-dir writes weight shards for the device tool. Run under `torchrun --nproc_per_node K -m "
            "neuralcodec train ...` to train data-parallel (gloo on CPU, NCCL on CUDA). "
            "Exit codes: 0 trained, 2 bad arguments or an existing run without --resume/--force."
        ),
    )
    parser.add_argument("train_dir", type=Path, metavar="TRAIN_DIR", help="folder of training images")
    parser.add_argument("-o", "--out-dir", type=Path, required=True, metavar="OUT_DIR", help="folder for checkpoints, log and weights")
    options.add_model(parser, dest="architecture", default=defaults.architecture,
                      help="the architecture to train, a zoo name (default %(default)s)")
    parser.add_argument("--N", type=int, default=defaults.N, help="channels of the transforms (default %(default)s)")
    parser.add_argument("--M", type=int, default=defaults.M, help="channels of the latent (default %(default)s)")
    parser.add_argument("--lambda", dest="lmbda", type=float, default=defaults.lmbda, help="rate-distortion trade-off (default %(default)s)")
    parser.add_argument("--metric", choices=settings.METRICS, default=defaults.metric)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="total steps (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="crops per step per process")
    parser.add_argument("--patch-size", type=int, default=defaults.patch_size, help="crop side, a multiple of 64")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate (default %(default)s)")
    parser.add_argument("--lr-schedule", choices=("constant", "cosine", "step"), default=defaults.lr_schedule)
    parser.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    parser.add_argument("--min-lr-ratio", type=float, default=defaults.min_lr_ratio)
    parser.add_argument("--clip-max-norm", type=float, default=defaults.clip_max_norm, help="0 disables clipping")
    parser.add_argument("--quantile-fit", choices=("bisection", "aux-adam"), default=defaults.quantile_fit,
                        help="solve for the entropy bottleneck's quantiles, or train them with CompressAI's auxiliary loss")
    parser.add_argument("--aux-lr", type=float, default=defaults.aux_lr)
    parser.add_argument("--val-dir", type=Path, default=None, help="validation images (default: hold out --val-count)")
    parser.add_argument("--val-count", type=int, default=defaults.val_count, help="training images held out for validation")
    parser.add_argument("--val-every", type=int, default=defaults.val_every)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--log-every", type=int, default=defaults.log_every)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--init-from", type=Path, default=None, help="start from these weights (fine-tuning)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per process")
    options.add_device(parser, default=defaults.device, help=f"where training runs (default: {defaults.device})")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=defaults.precision,
                        help="bf16: transforms under bfloat16 autocast (faster on AVX512-BF16 CPUs and GPUs)")
    parser.add_argument("--quantization", choices=("noise", "mixed"), default=defaults.quantization,
                        help="mixed: g_s trains on rounded latents (straight-through), the rate on noisy ones")
    parser.add_argument("--variable-rate", action="store_true",
                        help="one model for every rate (a -vbr --model): each step draws a gain level and its lambda "
                        "(--lambda is unused); validation codes at the middle quality")
    parser.add_argument("--lambdas", type=_lambda_list, default=None, metavar="L1,L2,...",
                        help="with --variable-rate: the lambda of each gain level, increasing (default CompressAI's eight)")
    parser.add_argument("--quality-draw", choices=("per-step", "per-crop"), default=defaults.quality_draw,
                        help="with --variable-rate: one rate per step (the model's draw), or a quality per crop with "
                        "its own lambda (models whose forward takes quality=, e.g. elic-lite-vbr)")
    parser.add_argument("--level-share", type=float, default=defaults.level_share, metavar="F",
                        help="with --quality-draw per-crop: the share of crops at the integer qualities (default "
                        "%(default)s: every crop uniform over the range)")
    parser.add_argument("--val-qualities", choices=("middle", "integers"), default=defaults.val_qualities,
                        help="with --variable-rate: validate at the middle quality or at every integer quality")
    parser.add_argument("--val-bits", choices=("actual", "estimated"), default=defaults.val_bits,
                        help="validation bits: real bitstreams (CPU) or the likelihoods' estimate (training device)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="wall-time budget: stop at --steps or after this many minutes of training, with the "
                        "learning-rate schedule over the wall time")
    parser.add_argument("--data-on-device", action="store_true",
                        help="keep the decoded images on --device and cut the crops there (GPU)")
    parser.add_argument("--min-scale", type=float, default=defaults.min_scale,
                        help="downscale each crop by a random factor in [MIN_SCALE, 1] (default %(default)s: none)")
    parser.add_argument("--vertical-flip", action="store_true", help="also flip crops upside down at random")
    parser.add_argument("--shards-dir", type=Path, default=None,
                        help="also write the final weights as float16-kernel shards of at most 15 MiB there, with "
                        "history.json and log.csv (what the device tool returns)")
    parser.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")
    options.add_alias(parser, "--no-progress", dest="progress", action="store_false")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue OUT_DIR/checkpoint.pt")
    options.add_force(group, dest="overwrite", help="start again, deleting OUT_DIR's run files")
    parser.set_defaults(handler=run_train)
