"""A latent's coding graph as JSON and named arrays: the one form the engine is built from.

:func:`neuralcodec.engine.latent_graph` records a model's coding graph with a
:class:`GraphRecorder` into a *spec* — nested dicts of JSON scalars naming arrays, each
node of the model's description writing its own part
(:mod:`neuralcodec.latent_codecs.description`) — and builds the native
:class:`neuralcodec._core.LatentGraph` from it with :func:`build_graph` (the spec is read
by one native module, ``rust/python/spec.rs``, which builds the engine's graph). The export writes the same spec into its manifest and the
arrays into ``entropy.safetensors``, and the torch-free decoder
(:mod:`neuralcodec.export.ort_decoder`) calls the same :func:`build_graph`; so the engine
path, the export and the decoder cannot disagree about a graph. This module needs numpy
and the native module only (no torch).

Spec::

    {"hyper": [layer, ...], "coder": node}

    node = {"op": "gaussian", "channels": m, "entropy": [layer, ...],
            "chunks": "scales_means" | "means_scales" | "scales",
            "scale_table": name, "scale_bound": float, "table": name, "gained": bool,
            "offsets": [layer, ...] | null}
         | {"op": "checkerboard", "anchor_parity": "even" | "odd", "context": name,
            "entropy": [layer, ...], "leaf": node}
         | {"op": "channel_groups", "groups": [int], "sources": [[int]],
            "contexts": [[layer, ...] | null], "coders": [node]}
         | {"op": "raster_scan", "context": name, "entropy_first": name,
            "entropy_rest": [layer, ...], "params_channels": int,
            "scale_table": name, "scale_bound": float, "table": name, "gained": bool,
            "offsets": [layer, ...] | null, "gain_context": name | null}

``offsets`` (reconstruction offsets) and ``gain_context`` (a raster scan's term for the
gain: ``name.weight`` and ``name.bias``, one value per context channel each) may be
absent (specs written before them), which means none; ``gained`` is false when absent in
a raster scan.

    layer = {"op": "conv2d", "tensor": name, "stride": s, "padding": p}
          | {"op": "conv_transpose2d", "tensor": name, "stride": s, "padding": p,
             "output_padding": o}
          | {"op": "relu"} | {"op": "leaky_relu", "negative_slope": a}
          | {"op": "pixel_shuffle", "upscale_factor": r}

A weight ``name`` stands for the arrays ``name.weight`` (float32, PyTorch's layout) and
``name.bias``; a table ``name`` for ``name.quantized_cdf``, ``name.cdf_length`` and
``name.offset`` (int32); a scale table is one float32 array.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from neuralcodec import _core
from neuralcodec.errors import NeuralCodecError

__all__ = ["GraphRecorder", "GraphSpecError", "LayerRecorder", "build_graph"]

Spec = Dict[str, Any]


class GraphSpecError(NeuralCodecError, ValueError):
    """A spec names an operation or an array that is not there."""


class LayerRecorder:
    """Records a network's layers (``conv2d``, ``conv_transpose2d``, ``relu``,
    ``leaky_relu``, ``pixel_shuffle``) as spec ``ops`` and their arrays in ``tensors``
    under ``prefix.{i}``."""

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
        })  # fmt: skip

    def relu(self) -> None:
        self.ops.append({"op": "relu"})

    def leaky_relu(self, negative_slope: float) -> None:
        self.ops.append({"op": "leaky_relu", "negative_slope": float(negative_slope)})

    def pixel_shuffle(self, upscale_factor: int) -> None:
        self.ops.append({"op": "pixel_shuffle", "upscale_factor": int(upscale_factor)})


class GraphRecorder:
    """Collects the arrays of a spec under unique names (``tensors``)."""

    def __init__(self) -> None:
        self.tensors: Dict[str, np.ndarray] = {}

    def network(self, prefix: str) -> LayerRecorder:
        """A recorder for one network's layers."""
        return LayerRecorder(prefix, self.tensors)

    def weights(self, name: str, weight: np.ndarray, bias: np.ndarray) -> str:
        self.tensors[f"{name}.weight"] = np.ascontiguousarray(weight, dtype=np.float32)
        self.tensors[f"{name}.bias"] = np.ascontiguousarray(bias, dtype=np.float32)
        return name

    def table(self, name: str, quantized_cdf: np.ndarray, cdf_length: np.ndarray, offset: np.ndarray) -> str:
        for part, value in (("quantized_cdf", quantized_cdf), ("cdf_length", cdf_length), ("offset", offset)):
            self.tensors[f"{name}.{part}"] = np.ascontiguousarray(value, dtype=np.int32)
        return name

    def array(self, name: str, value: np.ndarray) -> str:
        self.tensors[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name


def build_graph(spec: Spec, tensors: Mapping[str, np.ndarray], scalar: Optional[bool] = None) -> Any:
    """The native :class:`~neuralcodec._core.LatentGraph` of a spec (see the module
    documentation) over the named ``tensors``; ``scalar`` forces (True) or forbids (False)
    the scalar kernel.

    The spec is read in one place, the native module (``rust/python/spec.rs``), which
    builds the engine's graph from it directly.

    Raises:
        GraphSpecError: a missing key, an unknown operation or a missing array.
        TypeError: an array of another dtype or a value of another type.
        ValueError: arrays that do not fit together (from the native constructors).
    """
    try:
        return _core.LatentGraph.from_spec(spec, tensors, scalar=scalar)
    except KeyError as error:  # the native reader's "names something that is not there"
        raise GraphSpecError(error.args[0] if error.args else "a graph spec is incomplete") from None
