"""Variable-rate versions of the Ballé and Minnen models: one network for every rate.

Kamisli, Racapé, Choi, "Variable-Rate Learned Image Compression with Multi-Objective
Optimization and Quantization-Reconstruction Offsets", DCC 2024. A model learns one gain
per rate level, ``Gain`` ``[levels]`` (the inverse of a quantization step): the latent is
coded as ``round(gain (y - mean))`` with the Gaussian scales multiplied by the gain, and
decoded as ``sign(q) (|q| + offset) / gain + mean``, where the small network
``QuantABCD`` predicts a quantization-reconstruction offset from the scaled standard
deviation and the gain (zero for ``q == 0``). With ``vr_entbttlnck=True`` the hyper-latent
``z`` is also coded with a step, predicted from the gain by ``gayn2zqstep``
(:class:`~neuralcodec.entropy_models.EntropyBottleneckVbr`).

* :class:`ScaleHyperpriorVbr` ("bmshj2018-hyperprior-vbr"),
* :class:`MeanScaleHyperpriorVbr` ("mbt2018-mean-vbr"),
* :class:`JointAutoregressiveHierarchicalPriorsVbr` ("mbt2018-vbr").

Names, constructor arguments, state_dict keys and calls are CompressAI 1.2.8's:
``forward(x, stage=2, s=1, inputscale=0)``, ``compress(x, stage=2, s=1, inputscale=0)``,
``decompress(strings, shape, stage=2, s=1, inputscale=0)`` and
``update(scale_table=None, force=False, scale=None)``. ``stage=1`` is the fixed-rate parent
model (no gain); ``stage=2`` the variable-rate one, at level ``s`` (0-based, ``Gain[s]``) or,
when ``inputscale`` is non-zero, at that gain. :meth:`ScaleHyperpriorVbr.gain_for_quality`
maps a continuous quality in ``[1, levels]`` to a gain.

Coding paths (``coding_path=`` or :attr:`~neuralcodec.models.base.CodingOptions.coding_path`
of each call; default the class's :attr:`~neuralcodec.models.CompressionModel.coding_path`):

* ``"compat"``: PyTorch computes the entropy parameters; strings are CompressAI's byte for
  byte (with its tables, e.g. from its state_dict).
* ``"engine"`` (the default): the Rust engine codes ``y`` from the model's coding graph
  (:meth:`ScaleHyperpriorVbr.describe`, :mod:`neuralcodec.engine`): ``h_s``, the context
  model of mbt2018-vbr with the gain's context term (``scale_to_context``), the gain, and
  the reconstruction offsets (``QuantABCD``) all in its fixed order, so the decoded
  latent, which the context of mbt2018-vbr reads, is the same on every machine. The step
  of ``z`` comes from :meth:`ScaleHyperpriorVbr.z_step` evaluated portably (float64, fixed
  order, software ``softplus``) and its tables are built portably for that step. Symbols
  are ``round(gain y - gain mean)`` with the CDF row of ``gain scale`` (CompressAI's rule
  for the two hyperprior models; its mbt2018-vbr rounds ``gain (y - mean)``, which the
  compat path keeps).

Call ``update(scale=gain, force=True)`` before coding a ``vr_entbttlnck`` model at a new
gain on the compat path, as with CompressAI: the tables of ``z`` are built for one step
(:meth:`ScaleHyperpriorVbr.prepare_quality` does it when needed). These tables are the
one state that coding at a gain changes: they are rebuilt and used under one lock, so that
calls at different gains from several threads each code with their own step's tables.

**A continuous quality.** The three are
:class:`~neuralcodec.models.variable_rate.VariableRateModel` classes (the interface every
variable-rate model codes a continuous quality through); this module re-exports that
interface's names (:class:`VariableRateModel`, :func:`is_variable_rate`,
:func:`initial_gains`, :data:`VBR_LAMBDAS`), as CompressAI code and ours import them from
here. The offset maths are in :mod:`neuralcodec.models.quant_offsets`, mbt2018-vbr's
autoregressive compat loop in :mod:`neuralcodec.models.vbr_autoregressive`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec import _core, engine
from neuralcodec.ans import CdfTable
from neuralcodec.entropy_models import get_scale_table
from neuralcodec.entropy_models.entropy_models import TABLE_METHOD_OF_PATH, TABLE_METHODS
from neuralcodec.entropy_models.vbr import EntropyBottleneckVbr
from neuralcodec.latent_codecs.description import (
    GaussianConditionalNode,
    HyperpriorNode,
    ModelDescription,
    Node,
    RasterScanNode,
)
from neuralcodec.models.base import CodingOptions
from neuralcodec.models.hyperprior import (
    JointAutoregressiveHierarchicalPriors,
    MeanScaleHyperprior,
    ScaleHyperprior,
    _load,
)
from neuralcodec.models.quant_offsets import offset_network, reconstruct, reconstruct_ste, small_mlp
from neuralcodec.models.variable_rate import (
    VBR_INITIAL_GAINS,
    VBR_LAMBDAS,
    VariableRateModel,
    initial_gains,
    interpolate_geometric,
    is_variable_rate,
)
from neuralcodec.models.vbr_autoregressive import GainedContext, compress_raster, decompress_raster
from neuralcodec.ops import LowerBound, quantize_ste
from neuralcodec.registry.models import register_model

__all__ = [
    "VBR_INITIAL_GAINS",
    "VBR_LAMBDAS",
    "JointAutoregressiveHierarchicalPriorsVbr",
    "MeanScaleHyperpriorVbr",
    "ScaleHyperpriorVbr",
    "VariableRateModel",
    "initial_gains",
    "is_variable_rate",
]

Scale = Union[float, Tensor]

#: Held while the tables of ``z`` are rebuilt for a step and used to code it: a
#: ``vr_entbttlnck`` model's bottleneck holds the tables of one step at a time, and
#: concurrent calls at other gains must not swap them mid-call. Module-wide (a lock on
#: the model would not survive ``copy.deepcopy``); ``z`` is small, so it is held briefly.
_Z_TABLES_LOCK = threading.RLock()


@register_model("bmshj2018-hyperprior-vbr")
class ScaleHyperpriorVbr(VariableRateModel, ScaleHyperprior):
    """Variable-rate scale hyperprior ("bmshj2018-hyperprior-vbr"; Kamisli et al. 2024).

    Shapes: ``x`` ``[B, 3, H, W]``, ``y`` ``[B, M, H/16, W/16]``, ``z`` ``[B, N, H/64, W/64]``.

    Args:
        N, M: widths as :class:`~neuralcodec.models.ScaleHyperprior`.
        lambdas: the lambda each level trains for, increasing (``lambda 255^2 MSE + bpp``);
            default CompressAI's eight. With a table of one's own the gains start at
            ``sqrt(lambda / lambdas[-1])`` (see :func:`initial_gains`).
        vr_entbttlnck: code ``z`` with a gain-dependent step too
            (:class:`~neuralcodec.entropy_models.EntropyBottleneckVbr` and the ``gayn2zqstep``
            network); CompressAI's published weights of the two hyperprior models use it.

    State (CompressAI keys): the parent's, ``Gain`` ``[levels]``, ``QuantABCD.{0,2,4}``,
    and with ``vr_entbttlnck`` ``gayn2zqstep.{0,2,4}`` and ``lower_bound_zqstep.bound``.
    """

    def __init__(
        self, N: int, M: int, vr_entbttlnck: bool = False, lambdas: Optional[Sequence[float]] = None, **kwargs: Any
    ) -> None:
        super().__init__(N=N, M=M, **kwargs)
        self.lmbda = list(VBR_LAMBDAS if lambdas is None else lambdas)
        self.levels = len(self.lmbda)
        self.Gain = nn.Parameter(torch.tensor(initial_gains(lambdas)), requires_grad=True)
        # (scaled standard deviation, gain) -> quantization-reconstruction offset.
        self.QuantABCD = offset_network()
        self.no_quantoffset = False
        self.vr_entbttlnck = bool(vr_entbttlnck)
        if self.vr_entbttlnck:
            self.entropy_bottleneck = EntropyBottleneckVbr(N)
            # 1 / gain -> quantization step of z (at least 0.5).
            self.gayn2zqstep = small_mlp(1, 10, softplus=True)
            self.lower_bound_zqstep = LowerBound(0.5)
        # The step the tables of z were built for on the engine path (None: unknown).
        self._engine_z_step: Optional[float] = None

    # ------------------------------------------------------------------ rate
    def gain_for_quality(self, q: float) -> Tensor:
        """The gain of a continuous quality ``q`` in ``[1, levels]``: linear interpolation
        between ``|Gain[floor(q) - 1]|`` and ``|Gain[ceil(q) - 1]|``.

        ``g = g0 + (g1 - g0) t`` with ``t = q - floor(q)`` rounded to float32, in float32
        multiplies and adds only, so the same ``q`` gives the same bits on every machine;
        an integer ``q`` gives ``|Gain[q - 1]|`` exactly. Pass the result as ``inputscale``.

        Returns:
            A 0-d float32 tensor (no gradient).

        Raises:
            ValueError: ``q`` is not a finite number in ``[1, levels]``.
        """
        value = self.check_quality(q)
        gains = self.Gain.detach().to("cpu", torch.float32).abs().numpy()
        low = int(math.floor(value))
        high = min(low + 1, self.levels)
        t = np.float32(value - low)  # exact in float64, then rounded once
        g0, g1 = gains[low - 1], gains[high - 1]
        gain = np.float32(g0 + np.float32(np.float32(g1 - g0) * t))
        return torch.tensor(gain, dtype=torch.float32)

    def qualities(self) -> Tuple[float, float]:
        """The continuous quality range, ``(1, levels)``: quality ``q`` codes at level ``q - 1``'s
        gain, and between levels at the gain :meth:`gain_for_quality` interpolates."""
        return 1.0, float(self.levels)

    def prepare_quality(self, quality: float, coding_path: Optional[str] = None) -> Dict[str, Any]:
        """``{"stage": 2, "inputscale": gain_for_quality(quality)}``.

        A ``vr_entbttlnck`` model on the compat path also gets the tables of ``z`` built
        (portably) for the step of that gain, unless they already are: CompressAI's
        ``update(scale=gain, force=True)`` for ``z`` alone. The engine path does this itself."""
        gain = self.gain_for_quality(quality)
        if self.vr_entbttlnck and not self._use_engine(coding_path):
            with _Z_TABLES_LOCK:
                self._portable_z_tables(gain)
        return {"stage": 2, "inputscale": gain}

    def _portable_z_tables(self, scale: Tensor) -> Tensor:
        """Makes the tables of ``z`` those built portably for the portable step at gain
        ``scale`` (rebuilt unless they are already); returns that step ``[1]``. Call with
        ``_Z_TABLES_LOCK`` held."""
        with torch.no_grad():
            step = self.z_step(scale, portable=True)
        if self._engine_z_step != float(step.item()):
            self._variable_bottleneck().update_variable(force=True, qs=step)
            self._engine_z_step = float(step.item())
        return step

    def draw_training_rate(self, generator: torch.Generator) -> Tuple[Dict[str, Any], float]:
        """A level ``s`` drawn uniformly (the gains train at their levels, as in CompressAI's
        recipe): ``({"stage": 2, "s": s}, lmbda[s])``."""
        s = int(torch.randint(self.levels, (1,), generator=generator))
        return {"stage": 2, "s": s}, float(self.lmbda[s])

    def lambda_for_quality(self, quality: float) -> float:
        """The training lambda at a continuous quality: :attr:`lmbda` interpolated
        geometrically between the levels."""
        return interpolate_geometric(self.lmbda, self.check_quality(quality) - 1)

    def _decoding_scale(self, strings: Sequence[Sequence[bytes]], stage: int, s: int, inputscale: Scale) -> Tensor:
        """Checks the arguments of ``decompress`` (two string lists, the stage, the level);
        returns the gain they decode at."""
        if not isinstance(stage, int):
            raise TypeError("stage must be 1 or 2; pass the image size as x_size=")
        self._check_strings(strings, 2)
        self._check_stage(stage)
        return self._coding_scale(s, inputscale)

    def _check_level(self, s: int) -> None:
        if s not in range(self.levels):
            raise ValueError(f"s must be in range(0, {self.levels}), got {s!r}")

    def _coding_scale(self, s: int, inputscale: Scale) -> Tensor:
        """The gain ``compress``/``decompress`` use: ``inputscale`` if non-zero, else ``|Gain[s]|``."""
        if not _is_zero(inputscale):
            return torch.as_tensor(inputscale, dtype=torch.float32).detach()
        self._check_level(s)
        return torch.abs(self.Gain[s]).detach()

    def _get_scale(self, stage: int, s: int, inputscale: Scale) -> Tensor:
        """The gain ``forward`` uses: ``Gain[s]`` (``s`` clipped to the levels) in training or
        without ``inputscale``, else ``inputscale``."""
        s = max(0, min(int(s), self.levels - 1))
        if self.training or _is_zero(inputscale):
            return self.Gain[s].detach()
        return torch.as_tensor(inputscale, dtype=torch.float32)

    @staticmethod
    def _check_stage(stage: int) -> None:
        if stage not in (1, 2):
            raise ValueError(f"Invalid stage (stage={stage}) parameter for this model.")

    # ------------------------------------------------------------------ z step
    def z_step(self, scale: Scale, portable: bool = False) -> Tensor:
        """The quantization step of ``z`` at gain ``scale``: ``max(gayn2zqstep(1/scale), 0.5)``.

        ``portable=False`` is CompressAI's float32 PyTorch evaluation; ``portable=True``
        evaluates the same network in float64 in a fixed order with a software softplus
        (``_core.portable_softplus``) and rounds once to float32: the same step on every
        machine (the engine path uses it).

        Returns:
            A one-element float32 tensor ``[1]``.
        """
        if not self.vr_entbttlnck:
            raise ValueError("this model codes z with a unit step (vr_entbttlnck=False)")
        scale_t = torch.as_tensor(scale, dtype=torch.float32).detach().reshape(1)
        if not portable:
            return self.lower_bound_zqstep(self.gayn2zqstep(1.0 / scale_t))
        inverse = float(np.float32(1.0) / np.float32(scale_t.cpu().item()))
        linear = [m for m in self.gayn2zqstep if isinstance(m, nn.Linear)]
        hidden = [inverse]
        for i, layer in enumerate(linear):
            weight = layer.weight.detach().cpu().double().tolist()
            bias = layer.bias.detach().cpu().double().tolist()
            out = []
            for row, b in zip(weight, bias):
                total = 0.0
                for w, h in zip(row, hidden):
                    total += w * h
                total += b
                out.append(total if i == len(linear) - 1 else max(total, 0.0))
            hidden = out
        step = max(_core.portable_softplus(hidden[0]), float(self.lower_bound_zqstep.bound.item()))
        return torch.tensor([np.float32(step)], dtype=torch.float32)

    # ------------------------------------------------------------------ tables
    def update(  # type: ignore[override]
        self,
        scale_table: Optional[Tensor] = None,
        force: bool = False,
        scale: Optional[Scale] = None,
        method: Optional[str] = None,
    ) -> bool:
        """Builds the CDF tables (CompressAI's ``update(scale_table, force, scale)``).

        The Gaussian conditional gets ``scale_table`` (default :func:`get_scale_table`). With
        ``vr_entbttlnck`` and a ``scale`` (gain), ``z``'s tables are built for the step
        :meth:`z_step` gives at that gain (portable step and tables with
        ``method="portable"``, CompressAI's float32 ones with ``method="compressai"``);
        without ``scale``, for a unit step.

        Returns:
            Whether any table was (re)built.
        """
        if method is None:  # the construction of the model's coding path, as CompressionModel.update
            method = TABLE_METHOD_OF_PATH.get(self.coding_path, "portable")
        if method not in TABLE_METHODS:
            raise ValueError(f"method must be one of {TABLE_METHODS}, got {method!r}")
        if scale_table is None:
            scale_table = get_scale_table()
        updated = bool(self.gaussian_conditional.update_scale_table(scale_table, force=force, method=method))
        eb = self.entropy_bottleneck
        if isinstance(eb, EntropyBottleneckVbr) and scale is not None:
            with torch.no_grad():
                step = self.z_step(scale, portable=method == "portable")
            rebuilt = bool(eb.update_variable(force=force, qs=step, method=method))
            if rebuilt:
                self._engine_z_step = float(step.item()) if method == "portable" else None
        else:
            rebuilt = bool(eb.update(force=force, method=method))
            if rebuilt:
                self._engine_z_step = 1.0 if method == "portable" else None
        return updated | rebuilt

    def identity_state_dict(self) -> Dict[str, Tensor]:
        """The state_dict, except that with ``vr_entbttlnck`` the tables of ``z`` are those of
        step 1 (built portably on a copy), whatever step they were last built for: coding
        rebuilds them from the weights for each gain's step (:meth:`prepare_quality`, the
        engine path), so they are not part of what decides the decoded image."""
        state = self.state_dict()
        if not self.vr_entbttlnck:
            return state
        canonical = copy.deepcopy(self._variable_bottleneck())
        canonical.update_variable(force=True, qs=1.0)
        for key, value in canonical.state_dict().items():
            if key.startswith(("_quantized_cdf", "_offset", "_cdf_length")):
                state[f"entropy_bottleneck.{key}"] = value
        return state

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        self._engine_z_step = None  # tables of unknown step
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def from_state_dict(  # type: ignore[override]
        cls, state_dict: Mapping[str, Tensor], vr_entbttlnck: Optional[bool] = None,
        lambdas: Optional[Sequence[float]] = None,
    ) -> "ScaleHyperpriorVbr":
        """A model sized from ``state_dict`` with its weights; ``vr_entbttlnck`` defaults to
        whether the checkpoint has ``gayn2zqstep`` weights, ``lambdas`` (the lambda of each
        level) to CompressAI's table.

        Raises:
            ValueError: ``Gain`` has another number of levels than ``lambdas``."""
        state = _checkpoint_state(state_dict)
        if vr_entbttlnck is None:
            vr_entbttlnck = any(f".{key}".endswith(".gayn2zqstep.0.weight") for key in state)
        levels = len(VBR_LAMBDAS if lambdas is None else lambdas)
        if "Gain" in state and state["Gain"].numel() != levels:
            raise ValueError(
                f"the weights have {state['Gain'].numel()} gain levels and the lambda table {levels}: "
                "pass the lambdas the model was trained with (lambdas=)"
            )
        N, M = state["g_a.0.weight"].size(0), state["g_a.6.weight"].size(0)
        model = cls(N, M, vr_entbttlnck=vr_entbttlnck, lambdas=lambdas)
        _load(model, state)
        return model

    # ------------------------------------------------------------------ coding graph
    def describe(self, stage: int = 2) -> ModelDescription:
        """The coding graph as data (:mod:`neuralcodec.latent_codecs.description`): at
        ``stage=2`` (the variable-rate model) ``y`` is coded with the gain and, unless
        ``no_quantoffset``, the reconstruction offsets of ``QuantABCD``; ``stage=1`` is
        the fixed-rate parent's graph."""
        self._check_stage(stage)
        base = super().describe()
        if stage == 1:
            return base
        root = cast(HyperpriorNode, base.latent_codec)
        return dataclasses.replace(base, latent_codec=dataclasses.replace(root, y=self._gained(root.y)))

    def _gained(self, node: Node) -> Node:
        """``y``'s node of the parent model, coded with the gain."""
        offsets = None if self.no_quantoffset else "QuantABCD"
        if isinstance(node, (GaussianConditionalNode, RasterScanNode)):
            return dataclasses.replace(node, gain=True, reconstruction_offsets=offsets)
        raise NotImplementedError(f"{type(self).__name__} cannot gain a {node.kind} node")

    def engine_gain(self, stage: int = 2, s: int = 1, inputscale: Scale = 0) -> Optional[Tuple[Tensor, Tensor]]:
        """The ``(gain, inverse)`` (``[M]`` each) the engine codes ``y`` with at ``stage``,
        ``s`` and ``inputscale`` (as ``compress`` takes them): the coding gain and ``1 /
        gain`` rounded once to float32; None at stage 1."""
        self._check_stage(stage)
        return self._engine_gain(stage, self._coding_scale(s, inputscale))

    def _engine_gain(self, stage: int, scale: Tensor) -> Optional[Tuple[Tensor, Tensor]]:
        if stage == 1:
            return None
        gain = np.float32(scale.detach().cpu().reshape(-1)[0].item())
        inverse = np.float32(1.0) / gain
        return torch.full((self.M,), float(gain)), torch.full((self.M,), float(inverse))

    def _engine_y(self, y: Tensor, z_hat: Tensor, stage: int, scale: Tensor) -> List[bytes]:
        """``y``'s strings from the engine (the coding graph of ``stage``)."""
        gain = self._engine_gain(stage, scale)
        return engine.encode_graph(self, y, z_hat, gain=gain, variant=stage)

    def _engine_y_hat(self, strings: Sequence[bytes], z_hat: Tensor, stage: int, scale: Tensor) -> Tensor:
        gain = self._engine_gain(stage, scale)
        y_hat = engine.decompress_graph(self, strings, z_hat, gain=gain, variant=stage)
        return y_hat.to(z_hat.dtype)

    # ------------------------------------------------------------------ shared pieces
    def _offset_reconstruction(
        self, scaled: Tensor, scales: Tensor, scale: Tensor, means: Optional[Tensor]
    ) -> Tensor:
        """``sign(v) (round|v| + offset) / gain + means`` for the gain-scaled residual ``v``
        (``scaled``, straight-through rounding); ``scales`` are the gain-scaled scales, the
        offsets ``-QuantABCD(stdev, gain)``, zero where ``|v|`` rounds to 0."""
        stdev = self.gaussian_conditional.lower_bound_scale(scales)
        return reconstruct_ste(self.QuantABCD, scaled, stdev, scale, means)

    def _reconstruct(
        self, q_abs: Tensor, signs: Tensor, scales: Tensor, scale: Tensor, means: Optional[Tensor]
    ) -> Tensor:
        """:func:`~neuralcodec.models.quant_offsets.reconstruct` with this model's
        ``QuantABCD``, for the gain-scaled scales ``scales``."""
        stdev = self.gaussian_conditional.lower_bound_scale(scales)
        return reconstruct(self.QuantABCD, q_abs, signs, stdev, scale, means)

    def _z_hat_stage2(self, z: Tensor, scale: Tensor) -> Tuple[Tensor, Tensor]:
        """``z_hat`` and its likelihoods in the stage-2 forward."""
        if not self.vr_entbttlnck:
            _, z_likelihoods = self.entropy_bottleneck(z)
            offset = self.entropy_bottleneck._get_medians()
            return quantize_ste(z - offset) + offset, z_likelihoods
        qs = self.z_step(scale.clone())
        return self.entropy_bottleneck(z, qs=qs[0], training=None, ste=False)

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor, stage: int = 2, s: int = 1, inputscale: Scale = 0) -> Dict[str, Any]:  # type: ignore[override]
        """Training/evaluation pass: ``stage=1`` is the fixed-rate parent model, ``stage=2``
        the variable-rate one at ``Gain[s]`` (or ``inputscale``), with straight-through
        rounding of ``gain y`` and offsets. Returns ``x_hat`` and the likelihoods of ``y``
        (of the gain-scaled latent in stage 2) and ``z``."""
        self._check_stage(stage)
        if stage == 1:
            return ScaleHyperprior.forward(self, x)
        scale = self._get_scale(stage, s, inputscale)
        y = self.g_a(x)
        z_hat, z_likelihoods = self._z_hat_stage2(self.hyper_analysis()(y), scale)
        scales_hat = self.h_s(z_hat)
        if self.no_quantoffset:
            y_hat = quantize_ste(y * scale) * (1.0 / scale.detach())
        else:
            y_hat = self._offset_reconstruction(y * scale, scales_hat * scale, scale, None)
        _, y_likelihoods = self.gaussian_conditional(y * scale, scales_hat * scale)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    # ------------------------------------------------------------------ coding
    def _code_z(
        self, z: Tensor, stage: int, scale: Tensor, use_engine: bool
    ) -> Tuple[List[bytes], Tensor]:
        with _Z_TABLES_LOCK:  # the tables of this call's step, from building to the last use
            qs = self._z_coding_step(stage, scale, use_engine)
            bottleneck = self._variable_bottleneck()
            z_strings = bottleneck.compress(z) if qs is None else bottleneck.compress(z, qs=qs)
            return z_strings, self._decode_z(z_strings, z.shape[-2:], stage, scale, use_engine)

    def _decode_z(
        self, strings: Sequence[bytes], shape: Sequence[int], stage: int, scale: Tensor, use_engine: bool
    ) -> Tensor:
        with _Z_TABLES_LOCK:
            qs = self._z_coding_step(stage, scale, use_engine)
            if qs is None:
                return self.entropy_bottleneck.decompress(strings, shape)
            return self._variable_bottleneck().decompress(strings, shape, qs=qs)

    def _variable_bottleneck(self) -> EntropyBottleneckVbr:
        """``entropy_bottleneck`` as the variable-step bottleneck it is when
        ``vr_entbttlnck`` (typed for the checker; a plain one has no ``qs``)."""
        return cast(EntropyBottleneckVbr, self.entropy_bottleneck)

    def _z_coding_step(self, stage: int, scale: Tensor, use_engine: bool) -> Optional[Tensor]:
        """The step ``z`` is coded with (None: unit step), and on the engine path the
        portable tables of that step. On the compat path tables that were built portably
        for another step (by another call's :meth:`prepare_quality`, or the engine path)
        are rebuilt for this gain's, as :meth:`prepare_quality` builds them; tables of
        unknown step (CompressAI's ``update(scale=...)``, a state_dict) are used as they
        are. Call with ``_Z_TABLES_LOCK`` held."""
        if stage == 1 or not self.vr_entbttlnck:
            if use_engine and self._engine_z_step != 1.0:
                self.entropy_bottleneck.update(force=True)
                self._engine_z_step = 1.0
            return None
        if use_engine:
            return self._portable_z_tables(scale)[0]
        if self._engine_z_step is not None:
            self._portable_z_tables(scale)
        with torch.no_grad():
            qs = self.z_step(scale, portable=False)
        return qs[0]

    def _gaussian_parameters(self, z_hat: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Scales (and means, None here) of ``y`` from ``z_hat`` on the compat path."""
        return self.h_s(z_hat), None

    def compress(  # type: ignore[override]
        self, x: Tensor, stage: int = 2, s: int = 1, inputscale: Scale = 0, coding_path: Optional[str] = None,
        *, options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """Strings ``[y_strings, z_strings]`` and the shape of ``z``, at ``Gain[s]`` or
        ``inputscale`` (stage 2), or as the fixed-rate parent (stage 1)."""
        self._check_input(x)
        self._check_stage(stage)
        scale = self._coding_scale(s, inputscale)
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        with torch.no_grad():
            y = self._analyze(x, use_engine, options)
            z = self.hyper_analysis()(y)
            z_strings, z_hat = self._code_z(z, stage, scale, use_engine)
            if use_engine:
                y_strings = self._engine_y(y, z_hat, stage, scale)
            else:
                scales_hat, means_hat = self._gaussian_parameters(z_hat)
                gc = self.gaussian_conditional
                if stage == 1:
                    y_strings = gc.compress(y, gc.build_indexes(scales_hat), means=means_hat)
                else:
                    means = None if means_hat is None else means_hat * scale
                    y_strings = gc.compress(y * scale, gc.build_indexes(scales_hat * scale), means=means)
        return self._result([y_strings, z_strings], z.shape[-2:], x)

    def decompress(  # type: ignore[override]
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Sequence[int],
        stage: int = 2,
        s: int = 1,
        inputscale: Scale = 0,
        x_size: Optional[Sequence[int]] = None,
        coding_path: Optional[str] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """``x_hat`` from the strings of :meth:`compress` with the same ``stage``, ``s``,
        ``inputscale`` and coding path (``x_size`` crops padding, keyword only in practice)."""
        scale = self._decoding_scale(strings, stage, s, inputscale)
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        with torch.no_grad():
            z_hat = self._decode_z(strings[1], self._shape(shape), stage, scale, use_engine)
            if use_engine:
                return self._decoded(self._engine_y_hat(strings[0], z_hat, stage, scale), x_size, options)
            scales_hat, means_hat = self._gaussian_parameters(z_hat)
            gc = self.gaussian_conditional
            if stage == 1:
                y_hat = gc.decompress(strings[0], gc.build_indexes(scales_hat), z_hat.dtype, means=means_hat)
            else:
                indexes = gc.build_indexes(scales_hat * scale)
                if self.no_quantoffset:
                    means = None if means_hat is None else means_hat * scale
                    y_hat = gc.decompress(strings[0], indexes, means=means) * (1.0 / scale)
                else:
                    q_val = gc.decompress(strings[0], indexes)
                    y_hat = self._reconstruct(q_val.abs(), torch.sign(q_val), scales_hat * scale, scale, means_hat)
        return self._decoded(y_hat, x_size, options)


@register_model("mbt2018-mean-vbr")
class MeanScaleHyperpriorVbr(ScaleHyperpriorVbr, MeanScaleHyperprior):  # type: ignore[misc]  # CompressAI's decompress(stage, s, inputscale)
    """Variable-rate mean-scale hyperprior ("mbt2018-mean-vbr"; Kamisli et al. 2024).

    As :class:`ScaleHyperpriorVbr` on :class:`~neuralcodec.models.MeanScaleHyperprior`:
    the gain scales ``y - mean``; decoding adds the means back after the offsets.
    """

    def __init__(
        self, N: int = 192, M: int = 320, vr_entbttlnck: bool = False, lambdas: Optional[Sequence[float]] = None, **kwargs: Any
    ) -> None:
        super().__init__(N, M, vr_entbttlnck=vr_entbttlnck, lambdas=lambdas, **kwargs)

    def _gaussian_parameters(self, z_hat: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        return scales_hat, means_hat

    def forward(self, x: Tensor, stage: int = 2, s: int = 1, inputscale: Scale = 0) -> Dict[str, Any]:  # type: ignore[override]
        """As :meth:`ScaleHyperpriorVbr.forward`, with means."""
        self._check_stage(stage)
        if stage == 1:
            return MeanScaleHyperprior.forward(self, x)
        scale = self._get_scale(stage, s, inputscale)
        y = self.g_a(x)
        z_hat, z_likelihoods = self._z_hat_stage2(self.h_a(y), scale)
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        if self.no_quantoffset:
            y_hat = quantize_ste((y - means_hat) * scale) * (1.0 / scale.detach()) + means_hat
        else:
            y_hat = self._offset_reconstruction((y - means_hat) * scale, scales_hat * scale, scale, means_hat)
        _, y_likelihoods = self.gaussian_conditional(y * scale, scales_hat * scale, means=means_hat * scale)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}


@register_model("mbt2018-vbr")
class JointAutoregressiveHierarchicalPriorsVbr(ScaleHyperpriorVbr, JointAutoregressiveHierarchicalPriors):
    """Variable-rate joint autoregressive and hierarchical priors ("mbt2018-vbr"; Kamisli et
    al. 2024).

    The context model's output gets ``scale_to_context(gain)`` added (``scl2ctx``) so the
    entropy parameters adapt to the gain, and with ``ste_recursive`` (the default) the
    offset reconstructions are the context of later positions. On the engine path (the
    default) the whole loop, offsets and context term included, runs in Rust in wavefront
    order; on the compat path in PyTorch in raster order, byte for byte as CompressAI.
    ``z`` is coded with a unit step.

    State (CompressAI keys): :class:`~neuralcodec.models.JointAutoregressiveHierarchicalPriors`'
    plus ``Gain``, ``QuantABCD.{0,2,4}``, ``scale_to_context``.
    """

    def __init__(self, N: int = 192, M: int = 320, **kwargs: Any) -> None:
        super().__init__(N, M, vr_entbttlnck=False, **kwargs)
        self.ste_recursive = True
        self.scl2ctx = True
        self.scale_to_context = nn.Linear(1, 2 * M)

    @classmethod
    def from_state_dict(  # type: ignore[override]
        cls, state_dict: Mapping[str, Tensor], vr_entbttlnck: Optional[bool] = None
    ) -> "JointAutoregressiveHierarchicalPriorsVbr":
        """A model sized from ``state_dict`` with its weights."""
        state = _checkpoint_state(state_dict)
        model = cls(state["g_a.0.weight"].size(0), state["g_a.6.weight"].size(0))
        _load(model, state)
        return model

    def _gained(self, node: Node) -> Node:
        if not self.ste_recursive:
            raise NotImplementedError("the engine path codes with ste_recursive=True only")
        gained = super()._gained(node)
        assert isinstance(gained, RasterScanNode)
        return dataclasses.replace(gained, gain_context="scale_to_context" if self.scl2ctx else None)

    def _table(self) -> CdfTable:
        return self.gaussian_conditional.cdf_table()

    def _gained_context(self, scale: Tensor, stage: int) -> GainedContext:
        """The pieces of the entropy parameters at one position at gain ``scale``
        (:mod:`neuralcodec.models.vbr_autoregressive`): the masked context kernel (computed
        once per image) and, at stage 2 with ``scl2ctx``, the gain's context term."""
        context_term = None
        if self.scl2ctx and stage == 2:
            context_term = self.scale_to_context(scale.reshape(1, 1)).view(1, -1, 1, 1)
        return GainedContext(
            kernel_size=self.context_kernel_size,
            weight=self.context_prediction.weight * self.context_prediction.mask,
            bias=self.context_prediction.bias,
            entropy_parameters=self.entropy_parameters,
            context_term=context_term,
            gaussian_conditional=self.gaussian_conditional,
            offsets=self.QuantABCD,
        )

    def forward(self, x: Tensor, stage: int = 2, s: int = 1, inputscale: Scale = 0) -> Dict[str, Any]:  # type: ignore[override]
        """Stage 1: the fixed-rate parent. Stage 2: position by position with
        straight-through rounding of the gain-scaled residual, offsets fed back as context."""
        self._check_stage(stage)
        if stage == 1:
            return JointAutoregressiveHierarchicalPriors.forward(self, x)
        if not self.ste_recursive:
            raise ValueError("ste_recursive=False is not supported.")
        scale = self._get_scale(stage, s, inputscale)
        y = self.g_a(x)
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)
        offset = self.entropy_bottleneck._get_medians()
        z_hat = quantize_ste(z - offset) + offset
        params = self.h_s(z_hat)
        k = self.context_kernel_size
        padding = k // 2
        height, width = y.shape[-2:]
        y_hat = F.pad(y, (padding, padding, padding, padding))
        y_likelihoods = torch.zeros(y.shape, device=y.device, dtype=y.dtype)
        context = self._gained_context(scale, 2)
        for h in range(height):
            for w in range(width):
                y_crop = y_hat[:, :, h : h + k, w : w + k].clone()
                scales_hat, means_hat = context.parameters_at(y_crop, params, h, w)
                centre = y_crop[:, :, padding, padding]
                _, y_likelihoods[:, :, h : h + 1, w : w + 1] = self.gaussian_conditional(
                    ((centre - means_hat) * scale).unsqueeze(2).unsqueeze(3),
                    (scales_hat * scale).unsqueeze(2).unsqueeze(3),
                )
                if self.no_quantoffset:
                    y_q = quantize_ste((centre - means_hat.detach()) * scale) * (1.0 / scale) + means_hat.detach()
                else:
                    y_q = self._offset_reconstruction((centre - means_hat) * scale, scales_hat * scale, scale, means_hat)
                y_hat[:, :, h + padding, w + padding] = y_q
        y_hat = F.pad(y_hat, (-padding, -padding, -padding, -padding))
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def compress(  # type: ignore[override]
        self, x: Tensor, stage: int = 2, s: int = 1, inputscale: Scale = 0, coding_path: Optional[str] = None,
        *, options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """Autoregressive coding: in the engine, or in raster order byte for byte as CompressAI."""
        self._check_input(x)
        self._check_stage(stage)
        scale = self._coding_scale(s, inputscale)
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        if not use_engine and next(self.parameters()).device.type != "cpu":
            warnings.warn("autoregressive coding runs position by position; a GPU does not help", stacklevel=2)
        with torch.no_grad():
            y = self._analyze(x, use_engine, options)
            z = self.h_a(y)
            z_strings, z_hat = self._code_z(z, stage, scale, use_engine)
            if use_engine:
                return self._result([self._engine_y(y, z_hat, stage, scale), z_strings], z.shape[-2:], x)
            params = self.h_s(z_hat)
            padding = self.context_kernel_size // 2
            height, width = y.shape[-2:]
            y_hat = F.pad(y, (padding, padding, padding, padding))
            table = self._table()
            context = self._gained_context(scale, stage)
            offsets = not self.no_quantoffset and self.ste_recursive
            y_strings = [
                compress_raster(context, y_hat[i : i + 1], params[i : i + 1], height, width, table, scale, stage, offsets)
                for i in range(y.size(0))
            ]
        return self._result([y_strings, z_strings], z.shape[-2:], x)

    def decompress(  # type: ignore[override]
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Sequence[int],
        stage: int = 2,
        s: int = 1,
        inputscale: Scale = 0,
        x_size: Optional[Sequence[int]] = None,
        coding_path: Optional[str] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """Decodes the strings of :meth:`compress` (same ``stage``, ``s``, ``inputscale``,
        coding path)."""
        scale = self._decoding_scale(strings, stage, s, inputscale)
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        with torch.no_grad():
            z_hat = self._decode_z(strings[1], self._shape(shape), stage, scale, use_engine)
            if use_engine:
                return self._decoded(self._engine_y_hat(strings[0], z_hat, stage, scale), x_size, options)
            params = self.h_s(z_hat)
            k = self.context_kernel_size
            padding = k // 2
            height, width = z_hat.size(2) * 4, z_hat.size(3) * 4
            y_hat = torch.zeros(
                (z_hat.size(0), self.M, height + 2 * padding, width + 2 * padding),
                device=z_hat.device, dtype=z_hat.dtype,
            )  # fmt: skip
            y_rec = y_hat.clone() if stage == 2 and not self.no_quantoffset and not self.ste_recursive else None
            table = self._table()
            context = self._gained_context(scale, stage)
            for i, y_string in enumerate(strings[0]):
                decompress_raster(
                    context, y_string, y_hat[i : i + 1], None if y_rec is None else y_rec[i : i + 1],
                    params[i : i + 1], height, width, table, scale, stage, not self.no_quantoffset,
                )  # fmt: skip
            result = y_hat if y_rec is None else y_rec
            result = F.pad(result, (-padding, -padding, -padding, -padding))
        return self._decoded(result, x_size, options)


def _checkpoint_state(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """``state_dict`` with CompressAI's key spellings converted and its stray
    ``QuantOffset`` entry (in some published checkpoints) dropped."""
    from neuralcodec.state_dicts import convert_compressai_keys

    return {k: v for k, v in convert_compressai_keys(state_dict).items() if k != "QuantOffset"}


def _is_zero(value: Scale) -> bool:
    """Whether ``inputscale`` means "not given" (CompressAI's ``inputscale == 0``)."""
    if isinstance(value, Tensor):
        return value.numel() == 1 and float(value.reshape(-1)[0]) == 0.0
    return float(value) == 0.0

