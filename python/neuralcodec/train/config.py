"""The settings of one training run (importable without torch, for the command line)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """One training run. Paths are strings so the config round-trips through checkpoints.

    Attributes:
        train_dir: folder of training images.
        out_dir: folder for checkpoints, the log and the final weights.
        architecture: a zoo name (``"mbt2018-mean"``, ``"bmshj2018-hyperprior"``, ...).
        N, M: channel counts (``M`` is ignored by the Cheng2020 models).
        lmbda: rate-distortion trade-off (see :class:`RateDistortionLoss`).
        metric: ``"mse"`` or ``"ms-ssim"``.
        steps: total optimizer steps (a resumed run continues to this count).
        batch_size: crops per step per rank.
        patch_size: crop side in pixels.
        lr: peak learning rate of the main (Adam) optimizer.
        lr_schedule: ``"constant"``, ``"cosine"`` (decay to ``min_lr_ratio * lr``) or
            ``"step"`` (x0.1 at 80% and again at 95% of the steps).
        warmup_steps: linear warm-up from 0 at the start.
        min_lr_ratio: floor of the cosine schedule, relative to ``lr``.
        clip_max_norm: gradient-norm clipping of the main parameters (0 disables).
        quantile_fit: ``"bisection"`` (solve for the quantiles) or ``"aux-adam"``.
        aux_lr: learning rate of the auxiliary optimizer (``"aux-adam"`` only).
        val_dir: folder of validation images; when None the last ``val_count``
            training images are held out instead (0: no validation).
        val_count: see ``val_dir``.
        val_every: validate every this many steps (and at the end).
        checkpoint_every: write ``checkpoint.pt`` every this many steps (and at the end).
        log_every: write a training row to ``log.csv`` every this many steps.
        seed: seeds the initial weights, the crops and the noise.
        init_from: start from these weights (a checkpoint, state_dict or safetensors
            file), e.g. to fine-tune a trained model to another ``lmbda``.
        threads: torch intra-op threads (None: torch's default).
        device: ``"cpu"`` or ``"cuda"``.
        precision: ``"fp32"``, or ``"bf16"`` to run the transforms under bfloat16
            autocast (entropy models and loss stay float32): about 1.7x faster steps on
            CPUs with AVX512-BF16 and on GPUs; the weights stay float32. A run may
            switch precision when resumed (e.g. a float32 polish at the end).
        quantization: how the latents ``y`` reach the synthesis transform in training:
            ``"noise"`` (uniform noise, as CompressAI), or ``"mixed"`` (Minnen & Singh
            2020: the rate still comes from the noisy values, but ``g_s`` gets the rounded
            ones through a straight-through gradient, as it will when decoding). A run
            may switch when resumed.
        variable_rate: train one model for every rate: each step draws a rate from the
            model (``draw_training_rate``: a gain level of a ``*-vbr`` model, with
            CompressAI's lambda of that level) and the loss uses its lambda; ``lmbda`` is
            then unused. Validation codes at the middle of the quality range. Needs a
            variable-rate architecture.
        lambdas: with ``variable_rate``, the lambda of each gain level, increasing (None:
            CompressAI's eight); the gains start at ``sqrt(lambda / lambdas[-1])``, so
            ``init_from`` the weights of a fixed-rate model trained for ``lambdas[-1]``
            starts every level near its rate.
        progress: show a progress bar (rank 0).
        minutes: a wall-time budget for the training loop (None: none): the run stops
            at ``steps`` or when the budget is spent, whichever comes first, and the
            ``cosine``/``step`` schedules run over the *wall time* instead of the steps
            (the number of steps a borrowed machine manages is not known beforehand).
            The time spent is kept in the checkpoint, so a resumed run goes on with the
            rest of the budget; a run resumed with a larger budget stretches the schedule.
        data_on_device: keep the decoded training (and validation) images on ``device``
            and cut the crops there (no host-to-device copy per step; for GPUs).
        min_scale: each crop is cut from a square of ``patch_size / s`` pixels, ``s``
            drawn per crop so that the factor ``1/s`` is uniform in ``[1, 1/min_scale]``
            (limited by the image), and downscaled to ``patch_size`` (antialiased
            bilinear): photos seen at several scales. 1 (default): no downscale.
        vertical_flip: also flip crops upside down with probability 1/2.
        quality_draw: with ``variable_rate``: ``"per-step"`` (the model's
            ``draw_training_rate``: one rate for the batch), or ``"per-crop"`` (each crop
            its own quality, uniform over the model's continuous range, and the loss
            weighs each crop by its own lambda; needs a model whose ``forward`` takes
            ``quality=`` one per image, such as ``ElicLiteVbr``).
        level_share: with ``quality_draw="per-crop"``, the share of crops drawn at the
            model's integer qualities (its levels, uniformly), the others uniform over
            the range: the levels, where the model is measured, get their own steps
            while the qualities between them train too. 0 (default): all uniform.
        val_qualities: with ``variable_rate``: validate at the ``"middle"`` of the
            quality range, or at every ``"integers"`` quality of it (the loss that picks
            ``best.pt`` is then their mean).
        val_bits: ``"actual"`` (code real bitstreams through a CPU copy of the model),
            or ``"estimated"`` (the bits the likelihoods give with rounded latents, on
            the training device: fast, for runs that validate often on a GPU).
        shards_dir: also write the final weights there as safetensors shards of at most
            15 MiB with float16 convolution kernels (what the device tool can return,
            :func:`neuralcodec.train.shards.save_shards`), with ``history.json`` and a
            copy of ``log.csv``.
    """

    train_dir: str
    out_dir: str
    architecture: str = "mbt2018-mean"
    N: int = 128
    M: int = 192
    lmbda: float = 0.0067
    metric: str = "mse"
    steps: int = 10_000
    batch_size: int = 8
    patch_size: int = 128
    lr: float = 1e-4
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.05
    clip_max_norm: float = 1.0
    quantile_fit: str = "bisection"
    aux_lr: float = 1e-3
    val_dir: Optional[str] = None
    val_count: int = 0
    val_every: int = 1000
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    init_from: Optional[str] = None
    threads: Optional[int] = None
    device: str = "cpu"
    precision: str = "fp32"
    quantization: str = "noise"
    variable_rate: bool = False
    lambdas: Optional[List[float]] = None
    progress: bool = True
    minutes: Optional[float] = None
    data_on_device: bool = False
    min_scale: float = 1.0
    vertical_flip: bool = False
    quality_draw: str = "per-step"
    level_share: float = 0.0
    val_qualities: str = "middle"
    val_bits: str = "actual"
    shards_dir: Optional[str] = None

    def validate(self) -> None:
        """Raises ValueError naming the first setting that cannot work."""
        from neuralcodec.settings import VARIABLE_RATE_ARCHITECTURES
        from neuralcodec.zoo.image import ARCHITECTURES

        if self.architecture not in ARCHITECTURES:  # the registry owns the names
            raise ValueError(f"unknown architecture {self.architecture!r}; known: {', '.join(ARCHITECTURES)}")
        if self.variable_rate and self.architecture not in VARIABLE_RATE_ARCHITECTURES:
            raise ValueError(
                f"variable-rate training needs a variable-rate architecture ({', '.join(VARIABLE_RATE_ARCHITECTURES)}), "
                f"got {self.architecture!r}"
            )
        if self.lambdas is not None:
            import inspect

            if "lambdas" not in inspect.signature(ARCHITECTURES[self.architecture]).parameters:
                raise ValueError(f"{self.architecture} has its own lambda per quality: it takes no lambdas")
        if self.lambdas is not None:
            if not self.variable_rate:
                raise ValueError("lambdas are the levels of a variable-rate model: pass variable_rate too")
            from neuralcodec.models.vbr import initial_gains

            initial_gains(self.lambdas)  # raises on a table that cannot work
        positive = ("N", "M", "steps", "batch_size", "patch_size", "val_every", "checkpoint_every", "log_every")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.lr_schedule not in ("constant", "cosine", "step"):
            raise ValueError(f"lr_schedule must be constant, cosine or step, got {self.lr_schedule!r}")
        if self.quantile_fit not in ("bisection", "aux-adam"):
            raise ValueError(f"quantile_fit must be bisection or aux-adam, got {self.quantile_fit!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.quantization not in ("noise", "mixed"):
            raise ValueError(f"quantization must be noise or mixed, got {self.quantization!r}")
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device cuda was asked for but torch sees no CUDA device")
        if self.patch_size % 64:
            raise ValueError(f"patch_size must be a multiple of 64 (the models' stride), got {self.patch_size}")
        if self.val_count < 0 or self.warmup_steps < 0 or self.clip_max_norm < 0:
            raise ValueError("val_count, warmup_steps and clip_max_norm must not be negative")
        if not (self.lmbda > 0 and math.isfinite(self.lmbda)):
            raise ValueError(f"lambda must be a positive number, got {self.lmbda!r}")
        if self.minutes is not None and not (self.minutes > 0 and math.isfinite(self.minutes)):
            raise ValueError(f"minutes must be a positive number, got {self.minutes!r}")
        if not (0 < self.min_scale <= 1):
            raise ValueError(f"min_scale must be within (0, 1], got {self.min_scale!r}")
        choices = {"quality_draw": ("per-step", "per-crop"), "val_qualities": ("middle", "integers"),
                   "val_bits": ("actual", "estimated")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be {' or '.join(allowed)}, got {getattr(self, name)!r}")
        if self.quality_draw != "per-step" and not self.variable_rate:
            raise ValueError("quality_draw per-crop draws the qualities of a variable-rate model: pass variable_rate too")
        if not (0 <= self.level_share <= 1):
            raise ValueError(f"level_share must be within [0, 1], got {self.level_share!r}")
        if self.level_share and self.quality_draw != "per-crop":
            raise ValueError("level_share is the share of crops drawn at the integer qualities: pass quality_draw per-crop too")
        if self.metric not in ("mse", "ms-ssim"):
            raise ValueError(f"metric must be 'mse' or 'ms-ssim', got {self.metric!r}")

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "TrainConfig":
        """The config saved in a checkpoint (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
