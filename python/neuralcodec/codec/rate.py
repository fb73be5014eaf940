"""Rate control: the largest file that is not over a target size.

A variable-rate model codes at any quality of a continuous range, and the size of its
file grows with the quality (on average over images; for one image it may step down
now and then). :func:`search_quality` finds, on the actual bytes, the quality whose
file is the largest not over a target: each step encodes the image (the caller's
``encode(quality)``, which the codec runs with the analysis transform computed once),
so the result is exact, not a prediction of a proxy.

The search works on ``ln(bytes)``, which is close to linear in the quality: from a
start (the middle of the range), a step along a slope (a prior, or the one the previous
image's search measured), then steps inside the bracket of a file under and a
file over the target (secant, or inverse quadratic interpolation once a third point
shows the curvature), aiming at the middle of the accepted window
``[target * (1 - tolerance), target]``. Typically 2 to 4 encodes
(``benches/python/bench_rate.py``). A target outside what the model reaches for the
image raises :class:`~neuralcodec.codec.errors.TargetOutOfRangeError`, which gives the
reachable range.

Sizes are written ``30000``, ``30000B``, ``30KB`` (10^3 bytes), ``29.3KiB`` (2^10),
``1.5MB`` (10^6), ``2MiB`` (2^20), ``1GB`` or ``1GiB``; units are case-insensitive.

This module imports nothing beyond the standard library and the codec's errors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

from neuralcodec.codec.container import QUALITY_SCALE, quantize_quality
from neuralcodec.codec.errors import TargetOutOfRangeError

__all__ = [
    "DEFAULT_SLOPE",
    "DEFAULT_TOLERANCE",
    "SIZE_UNITS",
    "RateSearch",
    "parse_size",
    "search_quality",
    "target_bytes",
]

#: Multipliers of the size units (lower case), decimal and binary.
SIZE_UNITS: Dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "kib": 2**10,
    "mb": 10**6,
    "mib": 2**20,
    "gb": 10**9,
    "gib": 2**30,
}
#: The file is accepted when it is at most this fraction below the target.
DEFAULT_TOLERANCE = 0.05
#: The prior slope of ``ln(bytes)`` per unit of quality, used until two encodes measure
#: it: the trained ElicLiteVbr measures 0.25-0.35 on Kodak photos (the bytes grow ~1.35x
#: a level), a random-weight Vbr model about 0.32; on the trained checkpoint's size curves
#: of 5 Kodak photos a prior of 0.3 took 2.6 encodes on average, 0.4 took 3.0.
DEFAULT_SLOPE = 0.3
#: Most encodes one search runs before it settles for the best file found.
MAX_ENCODES = 12

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")


def parse_size(text: Union[str, int]) -> int:
    """Bytes in a size such as ``"30KB"``, ``"29.3 KiB"``, ``"1.5MB"`` or ``30000`` (see
    the module documentation for the units), rounded down to whole bytes.

    Raises:
        ValueError: not a size, an unknown unit, or less than 1 byte.
    """
    if isinstance(text, bool):
        raise ValueError(f"a size is a number of bytes or a text such as '30KB', got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.match(str(text))
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in SIZE_UNITS:
            units = ", ".join(u.upper().replace("I", "i") for u in SIZE_UNITS if u)
            raise ValueError(f"a size is a number with an optional unit ({units}), e.g. 30KB, got {text!r}")
        value = math.floor(float(match.group(1)) * SIZE_UNITS[unit])
    if value < 1:
        raise ValueError(f"a size must be at least 1 byte, got {text!r}")
    return value


def target_bytes(pixels: int, *, bpp: Optional[float] = None, size: Union[str, int, None] = None) -> int:
    """The largest file size allowed, in bytes: ``floor(bpp * pixels / 8)`` for a target in
    bits per pixel (of the whole file, header included), or :func:`parse_size` of ``size``.

    Raises:
        ValueError: neither or both given, or a target below 1 byte.
    """
    if (bpp is None) == (size is None):
        raise ValueError("give exactly one target: bpp= or size=")
    if size is not None:
        return parse_size(size)
    assert bpp is not None
    value = float(bpp)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"bpp must be a positive number, got {bpp!r}")
    limit = math.floor(value * pixels / 8)
    if limit < 1:
        raise ValueError(f"{bpp:g} bpp of a {pixels}-pixel image is less than one byte")
    return limit


def _inverse_quadratic(points: List[Tuple[float, float]], y: float) -> Optional[float]:
    """The ``x`` at ``y`` of the quadratic ``x(y)`` through three ``(y, x)`` points
    (Lagrange form), or None when two ``y`` coincide."""
    (y0, x0), (y1, x1), (y2, x2) = points
    if y0 in (y1, y2) or y1 == y2:
        return None
    return (
        x0 * (y - y1) * (y - y2) / ((y0 - y1) * (y0 - y2))
        + x1 * (y - y0) * (y - y2) / ((y1 - y0) * (y1 - y2))
        + x2 * (y - y0) * (y - y1) / ((y2 - y0) * (y2 - y1))
    )


@dataclass
class RateSearch:
    """The result of :func:`search_quality`.

    Attributes:
        data: the file (the largest found that is not over the target).
        quality: the quality it was coded at.
        target: the target in bytes.
        tried: ``(quality, bytes)`` of every encode, in order; ``len(tried)`` encodes ran.
        slope: the measured slope of ``ln(bytes)`` per unit of quality (or the prior),
            to start the next image's search from.
    """

    data: bytes
    quality: float
    target: int
    tried: List[Tuple[float, int]] = field(default_factory=list)
    slope: float = DEFAULT_SLOPE

    @property
    def encodes(self) -> int:
        """How many encodes the search ran."""
        return len(self.tried)


def _on_grid(quality: float, low: float, high: float) -> float:
    """``quality`` clamped to ``[low, high]`` and rounded to the grid files store."""
    return min(high, max(low, quantize_quality(min(high, max(low, quality)))))


def search_quality(
    encode: Callable[[float], bytes],
    low: float,
    high: float,
    target: int,
    *,
    start: Optional[float] = None,
    slope: Optional[float] = None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_encodes: int = MAX_ENCODES,
    pixels: Optional[int] = None,
) -> RateSearch:
    """The largest file ``encode(quality)`` gives for a quality in ``[low, high]`` that is
    not over ``target`` bytes, aiming at ``[target * (1 - tolerance), target]``.

    Args:
        encode: the file's bytes at a quality (a multiple of ``1/65536``, as files store it).
        low, high: the quality range.
        target: the largest size allowed, in bytes.
        start: the first quality tried (default: the middle of the range).
        slope: the prior slope of ``ln(bytes)`` per quality unit (default :data:`DEFAULT_SLOPE`).
        tolerance: how far below the target a file may be and still be accepted at once.
        max_encodes: stop after this many encodes with the best file found.
        pixels: the image's pixels, to state sizes in bpp too in errors.

    Returns:
        A :class:`RateSearch`; its file is never over ``target``. It is within
        ``tolerance`` of the target unless the sizes jump over the window (tiny images)
        or the encodes ran out.

    Raises:
        TargetOutOfRangeError: the file at ``low`` is over the target, or the file at
            ``high`` is more than ``tolerance`` under it (the message gives both sizes).
    """
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be within (0, 1), got {tolerance!r}")
    if target < 1:
        raise ValueError(f"target must be at least 1 byte, got {target!r}")
    floor_ok = target * (1 - tolerance)
    aim = math.log(target * (1 - tolerance / 2))
    prior = slope if slope is not None and math.isfinite(slope) and slope > 0 else DEFAULT_SLOPE
    tried: List[Tuple[float, int]] = []
    sizes: Dict[float, int] = {}
    best: Optional[Tuple[float, bytes]] = None
    resolution = 1.0 / QUALITY_SCALE

    def run(quality: float) -> int:
        nonlocal best
        if quality in sizes:
            return sizes[quality]
        data = encode(quality)
        sizes[quality] = len(data)
        tried.append((quality, len(data)))
        if len(data) <= target and (best is None or len(data) > len(best[1])):
            best = (quality, data)
        return len(data)

    def measured_slope() -> float:
        """The slope between the lowest and the highest quality tried, when it rises."""
        if len(sizes) >= 2:
            (q0, s0), (q1, s1) = min(sizes.items()), max(sizes.items())
            value = (math.log(s1) - math.log(s0)) / (q1 - q0)
            if value > 0:
                return value
        return prior

    def result() -> RateSearch:
        assert best is not None
        return RateSearch(best[1], best[0], target, tried, measured_slope())

    def out_of_range() -> TargetOutOfRangeError:
        smallest, largest = run(low), run(high)
        return TargetOutOfRangeError(target, (smallest, largest), (low, high), pixels)

    under: Optional[float] = None  # the highest quality known not to be over the target
    over: Optional[float] = None  # the lowest quality known to be over it
    quality = _on_grid(start if start is not None else (low + high) / 2, low, high)
    while True:
        size = run(quality)
        if floor_ok <= size <= target:
            return result()
        inside = (under is None or quality > under) and (over is None or quality < over)
        if inside and size <= target:
            under = quality
        elif inside:
            over = quality
        if len(tried) >= max_encodes:
            break
        if under is not None and over is not None:
            if over - under <= 2 * resolution:
                break  # the sizes jump over the window here
            s_under, s_over = math.log(sizes[under]), math.log(sizes[over])
            width = over - under
            step = (aim - s_under) / (s_over - s_under) if s_over > s_under else 0.5
            guess = under + min(0.9, max(0.1, step)) * width  # secant, off the bracket's ends
            others = [q for q in sizes if q not in (under, over)]
            if others:  # the curvature of a third point: inverse quadratic interpolation
                third = min(others, key=lambda q: min(abs(q - under), abs(q - over)))
                curved = _inverse_quadratic(
                    [(math.log(sizes[q]), q) for q in (under, over, third)], aim
                )
                if curved is not None and under + 0.05 * width <= curved <= over - 0.05 * width:
                    guess = curved
            quality = _on_grid(guess, low, high)
            if quality in sizes:
                quality = _on_grid(under + width / 2, low, high)
                if quality in sizes:
                    break
        elif under is not None:  # every file so far is under the window: go up
            if under >= high:
                raise out_of_range()
            move = (aim - math.log(sizes[under])) / measured_slope()
            quality = _on_grid(under + max(move, resolution), low, high)
        else:  # every file so far is over the target: go down
            assert over is not None
            if over <= low:
                raise out_of_range()
            move = (aim - math.log(sizes[over])) / measured_slope()
            quality = _on_grid(over + min(move, -resolution), low, high)
    if best is None:
        if run(low) > target:
            raise out_of_range()
    return result()
