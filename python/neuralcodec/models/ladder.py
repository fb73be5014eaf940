"""A rate ladder: fixed-rate models, each with gain units for the qualities around it.

One network for every rate (:class:`~neuralcodec.models.gained.MeanScaleHyperpriorGained`)
is the better use of training compute, but until one is trained as well as a set of
fixed-rate models, a user who wants ``--quality 2.5``, ``--bpp`` or ``--size`` must not
pay for them with worse compression. A ladder keeps the fixed-rate models (its *rungs*)
exactly as trained and adds continuous rates between them: rung ``k`` codes the qualities
within half a level of ``k`` through learned gain units (Cui et al., CVPR 2021), a gain
and an inverse gain per channel of ``y`` and of ``z``, interpolated linearly between the
identity at ``k`` and learned tables on either side, out to ``k - 1/2`` and ``k + 1/2``.
JPEG AI covers its rate range the same way, with a few models and gain vectors between
them.

So at an integer quality a ladder codes the very bytes its rung codes alone (the gains
there are exactly 1, and a multiplication by 1 changes no bit), files made with the
fixed-rate models decode with the rungs, and the rates between the rungs cost only the
gain tables (``4 r (M + N)`` numbers per rung), which train in minutes with the
transforms frozen (``neuralcodec train --train-only '*gain*'``).

Quality ``q`` (continuous, ``1 .. rungs``) is coded by rung ``k = ceil(q - 1/2)``
(``1 .. rungs``) at its own quality ``1 + r + 2 r (q - k)`` (``1 .. 2r + 1``): the rung is
a ``MeanScaleHyperpriorGained`` of ``2r + 1`` levels (``r`` rows per side, default 2),
trained for the lambdas at ``k - 1/2``, ..., ``k``, ..., ``k + 1/2`` in steps of
``1 / 2r``, its middle level fixed at the identity. More than one row per side lets the
gains bend between the rung and the boundary (with one, the row at ``k + 1/2`` must also
serve ``k + 1/4`` by halves, and overshoots there). The lambda of ``q`` is the rungs'
lambdas interpolated geometrically. The file records ``q``; decoding picks the same rung.

Shapes: as :mod:`neuralcodec.models.gained` (``x`` ``[B, 3, H, W]`` in ``[0, 1]``; ``y``
``[B, M, H/16, W/16]``; ``z`` ``[B, N, H/64, W/64]``).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, cast

import torch
from torch import Tensor, nn

from neuralcodec.models.base import CodingOptions, CompressionModel
from neuralcodec.models.gain_units import GAIN_UNIT_NAMES
from neuralcodec.models.gained import GAINED_LAMBDAS, MeanScaleHyperpriorGained
from neuralcodec.models.hyperprior import MeanScaleHyperprior
from neuralcodec.models.variable_rate import VariableRateModel, interpolate_geometric
from neuralcodec.registry.models import register_model

__all__ = ["MeanScaleLadder", "rung_lambdas"]


def rung_lambdas(lambdas: Sequence[float], rung: int, rows_per_side: int = 2) -> Tuple[float, ...]:
    """The lambdas rung ``rung`` (0-based) trains its ``2 rows_per_side + 1`` levels for:
    the ladder's lambdas interpolated geometrically from half a level below its own to
    half a level above, in steps of ``1 / (2 rows_per_side)`` (extrapolated past the ends
    from the two nearest rungs); its own lambda exactly in the middle."""
    r = rows_per_side
    return tuple(
        float(lambdas[rung]) if i == 0 else interpolate_geometric(lambdas, rung + i / (2 * r)) for i in range(-r, r + 1)
    )


class _KeepLevel:
    """A gradient hook that zeroes one row of a gain table's gradient: Adam then never
    moves it (its moments stay 0), so a rung's own rate keeps gains of exactly 1."""

    def __init__(self, level: int) -> None:
        self.level = level

    def __call__(self, gradient: Tensor) -> Tensor:
        gradient = gradient.clone()
        gradient[self.level] = 0
        return gradient


@register_model("mbt2018-mean-ladder")
class MeanScaleLadder(VariableRateModel):
    """See the module documentation.

    Args:
        N: channels of the rungs' transforms and of ``z``.
        M: channels of ``y``.
        lambdas: the lambda of each rung (``lambda 255^2 MSE + bpp``), increasing; their
            number is the number of rungs. Default: the shipped fixed-rate models'
            (:data:`~neuralcodec.models.gained.GAINED_LAMBDAS`).
        rows_per_side: gain levels of each rung on each side of its own rate (``r``).

    State: ``rungs.<k>.`` followed by ``mbt2018-mean-gained``'s keys (a fixed-rate
    ``mbt2018-mean`` model's, and ``y_gain``, ``y_gain_inv`` ``[2r + 1, M]``, ``z_gain``,
    ``z_gain_inv`` ``[2r + 1, N]``), for ``k = 0 .. rungs - 1``.
    """

    #: The zoo name of a rung alone (a fixed-rate model): at a rung's own rate a ladder
    #: writes the file that rung writes alone, naming it (:meth:`rung_of_quality`).
    rung_architecture = "mbt2018-mean"
    coding_path = MeanScaleHyperpriorGained.coding_path
    coding_paths = MeanScaleHyperpriorGained.coding_paths
    downsampling_factor = MeanScaleHyperpriorGained.downsampling_factor
    #: ``compress`` takes ``latent=`` (the analysis of the rung that codes the quality).
    codes_given_latent = True

    def __init__(
        self, N: int = 96, M: int = 128, lambdas: Optional[Sequence[float]] = None, rows_per_side: int = 2
    ) -> None:
        super().__init__()
        if isinstance(rows_per_side, bool) or not isinstance(rows_per_side, int) or not 1 <= rows_per_side <= 8:
            raise ValueError(f"rows_per_side must be an integer from 1 to 8, got {rows_per_side!r}")
        self.rows_per_side = rows_per_side
        table = [float(v) for v in (GAINED_LAMBDAS if lambdas is None else lambdas)]
        if len(table) < 2 or not all(math.isfinite(v) and v > 0 for v in table) or table != sorted(set(table)):
            raise ValueError(f"a ladder needs at least two positive, increasing lambdas, got {table!r}")
        self.N, self.M = int(N), int(M)
        self.lmbda: List[float] = table
        self.rungs = nn.ModuleList()
        for k in range(len(table)):
            own = rung_lambdas(table, k, rows_per_side)
            rung = MeanScaleHyperpriorGained(N, M, lambdas=own)
            with torch.no_grad():  # the step a rung's latent needs for each lambda, relative to its own
                steps = torch.tensor([math.sqrt(v / own[self.middle_level]) for v in own]).view(-1, 1)
                rung.y_gain.copy_(steps.expand_as(rung.y_gain))
                rung.y_gain_inv.copy_(1 / steps.expand_as(rung.y_gain_inv))
            for name in GAIN_UNIT_NAMES:
                getattr(rung, name).register_hook(_KeepLevel(self.middle_level))
            self.rungs.append(rung)

    # ------------------------------------------------------------------ qualities
    @property
    def middle_level(self) -> int:
        """The row of the rungs' gain tables at their own rate (gains exactly 1)."""
        return self.rows_per_side

    def qualities(self) -> Tuple[float, float]:
        """The continuous quality range, ``(1, rungs)``."""
        return 1.0, float(len(self.rungs))

    def lambda_for_quality(self, quality: float) -> float:
        """The training lambda at ``quality``: :attr:`lmbda` interpolated geometrically."""
        return interpolate_geometric(self.lmbda, self.check_quality(quality) - 1)

    def locate(self, quality: float) -> Tuple[int, float]:
        """``(rung, its quality)``: the rung (0-based) that codes ``quality`` and the
        quality (``1 .. 2r + 1``) it codes it at; exact in floating point for the qualities
        files store (multiples of 1/65536).

        Raises:
            ValueError: a quality outside :meth:`qualities`.
        """
        value = self.check_quality(quality)
        rung = min(max(math.ceil(value - 0.5), 1), len(self.rungs))
        return rung - 1, 1.0 + self.rows_per_side + 2.0 * self.rows_per_side * (value - rung)

    def _locate_many(self, quality: Tensor) -> Tuple[Tensor, Tensor]:
        """:meth:`locate` of a ``[B]`` tensor of qualities (float64): rungs ``[B]`` (long)
        and their qualities ``[B]``."""
        low, high = self.qualities()
        if not bool(((quality >= low) & (quality <= high)).all()):
            self.check_quality(float(quality[(quality < low) | (quality > high) | quality.isnan()][0]))
        rung = torch.ceil(quality - 0.5).clamp(1, len(self.rungs))
        return rung.long() - 1, 1.0 + self.rows_per_side + 2.0 * self.rows_per_side * (quality - rung)

    def rung_at(self, quality: Optional[float] = None) -> Tuple[MeanScaleHyperpriorGained, Dict[str, Any]]:
        """The rung that codes ``quality`` (None: the top) and the keyword arguments that
        make it code there."""
        rung, own = self.locate(cast(float, self.quality_or_top(quality)))
        return cast(MeanScaleHyperpriorGained, self.rungs[rung]), {"quality": own}

    def coder_at(self, **rate: Any) -> Tuple[CompressionModel, Dict[str, Any]]:
        """The rung of ``quality`` (see :meth:`VariableRateModel.coder_at`): refinement
        differentiates its ``analyze``, ``latent_forward`` and ``g_s``."""
        quality = rate.pop("quality", None)
        if rate:
            raise TypeError(f"a ladder codes at quality= only, got {sorted(rate)}")
        return self.rung_at(quality)

    def rung_of_quality(self, quality: float) -> Optional[int]:
        """The rung (0-based) whose own rate ``quality`` is (an integer quality), or None
        between rungs. There the ladder codes the rung's bytes, so a file can name the
        rung alone (``mbt2018-mean`` with :meth:`fixed_rate_state_dict`'s weights)."""
        value = self.check_quality(quality)
        return int(value) - 1 if value.is_integer() else None

    def fixed_rate_state_dict(self, rung: int) -> Dict[str, Tensor]:
        """Rung ``rung``'s (0-based) weights without its gain tables: the state_dict of
        the fixed-rate ``mbt2018-mean`` model it was made from."""
        return {k: v for k, v in self.rungs[rung].state_dict().items() if k not in GAIN_UNIT_NAMES}

    def fixed_rate_model(self, rung: int) -> MeanScaleHyperprior:
        """Rung ``rung`` (0-based) alone, as the fixed-rate ``mbt2018-mean`` model it was
        made from (its tables as the ladder holds them, so the same weights hash), in
        eval mode: what decodes the files that name it, and what ``neuralcodec export``
        exports for an integer quality."""
        model = cast(MeanScaleHyperprior, MeanScaleHyperprior.from_state_dict(self.fixed_rate_state_dict(rung)))
        model.update()  # (the tables came with the weights: nothing is rebuilt)
        return model.eval()

    # ------------------------------------------------------------------ training
    def forward(self, x: Tensor, quality: Union[float, Tensor, None] = None) -> Dict[str, Any]:  # type: ignore[override]
        """Training pass at ``quality`` (a float, one per image ``[B]``, or None for the
        top): each image through the rung of its quality.

        Returns:
            ``x_hat`` ``[B, 3, H, W]``, ``likelihoods`` (``y`` ``[B, M, h, w]``, ``z``
            ``[B, N, h/4, w/4]``).
        """
        wanted = torch.as_tensor(self.quality_or_top(quality), dtype=torch.float64).reshape(-1)
        if wanted.numel() == 1:
            wanted = wanted.expand(x.shape[0])
        if wanted.numel() != x.shape[0]:
            raise ValueError(f"quality must be one number or one per image ({x.shape[0]}), got {wanted.numel()}")
        rungs, own = self._locate_many(wanted.cpu())
        parts: List[Tuple[Tensor, Dict[str, Any]]] = []
        for k in rungs.unique().tolist():
            index = (rungs == k).nonzero().view(-1)
            out = self.rungs[k](x[index.to(x.device)], own[index].to(torch.float32).to(x.device))
            parts.append((index, out))
        if len(parts) == 1:
            return parts[0][1]
        order = torch.cat([index for index, _ in parts]).argsort().to(x.device)
        return {
            "x_hat": torch.cat([out["x_hat"] for _, out in parts])[order],
            "likelihoods": {
                name: torch.cat([out["likelihoods"][name] for _, out in parts])[order] for name in ("y", "z")
            },
        }

    def latent_forward(self, y: Tensor, quality: Union[float, Tensor, None] = None) -> Dict[str, Any]:  # type: ignore[override]
        """The coding of a latent ``y`` of the rung of ``quality`` (one quality), as
        :meth:`MeanScaleHyperpriorGained.latent_forward`."""
        rung, rate = self.rung_at(None if quality is None else float(quality))
        return rung.latent_forward(y, **rate)

    # ------------------------------------------------------------------ coding
    def analyze(self, x: Tensor, options: Optional[CodingOptions] = None, quality: Optional[float] = None) -> Tensor:
        """The latent that :meth:`compress` codes at ``quality`` (default: the top):
        the analysis of that quality's rung (see :meth:`CompressionModel.analyze`)."""
        rung, _ = self.rung_at(quality)
        return rung.analyze(x, options)

    def compress(  # type: ignore[override]
        self,
        x: Tensor,
        quality: Optional[float] = None,
        coding_path: Optional[str] = None,
        latent: Optional[Tensor] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """Codes ``x`` (one image) at ``quality`` (None: the top) with its rung:
        ``strings`` ``[y, z]``, ``shape``, ``x_size``, ``quality`` (the ladder's).
        ``latent``: code this ``y`` (e.g. refined for this quality) instead of the rung's
        analysis."""
        quality = self.check_quality(self.quality_or_top(quality))
        rung, rate = self.rung_at(quality)
        out = rung.compress(x, coding_path=coding_path, latent=latent, options=options, **rate)
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
        """``{"x_hat"}`` from the strings of :meth:`compress` at the same ``quality``."""
        rung, rate = self.rung_at(quality)
        return rung.decompress(strings, shape, x_size=x_size, coding_path=coding_path, options=options, **rate)

    @classmethod
    def from_state_dict(  # type: ignore[override]
        cls, state_dict: Dict[str, Tensor], lambdas: Optional[Sequence[float]] = None
    ) -> "MeanScaleLadder":
        """A ladder with the sizes and rungs the weights have (``lambdas``: each rung's
        lambda; default :data:`~neuralcodec.models.gained.GAINED_LAMBDAS`).

        Raises:
            ValueError: the weights have another number of rungs than ``lambdas``.
        """
        table = GAINED_LAMBDAS if lambdas is None else tuple(lambdas)
        rungs = 1 + max((int(k.split(".")[1]) for k in state_dict if k.startswith("rungs.")), default=-1)
        if rungs != len(table):
            raise ValueError(f"the weights have {rungs} rungs and the lambda table {len(table)}: pass lambdas=")
        levels = int(state_dict["rungs.0.y_gain"].shape[0])
        if levels % 2 != 1:
            raise ValueError(f"a rung's gain tables have an odd number of levels, got {levels}")
        model = cls(int(state_dict["rungs.0.g_a.0.weight"].size(0)), int(state_dict["rungs.0.g_a.6.weight"].size(0)),
                    lambdas=table, rows_per_side=levels // 2)
        model.load_state_dict(state_dict)
        return model

    @classmethod
    def from_fixed_rate(
        cls, models: Sequence[CompressionModel], lambdas: Sequence[float], rows_per_side: int = 2
    ) -> "MeanScaleLadder":
        """A ladder whose rungs are ``models`` (fixed-rate ``mbt2018-mean`` models, one
        per lambda, increasing) with gain tables at their initial values: the steps
        ``sqrt(lambda / own lambda)`` in every channel of ``y``, unit gains for ``z``.

        Raises:
            ValueError: a model of other sizes, or not one model per lambda.
        """
        if len(models) != len(lambdas):
            raise ValueError(f"one model per lambda: got {len(models)} models and {len(lambdas)} lambdas")
        first = models[0].state_dict()
        ladder = cls(int(first["g_a.0.weight"].size(0)), int(first["g_a.6.weight"].size(0)), lambdas=lambdas,
                     rows_per_side=rows_per_side)
        for rung, model in zip(ladder.rungs, models):
            missing, unexpected = rung.load_state_dict(model.state_dict(), strict=False)
            if unexpected or sorted(missing) != sorted(GAIN_UNIT_NAMES):
                raise ValueError(
                    f"{type(model).__name__} does not fit a rung: missing {sorted(set(missing) - set(GAIN_UNIT_NAMES))}, "
                    f"unexpected {unexpected[:5]}"
                )
        return ladder

