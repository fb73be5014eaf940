"""A latent's coding graph as JSON and named arrays: the one form the engine is built from.

:func:`neuralcodec.engine.latent_graph` records a model's coding graph with a
:class:`GraphRecorder` into a *spec* — nested dicts of JSON scalars naming arrays, each
node of the model's description writing its own part
(:mod:`neuralcodec.latent_codecs.description`) — and builds the native
:class:`neuralcodec._core.LatentGraph` from it with :func:`build_graph`. The export writes the same spec into its manifest and the
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

__all__ = ["GraphRecorder", "GraphSpecError", "LayerRecorder", "build_graph", "build_network"]

Spec = Dict[str, Any]


class GraphSpecError(NeuralCodecError, ValueError):
    """A spec names an operation or an array that is not there."""


class LayerRecorder:
    """Stands in for :class:`neuralcodec._core.EngineNetwork` (``conv2d``,
    ``conv_transpose2d``, ``relu``, ``leaky_relu``, ``pixel_shuffle``): records the layers
    as ``ops`` and their arrays in ``tensors`` under ``prefix.{i}``."""

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
        """A recorder for one network's layers (pass it where an ``EngineNetwork`` goes)."""
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


def _get(tensors: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name not in tensors:
        raise GraphSpecError(f"the graph names an array {name!r} that is not there")
    return tensors[name]


def build_network(ops: List[Dict[str, Any]], tensors: Mapping[str, np.ndarray]) -> Any:
    """A native :class:`~neuralcodec._core.EngineNetwork` from recorded layers."""
    network = _core.EngineNetwork()
    for op in ops:
        kind = op.get("op")
        if kind == "conv2d":
            name = op["tensor"]
            network.conv2d(_get(tensors, f"{name}.weight"), _get(tensors, f"{name}.bias"), int(op["stride"]),
                           int(op["padding"]))  # fmt: skip
        elif kind == "conv_transpose2d":
            name = op["tensor"]
            network.conv_transpose2d(
                _get(tensors, f"{name}.weight"), _get(tensors, f"{name}.bias"), int(op["stride"]),
                int(op["padding"]), int(op["output_padding"]),
            )  # fmt: skip
        elif kind == "relu":
            network.relu()
        elif kind == "leaky_relu":
            network.leaky_relu(float(op["negative_slope"]))
        elif kind == "pixel_shuffle":
            network.pixel_shuffle(int(op["upscale_factor"]))
        else:
            raise GraphSpecError(f"unknown engine layer {kind!r}")
    return network


def _table(tensors: Mapping[str, np.ndarray], name: str) -> Any:
    return _core.CdfTable(
        _get(tensors, f"{name}.quantized_cdf"), _get(tensors, f"{name}.cdf_length"), _get(tensors, f"{name}.offset")
    )


def _offsets(node: Spec, tensors: Mapping[str, np.ndarray]) -> Any:
    ops = node.get("offsets")
    return None if ops is None else build_network(ops, tensors)


def _build_coder(node: Spec, tensors: Mapping[str, np.ndarray]) -> Any:
    op = node.get("op")
    if op == "gaussian":
        return _core.LatentCoder.gaussian(
            int(node["channels"]),
            build_network(node["entropy"], tensors),
            str(node["chunks"]),
            _get(tensors, node["scale_table"]),
            float(node["scale_bound"]),
            _table(tensors, node["table"]),
            gained=bool(node["gained"]),
            offsets=_offsets(node, tensors),
        )
    if op == "checkerboard":
        name = node["context"]
        return _core.LatentCoder.checkerboard(
            str(node["anchor_parity"]),
            _get(tensors, f"{name}.weight"),
            _get(tensors, f"{name}.bias"),
            build_network(node["entropy"], tensors),
            _build_coder(node["leaf"], tensors),
        )
    if op == "channel_groups":
        return _core.LatentCoder.channel_groups(
            [int(g) for g in node["groups"]],
            [[int(j) for j in sources] for sources in node["sources"]],
            [None if ops is None else build_network(ops, tensors) for ops in node["contexts"]],
            [_build_coder(child, tensors) for child in node["coders"]],
        )
    if op == "raster_scan":
        context, first = node["context"], node["entropy_first"]
        gain_context = node.get("gain_context")
        return _core.LatentCoder.raster_scan(
            _get(tensors, f"{context}.weight"),
            _get(tensors, f"{context}.bias"),
            _get(tensors, f"{first}.weight"),
            _get(tensors, f"{first}.bias"),
            build_network(node["entropy_rest"], tensors),
            int(node["params_channels"]),
            _get(tensors, node["scale_table"]),
            float(node["scale_bound"]),
            _table(tensors, node["table"]),
            gained=bool(node.get("gained", False)),
            offsets=_offsets(node, tensors),
            gain_context_weight=None if gain_context is None else _get(tensors, f"{gain_context}.weight"),
            gain_context_bias=None if gain_context is None else _get(tensors, f"{gain_context}.bias"),
        )
    raise GraphSpecError(f"unknown coding node {op!r}")


def build_graph(spec: Spec, tensors: Mapping[str, np.ndarray], scalar: Optional[bool] = None) -> Any:
    """The native :class:`~neuralcodec._core.LatentGraph` of a spec (see the module
    documentation); ``scalar`` forces (True) or forbids (False) the scalar kernel.

    Raises:
        GraphSpecError: an unknown operation or a missing array.
        ValueError: arrays that do not fit together (from the native constructors).
    """
    try:
        hyper, coder = spec["hyper"], spec["coder"]
    except (KeyError, TypeError):
        raise GraphSpecError("a graph spec needs 'hyper' and 'coder'") from None
    return _core.LatentGraph(build_network(hyper, tensors), _build_coder(coder, tensors), scalar=scalar)
