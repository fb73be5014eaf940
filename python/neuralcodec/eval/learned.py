"""Evaluating learned models: real bitstreams, measured per image.

For each model (one rate point) and each image, :func:`evaluate_model`:

1. reads the image as 8-bit RGB and scales it to ``[0, 1]`` (``[1, 3, H, W]``);
2. times ``model.compress`` and ``model.decompress`` (wall clock, with a device
   synchronisation on CUDA; one untimed warm-up run per model first, so one-off
   initialisation is not charged to the first image);
3. counts ``bpp`` from the bytes of the entropy-coded strings ``compress`` returns
   (``8 * bytes / (H * W)``; the few bytes of shape header a container would add are
   not counted, as in CompressAI), and ``bpp-estimate`` from the likelihoods of
   ``model.forward`` on the same padded input (``-sum(log2 p) / (H * W)``), which the
   coded size should match to within the coder's overhead;
4. rounds the reconstruction to 8 bits and measures PSNR-RGB and MS-SSIM-RGB
   (:mod:`neuralcodec.eval.measure`).

A variable-rate model (:class:`~neuralcodec.models.vbr.VariableRateModel`) is evaluated at
any quality of its continuous range: a :class:`RatePoint` with a ``rate`` codes (and
estimates) there, through the model's ``prepare_quality``.

:func:`evaluate` runs several rate points and returns the results dictionary of
:mod:`neuralcodec.eval.results`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union, cast

import numpy as np
import torch

from neuralcodec.eval.images import read_rgb
from neuralcodec.eval.measure import distortion, to_uint8
from neuralcodec.eval.results import build_results, environment
from neuralcodec.losses import flat_likelihoods
from neuralcodec.models.base import CompressionModel
from neuralcodec.models.refinement import EFFORT_STEPS, check_effort, refine_latent
from neuralcodec.models.variable_rate import VariableRateModel

__all__ = ["RatePoint", "code_and_decode", "coded_bytes", "evaluate", "evaluate_image", "evaluate_model", "likelihood_bits"]


@dataclass
class RatePoint:
    """One rate point to evaluate: a label (the quality or a file name), how to get the
    model, and for a variable-rate model the continuous quality to code at.

    ``load`` is called when the point is reached, so only one model is in memory at a time
    (points of one variable-rate model may share a loader that keeps it).
    """

    quality: Union[int, float, str]
    load: Callable[[], CompressionModel]
    rate: Optional[float] = None
    #: The rate-distortion weight the model was trained with (for ``effort``), if known.
    lmbda: Optional[float] = None


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return (
        torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].to(device=device, dtype=torch.float32) / 255
    )


def _rate_arguments(model: CompressionModel, quality: Optional[float]) -> Dict[str, Any]:
    """The keyword arguments that code ``model`` at ``quality`` (none without one).

    Raises:
        ValueError: a quality for a model with discrete rate points, or outside the range.
    """
    if quality is None:
        return {}
    if not isinstance(model, VariableRateModel):
        raise ValueError(f"a continuous quality ({quality:g}) needs a variable-rate model, not a {type(model).__name__}")
    return model.prepare_quality(quality)


def likelihood_bits(likelihoods: Any) -> float:
    """``-sum(log2 p)`` over every likelihood tensor of a model's ``forward`` output (a
    mapping, nested for latent-codec models), in float64: the bits an ideal entropy
    coder would spend."""
    values = flat_likelihoods(likelihoods).values()
    bits = cast(torch.Tensor, sum(torch.log2(v.double()).sum() for v in values))  # a sum of tensors
    return float(bits.neg())


def _estimated_bits(model: CompressionModel, x: torch.Tensor, rate: Dict[str, Any], latent: Optional[torch.Tensor]) -> float:
    """``-sum(log2 likelihoods)`` of the model's forward pass on the padded image, or of
    its ``latent_forward`` of a refined ``latent`` (at the same rate)."""
    if latent is None:
        likelihoods = model(model.pad(x), **rate)["likelihoods"]
    else:
        likelihoods = model.latent_forward(latent, **rate)["likelihoods"]  # a model that codes a given latent
    return likelihood_bits(likelihoods)


def coded_bytes(strings: Any) -> int:
    """The number of bytes in a ``compress`` output's ``strings``: lists of ``bytes`` (one
    per image and latent), nested to any depth (latent-codec models nest them)."""
    if isinstance(strings, (bytes, bytearray, memoryview)):
        return len(strings)
    if isinstance(strings, (list, tuple)):
        return sum(coded_bytes(s) for s in strings)
    raise TypeError(f"compress returned strings holding a {type(strings).__name__}, not bytes")


def code_and_decode(
    model: CompressionModel,
    x: torch.Tensor,
    pixels: int,
    rate: Optional[Dict[str, Any]] = None,
    latent: Optional[Dict[str, Any]] = None,
    crop: bool = True,
    start: Optional[float] = None,
) -> Tuple[Dict[str, float], torch.Tensor]:
    """Codes one image ``x`` (``[1, 3, H, W]``) with ``model.compress`` and decodes it, timed.

    Args:
        model: a model with built tables.
        x: the image as the model takes it (padded or not: the model pads what it must).
        pixels: the pixel count ``bpp`` is per (the original image's ``H * W``).
        rate: keyword arguments of both ``compress`` and ``decompress`` (a variable-rate
            model's ``stage``/``s``/``inputscale``).
        latent: keyword arguments of ``compress`` only (a refined ``latent``).
        crop: pass the ``x_size`` that ``compress`` returned to ``decompress`` (models
            written for CompressAI return none, and are called as CompressAI calls them).
        start: the ``time.perf_counter()`` the encoding time counts from (default: now),
            so work done before (a latent's refinement) is charged to the encoder.

    Returns:
        ``({"bpp", "encoding_time", "decoding_time"}, x_hat)``: bpp from the bytes of the
        coded strings (no container), times in seconds (with a device synchronisation).
    """
    rate = rate or {}
    device = x.device
    if start is None:
        _synchronize(device)
        start = time.perf_counter()
    coded = model.compress(x, **rate, **(latent or {}))
    _synchronize(device)
    encoding_time = time.perf_counter() - start
    size = {"x_size": coded["x_size"]} if crop and "x_size" in coded else {}
    start = time.perf_counter()
    decoded = model.decompress(coded["strings"], coded["shape"], **size, **rate)
    _synchronize(device)
    decoding_time = time.perf_counter() - start
    row = {
        "bpp": 8 * coded_bytes(coded["strings"]) / pixels,
        "encoding_time": encoding_time,
        "decoding_time": decoding_time,
    }
    return row, decoded["x_hat"]


@torch.no_grad()
def evaluate_image(
    model: CompressionModel,
    rgb: np.ndarray,
    device: Union[str, torch.device] = "cpu",
    quality: Optional[float] = None,
    refinement: Optional[Tuple[int, float, str]] = None,
) -> Dict[str, float]:
    """The measurements of one uint8 RGB ``[H, W, 3]`` image (see the module documentation),
    at ``quality`` for a variable-rate model; ``refinement = (steps, lambda, metric)``
    refines the latent first (:func:`~neuralcodec.models.refinement.refine_latent`, its
    time counted in the encoding time).

    Returns:
        ``{"bpp", "bpp-estimate", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}``
        (times in seconds).
    """
    device = torch.device(device)
    height, width = rgb.shape[:2]
    x = _to_tensor(rgb, device)
    rate = _rate_arguments(model, quality)
    _synchronize(device)
    start = time.perf_counter()
    latent: Dict[str, Any] = {}
    if refinement is not None:
        steps, lmbda, metric = refinement
        latent = {"latent": refine_latent(model, x, lmbda, steps, metric=metric, rate=rate).latent}
    row, x_hat = code_and_decode(model, x, height * width, rate, latent, start=start)
    row["bpp-estimate"] = _estimated_bits(model, x, rate, latent.get("latent")) / (height * width)
    row.update(distortion(rgb, to_uint8(x_hat)))
    return row


def _warm_up(model: CompressionModel, device: torch.device, quality: Optional[float]) -> None:
    rgb = np.full((64, 64, 3), 128, np.uint8)
    with torch.no_grad():
        x = _to_tensor(rgb, device)
        rate = _rate_arguments(model, quality)
        coded = model.compress(x, **rate)
        model.decompress(coded["strings"], coded["shape"], x_size=coded["x_size"], **rate)


def evaluate_model(
    model: CompressionModel,
    images: Sequence[Path],
    device: Union[str, torch.device] = "cpu",
    progress: Optional[Any] = None,
    quality: Optional[float] = None,
    refinement: Optional[Tuple[int, float, str]] = None,
) -> List[Dict[str, float]]:
    """Measurements of every image (in order) for one model, at ``quality`` for a
    variable-rate model, refined as :func:`evaluate_image` says; ``progress`` is a tqdm
    bar to advance."""
    device = torch.device(device)
    model = model.to(device).eval()
    _warm_up(model, device, quality)
    rows = []
    for path in images:
        rows.append(evaluate_image(model, read_rgb(path), device, quality, refinement))
        if progress is not None:
            progress.update(1)
    return rows


def evaluate(
    points: Iterable[RatePoint],
    images: Sequence[Path],
    name: str,
    description: str,
    device: Union[str, torch.device] = "cpu",
    show_progress: bool = True,
    dataset: Optional[Union[str, Path]] = None,
    settings: Optional[Dict[str, Any]] = None,
    effort: int = 0,
    metric: str = "mse",
) -> Dict[str, Any]:
    """Evaluates every rate point on ``images``; returns a results dictionary.

    Args:
        points: the rate points, each loaded in turn.
        images: image files.
        name, description: the curve's label and description in the results.
        device: where the models run (``"cpu"`` or ``"cuda"``).
        show_progress: draw a tqdm bar (on stderr) over all images of all points.
        dataset: the data set path to record.
        settings: extra settings to record (architecture, metric, sources, ...).
        effort: refine each image's latent with
            :data:`~neuralcodec.models.refinement.EFFORT_STEPS` steps for the points'
            ``lmbda`` and ``metric`` (every point must know its lambda).

    Raises:
        ValueError: an effort the models cannot take (no lambda, or a model that codes
            no given latent).
    """
    from tqdm import tqdm

    points = list(points)
    check_effort(effort)
    qualities, per_image = [], []
    with tqdm(total=len(points) * len(images), desc=name, unit="image", disable=not show_progress) as bar:
        for point in points:
            bar.set_postfix(quality=point.quality)
            model = point.load()
            refinement = None
            lmbda = point.lmbda
            if lmbda is None and point.rate is not None and isinstance(model, VariableRateModel):
                lmbda = model.lambda_for_quality(point.rate)  # its own, per quality
            if check_effort(effort, model, lmbda, name):
                assert lmbda is not None
                refinement = (EFFORT_STEPS[effort], lmbda, metric)
            per_image.append(evaluate_model(model, images, device, bar, point.rate, refinement))
            qualities.append(point.quality)
            del model
    extra = {
        "environment": environment(torch=torch.__version__),
        "settings": {"device": str(device), **({"effort": effort} if effort else {}), **(settings or {})},
    }
    return build_results(name, description, qualities, per_image, [p.name for p in images], dataset, extra)
