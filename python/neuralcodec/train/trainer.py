"""The training loop: rate-distortion training with resumable checkpoints and DDP.

:func:`train` runs one configuration (:class:`TrainConfig`) to its step count. The
same call runs data-parallel when started by ``torchrun`` (``WORLD_SIZE > 1``): PyTorch
DDP with gloo on CPU and NCCL on CUDA; each rank draws its own crops, gradients are
averaged, rank 0 writes the log and the checkpoints.

Reproducibility: the crops of a step and the quantization noise are drawn from
generators seeded by ``(seed, rank, step)``, and a checkpoint holds the model, the
optimizers, the learning-rate schedule and the step. A run resumed from a checkpoint
therefore follows the uninterrupted run's trajectory bit for bit on CPU.

Quantiles of the entropy bottleneck: by default they are not trained with an auxiliary
optimizer; :meth:`EntropyBottleneck.fit_quantiles` solves for them directly whenever
tables are built (validation, export). ``quantile_fit="aux-adam"`` uses CompressAI's
auxiliary loss and optimizer instead.

Files in ``out_dir``: ``checkpoint.pt`` (latest), ``best.pt`` (lowest validation loss,
measured with actual bits), ``log.csv`` (one row per logged step and per validation),
``weights.safetensors`` (the final model with its CDF tables, see
:func:`neuralcodec.zoo.defaults.save_weights`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
from torch import Tensor, nn

from neuralcodec.entropy_models import EntropyBottleneck, GaussianConditional
from neuralcodec.files import write_atomic
from neuralcodec.models.base import CompressionModel
from neuralcodec.models.vbr import VariableRateModel
from neuralcodec.train.config import TrainConfig
from neuralcodec.train.data import ImageFolder, list_images, step_generator
from neuralcodec.train.loss import RateDistortionLoss

__all__ = ["TrainConfig", "TrainResult", "build_model", "load_initial_weights", "load_model_weights", "train", "validate"]

CHECKPOINT_FORMAT = "neuralcodec-train-checkpoint"
#: The top-level modules and parameters a variable-rate model adds to its fixed-rate parent.
VARIABLE_RATE_KEYS = ("Gain", "QuantABCD", "gayn2zqstep", "lower_bound_zqstep", "scale_to_context")
LOG_FIELDS = ("step", "split", "loss", "bpp", "mse", "psnr", "ms_ssim", "aux", "lr", "seconds")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained model (unwrapped from DDP), tables built, in train mode.
        weights_path: ``out_dir/weights.safetensors`` (written by rank 0).
        step: the step count reached.
        last_train: mean loss terms over the last logging window (``loss``, ``bpp``, ...).
    """

    model: CompressionModel
    weights_path: Path
    step: int
    last_train: Dict[str, float]


def build_model(config: TrainConfig) -> CompressionModel:
    """A freshly initialised model of ``config.architecture`` with ``N`` (and ``M``): as
    many of ``(N, M)`` as the architecture's zoo entry has size arguments (one for the
    Cheng2020 models)."""
    from neuralcodec.zoo.image import ARCHITECTURES, CONFIGS

    cls: Callable[..., CompressionModel] = ARCHITECTURES[config.architecture]
    arity = len(next(iter(CONFIGS[config.architecture].values())))
    sizes = (config.N, config.M)[:arity]
    if config.lambdas is not None:
        return cls(*sizes, lambdas=config.lambdas)
    return cls(*sizes)


def load_initial_weights(model: CompressionModel, path: str) -> List[str]:
    """Loads ``path`` (see :func:`load_model_weights`) into ``model`` to start a run from.

    A variable-rate model may start from a fixed-rate model's weights: the keys only the
    variable-rate model has (its gains and offset networks) keep their initial values.
    Returns those keys.

    Raises:
        ValueError: any other key is missing, unexpected or of another shape.
    """
    state = load_model_weights(path)
    own = set(model.state_dict())
    missing = sorted(own - set(state))
    allowed = [k for k in missing if isinstance(model, VariableRateModel) and k.split(".")[0] in VARIABLE_RATE_KEYS]
    problems = [k for k in missing if k not in allowed]
    unexpected = sorted(set(state) - own)
    if problems or unexpected:
        raise ValueError(f"{path} does not fit the model: missing {problems[:5]}, unexpected {unexpected[:5]}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise ValueError(f"{path} does not fit the model: {error}") from None
    return allowed


def load_model_weights(path: str) -> Dict[str, Tensor]:
    """A state_dict from a training checkpoint, a state_dict file or a safetensors file
    (read by :func:`neuralcodec.zoo.defaults.read_state_dict`, the one weights reader)."""
    from neuralcodec.zoo.defaults import read_state_dict

    return read_state_dict(path)[0]


def _learning_rate_factor(config: TrainConfig, step: int) -> float:
    """The schedule as a factor of ``config.lr`` at ``step`` (0-based)."""
    warmup = 1.0 if step >= config.warmup_steps else (step + 1) / config.warmup_steps
    progress = step / max(1, config.steps)
    if config.lr_schedule == "cosine":
        floor = config.min_lr_ratio
        decay = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    elif config.lr_schedule == "step":
        decay = 1.0 if progress < 0.8 else 0.1 if progress < 0.95 else 0.01
    else:
        decay = 1.0
    return warmup * decay


def _entropy_bottlenecks(model: nn.Module) -> List[EntropyBottleneck]:
    return [m for m in model.modules() if isinstance(m, EntropyBottleneck)]


def prepare_for_coding(model: CompressionModel, fit_quantiles: bool = True) -> None:
    """Fits the quantiles (when asked) and rebuilds every CDF table, in place."""
    with torch.no_grad():
        if fit_quantiles:
            for bottleneck in _entropy_bottlenecks(model):
                bottleneck.fit_quantiles()
        model.update(force=True)


@torch.no_grad()
def validate(
    model: CompressionModel, images: ImageFolder, criterion: RateDistortionLoss, quality: Optional[float] = None
) -> Dict[str, float]:
    """Mean actual bpp, MSE, PSNR and loss over ``images``, coded through real bitstreams;
    a variable-rate model at ``quality``, with the lambda it trains that quality for.

    The model must have up-to-date tables (:func:`prepare_for_coding`). A model on a GPU
    is validated through a CPU copy: the figures are those of the CPU codec users run,
    whatever the training device.
    """
    if next(model.parameters()).device.type != "cpu":
        import copy

        model = copy.deepcopy(model).cpu()
    was_training = model.training
    model.eval()
    rate: Dict[str, Any] = {}
    lmbda = criterion.lmbda
    if quality is not None:
        assert isinstance(model, VariableRateModel), "a quality needs a variable-rate model"
        rate, lmbda = model.prepare_quality(quality), model.lambda_for_quality(quality)
    totals: Dict[str, float] = {"bpp": 0.0, "mse": 0.0, "psnr": 0.0, "loss": 0.0}
    for index in range(len(images)):
        x = images.full_image(index)
        pixels = x.shape[-2] * x.shape[-1]
        coded = model.compress(x, **rate)
        bits = 8 * sum(len(s) for group in coded["strings"] for s in group)
        x_hat = model.decompress(coded["strings"], coded["shape"], x_size=coded["x_size"], **rate)["x_hat"]
        mse = float(torch.mean((x_hat - x) ** 2))
        bpp = bits / pixels
        totals["bpp"] += bpp
        totals["mse"] += mse
        totals["psnr"] += -10 * math.log10(max(mse, 1e-10))
        if criterion.metric == "mse":
            totals["loss"] += lmbda * 255.0**2 * mse + bpp
        else:
            from neuralcodec.metrics import ms_ssim

            totals["loss"] += lmbda * (1 - float(ms_ssim(x_hat, x, data_range=1.0))) + bpp
    model.train(was_training)
    return {k: v / len(images) for k, v in totals.items()}


class _Log:
    """``log.csv`` in ``out_dir``, appended to (rank 0 only)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled
        if enabled and not path.exists():
            with path.open("w", newline="") as f:
                csv.writer(f).writerow(LOG_FIELDS)

    def truncate_after(self, step: int) -> None:
        """Drops the rows of steps after ``step`` (written after the last checkpoint)."""
        with self.path.open(newline="") as f:
            rows = list(csv.reader(f))
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
        with self.path.open("w", newline="") as f:
            csv.writer(f).writerows(kept)

    def write(self, row: Dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", newline="") as f:
                csv.writer(f).writerow([_format(row.get(k, "")) for k in LOG_FIELDS])


def _format(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _save_atomically(state: Dict[str, Any], path: Path) -> None:
    """``torch.save`` through :func:`neuralcodec.files.write_atomic` (replacing ``path``)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue(), force=True)


def _distributed() -> tuple:
    """``(rank, world_size)``, initialising the process group under torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() and os.environ.get("NEURALCODEC_DEVICE") == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def train(
    config: TrainConfig, resume: bool = False, overwrite: bool = False, stop_at: Optional[int] = None
) -> TrainResult:
    """Runs ``config`` to ``config.steps`` steps and writes ``weights.safetensors``.

    Args:
        config: the run.
        resume: continue from ``out_dir/checkpoint.pt`` (its config must match, except
            for ``steps`` and the logging/validation intervals, which may change).
        overwrite: start afresh even though ``out_dir`` holds a checkpoint.
        stop_at: stop after this step with a checkpoint written, as if interrupted
            (for jobs with a time limit; a later ``resume`` continues exactly). No
            weights file is written then, and ``weights_path`` does not exist yet.

    Raises:
        FileExistsError: ``out_dir`` holds a checkpoint and neither ``resume`` nor
            ``overwrite`` was given.
        ValueError: an invalid config, or a checkpoint from another configuration.
    """
    config.validate()
    if config.device == "cuda":
        os.environ["NEURALCODEC_DEVICE"] = "cuda"
    rank, world_size = _distributed()
    if config.threads:
        torch.set_num_threads(int(config.threads))
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if config.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick the fastest kernels
    out_dir = Path(config.out_dir)
    checkpoint_path = out_dir / "checkpoint.pt"
    if checkpoint_path.exists() and not (resume or overwrite):
        raise FileExistsError(
            f"{checkpoint_path} exists: pass resume=True (--resume) to continue it "
            "or overwrite=True (--force) to start again"
        )
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        if overwrite and not resume:
            for name in ("checkpoint.pt", "best.pt", "log.csv", "weights.safetensors"):
                (out_dir / name).unlink(missing_ok=True)

    # Data: held-out validation images come off the end of the training folder.
    train_files = list_images(config.train_dir)
    val_set: Optional[ImageFolder] = None
    if config.val_dir:
        val_set = ImageFolder(config.val_dir, config.patch_size)
    elif config.val_count:
        if config.val_count >= len(train_files):
            raise ValueError(f"val_count {config.val_count} leaves no training images of {len(train_files)}")
        val_set = ImageFolder(config.train_dir, config.patch_size, files=train_files[-config.val_count :])
        train_files = train_files[: -config.val_count]
    train_set = ImageFolder(config.train_dir, config.patch_size, files=train_files)

    torch.manual_seed(config.seed)
    model = build_model(config)
    if config.init_from:
        load_initial_weights(model, config.init_from)
    model.to(device).train()
    for module in model.modules():
        if isinstance(module, GaussianConditional):
            module.training_outputs = "ste" if config.quantization == "mixed" else "noise"
    bottlenecks = _entropy_bottlenecks(model)
    quantiles = [b.quantiles for b in bottlenecks]
    use_aux = config.quantile_fit == "aux-adam"
    for q in quantiles:
        q.requires_grad_(use_aux)
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    optimizer = torch.optim.Adam(main_params, lr=config.lr)
    aux_optimizer = torch.optim.Adam(quantiles, lr=config.aux_lr) if use_aux and quantiles else None
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _learning_rate_factor(config, step))
    criterion = RateDistortionLoss(config.lmbda, config.metric)
    variable: Optional[VariableRateModel] = None
    val_quality: Optional[float] = None
    if config.variable_rate:
        if not isinstance(model, VariableRateModel):
            raise ValueError(f"{config.architecture} is not a variable-rate model")
        variable = model
        val_quality = sum(model.qualities()) / 2  # the middle of the range

    start_step, best_val = 0, math.inf
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{checkpoint_path} is not a neuralcodec training checkpoint")
        saved = TrainConfig.from_dict(state["config"])
        _check_same_run(saved, config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if aux_optimizer is not None and state.get("aux_optimizer"):
            aux_optimizer.load_state_dict(state["aux_optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step, best_val = int(state["step"]), float(state["best_val_loss"])

    network: nn.Module = model
    if world_size > 1:
        network = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=use_aux
        )

    log = _Log(out_dir / "log.csv", enabled=rank == 0)
    if rank == 0 and start_step:
        log.truncate_after(start_step)  # rows written after the checkpoint are replayed
    bar = None
    if config.progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)

    def save(step: int, name: str = "checkpoint.pt") -> None:
        if rank != 0:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "config": asdict(config),
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "aux_optimizer": aux_optimizer.state_dict() if aux_optimizer is not None else {},
            "scheduler": scheduler.state_dict(),
            "best_val_loss": best_val,
            "rng": {"torch": torch.get_rng_state()},
        }
        _save_atomically(state, out_dir / name)

    def run_validation(step: int) -> None:
        nonlocal best_val
        prepare_for_coding(model, fit_quantiles=not use_aux)
        if val_set is not None and rank == 0:
            started = time.perf_counter()
            result = validate(model, val_set, criterion, val_quality)
            log.write({"step": step, "split": "val", **result, "seconds": time.perf_counter() - started})
            if bar is not None:
                bar.write(f"step {step}: val bpp {result['bpp']:.4f}  PSNR {result['psnr']:.2f} dB  loss {result['loss']:.4f}")
            if result["loss"] < best_val:
                best_val = result["loss"]
                save(step, "best.pt")

    window: Dict[str, float] = {}
    last_train: Dict[str, float] = {}
    window_steps, window_start = 0, time.perf_counter()
    for step in range(start_step, config.steps):
        generator = step_generator(config.seed, rank, step)
        x = train_set.batch(config.batch_size, generator).to(device)
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))  # quantization noise
        rate: Dict[str, Any] = {}
        lmbda: Optional[float] = None
        if variable is not None:  # one model for every rate: this step's rate and its lambda
            rate, lmbda = variable.draw_training_rate(generator)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            output = network(x, **rate)
        terms = criterion(output, x, lmbda)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if config.clip_max_norm > 0:
            nn.utils.clip_grad_norm_(main_params, config.clip_max_norm)
        optimizer.step()
        aux_value = 0.0
        if aux_optimizer is not None:
            aux_optimizer.zero_grad(set_to_none=True)
            aux = model.aux_loss()
            aux.backward()
            if world_size > 1:
                import torch.distributed as dist

                for q in quantiles:
                    grad = q.grad
                    assert grad is not None  # aux.backward() reached every quantile
                    dist.all_reduce(grad)
                    grad /= world_size
            aux_optimizer.step()
            aux_value = float(aux.detach())
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()

        for key, value in terms.items():
            window[key] = window.get(key, 0.0) + float(value.detach())
        window["aux"] = window.get("aux", 0.0) + aux_value
        window_steps += 1
        done = step + 1
        if bar is not None:
            bar.update(1)
            shown = {key: float(terms[key].detach()) for key in ("loss", "bpp", "psnr")}
            bar.set_postfix(loss=f"{shown['loss']:.3f}", bpp=f"{shown['bpp']:.3f}", psnr=f"{shown['psnr']:.2f}")
        if done % config.log_every == 0 or done == config.steps:
            row = {k: v / window_steps for k, v in window.items()}
            last_train = row
            log.write({"step": done, "split": "train", **row, "lr": lr, "seconds": time.perf_counter() - window_start})
            window, window_steps, window_start = {}, 0, time.perf_counter()
        if done % config.val_every == 0 or done == config.steps:
            run_validation(done)
        if done % config.checkpoint_every == 0 or done == config.steps or done == stop_at:
            save(done)
        if done == stop_at:
            break
    if bar is not None:
        bar.close()
    if stop_at is not None and stop_at < config.steps:
        if world_size > 1:
            import torch.distributed as dist

            dist.barrier()
        return TrainResult(model=model, weights_path=out_dir / "weights.safetensors", step=min(stop_at, config.steps), last_train=last_train)

    prepare_for_coding(model, fit_quantiles=not use_aux)
    weights_path = out_dir / "weights.safetensors"
    if rank == 0:
        from neuralcodec.zoo.defaults import save_weights

        save_weights(
            model,
            weights_path,
            architecture=config.architecture,
            metadata={"lambda": "variable" if config.variable_rate else repr(config.lmbda), "metric": config.metric,
                      **({"lambdas": json.dumps(config.lambdas)} if config.lambdas is not None else {}),
                      "steps": str(config.steps), "seed": str(config.seed)},
        )
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(model=model, weights_path=weights_path, step=config.steps, last_train=last_train)


def _check_same_run(saved: TrainConfig, config: TrainConfig) -> None:
    """Refuses to resume a checkpoint of another model or objective."""
    fixed = ("architecture", "N", "M", "lmbda", "metric", "batch_size", "patch_size", "seed", "lr", "lr_schedule",
             "quantile_fit", "variable_rate", "lambdas")
    changed = [f"{k}: {getattr(saved, k)!r} -> {getattr(config, k)!r}" for k in fixed if getattr(saved, k) != getattr(config, k)]
    if changed:
        raise ValueError("the checkpoint belongs to another run; changed settings: " + "; ".join(changed))


def set_seed_everywhere(seed: int) -> None:
    """Seeds torch, numpy and Python's ``random`` (for scripts built on :func:`train`)."""
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
