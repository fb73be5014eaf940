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
:func:`latent_graph`: each node of the description writes its part of a spec
(:mod:`neuralcodec.graph_spec`) through one builder here that turns the modules it names
into arrays, the Rust engine builds the coding tree from it, and codes or decodes a whole
latent in one call with the GIL released (:func:`compress_graph`,
:func:`decompress_graph`; ``docs/bitstream.md`` gives the order). The export writes the
same spec, so the torch-free decoder runs the same graph. :func:`hyper_parameters` gives
the graph's ``h_s`` output on its own (tests and benches compare it with PyTorch's).

The models use this module when ``model.coding_path == "engine"`` (their default); the
``"compat"`` path is the PyTorch one, byte-compatible with CompressAI. A model is
described once (:func:`describe`) and its native graph built once, on first use, per
model and variant (a variable-rate model's stage); each call then only checks that the
modules the graph was read from are still in place and that their tensors' version
counters have not moved, and rebuilds when they have: training can go on in PyTorch
(optimizer steps, ``load_state_dict``, ``update(force=True)``, ``to()``) and the next
``compress`` sees the new weights. Making a graph is serialised by a lock, so threads may
share a model.

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
import threading
import weakref
from typing import TYPE_CHECKING, Any, Dict, Hashable, List, Optional, Sequence, Tuple, Union, cast

import numpy as np
import torch
from torch import Tensor, nn

from neuralcodec import settings
from neuralcodec.graph_spec import GraphRecorder, build_graph
from neuralcodec.latent_codecs.description import EngineUnsupportedError, SpecBuilder
from neuralcodec.layers import MaskedConv2d
from neuralcodec.ops.versions import tensor_versions

if TYPE_CHECKING:
    from neuralcodec.entropy_models import GaussianConditional
    from neuralcodec.latent_codecs.description import ModelDescription

__all__ = [
    "EngineUnsupportedError",
    "compress_graph",
    "decompress_graph",
    "describe",
    "encode_graph",
    "export_into",
    "forget",
    "get_num_threads",
    "graph_spec",
    "hyper_parameters",
    "latent_graph",
    "set_num_threads",
]


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
    variant: Hashable = None,
) -> Tensor:
    """``h_s(z_hat)`` computed by the engine (the model's :func:`latent_graph`): float32
    ``[B, C, H, W]`` on ``z_hat``'s device, the parameters the coding tree starts from."""
    native = latent_graph(model, description, variant)
    threads = threads or get_num_threads()
    return torch.stack([_chw(native.hyper(_hwc(z), threads=threads), z_hat.device) for z in z_hat])


# ---------------------------------------------------------------------------- latent graphs
#
# Every model with a described coding graph is coded from its description
# (:mod:`neuralcodec.latent_codecs.description`): each node writes its own part of the spec
# through the builder below, which turns the modules it names into arrays, and one Rust
# call codes or decodes a whole latent. The description and the native graph are made once
# per model and kept until a module or tensor they were read from changes.


class _SpecBuilder(SpecBuilder):
    """The :class:`~neuralcodec.latent_codecs.description.SpecBuilder` over a model's
    modules: records their arrays (``recorder.tensors``) and every module it read, with
    the attribute path it was found by (what :class:`_Watch` checks)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.recorder = GraphRecorder()
        self.read: Dict[int, nn.Module] = {}
        self.edges: Dict[Tuple[int, str], Tuple[nn.Module, str, nn.Module]] = {}

    def module(self, prefix: Optional[str]) -> nn.Module:
        """The module at ``prefix`` (identity for None), remembered as read."""
        if prefix is None:
            return nn.Identity()
        parent = self.model
        for part in prefix.split("."):
            child = getattr(parent, part, None)
            if not isinstance(child, nn.Module):
                raise EngineUnsupportedError(
                    f"{type(self.model).__name__} describes a module {prefix!r} it does not have"
                )
            self.edges[(id(parent), part)] = (parent, part, child)
            parent = child
        self.read[id(parent)] = parent
        return parent

    def network(self, prefix: Optional[str], name: str, pointwise: bool = False) -> List[Dict[str, Any]]:
        module = self.module(prefix)
        if pointwise:
            for layer in module.modules():
                if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and (
                    isinstance(layer, nn.ConvTranspose2d)
                    or _pair(layer.kernel_size, "kernel", layer) != 1
                    or _pair(layer.stride, "stride", layer) != 1
                    or _pair(layer.padding, "padding", layer) != 0
                ):
                    raise EngineUnsupportedError(
                        f"{prefix} must be pointwise (1x1 convolutions, activations) to run on the engine path, "
                        f"got {layer}"
                    )
        network = self.recorder.network(name)
        export_into(network, module)
        return network.ops

    def same_convolution(self, prefix: str, name: str, mask_a: bool = False) -> Tuple[str, int, int]:
        context = self.module(prefix)
        if not isinstance(context, nn.Conv2d) or (mask_a and not isinstance(context, MaskedConv2d)):
            raise EngineUnsupportedError(f"{prefix}: the context model must be a (masked) convolution, got {context}")
        kernel = _pair(context.kernel_size, "kernel", context)
        if (
            kernel % 2 == 0
            or _pair(context.stride, "stride", context) != 1
            or _pair(context.padding, "padding", context) != kernel // 2
            or (mask_a and getattr(context, "mask_type", "A") != "A")
        ):
            raise EngineUnsupportedError(
                f"{prefix}: the engine needs a {'mask-A ' if mask_a else ''}context model with an odd kernel, "
                "stride 1, 'same' padding"
            )
        _check_conv(context)
        mask = getattr(context, "mask", None)
        weight = context.weight * mask if mask is not None else context.weight
        return self.recorder.weights(name, _f32(weight), _bias(context)), context.in_channels, context.out_channels

    def split_network(self, prefix: str, name: str) -> Tuple[str, int, List[Dict[str, Any]]]:
        network = self.module(prefix)
        layers = list(network) if isinstance(network, nn.Sequential) else []
        first = layers[0] if layers else None
        if not isinstance(first, nn.Conv2d) or _pair(first.kernel_size, "kernel", first) != 1:
            raise EngineUnsupportedError(f"{prefix}: the entropy parameters must start with a 1x1 convolution")
        rest = self.recorder.network(f"{name}_rest")
        for layer in layers[1:]:
            export_into(rest, layer)
        return self.recorder.weights(f"{name}_first", _f32(first.weight), _bias(first)), first.in_channels, rest.ops

    def column(self, prefix: str, name: str) -> str:
        linear = self.module(prefix)
        if not isinstance(linear, nn.Linear) or linear.in_features != 1 or linear.bias is None:
            raise EngineUnsupportedError(f"{prefix} must be a Linear(1, n) with a bias, got {linear}")
        return self.recorder.weights(name, _f32(linear.weight).reshape(-1), _f32(linear.bias))

    def gaussian_tables(self, prefix: str, name: str) -> Dict[str, Any]:
        gc = cast("GaussianConditional", self.module(prefix))
        if gc.scale_table.numel() == 0 or gc.quantized_cdf.numel() == 0:
            raise ValueError(
                f"{type(self.model).__name__} has no scale table yet: call update() before compress() or decompress()"
            )
        return {
            "scale_table": self.recorder.array(f"{name}.scale_table", _f32(gc.scale_table)),
            "scale_bound": float(gc.lower_bound_scale.bound.detach().cpu().float().reshape(-1)[0]),
            "table": self.recorder.table(
                f"{name}.table",
                gc.quantized_cdf.detach().cpu().numpy(),
                gc.cdf_length.detach().cpu().numpy(),
                gc.offset.detach().cpu().numpy(),
            ),
        }

    def in_channels(self, prefix: str) -> int:
        return int(cast(nn.Conv2d, self.module(prefix)).in_channels)

    def latent_channels(self) -> int:
        channels = getattr(self.model, "M", None)
        if not isinstance(channels, int):
            raise EngineUnsupportedError(f"{type(self.model).__name__} does not say its latent channels (attribute M)")
        return channels


def _tensors(module: nn.Module) -> List[Tensor]:
    """The parameters and buffers ``module`` holds itself (not its submodules'). Read from
    torch's registries directly: this runs on every engine call, and ``parameters(recurse=
    False)`` costs about ten times as much."""
    registries = (module._parameters.values(), module._buffers.values())
    return [tensor for registry in registries for tensor in registry if tensor is not None]


class _Watch:
    """What a built graph was read from: the modules (by the attribute path that found
    them) and, under them, every submodule and tensor. :meth:`current` is the per-call
    check: a handful of attribute reads and tensor version counters, no description."""

    def __init__(self, builder: _SpecBuilder) -> None:
        self.edges = list(builder.edges.values())
        self.modules = list(builder.read.values())
        # held so that a replaced module or tensor cannot be freed and its address reused
        self.held = self._held()
        self.key = self._key()

    def _held(self) -> List[Any]:
        held: List[Any] = []
        for module in self.modules:
            for sub in module.modules():
                held.append(sub)
                held += _tensors(sub)
        return held

    def _key(self) -> Tuple[Any, ...]:
        parts: List[Any] = [os.environ.get("NEURALCODEC_ENGINE_SCALAR", "")]
        for module in self.modules:
            for sub in module.modules():
                parts.append(id(sub))
                parts += tensor_versions(_tensors(sub))
        return tuple(parts)

    def same_modules(self) -> bool:
        """Whether every module is still where the description said."""
        return all(getattr(parent, part, None) is child for parent, part, child in self.edges)

    def current(self) -> bool:
        """Whether nothing the graph was built from changed."""
        return self.same_modules() and self._key() == self.key


class _Slot:
    """One coding graph of a model (one per variant, e.g. a variable-rate model's stage):
    its description, and the native graph with what it was built from."""

    def __init__(self, description: "ModelDescription") -> None:
        self.description = description
        self.native: Any = None
        self.watch: Optional[_Watch] = None


# The coding graphs per model, made on first use (held weakly, so a model can be collected,
# copied or pickled without them). _LOCK serialises making them: concurrent readers see a
# graph either whole or not yet.
_GRAPHS: "weakref.WeakKeyDictionary[nn.Module, Dict[Hashable, _Slot]]" = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()


def _describe(model: nn.Module, variant: Hashable) -> "ModelDescription":
    describe = getattr(model, "describe", None)
    if not callable(describe):
        raise EngineUnsupportedError(
            f"{type(model).__name__} has no hyperprior description for the engine; use coding_path='compat'"
        )
    return cast("ModelDescription", describe() if variant is None else describe(variant))


def _slot(model: nn.Module, description: Optional["ModelDescription"], variant: Hashable) -> _Slot:
    key: Hashable = variant if description is None else ("description", description)
    slots = _GRAPHS.get(model)
    slot = None if slots is None else slots.get(key)
    if slot is not None:
        return slot
    with _LOCK:
        slots = _GRAPHS.setdefault(model, {})
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = _Slot(description if description is not None else _describe(model, variant))
        return slot


def describe(model: nn.Module, variant: Hashable = None) -> "ModelDescription":
    """``model.describe()`` (``model.describe(variant)`` for a variant other than None),
    made once and kept with the model's coding graph: what the models read their hyper
    branch's modules from on every call. It is made again when a module the graph reads
    is replaced; after changing what the description depends on otherwise (e.g. a flag
    of the model), call :func:`forget`."""
    return _slot(model, None, variant).description


def forget(model: nn.Module) -> None:
    """Drops the descriptions and native graphs kept for ``model``: the next call
    describes and builds them again."""
    with _LOCK:
        _GRAPHS.pop(model, None)


def latent_graph(
    model: nn.Module, description: Optional["ModelDescription"] = None, variant: Hashable = None
) -> Any:
    """The native coding graph of ``model`` (a :class:`_core.LatentGraph`), built once from
    its description (:func:`describe`, or ``description`` when given) and rebuilt only
    when a module or tensor it reads changes (training steps, ``load_state_dict``,
    ``update()``, ``to()``; checked per call by tensor version counters).

    Raises:
        EngineUnsupportedError: the description holds something the engine cannot code
            (e.g. a spatial parameter network, an entropy bottleneck as ``y``'s codec).
        ValueError: ``update()`` has not built the tables.
    """
    slot = _slot(model, description, variant)
    watch = slot.watch
    if watch is not None and watch.current():
        return slot.native
    with _LOCK:
        watch = slot.watch
        if watch is not None and watch.current():
            return slot.native
        if watch is not None and description is None and not watch.same_modules():
            slot.description = _describe(model, variant)  # a module was replaced: describe it again
        builder = _SpecBuilder(model)
        native = build_graph(slot.description.engine_spec(builder), builder.recorder.tensors)
        slot.native, slot.watch = native, _Watch(builder)
        return native


def graph_spec(
    model: nn.Module, description: Optional["ModelDescription"] = None, variant: Hashable = None
) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """The model's coding graph as a spec and its arrays (:mod:`neuralcodec.graph_spec`):
    what :func:`latent_graph` builds the engine from and the export writes.

    Raises:
        EngineUnsupportedError: see :func:`latent_graph`.
        ValueError: ``update()`` has not built the tables.
    """
    builder = _SpecBuilder(model)
    spec = _slot(model, description, variant).description.engine_spec(builder)
    return spec, builder.recorder.tensors


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
    variant: Hashable = None,
) -> Tuple[List[bytes], Tensor]:
    """Codes ``y`` ``[B, M, H, W]`` (cast to float32) with the model's coding graph
    (:func:`latent_graph`: ``description``, default the model's own, of ``variant``)
    given the decoded side information ``z_hat`` ``[B, N, h, w]`` (the input of ``h_s``);
    for a gained model ``gain = (gain, inverse)``, ``[M]`` each. Returns one string per
    image and ``y_hat``, the latent the decoder reconstructs bit for bit, on ``y``'s
    device."""
    coded = _encode(model, y, z_hat, gain, threads, description, variant, latent=True)
    return [data for data, _ in coded], torch.stack([_chw(cast(np.ndarray, y_hat), y.device) for _, y_hat in coded])


def encode_graph(
    model: nn.Module,
    y: Tensor,
    z_hat: Tensor,
    gain: Optional[Tuple[Tensor, Tensor]] = None,
    threads: Optional[int] = None,
    description: Optional["ModelDescription"] = None,
    variant: Hashable = None,
) -> List[bytes]:
    """The strings of :func:`compress_graph` alone (what ``compress`` needs): the engine
    hands back no ``y_hat``, which on a large latent saves its copies."""
    return [data for data, _ in _encode(model, y, z_hat, gain, threads, description, variant, latent=False)]


def _encode(
    model: nn.Module,
    y: Tensor,
    z_hat: Tensor,
    gain: Optional[Tuple[Tensor, Tensor]],
    threads: Optional[int],
    description: Optional["ModelDescription"],
    variant: Hashable,
    latent: bool,
) -> List[Tuple[bytes, Optional[np.ndarray]]]:
    """``(string, y_hat HWC or None)`` per image, from the native graph."""
    native = latent_graph(model, description, variant)
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
    variant: Hashable = None,
) -> Tensor:
    """Decodes the strings of :func:`compress_graph`: ``y_hat`` float32 ``[B, M, H, W]``.

    Raises:
        StreamError: a string is truncated, corrupted or has trailing data.
    """
    native = latent_graph(model, description, variant)
    threads = threads or get_num_threads()
    y_hats = [
        _chw(native.decode(bytes(data), _hwc(z_i), threads=threads, **_gain_arrays(gain)), z_hat.device)
        for data, z_i in zip(strings, z_hat)
    ]
    return torch.stack(y_hats)
