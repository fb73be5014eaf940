"""The Rust decode engine: bit-exact entropy parameters on every machine.

The quantities that decide how each latent symbol is coded — the hyper-synthesis output
``h_s(z_hat)`` (scales, and means where the model has them), the masked context
convolution and entropy-parameter network of the autoregressive models, and the
``scale -> CDF row`` rule — are computed by a Rust engine whose result is a pure function
of the weights and the decoded symbols: float32 in one fixed order per output, no fused
multiply-add, no transcendental functions (see ``docs/determinism.md``). Encoder and
decoder therefore agree on every machine, every thread count, with or without SIMD, and
whatever PyTorch does on the encoder's side (float64, CUDA, other BLAS).

Every model with a described coding graph (``describe()``: the hyperprior models,
mbt2018 and Cheng2020, the checkerboard and ELIC models, :class:`~neuralcodec.models.
elic_lite.ElicLiteVbr` and compositions of latent codecs) codes its latent through
:func:`latent_graph`: one extractor (:func:`graph_spec`) records the described modules as
a spec (:mod:`neuralcodec.graph_spec`), the Rust engine builds the coding tree from it
and codes or decodes a whole latent in one call with the GIL released
(:func:`compress_graph`, :func:`decompress_graph`; ``docs/bitstream.md`` gives the
order). The export writes the same spec, so the torch-free decoder runs the same graph.
:func:`hyper_parameters` gives the graph's ``h_s`` output on its own (tests and benches
compare it with PyTorch's).

The models use this module when ``model.coding_path == "engine"`` (their default); the
``"compat"`` path is the PyTorch one, byte-compatible with CompressAI. Weights are
exported from the PyTorch modules on first use and re-exported whenever a parameter or
buffer changes (tracked by tensor identity and version counter), so training can go on
in PyTorch and the next ``compress`` sees the new weights.

Typical use (the models call these for you)::

    >>> import torch
    >>> from neuralcodec import engine
    >>> from neuralcodec.models import MeanScaleHyperprior
    >>> model = MeanScaleHyperprior(8, 12).eval()
    >>> _ = model.update()
    >>> z_hat = torch.zeros(1, 8, 2, 3)
    >>> engine.hyper_parameters(model, z_hat).shape     # h_s(z_hat) from the engine
    torch.Size([1, 24, 8, 12])

Environment: ``NEURALCODEC_ENGINE_THREADS`` (default: the CPUs this process may run on,
read when the engine runs; see :func:`neuralcodec.settings.engine_threads`) sets the threads the
engine may use; ``NEURALCODEC_ENGINE_SCALAR=1`` forces the scalar reference kernel.
Neither changes a bit of the results.
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union, cast

import numpy as np
import torch
from torch import Tensor, nn

from neuralcodec import settings
from neuralcodec.errors import NeuralCodecError
from neuralcodec.graph_spec import GraphRecorder, build_graph
from neuralcodec.layers import MaskedConv2d
from neuralcodec.ops.versions import tensor_versions

if TYPE_CHECKING:
    from neuralcodec.entropy_models import GaussianConditional
    from neuralcodec.latent_codecs.description import ModelDescription

__all__ = [
    "EngineUnsupportedError",
    "compress_graph",
    "decompress_graph",
    "encode_graph",
    "export_into",
    "get_num_threads",
    "graph_spec",
    "hyper_parameters",
    "latent_graph",
    "set_num_threads",
]


class EngineUnsupportedError(NeuralCodecError, TypeError):
    """A module the engine cannot reproduce (e.g. a custom layer in ``h_s``)."""


#: Set by :func:`set_num_threads`; None: :func:`neuralcodec.settings.engine_threads` decides.
_threads: Optional[int] = None


def set_num_threads(threads: Optional[int]) -> None:
    """Sets how many threads the engine may use (results do not depend on it); None goes
    back to the default (:func:`neuralcodec.settings.engine_threads`)."""
    global _threads
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    _threads = threads


def get_num_threads() -> int:
    """The number of threads the engine may use: the one :func:`set_num_threads` set, else
    ``NEURALCODEC_ENGINE_THREADS``, else the CPUs this process may run on (its affinity).

    Raises:
        ValueError: ``NEURALCODEC_ENGINE_THREADS`` is not a positive integer (read here,
            when the engine runs, not when neuralcodec is imported).
    """
    return _threads if _threads is not None else settings.engine_threads()


# ---------------------------------------------------------------------------- export


def _f32(tensor: Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


def _pair(value: Any, what: str, module: nn.Module) -> int:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(set(values)) != 1:
        raise EngineUnsupportedError(f"the engine needs a square {what}, got {values} in {module}")
    return int(values[0])


#: The convolutions the engine runs (``torch.nn.modules.conv._ConvNd`` is private).
Conv = Union[nn.Conv2d, nn.ConvTranspose2d]


def _bias(module: Conv) -> np.ndarray:
    if module.bias is None:
        return np.zeros(module.out_channels, dtype=np.float32)
    return _f32(module.bias)


def _check_conv(module: Conv) -> None:
    if module.groups != 1 or _pair(module.dilation, "dilation", module) != 1:
        raise EngineUnsupportedError(f"the engine supports groups=1 and dilation=1 only, got {module}")
    if getattr(module, "padding_mode", "zeros") != "zeros" or isinstance(module.padding, str):
        raise EngineUnsupportedError(f"the engine supports numeric zero padding only, got {module}")


def export_into(network: Any, module: nn.Module) -> None:
    """Appends ``module`` (a Sequential of convolutions, transposed convolutions,
    ``Linear`` layers over the channels, and activations, as ``h_s`` is) to the native
    ``network``, layer by layer.

    Raises:
        EngineUnsupportedError: a layer the engine cannot reproduce bit-exactly.
    """
    if isinstance(module, nn.Sequential):
        for child in module:
            export_into(network, child)
    elif isinstance(module, MaskedConv2d):
        raise EngineUnsupportedError("a masked convolution can only be the context model")
    elif isinstance(module, nn.Conv2d):
        _check_conv(module)
        network.conv2d(
            _f32(module.weight),
            _bias(module),
            _pair(module.stride, "stride", module),
            _pair(module.padding, "padding", module),
        )
    elif isinstance(module, nn.ConvTranspose2d):
        _check_conv(module)
        network.conv_transpose2d(
            _f32(module.weight),
            _bias(module),
            _pair(module.stride, "stride", module),
            _pair(module.padding, "padding", module),
            _pair(module.output_padding, "output_padding", module),
        )
    elif isinstance(module, nn.Linear):
        # A linear map of each pixel's channels: a 1x1 convolution.
        bias = np.zeros(module.out_features, dtype=np.float32) if module.bias is None else _f32(module.bias)
        network.conv2d(_f32(module.weight)[:, :, None, None], bias, 1, 0)
    elif isinstance(module, nn.LeakyReLU):
        network.leaky_relu(float(module.negative_slope))
    elif isinstance(module, nn.ReLU):
        network.relu()
    elif isinstance(module, nn.PixelShuffle):
        network.pixel_shuffle(int(module.upscale_factor))
    elif isinstance(module, nn.Identity):
        pass
    else:
        raise EngineUnsupportedError(
            f"the engine cannot run {type(module).__name__}; use coding_path='compat' for this model"
        )


# ---------------------------------------------------------------------------- helpers


def _hwc(tensor: Tensor) -> np.ndarray:
    """``[C, H, W]`` tensor -> C-contiguous float32 ``[H, W, C]`` numpy array."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).permute(1, 2, 0).numpy())


def _chw(array: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).contiguous().to(device)


def hyper_parameters(
    model: nn.Module,
    z_hat: Tensor,
    threads: Optional[int] = None,
    description: Optional["ModelDescription"] = None,
) -> Tensor:
    """``h_s(z_hat)`` computed by the engine (the model's :func:`latent_graph`): float32
    ``[B, C, H, W]`` on ``z_hat``'s device, the parameters the coding tree starts from."""
    native = latent_graph(model, description)
    threads = threads or get_num_threads()
    return torch.stack([_chw(native.hyper(_hwc(z), threads=threads), z_hat.device) for z in z_hat])


# ---------------------------------------------------------------------------- latent graphs
#
# The parallel-context models (checkerboard, channel groups, ELIC, and any composition of
# latent codecs a user writes) are coded from their description
# (:mod:`neuralcodec.latent_codecs.description`): one extractor below turns the described
# modules into a native coding tree, and one Rust call codes or decodes a whole latent.

_CHUNKS = {("scales", "means"): "scales_means", ("means", "scales"): "means_scales", ("scales",): "scales"}


def _module(model: nn.Module, prefix: Optional[str]) -> nn.Module:
    if prefix is None:
        return nn.Identity()
    try:
        return model.get_submodule(prefix)
    except AttributeError:
        raise EngineUnsupportedError(f"{type(model).__name__} describes a module {prefix!r} it does not have") from None


def _recorded_network(model: nn.Module, prefix: Optional[str], recorder: GraphRecorder, name: str) -> List[Dict[str, Any]]:
    """The layers of the module at ``prefix`` (identity: none), recorded under ``name``."""
    network = recorder.network(name)
    export_into(network, _module(model, prefix))
    return network.ops


def _pointwise_network(model: nn.Module, prefix: Optional[str], recorder: GraphRecorder, name: str) -> List[Dict[str, Any]]:
    """:func:`_recorded_network` of a parameter network that must map each pixel on its own."""
    module = _module(model, prefix)
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and (
            isinstance(layer, nn.ConvTranspose2d)
            or _pair(layer.kernel_size, "kernel", layer) != 1
            or _pair(layer.stride, "stride", layer) != 1
            or _pair(layer.padding, "padding", layer) != 0
        ):
            raise EngineUnsupportedError(
                f"{prefix} must be pointwise (1x1 convolutions, activations) to run on the engine path, got {layer}"
            )
    return _recorded_network(model, prefix, recorder, name)


def _gaussian_tables(model: nn.Module, prefix: str, recorder: GraphRecorder, name: str) -> Dict[str, Any]:
    """The scale table, bound and CDF table of the Gaussian conditional at ``prefix``."""
    gc = cast("GaussianConditional", _module(model, prefix))
    if gc.scale_table.numel() == 0 or gc.quantized_cdf.numel() == 0:
        raise ValueError(
            f"{type(model).__name__} has no scale table yet: call update() before compress() or decompress()"
        )
    return {
        "scale_table": recorder.array(f"{name}.scale_table", _f32(gc.scale_table)),
        "scale_bound": float(gc.lower_bound_scale.bound.detach().cpu().float().reshape(-1)[0]),
        "table": recorder.table(
            f"{name}.table",
            gc.quantized_cdf.detach().cpu().numpy(),
            gc.cdf_length.detach().cpu().numpy(),
            gc.offset.detach().cpu().numpy(),
        ),
    }


def _leaf(model: nn.Module, node: Any, channels: int, recorder: GraphRecorder, name: str) -> Dict[str, Any]:
    from neuralcodec.latent_codecs.description import GaussianConditionalNode

    if not isinstance(node, GaussianConditionalNode):
        raise EngineUnsupportedError(f"the engine codes Gaussian leaves, got {node.kind}")
    if tuple(node.chunks) not in _CHUNKS:
        raise EngineUnsupportedError(f"the engine needs scales in the parameters, got chunks {node.chunks}")
    return {
        "op": "gaussian",
        "channels": int(channels),
        "entropy": _pointwise_network(model, node.entropy_parameters, recorder, f"{name}.entropy"),
        "chunks": _CHUNKS[tuple(node.chunks)],
        **_gaussian_tables(model, node.gaussian_conditional, recorder, name),
        **_gain_spec(model, node, recorder, name),
    }


def _gain_spec(model: nn.Module, node: Any, recorder: GraphRecorder, name: str) -> Dict[str, Any]:
    """``gained`` and the reconstruction offsets of a leaf or raster-scan node."""
    if node.reconstruction_offsets is not None and not node.gain:
        raise EngineUnsupportedError(f"{node.kind}: reconstruction offsets need a gain")
    offsets = node.reconstruction_offsets
    return {
        "gained": bool(node.gain),
        "offsets": None if offsets is None else _pointwise_network(model, offsets, recorder, f"{name}.offsets"),
    }


def _coder(model: nn.Module, node: Any, channels: int, recorder: GraphRecorder, name: str) -> Dict[str, Any]:
    """The spec of one description node coding ``channels`` channels, arrays under ``name``."""
    from neuralcodec.latent_codecs.description import ChannelGroupsNode, CheckerboardNode, RasterScanNode

    if isinstance(node, ChannelGroupsNode):
        if sum(node.groups) != channels:
            raise EngineUnsupportedError(f"channel groups {node.groups} do not sum to the latent's {channels}")
        return {
            "op": "channel_groups",
            "groups": [int(g) for g in node.groups],
            "sources": [[int(j) for j in sources] for sources in node.context_groups],
            "contexts": [
                None if prefix is None else _recorded_network(model, prefix, recorder, f"{name}.context{k}")
                for k, prefix in enumerate(node.channel_context)
            ],
            "coders": [
                _coder(model, child, size, recorder, f"{name}.y{k}")
                for k, (child, size) in enumerate(zip(node.latent_codecs, node.groups))
            ],
        }
    if isinstance(node, CheckerboardNode):
        context = _module(model, node.context_prediction)
        if not isinstance(context, nn.Conv2d):
            raise EngineUnsupportedError(f"the checkerboard context must be a convolution, got {context}")
        kernel = _pair(context.kernel_size, "kernel", context)
        if (
            kernel % 2 == 0
            or _pair(context.stride, "stride", context) != 1
            or _pair(context.padding, "padding", context) != kernel // 2
        ):
            raise EngineUnsupportedError("the checkerboard context needs an odd kernel, stride 1, 'same' padding")
        _check_conv(context)
        mask = getattr(context, "mask", None)
        weight = context.weight * mask if mask is not None else context.weight
        return {
            "op": "checkerboard",
            "anchor_parity": node.anchor_parity,
            "context": recorder.weights(f"{name}.context", _f32(weight), _bias(context)),
            "entropy": _pointwise_network(model, node.entropy_parameters, recorder, f"{name}.entropy"),
            "leaf": _leaf(model, node.y, channels, recorder, f"{name}.leaf"),
        }
    if isinstance(node, RasterScanNode):
        return _raster_scan(model, node, recorder, name)
    return _leaf(model, node, channels, recorder, name)


def _check_raster_scan(context: MaskedConv2d, entropy_parameters: nn.Sequential) -> Tuple[nn.Conv2d, List[nn.Module]]:
    """Checks a serial context model the engine can run (mask A, odd kernel, stride 1,
    'same' padding; parameters starting with a 1x1 convolution); returns that first
    convolution and the whole parameter network's layers."""
    kernel = _pair(context.kernel_size, "kernel", context)
    if (
        getattr(context, "mask_type", "A") != "A"
        or _pair(context.stride, "stride", context) != 1
        or _pair(context.padding, "padding", context) != kernel // 2
        or kernel % 2 == 0
    ):
        raise EngineUnsupportedError("the engine needs a mask-A context model, odd kernel, stride 1, 'same' padding")
    _check_conv(context)
    entropy = list(entropy_parameters)
    first = entropy[0]
    if not isinstance(first, nn.Conv2d) or _pair(first.kernel_size, "kernel", first) != 1:
        raise EngineUnsupportedError("the entropy parameters must start with a 1x1 convolution")
    return first, entropy


def _raster_scan(model: nn.Module, node: Any, recorder: GraphRecorder, name: str) -> Dict[str, Any]:
    """The spec of a :class:`RasterScanNode` (mbt2018, Cheng2020)."""
    context = cast(MaskedConv2d, _module(model, node.context_prediction))
    first, entropy = _check_raster_scan(context, cast(nn.Sequential, _module(model, node.entropy_parameters)))
    rest = recorder.network(f"{name}.entropy_rest")
    for module in entropy[1:]:
        export_into(rest, module)
    gain_context = None
    if node.gain_context is not None:
        linear = _module(model, node.gain_context)
        if not node.gain or not isinstance(linear, nn.Linear) or linear.in_features != 1 or linear.bias is None:
            raise EngineUnsupportedError(
                f"the raster scan's gain context must be a Linear(1, n) with a bias on a gained latent, got {linear}"
            )
        gain_context = recorder.weights(f"{name}.gain_context", _f32(linear.weight).reshape(-1), _f32(linear.bias))
    return {
        "op": "raster_scan",
        "context": recorder.weights(f"{name}.context", _f32(context.weight * context.mask), _bias(context)),
        "entropy_first": recorder.weights(f"{name}.entropy_first", _f32(first.weight), _bias(first)),
        "entropy_rest": rest.ops,
        "params_channels": int(first.in_channels - context.out_channels),
        **_gaussian_tables(model, node.gaussian_conditional, recorder, name),
        **_gain_spec(model, node, recorder, name),
        "gain_context": gain_context,
    }


def _graph_modules(model: nn.Module, node: Any) -> List[nn.Module]:
    """Every module a description node names, except the analysis side (``h_a``, ``z``)."""
    from neuralcodec.latent_codecs import description as d

    if isinstance(node, d.HyperpriorNode):
        return [_module(model, node.hyper.h_s)] + _graph_modules(model, node.y)
    if isinstance(node, d.ChannelGroupsNode):
        found = [_module(model, p) for p in node.channel_context if p is not None]
        for child in node.latent_codecs:
            found += _graph_modules(model, child)
        return found
    if isinstance(node, d.CheckerboardNode):
        return [_module(model, node.context_prediction), _module(model, node.entropy_parameters)] + _graph_modules(
            model, node.y
        )
    if isinstance(node, d.GaussianConditionalNode):
        return [_module(model, p) for p in (node.gaussian_conditional, node.entropy_parameters, node.reconstruction_offsets)]
    if isinstance(node, d.RasterScanNode):
        prefixes = (
            node.gaussian_conditional, node.entropy_parameters, node.context_prediction, node.reconstruction_offsets,
            node.gain_context,
        )  # fmt: skip
        return [_module(model, p) for p in prefixes]
    raise EngineUnsupportedError(f"the engine cannot code a {node.kind} node")


def _latent_channels(model: nn.Module, node: Any) -> int:
    from neuralcodec.latent_codecs.description import ChannelGroupsNode, CheckerboardNode, RasterScanNode

    if isinstance(node, ChannelGroupsNode):
        return sum(node.groups)
    if isinstance(node, (CheckerboardNode, RasterScanNode)):
        return int(cast(nn.Conv2d, _module(model, node.context_prediction)).in_channels)
    channels = getattr(model, "M", None)
    if not isinstance(channels, int):
        raise EngineUnsupportedError(f"{type(model).__name__} does not say its latent channels (attribute M)")
    return channels


def _hyperprior(model: nn.Module, description: Optional["ModelDescription"] = None) -> Any:
    """The root of the model's description (``description``, default ``model.describe()``):
    a hyperprior with a hyper-synthesis."""
    from neuralcodec.latent_codecs.description import HyperpriorNode

    if description is None:
        describe = getattr(model, "describe", None)
        description = describe() if describe is not None else None
    root = description.latent_codec if description is not None else None
    if not isinstance(root, HyperpriorNode) or root.hyper.h_s is None:
        raise EngineUnsupportedError(
            f"{type(model).__name__} has no hyperprior description for the engine; use coding_path='compat'"
        )
    return root


# Native graphs per model and root node, keyed on every tensor they were built from
# (tensor_versions, and the scalar switch), with those tensors (so the key cannot be matched
# by new tensors at the same addresses); held weakly so a model can be collected or copied.
_GRAPHS: "weakref.WeakKeyDictionary[nn.Module, Dict[Any, Tuple[Tuple[Any, ...], Any, List[Tensor]]]]" = (
    weakref.WeakKeyDictionary()
)


def latent_graph(model: nn.Module, description: Optional["ModelDescription"] = None) -> Any:
    """The native coding graph of ``model`` (a :class:`_core.LatentGraph`), built from
    ``description`` (default ``model.describe()``; a variable-rate model describes each
    stage) and rebuilt after any change to the weights it reads.

    Raises:
        EngineUnsupportedError: the description holds something the engine cannot code
            (e.g. a spatial parameter network, an entropy bottleneck as ``y``'s codec).
        ValueError: ``update()`` has not built the tables.
    """
    root = _hyperprior(model, description)
    tensors: List[Tensor] = []
    for module in _graph_modules(model, root):
        tensors += list(module.parameters()) + list(module.buffers())
    key = tensor_versions(tensors) + (os.environ.get("NEURALCODEC_ENGINE_SCALAR", ""),)
    graphs = _GRAPHS.setdefault(model, {})
    cached = graphs.get(root)
    if cached is not None and cached[0] == key:
        return cached[1]
    spec, arrays = _spec(model, root)
    built = build_graph(spec, arrays)
    graphs[root] = (key, built, tensors)
    return built


def graph_spec(
    model: nn.Module, description: Optional["ModelDescription"] = None
) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """The model's coding graph as a spec and its arrays (:mod:`neuralcodec.graph_spec`):
    what :func:`latent_graph` builds the engine from and the export writes.

    Raises:
        EngineUnsupportedError: see :func:`latent_graph`.
        ValueError: ``update()`` has not built the tables.
    """
    return _spec(model, _hyperprior(model, description))


def _spec(model: nn.Module, root: Any) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    recorder = GraphRecorder()
    channels = _latent_channels(model, root.y)
    hyper = _recorded_network(model, root.hyper.h_s, recorder, "h_s")
    return {"hyper": hyper, "coder": _coder(model, root.y, channels, recorder, "y")}, recorder.tensors


def _gain_arrays(gain: Optional[Tuple[Tensor, Tensor]]) -> Dict[str, np.ndarray]:
    if gain is None:
        return {}
    return {"gain": _f32(gain[0].reshape(-1)), "gain_inverse": _f32(gain[1].reshape(-1))}


def compress_graph(
    model: nn.Module,
    y: Tensor,
    z_hat: Tensor,
    gain: Optional[Tuple[Tensor, Tensor]] = None,
    threads: Optional[int] = None,
    description: Optional["ModelDescription"] = None,
) -> Tuple[List[bytes], Tensor]:
    """Codes ``y`` ``[B, M, H, W]`` (cast to float32) with the model's coding graph
    (``description``, default ``model.describe()``) given the decoded side information
    ``z_hat`` ``[B, N, h, w]`` (the input of ``h_s``); for a gained model ``gain = (gain,
    inverse)``, ``[M]`` each. Returns one string per image and ``y_hat``, the latent the
    decoder reconstructs bit for bit, on ``y``'s device."""
    coded = _encode(model, y, z_hat, gain, threads, description, latent=True)
    return [data for data, _ in coded], torch.stack([_chw(cast(np.ndarray, y_hat), y.device) for _, y_hat in coded])


def encode_graph(
    model: nn.Module,
    y: Tensor,
    z_hat: Tensor,
    gain: Optional[Tuple[Tensor, Tensor]] = None,
    threads: Optional[int] = None,
    description: Optional["ModelDescription"] = None,
) -> List[bytes]:
    """The strings of :func:`compress_graph` alone (what ``compress`` needs): the engine
    hands back no ``y_hat``, which on a large latent saves its copies."""
    return [data for data, _ in _encode(model, y, z_hat, gain, threads, description, latent=False)]


def _encode(
    model: nn.Module,
    y: Tensor,
    z_hat: Tensor,
    gain: Optional[Tuple[Tensor, Tensor]],
    threads: Optional[int],
    description: Optional["ModelDescription"],
    latent: bool,
) -> List[Tuple[bytes, Optional[np.ndarray]]]:
    """``(string, y_hat HWC or None)`` per image, from the native graph."""
    native = latent_graph(model, description)
    threads = threads or get_num_threads()
    return [
        native.encode(_hwc(y_i), _hwc(z_i), threads=threads, latent=latent, **_gain_arrays(gain))
        for y_i, z_i in zip(y, z_hat)
    ]


def decompress_graph(
    model: nn.Module,
    strings: Sequence[bytes],
    z_hat: Tensor,
    gain: Optional[Tuple[Tensor, Tensor]] = None,
    threads: Optional[int] = None,
    description: Optional["ModelDescription"] = None,
) -> Tensor:
    """Decodes the strings of :func:`compress_graph`: ``y_hat`` float32 ``[B, M, H, W]``.

    Raises:
        StreamError: a string is truncated, corrupted or has trailing data.
    """
    native = latent_graph(model, description)
    threads = threads or get_num_threads()
    y_hats = [
        _chw(native.decode(bytes(data), _hwc(z_i), threads=threads, **_gain_arrays(gain)), z_hat.device)
        for data, z_i in zip(strings, z_hat)
    ]
    return torch.stack(y_hats)
