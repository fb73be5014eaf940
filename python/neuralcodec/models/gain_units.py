"""Learned gain units: one quantization step per latent channel and rate level.

A model with gain units codes ``y`` as ``round(y * g - mean * g)`` and reconstructs
``(q + mean * g) * g_inv``, with ``g = y_gain[level]`` and ``g_inv = y_gain_inv[level]``
(``[M]`` each, learned), and its hyper-latent ``z`` likewise with ``z_gain`` /
``z_gain_inv`` (``[N]``): Cui et al., "Asymmetric gained deep image compression with
continuous rate adaptation", CVPR 2021. Every network reads and writes unscaled latents,
so one set of transforms serves every level; a channel's gain can differ from level to
level, which a single quantization step per level (CompressAI's variable-rate models)
cannot do: at low rates a channel can be all but switched off while others keep detail.

Between two integer levels the gains are interpolated linearly, one multiply and one add
per value in float32: the same bits on every machine, where a power (Cui et al.'s
geometric interpolation) would depend on the platform's ``pow`` and could move a scale
across a CDF-row boundary.

:class:`GainedRates` owns the four tables and the quality interface built on them; the
models that use it (:class:`~neuralcodec.models.elic_lite.ElicLiteVbr`,
:class:`~neuralcodec.models.gained.MeanScaleHyperpriorGained`) own their networks.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from neuralcodec.models.variable_rate import VariableRateModel

__all__ = ["GAIN_UNIT_NAMES", "GainedRates"]

#: The state_dict keys of the gain tables (``[levels, M]`` for ``y``, ``[levels, N]`` for ``z``).
GAIN_UNIT_NAMES: Tuple[str, ...] = ("y_gain", "y_gain_inv", "z_gain", "z_gain_inv")

#: Gains are used as ``|gain|`` clamped to at least this (a zero gain has no inverse).
SMALLEST_GAIN = 1e-5


class GainedRates(VariableRateModel):
    """A variable-rate model whose levels are learned gain vectors (see the module).

    Subclasses call :meth:`_init_gain_units` in their constructor and define
    :meth:`lambda_for_quality`; qualities are ``1 .. levels`` (continuous), and
    ``forward``/``compress``/``decompress`` take ``quality=``.
    """

    levels: int
    y_gain: nn.Parameter
    y_gain_inv: nn.Parameter
    z_gain: nn.Parameter
    z_gain_inv: nn.Parameter

    def _init_gain_units(self, y_channels: int, z_channels: int, initial_steps: Sequence[float]) -> None:
        """Creates the gain tables: ``y_gain[k] = initial_steps[k]`` in every channel (its
        inverse the reciprocal) and unit gains for ``z``.

        Raises:
            ValueError: fewer than two levels, or a step that is not positive.
        """
        steps = [float(s) for s in initial_steps]
        if len(steps) < 2 or not all(s > 0 for s in steps):
            raise ValueError(f"a variable-rate model needs at least 2 levels of positive gain, got {steps}")
        self.levels = len(steps)
        initial = torch.tensor(steps, dtype=torch.float32).view(-1, 1)
        self.y_gain = nn.Parameter(initial.repeat(1, y_channels))
        self.y_gain_inv = nn.Parameter(1.0 / initial.repeat(1, y_channels))
        self.z_gain = nn.Parameter(torch.ones(self.levels, z_channels))
        self.z_gain_inv = nn.Parameter(torch.ones(self.levels, z_channels))

    def qualities(self) -> Tuple[float, float]:
        """The continuous quality range, ``(1, levels)``."""
        return 1.0, float(self.levels)

    def gains(self, quality: Union[float, Tensor]) -> Dict[str, Tensor]:
        """The four gain vectors at ``quality`` (a float, or a ``[B]`` tensor for one per
        image), linearly interpolated between the integer levels (IEEE multiply and add
        only, so the same bits everywhere; an integer quality gives its level's gains).

        Returns:
            ``y_gain``, ``y_gain_inv`` ``[B or 1, M, 1, 1]`` and ``z_gain``,
            ``z_gain_inv`` ``[B or 1, N, 1, 1]``.

        Raises:
            ValueError: a quality outside ``1 .. levels``.
        """
        q = torch.as_tensor(quality, dtype=torch.float32, device=self.y_gain.device).reshape(-1)
        low, high = self.qualities()
        if not bool(((q >= low) & (q <= high)).all()):
            self.check_quality(quality if q.numel() != 1 else float(q))  # raises, with the range
        position = q - 1
        lower = position.floor().clamp(max=self.levels - 2).long()
        fraction = (position - lower).view(-1, 1)
        out = {}
        for name in GAIN_UNIT_NAMES:
            table = getattr(self, name).abs().clamp_min(SMALLEST_GAIN)
            mixed = table[lower] * (1 - fraction) + table[lower + 1] * fraction
            out[name] = mixed[:, :, None, None]
        return out

    @staticmethod
    def y_gains(gain: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        """``(y_gain, y_gain_inv)`` of one image's :meth:`gains`, flat ``[M]`` each: what
        the engine codes ``y`` with."""
        return gain["y_gain"].reshape(-1), gain["y_gain_inv"].reshape(-1)

