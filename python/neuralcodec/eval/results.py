"""The rate-distortion results file: CompressAI's layout, plus per-image detail.

A results file is JSON::

    {
      "name": "webp",                      # the curve's label
      "description": "WebP (Pillow 13.0.0, libwebp 1.6.0), default method",
      "results": {                          # one entry per rate point, lowest quality first
        "psnr-rgb": [...], "ms-ssim-rgb": [...], "bpp": [...],
        "encoding_time": [...], "decoding_time": [...]      # seconds per image
      },
      "qualities": [...],                   # the quality parameter of each rate point
      "dataset": {"path": "...", "images": 24},
      "environment": {"neuralcodec": "...", ...},          # library versions
      "per_image": {"images": ["kodim01.png", ...],
                    "bpp": [[...per image...] per rate point], "psnr-rgb": [[...]], ...}
    }

``name``, ``description`` and ``results`` are the layout CompressAI's ``eval_model``,
``bench`` and ``plot`` utilities use, so files from either project plot together; the
other keys are extra. Every value in ``results`` is the arithmetic mean over images of
the per-image values (so mean PSNR, not the PSNR of the mean MSE, as CompressAI
reports). Learned models add ``"bpp-estimate"`` (from the likelihoods) beside
``"bpp"`` (from the coded bytes).

PSNR of a lossless reconstruction is infinite; it is stored as :data:`PSNR_CAP` (100 dB)
so the files stay valid JSON.

Older CompressAI result files name the metrics ``"psnr"`` and ``"ms-ssim"``;
:func:`load_results` accepts both spellings, and a file that holds only the ``results``
table (no ``name``: the file name is used).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from neuralcodec.errors import NeuralCodecError
from neuralcodec.files import write_atomic

__all__ = [
    "METRIC_KEYS",
    "PSNR_CAP",
    "RESULT_KEYS",
    "ResultsError",
    "build_results",
    "curve",
    "environment",
    "load_results",
    "write_results",
]

#: The keys of ``results`` every file written here has, in CompressAI's spelling.
RESULT_KEYS = ("psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time", "decoding_time")
#: Metric name on the command line -> the keys it may have in a results file.
METRIC_KEYS: Dict[str, Tuple[str, ...]] = {"psnr": ("psnr-rgb", "psnr"), "ms-ssim": ("ms-ssim-rgb", "ms-ssim")}
#: The PSNR (dB) recorded for an exact reconstruction.
PSNR_CAP = 100.0


class ResultsError(NeuralCodecError, ValueError):
    """A results file that is missing, not JSON, or not in the results layout."""


def environment(**libraries: str) -> Dict[str, str]:
    """Versions to record in a results file: Python, numpy, neuralcodec, and ``libraries``."""
    from neuralcodec import __version__

    info = {"python": platform.python_version(), "numpy": np.__version__, "neuralcodec": __version__}
    info.update(libraries)
    return info


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def build_results(
    name: str,
    description: str,
    qualities: Sequence[Union[int, float, str]],
    per_image: Sequence[Sequence[Mapping[str, float]]],
    image_names: Sequence[str],
    dataset: Optional[Union[str, Path]] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """A results dictionary from per-image measurements.

    Args:
        name, description: the curve's label and a sentence on how it was made.
        qualities: the quality parameter of each rate point.
        per_image: for each rate point, one mapping per image (in ``image_names`` order)
            with at least the :data:`RESULT_KEYS`; other numeric keys (e.g.
            ``"bpp-estimate"``) are averaged and kept too.
        image_names: the images' file names.
        dataset: the data set path, recorded with the image count.
        extra: more top-level entries (e.g. ``environment``, ``settings``).

    Returns:
        The layout documented in this module (rate points sorted by mean bpp is up to
        the caller: they stay in the order given).
    """
    if len(per_image) != len(qualities):
        raise ValueError(f"{len(per_image)} rate points of measurements for {len(qualities)} qualities")
    keys: List[str] = list(RESULT_KEYS)
    for point in per_image:
        if len(point) != len(image_names):
            raise ValueError(f"{len(point)} measurements for {len(image_names)} images")
        for row in point:
            missing = [k for k in RESULT_KEYS if k not in row]
            if missing:
                raise ValueError(f"an image measurement lacks {missing}")
            keys.extend(k for k in row if k not in keys)
    results = {key: [_mean([row[key] for row in point]) for point in per_image] for key in keys}
    detail: Dict[str, Any] = {"images": list(image_names)}
    detail.update({key: [[float(row[key]) for row in point] for point in per_image] for key in keys})
    output: Dict[str, Any] = {
        "name": name,
        "description": description,
        "results": results,
        "qualities": list(qualities),
    }
    if dataset is not None:
        output["dataset"] = {"path": str(dataset), "images": len(image_names)}
    output.update(extra or {})
    output["per_image"] = detail
    return output


def write_results(results: Mapping[str, Any], path: Union[str, Path], *, force: bool = False) -> None:
    """Writes a results dictionary as indented JSON (atomically; no NaN/Infinity).

    Raises:
        FileExistsError: ``path`` exists and ``force`` is false (nothing is written).
        ValueError: a value is NaN or infinite.
    """
    text = json.dumps(results, indent=1, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"), force=force)


def load_results(path: Union[str, Path]) -> Dict[str, Any]:
    """Reads and checks a results file (ours or CompressAI's).

    Raises:
        ResultsError: the file is missing, not JSON, lacks ``name``/``results``, or its
            ``results`` lists have different lengths or non-numeric entries.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"results file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"{path} is not a JSON results file: {error}") from error
    if isinstance(data, dict) and "results" not in data and isinstance(data.get("bpp"), list):
        data = {"results": data}  # a bare results table, as CompressAI's plot also reads
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ResultsError(f"{path} is not in the results layout (no 'results' object)")
    results = data["results"]
    if "bpp" not in results:
        raise ResultsError(f"{path}: 'results' has no 'bpp' list")
    lengths = set()
    for key, values in results.items():
        if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        ):
            raise ResultsError(f"{path}: results[{key!r}] must be a list of numbers")
        lengths.add(len(values))
    if len(lengths) != 1:
        raise ResultsError(f"{path}: the 'results' lists differ in length")
    data.setdefault("name", path.stem)
    data.setdefault("description", "")
    return data


def curve(results: Mapping[str, Any], metric: str = "psnr") -> Tuple[np.ndarray, np.ndarray]:
    """``(bpp, quality)`` of a results dictionary for ``metric`` (``"psnr"`` or ``"ms-ssim"``).

    Raises:
        ResultsError: the results hold no values for ``metric``.
    """
    if metric not in METRIC_KEYS:
        raise ValueError(f"metric must be one of {tuple(METRIC_KEYS)}, got {metric!r}")
    table = results["results"]
    for key in METRIC_KEYS[metric]:
        if key in table:
            bpp = np.asarray(table["bpp"], dtype=np.float64)
            values = np.asarray(table[key], dtype=np.float64)
            if not (np.all(np.isfinite(bpp)) and np.all(np.isfinite(values))):
                raise ResultsError(f"{results.get('name')!r}: non-finite values in bpp or {key}")
            return bpp, values
    raise ResultsError(f"{results.get('name')!r} has no {metric} values (looked for {', '.join(METRIC_KEYS[metric])})")
