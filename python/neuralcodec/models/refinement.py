"""Encoder-side latent refinement: a latent fitted to one image, for the same decoder.

``g_a`` is trained to give good latents on average; for one image, a latent found by
gradient descent on that image's rate-distortion loss through the decoder codes it better
(Campos et al. 2019, "Content adaptive optimization for neural image compression"; Yang,
Bamler & Mandt 2020, "Improving inference for neural image compression"). The decoder,
the weights and the file format do not change: a refined file decodes with any
neuralcodec; only encoding costs more. ``compress --effort`` runs it.

The loss is the training objective (:class:`~neuralcodec.losses.RateDistortionLoss`)
with the model's own ``lambda`` and metric, through the model's ``latent_codec`` and
``g_s``. Rounding is replaced by *stochastic Gumbel annealing* (Yang et al.): each value
is drawn softly towards its lower or upper integer, the nearer one more likely, with a
temperature that falls from 0.5 to 0.05 over the steps, so the latent ends near what
rounding will code. The rate and the distortion are both computed on those values; on
the Kodak crops this fits the latent about three times as well as uniform noise with
straight-through rounding at the same step count. Every ``check_every`` steps the latent
is scored as it would be coded (rounded, the likelihoods of the rounded values), and the
best is returned, the analysis's own latent among the candidates: refinement never
returns a latent that the model scores worse than the one it started from.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec import settings
from neuralcodec.entropy_models import EntropyModel, GaussianConditional
from neuralcodec.losses import RateDistortionLoss
from neuralcodec.models.base import pixels_to_unit
from neuralcodec.models.variable_rate import VariableRateModel

__all__ = ["EFFORT_STEPS", "MAX_REFINED_PIXELS", "Refinement", "StochasticRounding", "check_effort", "refine_latent"]

#: Gradient steps per ``--effort`` level (0: the analysis's latent, no refinement); owned by
#: :mod:`neuralcodec.settings`, where ``--effort``'s help reads them without torch.
EFFORT_STEPS = settings.EFFORT_STEPS

#: Refinement back-propagates through ``g_s`` over the whole image (about 1.5 GB per
#: megapixel for the shipped model); larger images are refused rather than risk the memory.
MAX_REFINED_PIXELS = 4_000_000

#: The annealing temperature at the first and the last step.
START_TEMPERATURE, END_TEMPERATURE = 0.5, 0.05


def check_effort(effort: Any, model: Optional[nn.Module] = None, lmbda: Optional[float] = None,
                 name: str = "") -> int:
    """``effort`` as a level of :data:`EFFORT_STEPS`; with ``model``, also checks that a
    level above 0 can refine it: the model codes a given latent and ``lmbda``, its
    training trade-off, is known (``name`` names the model in the messages).

    Raises:
        ValueError: not a level, or a model or lambda that cannot be refined (the message
            says what to do).
    """
    if isinstance(effort, bool) or not isinstance(effort, int) or not 0 <= effort < len(EFFORT_STEPS):
        raise ValueError(f"effort must be an integer from 0 to {len(EFFORT_STEPS) - 1}, got {effort!r}")
    if effort == 0 or model is None:
        return effort
    name = name or type(model).__name__
    if not getattr(model, "codes_given_latent", False):
        raise ValueError(
            f"effort {effort} needs a model whose compress() codes a given latent; {name} does not "
            "(it has no training pass from a given latent): use effort 0"
        )
    if lmbda is None:
        raise ValueError(
            f"effort {effort} fits the latent to the rate-distortion loss {name} was trained for, but its lambda is "
            "unknown: pass Codec(..., lmbda=...), or use weights that record it"
        )
    return effort


@dataclass(frozen=True)
class Refinement:
    """What :func:`refine_latent` found: the ``latent`` to code (``[B, M, h, w]``), the
    loss of the analysis's latent and of the returned one as the model scores a coded
    latent (bits per pixel plus the weighted distortion), and the ``steps`` taken."""

    latent: Tensor
    initial_loss: float
    loss: float
    steps: int


class StochasticRounding:
    """Stochastic Gumbel annealing (Yang et al. 2020): ``v -> floor(v) + w``, where ``w``
    in ``(0, 1)`` is a Gumbel-softmax draw between the lower and the upper integer with
    logits ``-atanh(distance) / temperature``: the nearer integer is the likelier, and
    more so as :attr:`temperature` falls. Differentiable in ``v`` (through ``w``); the
    values of an entropy model's ``soft_rounding``."""

    def __init__(self, temperature: float = START_TEMPERATURE) -> None:
        self.temperature = temperature

    def __call__(self, centred: Tensor) -> Tensor:
        lower = torch.floor(centred).detach()
        above = (centred - lower).clamp(1e-5, 1 - 1e-5)  # distance to the lower integer
        logits = torch.stack([-torch.atanh(above), -torch.atanh(1 - above)], dim=-1) / self.temperature
        return lower + F.gumbel_softmax(logits, tau=1.0, hard=False)[..., 1]


def refine_latent(
    model: nn.Module,
    x: Tensor,
    lmbda: float,
    steps: int,
    *,
    metric: str = "mse",
    learning_rate: float = 5e-3,
    check_every: int = 10,
    latent: Optional[Tensor] = None,
    rate: Optional[Dict[str, Any]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Refinement:
    """A latent for ``x`` with a lower rate-distortion loss than the analysis's.

    Args:
        model: a model whose ``codes_given_latent`` is true (its ``compress`` takes
            ``latent=``), with ``analyze``, ``latent_forward``, ``g_s`` and ``crop``.
        x: the image, ``[B, 3, H, W]``, float in ``[0, 1]`` or uint8 pixels.
        lmbda, metric: the rate-distortion trade-off the model was trained for (see
            :class:`~neuralcodec.losses.RateDistortionLoss`).
        steps: gradient steps (Adam at ``learning_rate``); 0 returns the analysis's latent.
        check_every: steps between scorings of the coded loss.
        latent: where to start (default ``model.analyze(x)``).
        rate: a variable-rate model's keyword arguments for the coded quality (its
            ``prepare_quality``); ``lmbda`` is then that quality's.
        progress: called with ``(steps done, steps)`` after each step.

    The model's weights are not changed and get no gradients; its modules' modes are
    restored afterwards. The random draws come from a fixed seed (torch's global
    generator is left as it was), so an image refines to the same latent on the same
    machine; whatever latent was coded, the file decodes bit-exactly everywhere.

    Raises:
        ValueError: a model that cannot code a given latent, a negative ``steps``, or an
            image of more than :data:`MAX_REFINED_PIXELS` pixels.
    """
    if not getattr(model, "codes_given_latent", False):
        raise ValueError(f"{type(model).__name__} cannot code a given latent, so its latent cannot be refined")
    if steps < 0:
        raise ValueError(f"steps must be 0 or more, got {steps}")
    pixels = int(x.shape[0]) * int(x.shape[-2]) * int(x.shape[-1])
    if steps and pixels > MAX_REFINED_PIXELS:
        raise ValueError(
            f"refinement back-propagates through the whole image at once, about 1.5 GB per megapixel: this image has "
            f"{pixels:,} pixels, more than {MAX_REFINED_PIXELS:,}; code it without refinement (effort 0)"
        )
    x = pixels_to_unit(x)
    rate = {} if rate is None else dict(rate)
    if isinstance(model, VariableRateModel):  # the model that codes at this rate (a ladder's rung)
        model, rate = model.coder_at(**rate)
    coder = cast(Any, model)  # analyze, latent_forward, crop: the codes_given_latent contract
    with torch.no_grad():
        start = (coder.analyze(x) if latent is None else latent).detach().float()
    loss = RateDistortionLoss(lmbda, metric)

    def objective(values: Tensor) -> Tensor:
        out = coder.latent_forward(values, **rate)
        x_hat = coder.crop(coder.g_s(out["y_hat"]), x.shape[-2:])
        return loss({"x_hat": x_hat, "likelihoods": out["likelihoods"]}, x)["loss"]

    def coded_loss(values: Tensor) -> float:
        with torch.no_grad(), _modes(model, training=False):
            return float(objective(values))

    rounding = StochasticRounding()
    initial = best_loss = coded_loss(start)
    best = start
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with _soft_rounding(model, rounding), torch.enable_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)  # seeds the CPU generator and the CUDA ones forked above
        current = start.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([current], lr=learning_rate)
        for step in range(steps):
            rounding.temperature = START_TEMPERATURE * (END_TEMPERATURE / START_TEMPERATURE) ** (step / max(1, steps - 1))
            optimizer.zero_grad(set_to_none=True)
            objective(current).backward()
            optimizer.step()
            if (step + 1) % check_every == 0 or step + 1 == steps:
                scored = coded_loss(current.detach())
                if scored < best_loss:
                    best, best_loss = current.detach().clone(), scored
            if progress is not None:
                progress(step + 1, steps)
    return Refinement(best, initial, best_loss, steps)


@contextlib.contextmanager
def _soft_rounding(model: nn.Module, rounding: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """The model in training mode, its entropy models rounding with ``rounding`` (their
    outputs the softly rounded values, not straight-through ones), and no weight
    gradients; all of it restored on exit."""
    entropy_models = [module for module in model.modules() if isinstance(module, EntropyModel)]
    conditionals = [module for module in entropy_models if isinstance(module, GaussianConditional)]
    saved_outputs = [module.training_outputs for module in conditionals]
    saved_grads = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    try:
        for parameter, _ in saved_grads:
            parameter.requires_grad_(False)
        for conditional in conditionals:
            conditional.training_outputs = "noise"  # the soft values themselves reach g_s
        for module in entropy_models:
            module.soft_rounding = rounding
        with _modes(model, training=True):
            yield
    finally:
        for module in entropy_models:
            module.soft_rounding = None
        for conditional, outputs in zip(conditionals, saved_outputs):
            conditional.training_outputs = outputs
        for parameter, needed in saved_grads:
            parameter.requires_grad_(needed)


@contextlib.contextmanager
def _modes(model: nn.Module, training: bool) -> Iterator[None]:
    """Every module of ``model`` in ``training`` mode, each restored on exit."""
    saved = [(module, module.training) for module in model.modules()]
    try:
        model.train(training)
        yield
    finally:
        for module, mode in saved:
            module.training = mode
