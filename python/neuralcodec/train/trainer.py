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

Fixed-rate and variable-rate training are options of the one loop (``variable_rate``:
a rate per step, or per crop with ``quality_draw="per-crop"``), as are a wall-time budget
with the schedule over wall time (``minutes``), images kept on the GPU
(``data_on_device``), randomly downscaled crops (``min_scale``), validation at every
integer quality with estimated bits (``val_qualities``, ``val_bits``) and weight shards
small enough for the device tool (``shards_dir``, :mod:`neuralcodec.train.shards`).
``benches/gpu/train.sh`` runs it for one call of borrowed GPU time.

Files in ``out_dir``: ``checkpoint.pt`` (latest), ``best.pt`` (lowest validation loss),
``log.csv`` (one row per logged step and per validation; a variable-rate run validated at
several qualities has a ``val@Q`` row for each and a ``val`` row of their mean),
``weights.safetensors`` (the final model with its CDF tables, see
:func:`neuralcodec.zoo.defaults.save_weights`; architectures with a zoo entry),
``history.json`` (one entry per finished run: steps, minutes, settings, the last
validation; in ``shards_dir`` when that is set). Every file is written atomically
(:func:`neuralcodec.files.write_atomic`): an interrupted run never leaves half a file.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from dataclasses import field as dataclasses_field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from neuralcodec.datasets.image import list_images
from neuralcodec.entropy_models import EntropyBottleneck, GaussianConditional
from neuralcodec.files import write_atomic
from neuralcodec.losses import RateDistortionLoss, bits_per_pixel
from neuralcodec.models.base import CompressionModel
from neuralcodec.models.gain_units import GAIN_UNIT_NAMES
from neuralcodec.models.variable_rate import VariableRateModel
from neuralcodec.train.config import TrainConfig
from neuralcodec.train.data import CropSampler, step_generator
from neuralcodec.train.shards import DERIVED_SUFFIXES, read_shards, save_shards

__all__ = [
    "TrainConfig",
    "TrainResult",
    "build_model",
    "load_initial_weights",
    "load_model_weights",
    "new_model",
    "train",
    "validate",
]

CHECKPOINT_FORMAT = "neuralcodec-train-checkpoint"
#: The top-level modules and parameters a variable-rate model adds to its fixed-rate parent.
VARIABLE_RATE_KEYS = ("Gain", "QuantABCD", "gayn2zqstep", "lower_bound_zqstep", "scale_to_context", *GAIN_UNIT_NAMES)
LOG_FIELDS = ("step", "split", "loss", "bpp", "mse", "psnr", "ms_ssim", "aux", "lr", "seconds")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained model (unwrapped from DDP), tables built, in train mode.
        weights_path: ``out_dir/weights.safetensors`` (written by rank 0).
        step: the step count reached.
        last_train: mean loss terms over the last logging window (``loss``, ``bpp``, ...).
        validation: the last validation: the measures (``bpp``, ``psnr``, ``mse``,
            ``loss``) per quality label (``"3"``, ``"3.5"``; ``""`` for a fixed-rate
            model); empty without validation images.
    """

    model: CompressionModel
    weights_path: Path
    step: int
    last_train: Dict[str, float]
    validation: Dict[str, Dict[str, float]] = dataclasses_field(default_factory=dict)


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


def new_model(config: TrainConfig) -> CompressionModel:
    """A freshly initialised model of ``config`` (:func:`build_model`; kept as the
    trainer's name for it)."""
    return build_model(config)


def load_initial_weights(model: CompressionModel, path: str) -> List[str]:
    """Loads ``path`` (see :func:`load_model_weights`) into ``model`` to start a run from.

    A variable-rate model may start from a fixed-rate model's weights: the keys only the
    variable-rate model has (its gains and offset networks) keep their initial values.
    Returns those keys. State the weights determine (CDF tables, context masks), which
    weight shards leave out, keeps its initial value too (tables are rebuilt before coding).

    Raises:
        ValueError: any other key is missing, unexpected or of another shape.
    """
    state = load_model_weights(path)
    own = set(model.state_dict())
    missing = sorted(k for k in own - set(state) if not k.endswith(DERIVED_SUFFIXES))
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
    (read by :func:`neuralcodec.zoo.defaults.read_state_dict`, the one weights reader), or
    from a folder of weight shards (:func:`neuralcodec.train.shards.read_shards`)."""
    from neuralcodec.zoo.defaults import read_state_dict

    if Path(path).is_dir():
        return read_shards(path)[0]
    return read_state_dict(path)[0]


def _learning_rate_factor(config: TrainConfig, step: int, progress: Optional[float] = None) -> float:
    """The schedule as a factor of ``config.lr`` at ``step`` (0-based): a linear warm-up
    over the steps, then the decay at ``progress`` (the fraction of the run done: of the
    steps by default, of the wall-time budget with ``config.minutes``)."""
    warmup = 1.0 if step >= config.warmup_steps else (step + 1) / config.warmup_steps
    if progress is None:
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


#: Validation images are cut to multiples of this (every model's stride divides it) for
#: estimated bits, which run the training pass.
_ESTIMATE_BLOCK = 64


@torch.no_grad()
def validate(
    model: CompressionModel,
    images: CropSampler,
    criterion: RateDistortionLoss,
    quality: Optional[float] = None,
    bits: str = "actual",
) -> Dict[str, float]:
    """Mean bpp, MSE, PSNR and loss over ``images``; a variable-rate model at ``quality``,
    with the lambda it trains that quality for. The one validation of the trainer.

    Args:
        bits: ``"actual"``: the images are coded through real bitstreams by a CPU copy of
            the model (the figures of the CPU codec users run, whatever the training
            device), which must have up-to-date tables (:func:`prepare_for_coding`).
            ``"estimated"``: the bits ``sum(-log2 p)`` of the likelihoods of the model's
            forward pass in eval mode (rounded latents), on the model's device, with the
            images cut to multiples of 64 pixels and the reconstruction rounded to 8 bits;
            needs fitted quantiles, no tables.

    Raises:
        ValueError: an unknown ``bits``, or (estimated) an image under 64 pixels a side.
    """
    if bits not in ("actual", "estimated"):
        raise ValueError(f"bits must be actual or estimated, got {bits!r}")
    device = next(model.parameters()).device
    if bits == "actual" and device.type != "cpu":
        import copy

        model = copy.deepcopy(model).cpu()
        device = torch.device("cpu")
    was_training = model.training
    model.eval()
    rate: Dict[str, Any] = {}
    lmbda = criterion.lmbda
    if quality is not None:
        if not isinstance(model, VariableRateModel):
            raise ValueError("a quality needs a variable-rate model")
        rate, lmbda = model.prepare_quality(quality), model.lambda_for_quality(quality)
    totals: Dict[str, float] = {"bpp": 0.0, "mse": 0.0, "psnr": 0.0, "loss": 0.0}
    try:
        for index in range(len(images)):
            x = images.full_image(index).to(device)
            if bits == "actual":
                coded = model.compress(x, **rate)
                size = 8 * sum(len(s) for group in coded["strings"] for s in group)
                x_hat = model.decompress(coded["strings"], coded["shape"], x_size=coded["x_size"], **rate)["x_hat"]
                bpp = size / (x.shape[-2] * x.shape[-1])
            else:
                height, width = (side // _ESTIMATE_BLOCK * _ESTIMATE_BLOCK for side in x.shape[-2:])
                if not (height and width):
                    raise ValueError(f"{images.files[index]} is under {_ESTIMATE_BLOCK} pixels a side: no estimated bits")
                x = x[..., :height, :width]
                output = model(x, **rate)
                bpp = float(bits_per_pixel(output["likelihoods"], height * width))
                x_hat = (output["x_hat"].float().clamp(0, 1) * 255).round() / 255
            mse = float(torch.mean((x_hat - x) ** 2))
            totals["bpp"] += bpp
            totals["mse"] += mse
            totals["psnr"] += -10 * math.log10(max(mse, 1e-10))
            if criterion.metric == "mse":
                totals["loss"] += lmbda * 255.0**2 * mse + bpp
            else:
                from neuralcodec.metrics import ms_ssim

                totals["loss"] += lmbda * (1 - float(ms_ssim(x_hat, x, data_range=1.0))) + bpp
    finally:
        model.train(was_training)
    return {k: v / len(images) for k, v in totals.items()}


def validation_qualities(model: CompressionModel, config: TrainConfig) -> List[Optional[float]]:
    """The qualities ``config`` validates at: ``[None]`` for a fixed-rate run; the middle
    of a variable-rate model's range, or every integer in it (``val_qualities``)."""
    if not config.variable_rate:
        return [None]
    assert isinstance(model, VariableRateModel)
    low, high = model.qualities()
    if config.val_qualities == "integers":
        return [float(q) for q in range(math.ceil(low), math.floor(high) + 1)]
    return [(low + high) / 2]


def _quality_label(quality: Optional[float]) -> str:
    return "" if quality is None else f"{quality:g}"


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
        text = io.StringIO(newline="")
        csv.writer(text).writerows(kept)
        write_atomic(self.path, text.getvalue().encode(), force=True)

    def write(self, row: Dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", newline="") as f:
                csv.writer(f).writerow([_format(row.get(k, "")) for k in LOG_FIELDS])


def _format(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _append_history(path: Path, entry: Dict[str, Any]) -> None:
    """Appends ``entry`` to the JSON list in ``path`` (atomically; a new list if none)."""
    history = json.loads(path.read_text()) if path.is_file() else []
    if not isinstance(history, list):
        raise ValueError(f"{path} is not a history (a JSON list)")
    history.append(entry)
    write_atomic(path, (json.dumps(history, indent=1) + "\n").encode(), force=True)


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


class _Clock:
    """Seconds of training: those of earlier sessions (from the checkpoint) plus this one's."""

    now = staticmethod(time.monotonic)

    def __init__(self) -> None:
        self.before = 0.0
        self.started = self.now()

    def elapsed(self) -> float:
        return self.before + self.now() - self.started


def _rate_per_crop(
    model: VariableRateModel, batch: int, generator: torch.Generator, device: torch.device, level_share: float = 0.0
) -> Tuple[Dict[str, Any], Tensor]:
    """One quality per crop, uniform over the model's range (a ``level_share`` of them at
    its integer qualities instead), and the lambda of each: ``({"quality": [batch]},
    lambdas [batch])``."""
    low, high = model.qualities()
    drawn = low + (high - low) * torch.rand(batch, generator=generator, dtype=torch.float64)
    if level_share > 0:  # (no extra draws otherwise: a run without it draws as before)
        levels = torch.arange(math.ceil(low), math.floor(high) + 1, dtype=torch.float64)
        at_level = torch.rand(batch, generator=generator, dtype=torch.float64) < level_share
        picked = levels[torch.randint(len(levels), (batch,), generator=generator)]
        drawn = torch.where(at_level, picked, drawn)
    qualities = drawn.tolist()
    lambdas = torch.tensor([model.lambda_for_quality(q) for q in qualities], dtype=torch.float32)
    drawn = torch.tensor(qualities, dtype=torch.float32)
    if device.type == "cuda":  # a copy from pinned memory does not wait for the GPU's queue
        return {"quality": drawn.pin_memory().to(device, non_blocking=True)}, lambdas.pin_memory().to(device, non_blocking=True)
    return {"quality": drawn}, lambdas


def train(
    config: TrainConfig, resume: bool = False, overwrite: bool = False, stop_at: Optional[int] = None
) -> TrainResult:
    """Runs ``config`` to ``config.steps`` steps (or to the end of its ``minutes``) and
    writes the weights (``weights.safetensors``; shards in ``shards_dir``) and a
    ``history.json`` entry.

    Args:
        config: the run.
        resume: continue from ``out_dir/checkpoint.pt`` (its config must match, except
            for ``steps``, ``minutes``, the data augmentation, the logging/validation
            intervals and where the files go, which may change).
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
    if config.minutes is not None and world_size > 1:
        raise ValueError("a wall-time budget (minutes) is not supported in data-parallel training: the ranks' clocks differ")
    if config.threads:
        torch.set_num_threads(int(config.threads))
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if config.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick the fastest kernels
        if config.precision == "bf16":  # reduced precision asked for: TF32 for what autocast leaves in float32
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
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
            for name in ("checkpoint.pt", "best.pt", "log.csv", "weights.safetensors", "history.json"):
                (out_dir / name).unlink(missing_ok=True)

    # Data: held-out validation images come off the end of the training folder.
    data_device = device if config.data_on_device else torch.device("cpu")
    train_files = list_images(config.train_dir)
    val_set: Optional[CropSampler] = None
    if config.val_dir:
        val_set = CropSampler(config.val_dir, config.patch_size, device=data_device)
    elif config.val_count:
        if config.val_count >= len(train_files):
            raise ValueError(f"val_count {config.val_count} leaves no training images of {len(train_files)}")
        val_set = CropSampler(config.train_dir, config.patch_size, files=train_files[-config.val_count :], device=data_device)
        train_files = train_files[: -config.val_count]
    train_set = CropSampler(config.train_dir, config.patch_size, files=train_files, device=data_device,
                            min_scale=config.min_scale, vertical_flip=config.vertical_flip)

    torch.manual_seed(config.seed)
    model = new_model(config)
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
    clock = _Clock()
    budget = None if config.minutes is None else config.minutes * 60.0

    def factor(step: int) -> float:
        return _learning_rate_factor(config, step, None if budget is None else min(1.0, clock.elapsed() / budget))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    criterion = RateDistortionLoss(config.lmbda, config.metric)
    variable: Optional[VariableRateModel] = None
    if config.variable_rate:
        if not isinstance(model, VariableRateModel):
            raise ValueError(f"{config.architecture} is not a variable-rate model")
        variable = model
        if config.quality_draw == "per-crop" and "quality" not in inspect.signature(model.forward).parameters:
            raise ValueError(
                f"quality_draw per-crop needs a model whose forward takes quality= one per image; "
                f"{config.architecture} draws its rate per step"
            )
    val_points = validation_qualities(model, config)

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
        clock.before = float(state.get("elapsed_seconds", 0.0))
    clock.started = clock.now()
    session_start = clock.elapsed()

    def out_of_time() -> bool:
        return budget is not None and clock.elapsed() >= budget

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
            "elapsed_seconds": clock.elapsed(),
            "rng": {"torch": torch.get_rng_state()},
        }
        _save_atomically(state, out_dir / name)

    last_validation: Dict[str, Dict[str, float]] = {}

    def run_validation(step: int) -> None:
        nonlocal best_val, last_validation
        if config.val_bits == "actual":
            prepare_for_coding(model, fit_quantiles=not use_aux)
        elif not use_aux:
            with torch.no_grad():
                for bottleneck in bottlenecks:
                    bottleneck.fit_quantiles()
        if val_set is not None and rank == 0:
            started = time.perf_counter()
            results = {_quality_label(q): validate(model, val_set, criterion, q, bits=config.val_bits) for q in val_points}
            mean = {key: sum(r[key] for r in results.values()) / len(results) for key in ("bpp", "mse", "psnr", "loss")}
            if len(results) > 1:
                for label, result in results.items():
                    log.write({"step": step, "split": f"val@{label}", **result})
            log.write({"step": step, "split": "val", **mean, "seconds": time.perf_counter() - started})
            last_validation = results
            if bar is not None:
                bar.write(f"step {step}: val bpp {mean['bpp']:.4f}  PSNR {mean['psnr']:.2f} dB  loss {mean['loss']:.4f}")
            if mean["loss"] < best_val:
                best_val = mean["loss"]
                save(step, "best.pt")

    window: Dict[str, float] = {}
    last_train: Dict[str, float] = {}
    window_steps, window_start = 0, time.perf_counter()
    step = start_step
    while step < config.steps and not out_of_time():
        generator = step_generator(config.seed, rank, step)
        x = train_set.batch(config.batch_size, generator).to(device)
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))  # quantization noise
        rate: Dict[str, Any] = {}
        lmbda: Optional[Union[float, Tensor]] = None
        if variable is not None:  # one model for every rate: this step's rate(s) and lambda(s)
            if config.quality_draw == "per-crop":
                rate, lmbda = _rate_per_crop(variable, config.batch_size, generator, device, config.level_share)
            else:
                rate, lmbda = variable.draw_training_rate(generator)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            output = network(x, **rate)
        terms = criterion(output, x, lmbda)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if config.clip_max_norm > 0:
            nn.utils.clip_grad_norm_(main_params, config.clip_max_norm)
        optimizer.step()
        aux_value: Union[float, Tensor] = 0.0
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
            aux_value = aux.detach().double()
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()

        for key, value in terms.items():  # summed on the device: no synchronisation per step
            window[key] = window.get(key, 0.0) + value.detach().double()  # type: ignore[assignment]
        window["aux"] = window.get("aux", 0.0) + aux_value  # type: ignore[assignment]
        window_steps += 1
        done = step = step + 1
        final = done == config.steps or out_of_time()
        if bar is not None:
            bar.update(1)
            shown = {key: float(terms[key].detach()) for key in ("loss", "bpp", "psnr")}
            bar.set_postfix(loss=f"{shown['loss']:.3f}", bpp=f"{shown['bpp']:.3f}", psnr=f"{shown['psnr']:.2f}")
        if done % config.log_every == 0 or final:
            row = {k: float(v) / window_steps for k, v in window.items()}
            last_train = row
            log.write({"step": done, "split": "train", **row, "lr": lr, "seconds": time.perf_counter() - window_start})
            window, window_steps, window_start = {}, 0, time.perf_counter()
        if done % config.val_every == 0 or final:
            run_validation(done)
        if done % config.checkpoint_every == 0 or final or done == stop_at:
            save(done)
        if done == stop_at:
            break
    if bar is not None:
        bar.close()
    if stop_at is not None and step == stop_at and step < config.steps:
        if world_size > 1:
            import torch.distributed as dist

            dist.barrier()
        return TrainResult(model=model, weights_path=out_dir / "weights.safetensors", step=step, last_train=last_train)


    prepare_for_coding(model, fit_quantiles=not use_aux)
    weights_path = out_dir / "weights.safetensors"  # every architecture is registered
    if rank == 0:
        metadata = {"lambda": "variable" if config.variable_rate else repr(config.lmbda), "metric": config.metric,
                    **({"lambdas": json.dumps(config.lambdas)} if config.lambdas is not None else {}),
                    "steps": str(step), "seed": str(config.seed)}  # fmt: skip
        from neuralcodec.zoo.defaults import save_weights

        save_weights(model, weights_path, architecture=config.architecture, metadata=metadata)
        history_dir = out_dir
        if config.shards_dir:
            history_dir = Path(config.shards_dir)
            save_shards(model, history_dir, config.architecture, metadata=metadata)
            if (out_dir / "log.csv").is_file():
                write_atomic(history_dir / "log.csv", (out_dir / "log.csv").read_bytes(), force=True)
        _append_history(history_dir / "history.json", {
            "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "architecture": config.architecture,
            "steps": step,
            "run_steps": step - start_step,
            "train_minutes": round(clock.elapsed() / 60, 2),
            "run_minutes": round((clock.elapsed() - session_start) / 60, 2),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "batch_size": config.batch_size,
            "patch_size": config.patch_size,
            "peak_lr": config.lr,
            "precision": config.precision,
            "quality_draw": config.quality_draw if config.variable_rate else None,
            "level_share": config.level_share if config.quality_draw == "per-crop" else None,
            "init": config.init_from or "scratch",
            "resumed_from_step": start_step or None,
            "photos": len(train_set),
            "final_loss": last_train.get("loss"),
            "validation": last_validation,
            "val_bits": config.val_bits,
        })
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(model=model, weights_path=weights_path, step=step, last_train=last_train, validation=last_validation)


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
