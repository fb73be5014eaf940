"""The recipe of the shipped default weights: ``python -m neuralcodec.train.recipe``.

One mean-scale hyperprior (``mbt2018-mean`` with N=96, M=128: small enough to train on
two CPU cores) is trained at the middle rate point, then copied and fine-tuned to each
other rate point's lambda: adapting the rate is far cheaper than training from scratch.
Every stage resumes where it stopped, so the recipe can be run again after an
interruption. With ``--install`` the final weights are copied into
``python/neuralcodec/data/weights/`` (the files the package ships).

The default step counts are what the shipped weights got (see the log files committed
beside them): very short, because they were trained on two shared CPU cores within one
working session; anyone with more time should raise them, which only improves the models.
History of the shipped run: the base stage started with 5000 planned steps, was stopped
at its step-750 checkpoint and resumed with 3000 (the cosine schedule shortened from
there on); a run of this recipe from scratch follows the 3000-step schedule throughout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

from neuralcodec.train.trainer import TrainConfig, train
from neuralcodec.zoo.defaults import DEFAULT_ARCHITECTURE, DEFAULT_LAMBDAS, DEFAULT_QUALITY

#: Sizes of the shipped models.
N, M = 96, 128
BASE_STEPS = 3000
FINETUNE_STEPS = 800


def stage_config(data: Path, work: Path, quality: int, steps: int, init_from: Optional[Path], threads: Optional[int]) -> TrainConfig:
    """The training run of one rate point."""
    base = init_from is None
    return TrainConfig(
        train_dir=str(data),
        out_dir=str(work / f"q{quality}"),
        architecture=DEFAULT_ARCHITECTURE,
        N=N,
        M=M,
        lmbda=DEFAULT_LAMBDAS[quality],
        steps=steps,
        batch_size=8,
        patch_size=128,
        lr=3e-4 if base else 2e-4,
        lr_schedule="cosine",
        warmup_steps=200 if base else 0,
        min_lr_ratio=0.05,
        clip_max_norm=1.0,
        val_count=4,
        val_every=1000,
        checkpoint_every=250,
        log_every=50,
        seed=quality,
        init_from=str(init_from) if init_from else None,
        threads=threads,
    )


def run_stage(config: TrainConfig) -> Path:
    """Trains (or resumes, or skips when finished) one stage; returns its weights file."""
    out = Path(config.out_dir)
    weights = out / "weights.safetensors"
    if weights.exists():
        return weights
    return train(config, resume=(out / "checkpoint.pt").exists()).weights_path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralcodec.train.recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train"), help="training images")
    parser.add_argument("--work", type=Path, default=Path("runs/defaults"), help="folder for the runs")
    parser.add_argument("--base-steps", type=int, default=BASE_STEPS)
    parser.add_argument("--finetune-steps", type=int, default=FINETUNE_STEPS)
    parser.add_argument("--qualities", type=int, nargs="+", default=sorted(DEFAULT_LAMBDAS))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: robust when the cores are shared, and reproducible)")
    parser.add_argument("--install", action="store_true", help="copy the weights into the package")
    args = parser.parse_args(argv)

    base = run_stage(stage_config(args.data, args.work, DEFAULT_QUALITY, args.base_steps, None, args.threads))
    results = {DEFAULT_QUALITY: base}
    for quality in args.qualities:
        if quality != DEFAULT_QUALITY:
            config = stage_config(args.data, args.work, quality, args.finetune_steps, base, args.threads)
            results[quality] = run_stage(config)
    if args.install:
        target = Path(__file__).resolve().parent.parent / "data" / "weights"
        target.mkdir(parents=True, exist_ok=True)
        for quality, weights in sorted(results.items()):
            shutil.copyfile(weights, target / f"neuralcodec-msh-q{quality}.safetensors")
            shutil.copyfile(weights.parent / "log.csv", target / f"neuralcodec-msh-q{quality}.log.csv")
            print(f"installed q{quality}: {target / f'neuralcodec-msh-q{quality}.safetensors'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
