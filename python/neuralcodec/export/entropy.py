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
* for every other model, the arrays of its coding graph, named as its spec names them
  (:mod:`neuralcodec.graph_spec`): ``h_s``'s layers, the tables of each Gaussian leaf,
  the context and parameter networks.

The manifest's ``"entropy"`` section::

    {"path": "entropy.safetensors", "sha256": "...",
     "kind": "factorized" | "graph",
     "coding_path": "engine",            # the files' coding path this decodes
     "latent_channels": 192, "z_channels": 128,
     "graph": {"hyper": [...], "coder": {...}}}    # kind "graph": the spec

The spec is exactly what :func:`neuralcodec.engine.latent_graph` builds the engine from
(:func:`neuralcodec.engine.graph_spec`), so the torch-free decoder runs the model's own
coding graph, whatever its composition (hyperprior, raster-scan context, checkerboard,
channel groups). Manifests of version 1 named per-family kinds (``"scale"``,
``"mean-scale"``, ``"autoregressive"``); export such models again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Tuple, Union

import numpy as np
import torch
from torch import nn

from neuralcodec.errors import NeuralCodecError
from neuralcodec.export.manifest import ENTROPY_FILE, file_sha256
from neuralcodec.files import write_atomic

if TYPE_CHECKING:
    from neuralcodec.entropy_models import EntropyBottleneck, EntropyModel

__all__ = ["EntropyExportError", "entropy_kind", "export_entropy"]


class EntropyExportError(NeuralCodecError, ValueError):
    """The model's entropy coding cannot be exported for the torch-free decoder."""


def entropy_kind(model: nn.Module) -> str:
    """How ``model``'s decoder finds its latents: ``"factorized"`` (the entropy
    bottleneck of ``y``) or ``"graph"`` (the coding graph its ``describe()`` gives).

    Raises:
        EntropyExportError: a model with neither (its ``decompress`` is its own).
    """
    from neuralcodec import engine

    kind = None
    if callable(getattr(model, "describe", None)):
        kind = engine.describe(model).exported_as
    if kind == "graph" and "engine" not in getattr(model, "coding_paths", ()):
        kind = None
    if kind is not None:
        return kind
    raise EntropyExportError(
        f"{type(model).__name__} has no engine coding path with a described coding graph, so the torch-free "
        "decoder cannot reproduce its decompress()"
    )


def _stored_array(tensor: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """``tensor`` as the C-contiguous CPU numpy array of ``dtype`` the entropy file stores."""
    return np.ascontiguousarray(tensor.detach().to("cpu", dtype).numpy())


def _tables(module: "EntropyModel", prefix: str, tensors: Dict[str, np.ndarray]) -> None:
    if not module._has_tables():
        raise EntropyExportError(f"{type(module).__name__} has no CDF tables: call model.update() before exporting")
    tensors[f"{prefix}.quantized_cdf"] = _stored_array(module._quantized_cdf, torch.int32)
    tensors[f"{prefix}.cdf_length"] = _stored_array(module._cdf_length, torch.int32)
    tensors[f"{prefix}.offset"] = _stored_array(module._offset, torch.int32)


def _bottleneck(model: nn.Module) -> "EntropyBottleneck":
    from neuralcodec.entropy_models import EntropyBottleneck

    found = [m for m in model.modules() if isinstance(m, EntropyBottleneck)]
    if len(found) != 1:
        raise EntropyExportError(f"{type(model).__name__} has {len(found)} entropy bottlenecks; the export takes one")
    return found[0]


def _describe(model: nn.Module) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    from neuralcodec import engine

    kind = entropy_kind(model)
    tensors: Dict[str, np.ndarray] = {}
    bottleneck = _bottleneck(model)
    z_prefix = "y" if kind == "factorized" else "z"
    _tables(bottleneck, z_prefix, tensors)
    tensors[f"{z_prefix}.medians"] = _stored_array(bottleneck._get_medians().reshape(-1), torch.float32)
    spec: Dict[str, Any] = {"kind": kind}
    if kind == "factorized":
        spec.update(coding_path="compat", latent_channels=int(bottleneck.channels))
        return spec, tensors
    try:
        graph, arrays = engine.graph_spec(model)
    except engine.EngineUnsupportedError as error:
        raise EntropyExportError(f"the engine cannot run this model's coding graph: {error}") from None
    except ValueError as error:
        raise EntropyExportError(str(error)) from None
    native = engine.latent_graph(model)
    if native.gained:
        raise EntropyExportError(
            f"{type(model).__name__} is a variable-rate model (its gains depend on each file's quality); "
            "the torch-free decoder does not take those yet"
        )
    clash = set(arrays) & set(tensors)
    if clash:
        raise EntropyExportError(f"the coding graph's arrays {sorted(clash)} clash with the bottleneck's")
    tensors.update(arrays)
    spec.update(
        coding_path="engine",
        latent_channels=int(native.channels),
        z_channels=int(bottleneck.channels),
        graph=graph,
    )
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
