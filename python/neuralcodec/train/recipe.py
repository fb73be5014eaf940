"""The recipe of the four fixed-rate models neuralcodec shipped until issue 28:
``python -m neuralcodec.train.recipe``.

They are the rungs of today's default, the rate ladder ``mbt2018-mean-ladder``
(:class:`~neuralcodec.models.ladder.MeanScaleLadder`; its gain units train on them with the
transforms frozen, ``results/training/msh-ladder/``), so the files made with them decode
(:data:`neuralcodec.settings.PREVIOUS_DEFAULTS`). They are also where the one-network
candidate ``mbt2018-mean-gained`` started from (``results/training/msh-vbr/`` and
``results/training/msh-gained/``).

One mean-scale hyperprior (``mbt2018-mean`` with N=96, M=128: small enough to train on
two CPU cores) is trained at the middle rate point (stage 1), then copied and
fine-tuned to each other rate point's lambda (stage 2): adapting the rate is far cheaper
than training from scratch. Stage 3 ("polish") trains every rate point further from its
stage-2 weights with a fresh cosine schedule (a warm restart: the models are far from
converged after stages 1 and 2, so the learning rate goes back up). Stage 4 ("long") is
another warm restart from the polished weights, run under bfloat16 autocast (about 1.6x
faster steps on CPUs with AVX512-BF16; a paired test of 300 steps gave the same losses
as float32 to 0.1%). Stage 5 ("settle") restarts once more at half that learning rate,
also in bfloat16, and stage 6 ("extend") is a longer warm restart at the learning rate of
stage 4 with mixed quantization (``g_s`` trains on rounded latents, see
:class:`~neuralcodec.train.config.TrainConfig`); stage 7 ("refine") is one more warm
restart like it at three quarters of that learning rate. Stages 8 ("large") and 9
("finish") are warm restarts with 256-pixel crops in batches of 16 (CompressAI's training
crops), eight times the pixels of a step before, meant for a GPU (``--device cuda``):
stage 8 at a peak learning rate of 1e-4, stage 9 at 5e-5. ``--jobs K`` runs K rate points
of stages 2-9 in parallel processes. Every stage resumes where it stopped, so the recipe
can be run again after an interruption. With ``--ladder FILE`` the final weights are
written there as the rungs of a ladder whose gains start at their initial values, float16
convolution kernels (see ``save_weights``): train its gains (``neuralcodec train --model
mbt2018-mean-ladder --variable-rate --train-only '*gain*' --init-from FILE``) and install
it with ``python -m neuralcodec.train.install_default``.

The default step counts are what the shipped weights got (see the log files committed
beside them): short, because stages 1-7 were trained on two shared CPU cores within four
working sessions and stages 8-9 in about nine minutes of a GPU; anyone with more time should
raise them, which only improves the models.
History of the shipped run (each change made at a checkpoint, then resumed): the base
stage started with 5000 planned steps and was resumed at step 750 with 3000; the q3
polish stage ran 2000 steps (started early, beside stage 2); the q1, q2 and q4 polish
stages were planned for 2000 and resumed at step 750 with 1500. Changing the step count
shortens the cosine schedule from that step on, so a run of this recipe from scratch
(3000 / 800 / 1500 throughout) gives similar, not identical, weights. Stage 4 ran as
written (6000 steps, ``--jobs 4`` with one thread each, in a later session), and stage 5
right after it in the same way (2800 steps). Stage 6 (in a third session) started with
9000 planned steps and uniform noise; at its step-750 checkpoint it was resumed with mixed
quantization and 8500 steps, as the recipe now says. Stage 7 (started at the end of that
session, continued in a fourth) was planned for 12000 steps; at its step-250 checkpoint it
was resumed with 9000, to end within the session. Stages 8 and 9 ran in a later session on a
borrowed NVIDIA H200 (``--jobs 4 --threads 2 --device cuda``, about 0.037 s a step for each
of the four rate points): 9700 steps (the number that fit the machine's time, from a
100-step timing run) and 3500. Only the package's files could travel to that machine, so
each started from the installed weights of the stage before (``--start-at large``, then
``--start-at finish`` after installing stage 8), whose convolution kernels are rounded to
float16; a run of the whole recipe starts them from the full-precision files instead.

The candidate next default (the variable-rate ``ElicLiteVbr``) is trained by the same
trainer to a wall-time budget on borrowed GPUs (``benches/gpu/train.sh``), and keeps its
history of runs (steps, minutes, validation) beside its weight shards in
``results/training/elic-lite-vbr/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

from neuralcodec.settings import PREVIOUS_DEFAULTS
from neuralcodec.train.trainer import TrainConfig, train
from neuralcodec.zoo.defaults import load_weights_file, previous_default_model, save_weights

#: The architecture the recipe trains, and its rate points' lambdas.
ARCHITECTURE = "mbt2018-mean"
LAMBDAS: Dict[int, float] = dict(PREVIOUS_DEFAULTS[ARCHITECTURE])
#: The rate point stage 1 trains (the others start from it).
BASE_QUALITY = 3

#: Sizes of the shipped models.
N, M = 96, 128
BASE_STEPS = 3000
FINETUNE_STEPS = 800
#: Stages 8 ("large") and 9 ("finish"), run on a GPU for the shipped weights (see the module doc).
LARGE_STEPS = 9700
FINISH_STEPS = 3500
#: The warm restarts after stage 2, in order (stages 3-9): stage name -> steps.
RESTART_STEPS: Dict[str, int] = {
    "polish": 1500, "long": 6000, "settle": 2800, "extend": 8500, "refine": 9000, "large": LARGE_STEPS,
    "finish": FINISH_STEPS,
}


@dataclass(frozen=True)
class StageSettings:
    """What sets one stage's runs apart: peak learning rate, warm-up steps, the offset
    added to the quality for the seed (fresh crops and noise in every stage), precision,
    how ``g_s`` sees the latents in training (see :class:`TrainConfig`), and the crops
    of a step (``batch_size`` crops of ``patch_size`` pixels square)."""

    lr: float
    warmup_steps: int
    seed_offset: int
    precision: str = "fp32"
    quantization: str = "noise"
    batch_size: int = 8
    patch_size: int = 128


#: Stage name -> settings. ``"base"`` (stage 1) starts from scratch; ``"finetune"``
#: (stage 2) adapts the base weights to another lambda; the others are warm restarts.
STAGES: Dict[str, StageSettings] = {
    "base": StageSettings(lr=3e-4, warmup_steps=200, seed_offset=0),
    "finetune": StageSettings(lr=2e-4, warmup_steps=0, seed_offset=0),
    "polish": StageSettings(lr=3e-4, warmup_steps=100, seed_offset=100),
    "long": StageSettings(lr=2e-4, warmup_steps=200, seed_offset=200, precision="bf16"),
    "settle": StageSettings(lr=1e-4, warmup_steps=100, seed_offset=300, precision="bf16"),
    "extend": StageSettings(lr=2e-4, warmup_steps=200, seed_offset=400, precision="bf16", quantization="mixed"),
    "refine": StageSettings(lr=1.5e-4, warmup_steps=200, seed_offset=500, precision="bf16", quantization="mixed"),
    "large": StageSettings(lr=1e-4, warmup_steps=100, seed_offset=600, precision="bf16", quantization="mixed",
                           batch_size=16, patch_size=256),
    "finish": StageSettings(lr=5e-5, warmup_steps=100, seed_offset=700, precision="bf16", quantization="mixed",
                            batch_size=16, patch_size=256),
}


def stage_config(
    data: Path,
    work: Path,
    quality: int,
    steps: int,
    init_from: Optional[Path],
    threads: Optional[int],
    stage: str = "",
    device: str = "cpu",
) -> TrainConfig:
    """The training run of one rate point in ``stage``: ``""`` (stage 1 without
    ``init_from``, stage 2 with it), ``"polish"`` (3), ``"long"`` (4), ``"settle"``
    (5), ``"extend"`` (6), ``"refine"`` (7), ``"large"`` (8) or ``"finish"`` (9), on ``device``
    (``"cpu"`` or ``"cuda"``); see the module doc and :data:`STAGES`."""
    settings = STAGES[stage or ("base" if init_from is None else "finetune")]
    suffix = f"-{stage}" if stage else ""
    return TrainConfig(
        train_dir=str(data),
        out_dir=str(work / f"q{quality}{suffix}"),
        architecture=ARCHITECTURE,
        N=N,
        M=M,
        lmbda=LAMBDAS[quality],
        steps=steps,
        batch_size=settings.batch_size,
        patch_size=settings.patch_size,
        lr=settings.lr,
        lr_schedule="cosine",
        warmup_steps=settings.warmup_steps,
        min_lr_ratio=0.05,
        clip_max_norm=1.0,
        val_count=4,
        val_every=1000,
        checkpoint_every=250,
        log_every=50,
        seed=quality + settings.seed_offset,
        init_from=str(init_from) if init_from else None,
        threads=threads,
        precision=settings.precision,
        quantization=settings.quantization,
        device=device,
    )


def run_stage(config: TrainConfig) -> Path:
    """Trains (or resumes, or skips when finished) one stage; returns its weights file."""
    out = Path(config.out_dir)
    weights = out / "weights.safetensors"
    if weights.exists():
        return weights
    return train(config, resume=(out / "checkpoint.pt").exists()).weights_path


def _run_parallel(configs: Sequence[TrainConfig], jobs: int) -> list:
    """:func:`run_stage` of each config, ``jobs`` processes at a time; weights paths in order."""
    if jobs <= 1 or len(configs) <= 1:
        return [run_stage(c) for c in configs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    for config in configs:
        config.progress = False
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(run_stage, configs))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralcodec.train.recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train"), help="training images")
    parser.add_argument("--work", type=Path, default=Path("runs/defaults"), help="folder for the runs")
    parser.add_argument("--base-steps", type=int, default=BASE_STEPS)
    parser.add_argument("--finetune-steps", type=int, default=FINETUNE_STEPS)
    parser.add_argument("--qualities", type=int, nargs="+", default=sorted(LAMBDAS), choices=sorted(LAMBDAS))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: robust when the cores are shared, and reproducible)")
    for number, (stage, steps) in enumerate(RESTART_STEPS.items(), start=3):
        autocast = ", bfloat16 autocast" if STAGES[stage].precision == "bf16" else ""
        parser.add_argument(f"--{stage}-steps", type=int, default=steps, help=f"stage {number}{autocast} (0: skip it)")
    parser.add_argument("--jobs", type=int, default=1, help="rate points trained in parallel in stages 2-9")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where the stages run (the shipped weights: stages 1-7 on CPUs, 8-9 on a GPU)")
    parser.add_argument("--start-at", choices=list(RESTART_STEPS),
                        help="skip the stages before this one and start it from the installed weights "
                             "(continues training the shipped models)")
    parser.add_argument("--ladder", type=Path, default=None,
                        help="write the trained rate points as the rungs of a ladder (gains at their initial values)")
    args = parser.parse_args(argv)

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: torch sees no CUDA device on this machine")
    restarts = list(RESTART_STEPS)
    if args.start_at:
        results = {}
        for q in args.qualities:  # the shipped ladder's rungs, as weights files to start from
            try:
                installed = previous_default_model(ARCHITECTURE, q)
            except FileNotFoundError as error:
                parser.error(f"--start-at needs the installed weights: {error}")
            results[q] = args.work / f"installed-q{q}.safetensors"
            args.work.mkdir(parents=True, exist_ok=True)
            save_weights(installed, results[q], ARCHITECTURE, metadata={"lambda": str(LAMBDAS[q])})
        restarts = restarts[restarts.index(args.start_at):]
    else:
        base = run_stage(
            stage_config(args.data, args.work, BASE_QUALITY, args.base_steps, None, args.threads, device=args.device)
        )
        results = {BASE_QUALITY: base}
        others = [q for q in args.qualities if q != BASE_QUALITY]
        configs = [
            stage_config(args.data, args.work, q, args.finetune_steps, base, args.threads, device=args.device)
            for q in others
        ]
        results.update(zip(others, _run_parallel(configs, args.jobs)))
    for stage in restarts:
        steps = getattr(args, f"{stage}_steps")
        if steps > 0:
            qualities = sorted(results)
            configs = [
                stage_config(args.data, args.work, q, steps, results[q], args.threads, stage=stage, device=args.device)
                for q in qualities
            ]
            results.update(zip(qualities, _run_parallel(configs, args.jobs)))
    if args.ladder:
        from neuralcodec.models.ladder import MeanScaleLadder

        qualities = sorted(results)
        if qualities != sorted(LAMBDAS):
            parser.error(f"--ladder needs every rate point {sorted(LAMBDAS)}, trained {qualities}")
        ladder = MeanScaleLadder.from_fixed_rate([load_weights_file(results[q]) for q in qualities],
                                                 [LAMBDAS[q] for q in qualities])
        ladder.update()
        save_weights(ladder, args.ladder, "mbt2018-mean-ladder", metadata={"lambdas": json.dumps(
            [LAMBDAS[q] for q in qualities])}, half_precision_kernels=True)
        print(f"wrote the ladder {args.ladder}: train its gains, then install it (see --help)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
