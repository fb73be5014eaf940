"""Checking an export folder against the model it came from.

:func:`check_export` runs every exported file on an input of a size and batch other
than the ones used to export (so a shape baked into a file shows up as an error) and
compares it with the PyTorch model: TorchScript must agree bit for bit, onnxruntime
within :data:`ONNX_RTOL` of the output's magnitude.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch
from torch import Tensor, nn

from neuralcodec.export.exporter import TRANSFORMS, transform_module
from neuralcodec.export.manifest import read_manifest, transform_entry, verify_files

__all__ = ["ONNX_RTOL", "CheckResult", "check_export", "check_inputs", "reference_output"]

#: Largest accepted ``max |onnx - torch| / max(1, max |torch|)``. float32 convolutions
#: summed in another order differ by a few units in the last place (about 1e-6
#: relative) per layer; 1e-4 leaves room for deep models and rejects any real mismatch.
ONNX_RTOL = 1e-4


@dataclass(frozen=True)
class CheckResult:
    """The comparison of one exported file with PyTorch.

    Attributes:
        transform: ``"g_a"``, ...
        format: ``"torchscript"`` or ``"onnx"``.
        max_abs_error: ``max |exported - pytorch|`` over the output (nan when skipped).
        max_abs_reference: ``max |pytorch|``, for scale.
        ok: within tolerance (exact for TorchScript, :data:`ONNX_RTOL` for ONNX).
        skipped: why the file was not run (e.g. onnxruntime is not installed), or ``""``.
    """

    transform: str
    format: str
    max_abs_error: float
    max_abs_reference: float
    ok: bool
    skipped: str = ""


@torch.no_grad()
def check_inputs(model: nn.Module, height: Optional[int] = None, width: Optional[int] = None) -> Dict[str, Tensor]:
    """An input per transform for a batch of 3 images of ``height x width`` pixels
    (default one and two times the model's stride: another batch and shape than the
    export's square example), chained as the model chains them."""
    stride = int(getattr(model, "downsampling_factor", 64))
    height = stride if height is None else int(height)
    width = 2 * stride if width is None else int(width)
    if height % stride or width % stride or height < 1 or width < 1:
        raise ValueError(f"height and width must be positive multiples of {stride}, got {height}x{width}")
    generator = torch.Generator().manual_seed(1)
    present = {name for name in TRANSFORMS if transform_module(model, name) is not None}  # as the export finds them
    x = torch.rand(3, 3, height, width, generator=generator)
    inputs = {"g_a": x}
    y = reference_output(model, "g_a", x)
    if "g_s" in present:
        inputs["g_s"] = torch.round(y)
    if "h_a" in present:
        inputs["h_a"] = y
        if "h_s" in present:
            inputs["h_s"] = torch.round(reference_output(model, "h_a", y))
    return inputs


@torch.no_grad()
def reference_output(model: nn.Module, name: str, x: Tensor) -> Tensor:
    """What ``model`` computes for transform ``name`` of input ``x``, as the exported
    file defines it (the scale hyperprior's ``h_a`` takes ``y`` and applies ``|.|``)."""
    module = transform_module(model, name)
    if module is None:
        raise ValueError(f"{type(model).__name__} has no {name}")
    return module(x)


def _compare(name: str, fmt: str, out: Tensor, ref: Tensor) -> CheckResult:
    if out.shape != ref.shape:
        return CheckResult(name, fmt, float("inf"), float(ref.abs().max()), False)
    error = float((out - ref).abs().max())
    scale = float(ref.abs().max())
    ok = error == 0.0 if fmt == "torchscript" else error <= ONNX_RTOL * max(1.0, scale)
    return CheckResult(name, fmt, error, scale, ok)


def check_export(
    model: nn.Module, folder: Union[str, Path], height: Optional[int] = None, width: Optional[int] = None
) -> List[CheckResult]:
    """Runs every file of an export folder and compares it with ``model``.

    Args:
        model: the model that was exported.
        folder: the export folder.
        height, width: image size of the check (see :func:`check_inputs`).

    Returns:
        One result per transform and format; ONNX results are marked skipped when
        onnxruntime is not installed.

    Raises:
        ManifestError: the manifest is malformed, a file is missing or altered.
    """
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    inputs = check_inputs(model, height, width)
    results: List[CheckResult] = []
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    for name in manifest["transforms"]:
        entry = transform_entry(folder, manifest, name)
        x = inputs[name]
        reference = reference_output(model, name, x)
        for fmt, path in entry.files.items():
            if fmt == "torchscript":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    module = torch.jit.load(str(path))
                with torch.no_grad():
                    results.append(_compare(name, fmt, module(x), reference))
            elif onnxruntime is None:
                results.append(CheckResult(name, fmt, float("nan"), float("nan"), True, "onnxruntime is not installed"))
            else:
                session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                out = session.run([entry.output_name], {entry.input_name: x.numpy()})[0]
                results.append(_compare(name, fmt, torch.from_numpy(out), reference))
    return results
