"""The variable-rate model interface: one set of weights, a continuous quality.

Every variable-rate model (CompressAI's three in :mod:`neuralcodec.models.vbr` and
:class:`~neuralcodec.models.elic_lite.ElicLiteVbr`) is a :class:`VariableRateModel`: it owns
its quality range (:meth:`~VariableRateModel.qualities`, checked by
:meth:`~VariableRateModel.check_quality`) and turns a quality into the keyword arguments of
its ``forward``/``compress``/``decompress`` (:meth:`~VariableRateModel.prepare_quality`), so
the codec, the command line, the evaluation and rate control code at any quality in the
range without knowing the model's own conventions.

Also here: CompressAI's lambda table and initial gains of its variable-rate models
(:data:`VBR_LAMBDAS`, :func:`initial_gains`) and the geometric interpolation of a per-level
table at a continuous position (:func:`interpolate_geometric`).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from neuralcodec.models.base import CompressionModel
from neuralcodec.settings import COMPRESSAI_LAMBDAS, quality_within

__all__ = [
    "VBR_INITIAL_GAINS",
    "VBR_LAMBDAS",
    "VariableRateModel",
    "initial_gains",
    "interpolate_geometric",
    "is_variable_rate",
]

#: The rate-distortion weights CompressAI trains the levels with (``lambda 255^2 MSE + bpp``).
VBR_LAMBDAS = COMPRESSAI_LAMBDAS["mse"]
#: The initial gains, one per level (CompressAI's).
VBR_INITIAL_GAINS = (0.10000, 0.13944, 0.19293, 0.26874, 0.37268, 0.51801, 0.71957, 1.00000)


def initial_gains(lambdas: Optional[Sequence[float]] = None) -> Tuple[float, ...]:
    """The gains a model starts from, one per level: CompressAI's for its own lambda table
    (``None``), else ``sqrt(lambda / lambdas[-1])``, the step that a high-rate model's
    latent needs for the rate of a lower lambda (MSE falls with the step squared), so
    that a model initialised from the weights of the top level starts near each level.

    Raises:
        ValueError: fewer than two lambdas, or not positive and increasing.
    """
    if lambdas is None:
        return VBR_INITIAL_GAINS
    values = [float(v) for v in lambdas]
    if len(values) < 2 or not all(math.isfinite(v) and v > 0 for v in values) or values != sorted(set(values)):
        raise ValueError(f"lambdas must be at least two positive, increasing numbers, got {list(lambdas)!r}")
    return tuple(math.sqrt(v / values[-1]) for v in values)


class VariableRateModel(CompressionModel):
    """A model that codes at any quality of a continuous range with one set of weights.

    Subclasses define :meth:`qualities` and :meth:`lambda_for_quality`, and
    :meth:`prepare_quality` and :meth:`draw_training_rate` where their calls take more
    than ``quality=``; :meth:`check_quality` is the one check of a quality against
    the range. To encode one image at several qualities with a single run of the analysis
    transform (rate control does), pass the same
    :class:`~neuralcodec.models.base.AnalysisMemo` in each call's ``options``.
    """

    #: The latent a variable-rate model codes is scaled by the quality's gain inside
    #: ``compress``; it takes no ``latent=`` (refinement would fit one per quality).
    codes_given_latent = False

    def qualities(self) -> Tuple[float, float]:
        """The continuous quality range ``(low, high)``, both ends included."""
        raise NotImplementedError

    def check_quality(self, quality: Any) -> float:
        """``quality`` as a float when it is a finite number within :meth:`qualities`.

        Raises:
            ValueError: not a number, or outside the range (the message gives the range).
        """
        low, high = self.qualities()
        value = quality_within(quality, low, high)
        if value is None:
            raise ValueError(
                f"quality must be within {low:g}..{high:g} (the continuous range of this variable-rate "
                f"{type(self).__name__}), got {quality!r}"
            )
        return value

    def quality_or_top(self, quality: Union[float, Tensor, None]) -> Union[float, Tensor]:
        """``quality``, or the top of :meth:`qualities` when it is None: where a model whose
        calls take ``quality=`` codes when none is given."""
        return self.qualities()[1] if quality is None else quality

    def prepare_quality(self, quality: float, coding_path: Optional[str] = None) -> Dict[str, Any]:
        """Readies the model to code at ``quality`` on ``coding_path`` (default: the
        model's) and returns the keyword arguments of ``forward``, ``compress`` and
        ``decompress`` that code there: by default ``{"quality": quality}`` (checked), for
        models whose calls take the quality itself.

        Raises:
            ValueError: a quality outside :meth:`qualities`.
        """
        return {"quality": self.check_quality(quality)}

    def draw_training_rate(self, generator: torch.Generator) -> Tuple[Dict[str, Any], float]:
        """One training step's rate, drawn with ``generator``: the keyword arguments of
        ``forward`` and the lambda of the loss ``lambda * 255^2 * MSE + bpp`` at that rate;
        by default a quality uniform over :meth:`qualities` and its
        :meth:`lambda_for_quality`."""
        low, high = self.qualities()
        quality = low + (high - low) * float(torch.rand((), generator=generator))
        return {"quality": quality}, self.lambda_for_quality(quality)

    def lambda_for_quality(self, quality: float) -> float:
        """The lambda of the loss ``lambda * 255^2 * MSE + bpp`` the model trains ``quality`` for."""
        raise NotImplementedError

    def coder_at(self, **rate: Any) -> Tuple[CompressionModel, Dict[str, Any]]:
        """The model whose ``analyze``, ``latent_forward`` and ``g_s`` code at ``rate``
        (:meth:`prepare_quality`'s keyword arguments), and the keyword arguments that make
        it code there: the model itself for most; the rung for a rate ladder
        (:class:`~neuralcodec.models.ladder.MeanScaleLadder`). Refinement differentiates it."""
        return self, dict(rate)

    def identity_state_dict(self) -> Dict[str, Tensor]:
        """The state_dict that names the model in files (its weights hash): the state_dict,
        with any state derived afresh for each quality in a canonical form (see
        :meth:`~neuralcodec.models.vbr.ScaleHyperpriorVbr.identity_state_dict`), so that coding at one quality does
        not change the identity."""
        return self.state_dict()


def is_variable_rate(model: Any) -> bool:
    """Whether ``model`` codes at a continuous quality (a :class:`VariableRateModel`)."""
    return isinstance(model, VariableRateModel)


def interpolate_geometric(values: Sequence[float], position: float) -> float:
    """``values`` interpolated geometrically at ``position`` (0-based, continuous);
    extrapolated from the two nearest values past either end."""
    low = max(0, min(int(math.floor(position)), len(values) - 2))
    t = position - low
    return float(values[low] ** (1 - t) * values[low + 1] ** t)
