"""The spec reader (``graph_spec.build_graph``, one native module ``rust/python/spec.rs``):
a hand-written spec builds a graph that round-trips, a spec through JSON builds the same
graph as the engine's, and a spec naming what is not there is refused with a clear error."""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Dict, Tuple

import numpy as np
import pytest

from neuralcodec import _core
from neuralcodec.graph_spec import GraphSpecError, build_graph

N, M = 4, 3


def small_spec() -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """A hyperprior-like graph: a 1x1 hyper-synthesis ``N -> 2M`` and a Gaussian leaf
    reading ``(scales, means)`` through a pointwise network."""
    rng = np.random.default_rng(0)
    scales = _core.scale_table(0.11, 256.0, 64)
    cdfs, lengths, offsets = _core.gaussian_tables(scales, 1e-9)
    tensors = {
        "h.0.weight": rng.normal(size=(2 * M, N, 1, 1)).astype(np.float32),
        "h.0.bias": np.array([2.0] * M + [0.0] * M, np.float32),
        "e.0.weight": np.eye(2 * M, dtype=np.float32).reshape(2 * M, 2 * M, 1, 1),
        "e.0.bias": np.zeros(2 * M, np.float32),
        "scales": scales,
        "t.quantized_cdf": cdfs,
        "t.cdf_length": lengths,
        "t.offset": offsets,
    }
    spec = {
        "hyper": [{"op": "conv2d", "tensor": "h.0", "stride": 1, "padding": 0}, {"op": "relu"}],
        "coder": {
            "op": "gaussian", "channels": M, "chunks": "scales_means", "scale_table": "scales",
            "scale_bound": 0.11, "table": "t", "gained": False,
            "entropy": [{"op": "conv2d", "tensor": "e.0", "stride": 1, "padding": 0}],
        },
    }  # fmt: skip
    return spec, tensors


def inputs(seed: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.normal(size=(6, 5, M)) * 8).astype(np.float32)
    z_hat = np.round(rng.normal(size=(6, 5, N))).astype(np.float32)
    return y, z_hat


def test_a_hand_written_spec_builds_a_graph_that_round_trips():
    spec, tensors = small_spec()
    graph = build_graph(spec, tensors)
    assert graph.channels == M and not graph.gained
    y, z_hat = inputs()
    data, y_hat = graph.encode(y, z_hat)
    assert y_hat is not None and np.abs(y_hat - y).max() <= 0.5 + 1e-4
    assert np.array_equal(graph.decode(data, z_hat), y_hat)
    # The same spec through JSON (as the export's manifest holds it) codes the same bytes.
    again = build_graph(json.loads(json.dumps(spec)), dict(tensors), scalar=True)
    assert again.kernel == "scalar" and again.encode(y, z_hat)[0] == data


def test_the_optional_keys_may_be_absent_or_none():
    spec, tensors = small_spec()
    y, z_hat = inputs()
    data = build_graph(spec, tensors).encode(y, z_hat)[0]
    spec["coder"]["offsets"] = None
    assert build_graph(spec, tensors).encode(y, z_hat)[0] == data


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s, t: s.pop("hyper"), "'hyper' and 'coder'"),
        (lambda s, t: s["coder"].update(op="hexagonal"), "unknown coding node 'hexagonal'"),
        (lambda s, t: s["coder"].pop("op"), "unknown coding node None"),
        (lambda s, t: s["hyper"].append({"op": "gelu"}), "unknown engine layer 'gelu'"),
        (lambda s, t: s["coder"].pop("table"), "a gaussian node needs 'table'"),
        (lambda s, t: t.pop("t.offset"), "'t.offset' that is not there"),
        (lambda s, t: t.pop("h.0.bias"), "'h.0.bias' that is not there"),
    ],
)
def test_a_spec_naming_what_is_not_there_raises_graph_spec_error(edit, message):
    spec, tensors = small_spec()
    spec = copy.deepcopy(spec)
    edit(spec, tensors)
    with pytest.raises(GraphSpecError, match=re.escape(message)):
        build_graph(spec, tensors)


def test_arrays_and_values_of_another_kind_are_refused():
    spec, tensors = small_spec()
    with pytest.raises(TypeError, match="'scales' must be float32"):
        build_graph(spec, {**tensors, "scales": tensors["scales"].astype(np.float64)})
    with pytest.raises(ValueError, match=r"'h\.0\.weight' must have 4 dimensions"):
        build_graph(spec, {**tensors, "h.0.weight": tensors["h.0.weight"].reshape(2 * M, N)})
    bad = copy.deepcopy(spec)
    bad["hyper"][0]["stride"] = -1
    with pytest.raises(TypeError, match="'stride' must be a non-negative integer"):
        build_graph(bad, tensors)
    bad = copy.deepcopy(spec)
    bad["coder"]["chunks"] = "means"
    with pytest.raises(ValueError, match="chunks must be"):
        build_graph(bad, tensors)
    # Arrays that do not fit together: the hyper-synthesis makes 2M channels, the leaf reads 3M.
    bad = copy.deepcopy(spec)
    bad["coder"]["chunks"] = "scales"
    with pytest.raises(ValueError):
        build_graph(bad, tensors).encode(*inputs())


def test_the_native_graph_has_one_constructor_the_spec():
    assert not hasattr(_core, "LatentCoder") and not hasattr(_core, "EngineNetwork")
    with pytest.raises(TypeError):
        _core.LatentGraph()  # type: ignore[call-arg]
