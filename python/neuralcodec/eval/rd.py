"""Rate-distortion curves: Bjøntegaard deltas (BD-rate, BD-PSNR) and plots.

**Bjøntegaard deltas** (G. Bjøntegaard, "Calculation of average PSNR differences between
RD-curves", VCEG-M33, 2001) compare two curves over the quality range they share:

* BD-rate: the mean difference of ``log10(rate)`` at equal quality, as a percentage,
  ``100 * (10^mean - 1)``; negative means the test codec needs fewer bits.
* BD-PSNR: the mean quality difference (dB) at equal ``log10(rate)``.

VCEG-M33 fitted a cubic polynomial to the four points of each curve; its follow-ups (the
JCT-VC/JVET common-test-condition sheets, VCEG-AL22) replaced the fit by piecewise cubic
Hermite interpolation (PCHIP, Fritsch and Carlson 1980) through the points, which stays
monotone and does not overshoot with many points. That is what is computed here: each
curve is interpolated by PCHIP through its points sorted by the abscissa, and the
interpolants are integrated exactly (they are cubic on each interval) over the
overlapping range. Curves of any number (>= 2) of points are accepted.

The MS-SSIM variant uses MS-SSIM in dB, ``-10 log10(1 - MS-SSIM)``, in place of PSNR.

**Plots** (:func:`plot_curves`) draw quality against bpp with matplotlib's Agg backend to
PNG or SVG, optionally labelling each curve with its BD-rate against a reference curve.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from neuralcodec.eval.results import ResultsError, curve
from neuralcodec.files import write_atomic

# A curve's values as callers hold them: a list of floats or a 1-D array (results_curve's).
Values = Union[Sequence[float], np.ndarray]

__all__ = [
    "BjontegaardDelta",
    "draw_curves",
    "bd_psnr",
    "bd_rate",
    "bjontegaard",
    "msssim_db",
    "pchip_integral",
    "pchip_slopes",
    "plot_curves",
]


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The derivatives at the knots of the monotone piecewise cubic Hermite interpolant.

    Fritsch-Carlson as in Fritsch and Butland (1984): interior slopes are the weighted
    harmonic mean of the neighbouring secant slopes (zero where they differ in sign or
    one is zero); end slopes use the one-sided three-point formula, limited so the
    interpolant stays monotone. Two points give the straight line.

    Args:
        x: strictly increasing abscissae ``[n]``, ``n >= 2``.
        y: ordinates ``[n]``.
    """
    h = np.diff(x)
    delta = np.diff(y) / h
    n = len(x)
    d = np.zeros(n)
    if n == 2:
        d[:] = delta[0]
        return d
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] > 0:
            w1 = 2 * h[k] + h[k - 1]
            w2 = h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    d[0] = _end_slope(h[0], h[1], delta[0], delta[1])
    d[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _end_slope(h0: float, h1: float, delta0: float, delta1: float) -> float:
    """One-sided, shape-preserving slope at an end knot."""
    slope = ((2 * h0 + h1) * delta0 - h0 * delta1) / (h0 + h1)
    if np.sign(slope) != np.sign(delta0):
        return 0.0
    if np.sign(delta0) != np.sign(delta1) and abs(slope) > abs(3 * delta0):
        return 3 * delta0
    return float(slope)


def pchip_integral(x: Values, y: Values, lo: float, hi: float) -> float:
    """The exact integral over ``[lo, hi]`` of the PCHIP interpolant through ``(x, y)``.

    Args:
        x: strictly increasing abscissae (at least two).
        y: ordinates.
        lo, hi: bounds inside ``[x[0], x[-1]]``, ``lo <= hi``.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape or len(xs) < 2:
        raise ValueError("pchip_integral needs two 1-D arrays of the same length, at least 2")
    if not np.all(np.diff(xs) > 0):
        raise ValueError("pchip_integral needs strictly increasing abscissae")
    if not (xs[0] <= lo <= hi <= xs[-1]):
        raise ValueError(f"integration range [{lo}, {hi}] is not inside [{xs[0]}, {xs[-1]}]")
    d = pchip_slopes(xs, ys)
    total = 0.0
    for k in range(len(xs) - 1):
        a, b = max(lo, xs[k]), min(hi, xs[k + 1])
        if b <= a:
            continue
        h = xs[k + 1] - xs[k]
        secant = (ys[k + 1] - ys[k]) / h
        c2 = (3 * secant - 2 * d[k] - d[k + 1]) / h
        c3 = (d[k] + d[k + 1] - 2 * secant) / h**2
        # the piece is y[k] + d[k] t + c2 t^2 + c3 t^3 with t = x - x[k]
        coefficients = (ys[k], d[k] / 2, c2 / 3, c3 / 4)
        total += _power_sum(coefficients, b - xs[k]) - _power_sum(coefficients, a - xs[k])
    return float(total)


def _power_sum(coefficients: Sequence[float], t: float) -> float:
    """``sum_i coefficients[i] * t^(i + 1)``: the antiderivative of a cubic piece at ``t``."""
    return float(sum(c * t ** (i + 1) for i, c in enumerate(coefficients)))


def _prepare(rate: Values, quality: Values, name: str) -> Tuple[np.ndarray, np.ndarray]:
    rates = np.asarray(rate, dtype=np.float64)
    qualities = np.asarray(quality, dtype=np.float64)
    if rates.ndim != 1 or rates.shape != qualities.shape:
        raise ValueError(f"{name}: rates and qualities must be two lists of the same length")
    if len(rates) < 2:
        raise ValueError(f"{name}: a curve needs at least 2 rate points, got {len(rates)}")
    if not (np.all(np.isfinite(rates)) and np.all(np.isfinite(qualities))):
        raise ValueError(f"{name}: rates and qualities must be finite")
    if np.any(rates <= 0):
        raise ValueError(f"{name}: rates must be positive (they are compared in log scale)")
    return np.log10(rates), qualities


def _sorted_unique(x: np.ndarray, y: np.ndarray, name: str, what: str) -> Tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"{name}: two rate points have the same {what}; BD needs distinct values")
    return x, y


def _mean_difference(
    xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray, what: str
) -> Tuple[float, Tuple[float, float]]:
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi > lo:
        raise ValueError(
            f"the curves do not overlap in {what} ([{xa[0]:.4g}, {xa[-1]:.4g}] vs [{xb[0]:.4g}, {xb[-1]:.4g}])"
        )
    diff = (pchip_integral(xb, yb, lo, hi) - pchip_integral(xa, ya, lo, hi)) / (hi - lo)
    return diff, (lo, hi)


@dataclass(frozen=True)
class BjontegaardDelta:
    """BD-rate (%) and BD-quality (dB) of a test curve against a reference, with the ranges used."""

    rate_percent: float
    quality_db: float
    #: the shared quality range (dB) over which BD-rate averages
    quality_range: Tuple[float, float]
    #: the shared rate range (bpp) over which BD-quality averages
    rate_range: Tuple[float, float]


def bjontegaard(
    rate_a: Values, quality_a: Values, rate_b: Values, quality_b: Values
) -> BjontegaardDelta:
    """BD-rate and BD-quality of curve B against reference curve A (PCHIP; module docs).

    Args:
        rate_a, quality_a: the reference curve: rates (bpp, or any positive unit) and
            qualities (dB).
        rate_b, quality_b: the test curve.

    Raises:
        ValueError: fewer than two points, non-positive rates, repeated values, or curves
            that do not overlap.

    Example: the same qualities at 10% fewer bits; on this straight line (9.97 dB per
    decade of rate) that is 0.456 dB more at equal rate.

    >>> d = bjontegaard([0.2, 0.4, 0.8], [30.0, 33.0, 36.0], [0.18, 0.36, 0.72], [30.0, 33.0, 36.0])
    >>> round(d.rate_percent, 6), round(d.quality_db, 3)
    (-10.0, 0.456)
    """
    ra, qa = _prepare(rate_a, quality_a, "curve A")
    rb, qb = _prepare(rate_b, quality_b, "curve B")
    # BD-rate: log-rate as a function of quality
    xa, ya = _sorted_unique(qa, ra, "curve A", "quality")
    xb, yb = _sorted_unique(qb, rb, "curve B", "quality")
    log_diff, quality_range = _mean_difference(xa, ya, xb, yb, "quality")
    # BD-quality: quality as a function of log-rate
    xa, ya = _sorted_unique(ra, qa, "curve A", "rate")
    xb, yb = _sorted_unique(rb, qb, "curve B", "rate")
    quality_diff, (lo, hi) = _mean_difference(xa, ya, xb, yb, "rate")
    return BjontegaardDelta(
        rate_percent=float((10**log_diff - 1) * 100),
        quality_db=float(quality_diff),
        quality_range=(float(quality_range[0]), float(quality_range[1])),
        rate_range=(float(10**lo), float(10**hi)),
    )


def bd_rate(
    rate_a: Values, quality_a: Values, rate_b: Values, quality_b: Values
) -> float:
    """BD-rate (%) of curve B against reference curve A; see :func:`bjontegaard`."""
    return bjontegaard(rate_a, quality_a, rate_b, quality_b).rate_percent


def bd_psnr(
    rate_a: Values, quality_a: Values, rate_b: Values, quality_b: Values
) -> float:
    """BD-PSNR (dB) of curve B against reference curve A; see :func:`bjontegaard`."""
    return bjontegaard(rate_a, quality_a, rate_b, quality_b).quality_db


def msssim_db(values: Values) -> np.ndarray:
    """MS-SSIM in dB, ``-10 log10(1 - MS-SSIM)`` (identical images map to +inf)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return -10 * np.log10(np.clip(1 - values, 0, None))


def results_curve(results: Mapping[str, Any], metric: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(bpp, quality in dB)`` of a results dictionary; MS-SSIM is converted to dB."""
    bpp, values = curve(results, metric)
    if metric == "ms-ssim":
        values = msssim_db(values)
        if not np.all(np.isfinite(values)):
            raise ResultsError(f"{results.get('name')!r}: an MS-SSIM of 1 has no finite dB value")
    return bpp, values


def results_bjontegaard(
    reference: Mapping[str, Any], test: Mapping[str, Any], metric: str = "psnr"
) -> BjontegaardDelta:
    """Bjøntegaard deltas of results ``test`` against results ``reference``."""
    rate_a, quality_a = results_curve(reference, metric)
    rate_b, quality_b = results_curve(test, metric)
    return bjontegaard(rate_a, quality_a, rate_b, quality_b)


def plot_curves(
    results: Sequence[Mapping[str, Any]],
    output: Union[str, Path],
    metric: str = "psnr",
    reference: Optional[int] = None,
    size: Tuple[int, int] = (800, 600),
    dpi: int = 100,
    title: Optional[str] = None,
    force: bool = False,
) -> None:
    """Draws the RD curves of ``results`` to ``output`` (``.png`` or ``.svg``), written
    atomically.

    Args:
        results: results dictionaries (see :mod:`neuralcodec.eval.results`).
        output: the image file; its suffix picks the format.
        metric: ``"psnr"`` (PSNR-RGB, dB) or ``"ms-ssim"`` (MS-SSIM-RGB in dB).
        reference: index in ``results`` of the curve the others' BD-rates are computed
            against (shown in the legend); None for no annotation.
        size: ``(width, height)`` of the image in pixels (at ``dpi``).
        title: the plot title (default: the metric against bpp).
        force: replace ``output`` if it exists.

    Raises:
        ValueError: an unknown format or metric, or a bad ``reference`` index.
        FileExistsError: ``output`` exists and ``force`` is false (nothing is written).
    """
    output = Path(output)
    if output.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"the plot file must end in .png or .svg, got {output.name!r}")
    if reference is not None and not 0 <= reference < len(results):
        raise ValueError(f"reference index {reference} is not one of the {len(results)} curves")
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    width, height = size
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    axes = figure.add_subplot(1, 1, 1)
    curves = []
    for index, entry in enumerate(results):
        bpp, values = results_curve(entry, metric)
        label = str(entry.get("name", f"curve {index + 1}"))
        if reference is not None:
            if index == reference:
                label += " (reference)"
            else:
                try:
                    delta = results_bjontegaard(results[reference], entry, metric)
                    label += f" (BD-rate {delta.rate_percent:+.1f}%)"
                except ValueError:
                    label += " (BD-rate: no overlap)"
        curves.append((label, bpp, values))
    draw_curves(
        axes,
        curves,
        "PSNR-RGB (dB)" if metric == "psnr" else "MS-SSIM-RGB (dB, -10 log10(1 - MS-SSIM))",
        title or ("PSNR" if metric == "psnr" else "MS-SSIM") + " against rate",
    )
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, dpi=dpi, format=output.suffix.lower()[1:])
    write_atomic(output, image.getvalue(), force=force)


def draw_curves(
    axes: Any,
    curves: Sequence[Tuple[str, Values, Values]],
    ylabel: str,
    title: Optional[str] = None,
    limits: Optional[Sequence[float]] = None,
    dashed: Sequence[bool] = (),
    style: Optional[Mapping[str, Any]] = None,
) -> None:
    """Draws RD curves on matplotlib ``axes``: each ``(label, bpp, quality)``, its points
    joined in order of bpp, bpp on the x axis, a grid and a legend (lower right).

    Args:
        ylabel: the quality axis label; title: the axes title (none if empty).
        limits: ``(xmin, xmax, ymin, ymax)`` (default: fitted to the data).
        dashed: per curve, whether its line is dashed (e.g. classical codecs).
        style: keyword arguments of ``axes.plot`` for every curve (markers, widths).
    """
    options = dict(style) if style is not None else {"marker": "o", "markersize": 3, "linewidth": 1.5}
    for index, (label, bpp, values) in enumerate(curves):
        x, y = np.asarray(bpp, dtype=np.float64), np.asarray(values, dtype=np.float64)
        order = np.argsort(x, kind="stable")
        linestyle = "--" if index < len(dashed) and dashed[index] else "-"
        axes.plot(x[order], y[order], linestyle=linestyle, label=label, **options)
    axes.set_xlabel("bits per pixel (bpp)")
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(True, alpha=0.4)
    if limits is not None:
        axes.axis(list(limits))
    axes.legend(loc="lower right", fontsize="small")
