"""Exporting what a decoder needs besides ``g_s``: CDF tables and the engine's networks.

A model's decoder has two parts. The synthesis transform ``g_s`` is a neural network,
exported to ONNX or TorchScript (:mod:`neuralcodec.export.exporter`). Everything before
it — entropy decoding of ``z`` and ``y``, the hyper-synthesis ``h_s`` that predicts the
Gaussian parameters of ``y``, and for the autoregressive models the context model and
entropy-parameter network — must reproduce the encoder's integers exactly, so it runs in
neuralcodec's Rust coder and engine, which compute the same bits on every machine.
:func:`export_entropy` writes their inputs to ``entropy.safetensors`` and describes them
in the manifest's ``"entropy"`` section; :mod:`neuralcodec.export.ort_decoder` reads
them back with numpy alone.

``entropy.safetensors`` (all tensors C-contiguous; names under the manifest's control):

* ``z.quantized_cdf`` int32 ``[C, L]``, ``z.cdf_length`` int32 ``[C]``, ``z.offset``
  int32 ``[C]``, ``z.medians`` float32 ``[C]``: the entropy bottleneck (of ``y`` itself
  for the factorized prior, then named ``y.*``);
* ``y.quantized_cdf``, ``y.cdf_length``, ``y.offset``, ``y.scale_table`` float32: the
  Gaussian conditional;
* ``h_s.{i}.weight`` / ``.bias`` for the i-th layer of the hyper-synthesis, and
  ``context.weight`` (already multiplied by its mask), ``context.bias``,
  ``entropy.weight``, ``entropy.bias``, ``entropy_rest.{i}.*`` for the autoregressive
  models.

The manifest's ``"entropy"`` section::

    {"path": "entropy.safetensors", "sha256": "...",
     "kind": "factorized" | "scale" | "mean-scale" | "autoregressive",
     "coding_path": "engine",            # the files' coding path this decodes
     "latent_channels": 192, "z_channels": 128, "z_to_y": 4,
     "lower_bound_scale": 0.11,
     "hyper_synthesis": [{"op": "conv_transpose2d", "tensor": "h_s.0", "stride": 2,
                          "padding": 2, "output_padding": 1}, {"op": "leaky_relu",
                          "negative_slope": 0.01}, ...],
     "context": {"kernel": 5, "params_channels": 384, "entropy_rest": [...]}}   # or null

Layer ops are those of :class:`neuralcodec._core.EngineNetwork`: ``conv2d`` (``stride``,
``padding``), ``conv_transpose2d`` (plus ``output_padding``), ``relu``, ``leaky_relu``
(``negative_slope``) and ``pixel_shuffle`` (``upscale_factor``); weights keep PyTorch's
layouts (``[out, in, k, k]`` for convolutions, ``[in, out, k, k]`` for transposed ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Tuple, Union, cast

import numpy as np
import torch
from torch import nn

from neuralcodec.export.manifest import ENTROPY_FILE, file_sha256
from neuralcodec.files import write_atomic

if TYPE_CHECKING:
    from neuralcodec.entropy_models import EntropyBottleneck, EntropyModel

__all__ = ["EntropyExportError", "entropy_kind", "export_entropy"]


class EntropyExportError(ValueError):
    """The model's entropy coding cannot be exported for the torch-free decoder."""


class _Recorder:
    """Stands in for :class:`neuralcodec._core.EngineNetwork`: records the layers that
    :mod:`neuralcodec.engine` would build, and their arrays, under ``prefix.{i}``."""

    def __init__(self, prefix: str, tensors: Dict[str, np.ndarray]) -> None:
        self.prefix = prefix
        self.tensors = tensors
        self.ops: List[Dict[str, Any]] = []

    def _weights(self, weight: np.ndarray, bias: np.ndarray) -> str:
        name = f"{self.prefix}.{len(self.ops)}"
        self.tensors[f"{name}.weight"] = np.ascontiguousarray(weight, dtype=np.float32)
        self.tensors[f"{name}.bias"] = np.ascontiguousarray(bias, dtype=np.float32)
        return name

    def conv2d(self, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> None:
        name = self._weights(weight, bias)
        self.ops.append({"op": "conv2d", "tensor": name, "stride": int(stride), "padding": int(padding)})

    def conv_transpose2d(
        self, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int, output_padding: int
    ) -> None:
        name = self._weights(weight, bias)
        self.ops.append({
            "op": "conv_transpose2d", "tensor": name, "stride": int(stride), "padding": int(padding),
            "output_padding": int(output_padding),
        })

    def relu(self) -> None:
        self.ops.append({"op": "relu"})

    def leaky_relu(self, negative_slope: float) -> None:
        self.ops.append({"op": "leaky_relu", "negative_slope": float(negative_slope)})

    def pixel_shuffle(self, upscale_factor: int) -> None:
        self.ops.append({"op": "pixel_shuffle", "upscale_factor": int(upscale_factor)})


def entropy_kind(model: nn.Module) -> str:
    """How ``model`` codes its latents: ``"factorized"``, ``"scale"``, ``"mean-scale"``
    or ``"autoregressive"``.

    Raises:
        EntropyExportError: a model outside the zoo's families, whose ``decompress`` the
            torch-free decoder cannot know.
    """
    from neuralcodec.models import (
        FactorizedPrior,
        JointAutoregressiveHierarchicalPriors,
        MeanScaleHyperprior,
        ScaleHyperprior,
    )

    if isinstance(model, JointAutoregressiveHierarchicalPriors):
        return "autoregressive"
    if isinstance(model, MeanScaleHyperprior):
        return "mean-scale"
    if isinstance(model, ScaleHyperprior):
        return "scale"
    if isinstance(model, FactorizedPrior):
        return "factorized"
    raise EntropyExportError(
        f"{type(model).__name__} is not one of the zoo's model families, so the torch-free decoder "
        "cannot reproduce its decompress()"
    )


def _f32(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


def _i32(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.int32).numpy())


def _tables(module: "EntropyModel", prefix: str, tensors: Dict[str, np.ndarray]) -> None:
    if not module._has_tables():
        raise EntropyExportError(f"{type(module).__name__} has no CDF tables: call model.update() before exporting")
    tensors[f"{prefix}.quantized_cdf"] = _i32(module._quantized_cdf)
    tensors[f"{prefix}.cdf_length"] = _i32(module._cdf_length)
    tensors[f"{prefix}.offset"] = _i32(module._offset)


def _describe(model: nn.Module) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    from neuralcodec import engine

    kind = entropy_kind(model)
    tensors: Dict[str, np.ndarray] = {}
    bottleneck = cast("EntropyBottleneck", model.entropy_bottleneck)
    z_prefix = "y" if kind == "factorized" else "z"
    _tables(bottleneck, z_prefix, tensors)
    tensors[f"{z_prefix}.medians"] = _f32(bottleneck._get_medians().reshape(-1))
    spec: Dict[str, Any] = {"kind": kind}
    if kind == "factorized":
        spec.update(coding_path="compat", latent_channels=int(bottleneck.channels))
        return spec, tensors
    if "engine" not in getattr(model, "coding_paths", ()):
        raise EntropyExportError(f"{type(model).__name__} has no engine coding path to export")
    gc = engine._gaussian_conditional(model)
    _tables(gc, "y", tensors)
    if gc.scale_table.numel() == 0:
        raise EntropyExportError("the Gaussian conditional has no scale table: call model.update() before exporting")
    tensors["y.scale_table"] = _f32(gc.scale_table)
    hyper = _Recorder("h_s", tensors)
    try:
        engine.export_into(hyper, engine._h_s(model))
    except engine.EngineUnsupportedError as error:
        raise EntropyExportError(f"the engine cannot run this h_s: {error}") from None
    spec.update(
        coding_path="engine",
        latent_channels=int(cast(int, model.M)),
        z_channels=int(bottleneck.channels),
        z_to_y=4,
        lower_bound_scale=float(gc.lower_bound_scale.bound.detach().cpu().float().reshape(-1)[0]),
        hyper_synthesis=hyper.ops,
        context=None,
    )
    if kind == "autoregressive":
        context = engine._context_prediction(model)
        first_module, *rest_modules = list(engine._entropy_parameters(model))
        first = cast(nn.Conv2d, first_module)  # engine._build below checks that it is one
        rest = _Recorder("entropy_rest", tensors)
        for module in rest_modules:
            engine.export_into(rest, module)
        tensors["context.weight"] = _f32(context.weight * context.mask)
        tensors["context.bias"] = engine._bias(context)
        tensors["entropy.weight"] = _f32(first.weight)
        tensors["entropy.bias"] = engine._bias(first)
        spec["context"] = {
            "kernel": int(context.kernel_size[0]),
            "params_channels": int(first.in_channels - context.out_channels),
            "entropy_rest": rest.ops,
        }
        # The same checks the engine makes when it builds (mask type, kernel, padding).
        engine._build(model)
    return spec, tensors


def export_entropy(model: nn.Module, out_dir: Union[str, Path]) -> Dict[str, Any]:
    """Writes ``entropy.safetensors`` for ``model`` into ``out_dir``.

    Args:
        model: a zoo-family model whose tables are built (``update()``).
        out_dir: the export folder (created if needed).

    Returns:
        The manifest's ``"entropy"`` section (see the module documentation); the caller
        (:func:`neuralcodec.export.export`) records it.

    Raises:
        EntropyExportError: the model has no tables, is not a zoo family, or has layers
            the engine cannot run.
    """
    from safetensors.numpy import save

    spec, tensors = _describe(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ENTROPY_FILE
    # save() + write_atomic: usual permissions (safetensors' save_file makes owner-only files)
    write_atomic(path, save(tensors, metadata={"format": "neuralcodec-entropy", "kind": spec["kind"]}), force=True)
    return {"path": path.name, "sha256": file_sha256(path), **spec}
