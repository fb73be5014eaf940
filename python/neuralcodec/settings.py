"""The settings neuralcodec decides in one place: rate points, image suffixes, threads.

Everything that more than one module needs to know and that a user can name on the
command line lives here, so the checks and the ``--help`` texts are generated from the
same data:

* the rate points (``quality``) of neuralcodec's shipped weights and of CompressAI's
  published ones (:func:`check_rate_point`, :func:`quality_help`), which architectures take
  a continuous quality instead (:data:`VARIABLE_RATE_ARCHITECTURES`), and how a
  ``--quality`` argument reads (:func:`parse_quality`);
* the file suffixes read as images (:data:`IMAGE_SUFFIXES`);
* the thread count of the Rust engine (:func:`engine_threads`), read from the
  environment when it is asked for, not at import.

The model names, their rate points and which of them are variable-rate come from the
model registry (:mod:`neuralcodec.registry.models`, its zoo entries), the one owner of
model names: :data:`COMPRESSAI_QUALITIES` and :data:`VARIABLE_RATE_ARCHITECTURES` are live
views of it, so a model registered later is listed too. This module, and the registry's
tables, import nothing beyond the standard library, so the command line can build its
parsers (and ``--help``) without loading numpy or torch.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Sequence, Tuple

from neuralcodec.registry.models import ZOO_ENTRIES, LiveMapping, NameView, variable_rate_names

__all__ = [
    "COMPRESSAI_QUALITIES",
    "DEFAULT_ARCHITECTURE",
    "DEFAULT_LAMBDAS",
    "DEFAULT_QUALITY",
    "DEFAULT_WEIGHTS_FILE",
    "ENGINE_THREADS_VARIABLE",
    "COMPRESSAI_LAMBDAS",
    "DEFAULT_TILE_SIZE",
    "EFFORT_STEPS",
    "IMAGE_SUFFIXES",
    "METRICS",
    "PREVIOUS_DEFAULTS",
    "VARIABLE_RATE_ARCHITECTURES",
    "available_cpus",
    "check_rate_point",
    "check_shipped_quality",
    "parse_quality",
    "engine_threads",
    "quality_help",
    "quality_within",
    "qualities_of",
    "shipped_quality_range",
]

# ------------------------------------------------------------------ rate points
#: The architecture of neuralcodec's shipped model (zoo name): one variable-rate model
#: that codes at any quality in ``1 .. 4`` (issue 28), a rate ladder whose rungs are the
#: four fixed-rate models shipped before it, with gain units between them.
DEFAULT_ARCHITECTURE = "mbt2018-mean-ladder"
#: Its weights file, in ``neuralcodec/data/weights/``.
DEFAULT_WEIGHTS_FILE = "neuralcodec-msh-ladder.safetensors"
#: The shipped model's integer qualities -> the lambda each trains for (``lambda * 255^2 *
#: MSE + bpp``); a quality between two of them trains for the geometric interpolation.
DEFAULT_LAMBDAS: Dict[int, float] = {1: 0.0018, 2: 0.0045, 3: 0.012, 4: 0.032}
#: The quality used when none is asked for.
DEFAULT_QUALITY = 3
#: Models neuralcodec shipped before, which the files made with them name: architecture ->
#: rate point -> the lambda it was trained for. Until issue 28 the default was four
#: fixed-rate ``mbt2018-mean`` models, one per quality; they are the shipped ladder's rungs
#: (rate point ``q`` is rung ``q - 1``), so no file of their own ships and their files decode.
PREVIOUS_DEFAULTS: Dict[str, Dict[int, float]] = {"mbt2018-mean": dict(DEFAULT_LAMBDAS)}

#: Zoo name -> its quality levels: CompressAI's rate points (its published weights where it has
#: any; the latent-codec models have none) by which the model sizes are chosen; for the
#: variable-rate models, the gain levels (quality q codes at Gain[q - 1]). A live view of
#: the registry's zoo entries.
COMPRESSAI_QUALITIES: Mapping[str, Sequence[int]] = LiveMapping(
    lambda: {name: entry.qualities for name, entry in ZOO_ENTRIES.items()}
)
#: The zoo models that code at a continuous quality (their qualities above are the levels
#: between which they interpolate; the models check the range). A live view of the registry.
VARIABLE_RATE_ARCHITECTURES: Sequence[str] = NameView(variable_rate_names)
#: The distortions CompressAI's weights were trained for.
METRICS = ("mse", "ms-ssim")
#: Metric -> the rate-distortion weight CompressAI trains its quality levels 1, 2, ... with
#: (``lambda * 255^2 * MSE + bpp``, ``lambda * (1 - MS-SSIM) + bpp``).
COMPRESSAI_LAMBDAS: Dict[str, Tuple[float, ...]] = {
    "mse": (0.0018, 0.0035, 0.0067, 0.0130, 0.025, 0.0483, 0.0932, 0.18),
    "ms-ssim": (2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.0),
}


def qualities_of(architecture: Optional[str] = None) -> Sequence[int]:
    """The valid qualities: of CompressAI's ``architecture``, or the integer qualities of
    the shipped model (which codes at any number between them) when it is None.

    Raises:
        ValueError: an unknown architecture.
    """
    if architecture is None:
        return sorted(DEFAULT_LAMBDAS)
    if architecture not in COMPRESSAI_QUALITIES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(COMPRESSAI_QUALITIES)}")
    return COMPRESSAI_QUALITIES[architecture]


def shipped_quality_range() -> Tuple[float, float]:
    """The continuous quality range of the shipped model, ``(1.0, 4.0)``: from its first
    to its last integer quality."""
    return float(min(DEFAULT_LAMBDAS)), float(max(DEFAULT_LAMBDAS))


def quality_within(quality: object, low: float, high: float) -> Optional[float]:
    """``quality`` as a float when it is a number (not a bool) within ``[low, high]``
    (finite ends: NaN and infinities are outside); None otherwise. The one test of a
    continuous quality against a range: the shipped model's (:func:`check_shipped_quality`)
    and every variable-rate model's (``VariableRateModel.check_quality``)."""
    try:
        value = float(quality)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if isinstance(quality, bool) or not (low <= value <= high):  # NaN fails both
        return None
    return value


def check_shipped_quality(quality: object) -> float:
    """``quality`` as a float when the shipped model codes at it: a finite number within
    :func:`shipped_quality_range` (the model checks the same range when it codes).

    Raises:
        ValueError: not a number, or outside the range (the message gives the range).
    """
    low, high = shipped_quality_range()
    value = quality_within(quality, low, high)
    if value is None:
        raise ValueError(f"the shipped model takes any quality within {low:g}..{high:g}, got {quality!r}")
    return value


def _span(qualities: Sequence[int]) -> str:
    values = sorted(qualities)
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(map(str, values))


def check_rate_point(quality: object, architecture: str) -> int:
    """``quality`` when it is a rate point of CompressAI's ``architecture``. A float with
    an integer value (``3.0``, as ``--quality 3.0`` parses) counts as that integer.

    Discrete rate points only (hence the name): a variable-rate model owns its continuous
    range (:meth:`neuralcodec.models.vbr.VariableRateModel.check_quality`), the shipped
    model's is checked by :func:`check_shipped_quality`.

    Raises:
        ValueError: not an integer, or not one of the rate points (the message lists them).
    """
    qualities = qualities_of(architecture)
    if isinstance(quality, float) and quality.is_integer():
        quality = int(quality)
    if isinstance(quality, bool) or not isinstance(quality, int) or quality not in qualities:
        fractional = ""
        if isinstance(quality, float):
            fractional = " (discrete rate points: a fractional quality needs a variable-rate model"
            fractional += f", e.g. {', '.join(VARIABLE_RATE_ARCHITECTURES)})"
        raise ValueError(f"{architecture} has qualities {_span(qualities)}{fractional}, got {quality!r}")
    return quality


def parse_quality(text: str) -> float:
    """A ``--quality`` argument: an integer rate point (``3``) or a continuous quality of a
    variable-rate model (``2.5``); an ``int`` when the text is an integer.

    Raises:
        ValueError: not a finite number.
    """
    try:
        return int(text)
    except ValueError:
        pass
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"a quality is a finite number, got {text!r}")
    return value


def quality_help(shipped_default: str = f"default {DEFAULT_QUALITY}") -> str:
    """The rate points for ``--quality`` help texts, from the tables above
    (``shipped_default`` says what an absent ``--quality`` means for the shipped weights)."""
    spans: Dict[str, list] = {}
    for name, qualities in COMPRESSAI_QUALITIES.items():
        if name not in VARIABLE_RATE_ARCHITECTURES:  # those take any number in their range: listed below
            spans.setdefault(_span(qualities), []).append(name)
    (common, _), *others = sorted(spans.items(), key=lambda item: -len(item[1]))
    exceptions = "".join(f" ({span} for {', '.join(names)})" for span, names in others)
    return (
        f"quality: any number within {_span(qualities_of())} for the shipped model ({shipped_default}); "
        "rate point: "
        f"{common}{exceptions} for CompressAI's; any number within the range of a variable-rate "
        f"model ({', '.join(VARIABLE_RATE_ARCHITECTURES)}), e.g. 2.5"
    )


# ------------------------------------------------------------------ images
#: File name endings read as images (case-insensitive): what Pillow reads and the
#: command line looks for in folders.
#: Side in pixels of the tiles over which the transforms of a large image run (an image
#: over 1.5 tiles on a side; see :mod:`neuralcodec.models.tiling`).
DEFAULT_TILE_SIZE = 1024

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


# ------------------------------------------------------------------ threads
#: The environment variable that sets the engine's thread count.
ENGINE_THREADS_VARIABLE = "NEURALCODEC_ENGINE_THREADS"


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask where the system has one
    (``taskset``, cgroups, a batch scheduler), else the CPU count; at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def engine_threads() -> int:
    """The engine's default thread count: :data:`ENGINE_THREADS_VARIABLE` when set, else
    :func:`available_cpus`. Read at each call, so setting the variable later takes effect.

    Raises:
        ValueError: the variable is set to something other than a positive integer.
    """
    value = os.environ.get(ENGINE_THREADS_VARIABLE, "").strip()
    if not value:
        return available_cpus()
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"{ENGINE_THREADS_VARIABLE} must be a positive integer, got {value!r}") from None
    if threads < 1:
        raise ValueError(f"{ENGINE_THREADS_VARIABLE} must be a positive integer, got {threads}")
    return threads


# ------------------------------------------------------------------ encoder effort
#: Gradient steps of encoder-side latent refinement per ``--effort`` level (0: the
#: analysis's latent, no refinement); :mod:`neuralcodec.models.refinement` runs them and
#: ``--effort``'s help lists them, without importing torch.
EFFORT_STEPS: Tuple[int, ...] = (0, 30, 80, 200)
