"""The mean-scale hyperprior with learned gain units: one network for every rate (issue 28).

The transforms are those of ``mbt2018-mean`` (Minnen, Ballé, Toderici, NeurIPS 2018), so
the model starts from the weights of a fixed-rate mean-scale model, or of a
``mbt2018-mean-vbr`` trained from one; the rate levels are learned gain vectors
(:mod:`neuralcodec.models.gain_units`, Cui et al., CVPR 2021) over ``y`` (``[M]`` per
level) and ``z`` (``[N]``). Quality ``q`` (continuous, ``1 .. levels``) trains for the
lambda of its level, geometric between levels; by default the levels are the shipped
fixed-rate models' lambdas (:data:`neuralcodec.settings.DEFAULT_LAMBDAS`), so quality
``q`` means what it means for them.

Coding at ``q``::

    y = g_a(x)                  z = h_a(y) * z_gain        z_hat = Q(z)   (entropy bottleneck)
    scales, means = h_s(z_hat * z_gain_inv)
    symbols = round(y * g - means * g)       (CDF row from scales * g)
    y_hat = (symbols + means * g) * g_inv    x_hat = g_s(y_hat)

Shapes: ``x`` ``[B, 3, H, W]`` in ``[0, 1]`` (``H``, ``W`` multiples of 64 in
``forward``); ``y`` ``[B, M, H/16, W/16]``; ``z`` ``[B, N, H/64, W/64]``.

Coding paths: ``"engine"`` (default) codes ``y`` in one call of the Rust engine from
:meth:`MeanScaleHyperpriorGained.describe` (deterministic on every machine);
``"compat"`` computes the same Gaussian parameters with PyTorch. Both write the strings
``[y, z]``; the engine path's decode on any machine, the compat path's on the machine
(and PyTorch build) that wrote them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from torch import Tensor

from neuralcodec import engine
from neuralcodec.latent_codecs.description import (
    EntropyBottleneckNode,
    GaussianConditionalNode,
    HyperNode,
    HyperpriorNode,
    ModelDescription,
)
from neuralcodec.models.base import CodingOptions
from neuralcodec.models.gain_units import GainedRates
from neuralcodec.models.hyperprior import MeanScaleHyperprior
from neuralcodec.models.variable_rate import initial_gains, interpolate_geometric
from neuralcodec.ops import quantize_ste
from neuralcodec.registry.models import register_model
from neuralcodec.settings import DEFAULT_LAMBDAS

__all__ = ["GAINED_LAMBDAS", "MeanScaleHyperpriorGained"]

#: The default lambda of each level (``lambda 255^2 MSE + bpp``): the shipped rate points'.
GAINED_LAMBDAS: Tuple[float, ...] = tuple(float(DEFAULT_LAMBDAS[q]) for q in sorted(DEFAULT_LAMBDAS))


def _round_about(values: Tensor, medians: Tensor) -> Tensor:
    """``round(values - medians) + medians`` with a straight-through gradient."""
    return quantize_ste(values - medians) + medians


@register_model("mbt2018-mean-gained")
class MeanScaleHyperpriorGained(GainedRates, MeanScaleHyperprior):
    """See the module documentation.

    Args:
        N: channels of the transforms and of ``z``.
        M: channels of ``y``.
        lambdas: the lambda each level trains for, increasing; its length is the number
            of levels. The gains of ``y`` start at ``sqrt(lambda / lambdas[-1])``
            (:func:`~neuralcodec.models.variable_rate.initial_gains`), so a model
            initialised from a fixed-rate model trained for ``lambdas[-1]`` starts near
            every level; those of ``z`` at 1.

    State: ``mbt2018-mean``'s keys plus ``y_gain``, ``y_gain_inv`` ``[levels, M]`` and
    ``z_gain``, ``z_gain_inv`` ``[levels, N]``.
    """

    def __init__(self, N: int = 96, M: int = 128, lambdas: Optional[Sequence[float]] = None, **kwargs: Any) -> None:
        super().__init__(N, M, **kwargs)
        self.lmbda: List[float] = list(GAINED_LAMBDAS if lambdas is None else (float(v) for v in lambdas))
        self._init_gain_units(M, N, initial_gains(self.lmbda))
        self.gaussian_conditional.training_outputs = "ste"  # g_s trains on rounded latents (the trainer sets it per run)

    #: ``compress`` takes ``latent=``: ``--effort`` refines the latent at the coded quality.
    codes_given_latent = True

    def lambda_for_quality(self, quality: float) -> float:
        """The training lambda at ``quality``: :attr:`lmbda` interpolated geometrically."""
        return interpolate_geometric(self.lmbda, self.check_quality(quality) - 1)

    # ------------------------------------------------------------------ training
    def forward(self, x: Tensor, quality: Union[float, Tensor, None] = None) -> Dict[str, Any]:  # type: ignore[override]
        """Training pass at ``quality`` (a float, one per image ``[B]``, or None for the
        top level): :meth:`latent_forward` of ``g_a(x)``, then ``g_s``.

        Returns:
            ``x_hat`` ``[B, 3, H, W]``, ``likelihoods`` (``y`` ``[B, M, h, w]``, ``z``).
        """
        out = self.latent_forward(self.g_a(x), quality)
        return {"x_hat": self.g_s(out["y_hat"]), "likelihoods": out["likelihoods"]}

    def latent_forward(self, y: Tensor, quality: Union[float, Tensor, None] = None) -> Dict[str, Any]:  # type: ignore[override]
        """The coding of a latent ``y`` (``[B, M, h, w]``) at ``quality`` as training sees
        it: the rates from additive noise in the gained domain, ``h_s`` and the
        reconstruction from rounded values with a straight-through gradient (as when
        decoding); in eval mode, from rounding. Refinement differentiates it, with the
        entropy models rounding softly.

        Returns:
            ``y_hat`` (unscaled, ``[B, M, h, w]``) and ``likelihoods`` (``y``, ``z``).
        """
        gain = self.gains(self.quality_or_top(quality))
        z = self.h_a(y) * gain["z_gain"]
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        if self.training and self.entropy_bottleneck.soft_rounding is None:
            z_hat = _round_about(z, self.entropy_bottleneck._get_medians().view(1, -1, 1, 1))
        scales, means = self.h_s(z_hat * gain["z_gain_inv"]).chunk(2, 1)
        g = gain["y_gain"]
        # In training the conditional returns round(y g - mean g) + mean g (straight-through).
        y_hat, y_likelihoods = self.gaussian_conditional(y * g, scales * g, means=means * g)
        return {"y_hat": y_hat * gain["y_gain_inv"], "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    # ------------------------------------------------------------------ coding graph
    def describe(self) -> ModelDescription:
        """The coding graph as data (:mod:`neuralcodec.latent_codecs.description`): a
        gained hyper branch over ``h_a``/``h_s``, and a Gaussian leaf whose means and
        scales (``h_s``'s output, scales first) are multiplied by the gain."""
        leaf = GaussianConditionalNode("gaussian_conditional", None, self._chunks, gain=True)
        hyper = HyperNode("h_a", "h_s", EntropyBottleneckNode("entropy_bottleneck", self.N), gain=True)
        return ModelDescription(type(self).__name__, "g_a", "g_s", HyperpriorNode(hyper, leaf), self.downsampling_factor)

    # ------------------------------------------------------------------ coding
    def _side(self, y: Tensor, gain: Dict[str, Tensor]) -> Tuple[List[bytes], Tensor]:
        """``z``'s strings and ``h_s``'s input, ``z_hat * z_gain_inv``."""
        z = self.h_a(y) * gain["z_gain"]
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        return z_strings, z_hat * gain["z_gain_inv"]

    def _gaussian(self, hyper_input: Tensor, gain: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        """The compat path's gained means and the CDF rows of their scales (PyTorch)."""
        scales, means = self.h_s(hyper_input).chunk(2, 1)
        g = gain["y_gain"]
        return means * g, self.gaussian_conditional.build_indexes(scales * g)

    def compress(  # type: ignore[override]
        self,
        x: Tensor,
        quality: Optional[float] = None,
        coding_path: Optional[str] = None,
        latent: Optional[Tensor] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """Codes ``x`` (one image) at ``quality`` (None: the top level): ``strings``
        ``[y, z]`` (lists of one ``bytes``), ``shape`` ``z``'s ``(h, w)``, ``x_size``.
        ``latent``: code this ``y`` (the shape :meth:`analyze` gives for ``x``, e.g. one
        refined for this quality) instead of the analysis's."""
        self._check_input(x)
        if x.shape[0] != 1:
            raise ValueError(f"compress codes one image at a time, got a batch of {x.shape[0]}")
        quality = self.check_quality(self.quality_or_top(quality))
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        gain = self.gains(quality)
        y = self._latent_to_code(x, use_engine, latent, options)
        z_strings, hyper_input = self._side(y, gain)
        if use_engine:
            y_strings = engine.encode_graph(self, y, hyper_input, gain=self.y_gains(gain))
        else:
            means, indexes = self._gaussian(hyper_input, gain)
            y_strings = self.gaussian_conditional.compress(y * gain["y_gain"], indexes, means=means)
        out = self._result([y_strings, z_strings], hyper_input.shape[-2:], x)
        out["quality"] = quality
        return out

    def decompress(  # type: ignore[override]
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Sequence[int],
        x_size: Optional[Sequence[int]] = None,
        quality: Optional[float] = None,
        coding_path: Optional[str] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """``{"x_hat"}`` from the strings of :meth:`compress` (same ``quality`` and coding
        path; ``options``: the call's settings, :class:`~neuralcodec.models.base.CodingOptions`)."""
        self._check_strings(strings, 2)
        quality = self.check_quality(self.quality_or_top(quality))
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        gain = self.gains(quality)
        z_hat = self.entropy_bottleneck.decompress(strings[1], self._shape(shape))
        hyper_input = z_hat * gain["z_gain_inv"]
        if use_engine:
            y_hat = engine.decompress_graph(self, strings[0], hyper_input, gain=self.y_gains(gain)).to(z_hat.dtype)
        else:
            means, indexes = self._gaussian(hyper_input, gain)
            y_hat = self.gaussian_conditional.decompress(strings[0], indexes, means=means) * gain["y_gain_inv"]
        return self._decoded(y_hat, x_size, options)

    @classmethod
    def from_state_dict(  # type: ignore[override]
        cls, state_dict: Dict[str, Tensor], lambdas: Optional[Sequence[float]] = None
    ) -> "MeanScaleHyperpriorGained":
        """A model with the sizes and levels the weights have (``lambdas``: the lambda of
        each level, as trained; default :data:`GAINED_LAMBDAS`).

        Raises:
            ValueError: the weights have another number of levels than ``lambdas``.
        """
        table = GAINED_LAMBDAS if lambdas is None else tuple(lambdas)
        levels = int(state_dict["y_gain"].shape[0])
        if levels != len(table):
            raise ValueError(f"the weights have {levels} gain levels and the lambda table {len(table)}: pass lambdas=")
        model = cls(int(state_dict["g_a.0.weight"].size(0)), int(state_dict["g_a.6.weight"].size(0)), lambdas=table)
        model.load_state_dict(state_dict)
        return model
