"""The Rust decode engine: bit-exact entropy parameters on every machine.

The quantities that decide how each latent symbol is coded — the hyper-synthesis output
``h_s(z_hat)`` (scales, and means where the model has them), the masked context
convolution and entropy-parameter network of the autoregressive models, and the
``scale -> CDF row`` rule — are computed by a Rust engine whose result is a pure function
of the weights and the decoded symbols: float32 in one fixed order per output, no fused
multiply-add, no transcendental functions (see ``docs/determinism.md``). Encoder and
decoder therefore agree on every machine, every thread count, with or without SIMD, and
whatever PyTorch does on the encoder's side (float64, CUDA, other BLAS).

For mbt2018 and Cheng2020 the whole autoregressive loop runs in Rust (context
convolution, entropy parameters, index, rANS decoding, update of ``y_hat``) with the GIL
released, in wavefront order (``docs/bitstream.md``, "The engine's latent order").

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

from neuralcodec import _core, settings
from neuralcodec.layers import MaskedConv2d
from neuralcodec.ops.versions import tensor_versions

if TYPE_CHECKING:
    from neuralcodec.entropy_models import GaussianConditional

__all__ = [
    "EngineUnsupportedError",
    "compress_latent",
    "decompress_latent",
    "engine_for",
    "export_into",
    "entropy_parameters",
    "get_num_threads",
    "hyper_parameters",
    "scale_indexes",
    "set_num_threads",
]


class EngineUnsupportedError(TypeError):
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
    """Appends ``module`` (a Sequential of convolutions, transposed convolutions and
    activations, as ``h_s`` is) to the native ``network``, layer by layer.

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


def _network(module: nn.Module) -> Any:
    network = _core.EngineNetwork()
    export_into(network, module)
    return network


# The modules of the models the engine runs, typed (``nn.Module.__getattr__`` says ``Tensor | Module``).
def _h_s(model: nn.Module) -> nn.Module:
    return cast(nn.Module, model.h_s)


def _gaussian_conditional(model: nn.Module) -> "GaussianConditional":
    return cast("GaussianConditional", model.gaussian_conditional)


def _context_prediction(model: nn.Module) -> MaskedConv2d:
    return cast(MaskedConv2d, model.context_prediction)


def _entropy_parameters(model: nn.Module) -> nn.Sequential:
    return cast(nn.Sequential, model.entropy_parameters)


def _tracked_tensors(model: nn.Module) -> List[Tensor]:
    modules: List[nn.Module] = [_h_s(model), _gaussian_conditional(model)]
    if hasattr(model, "context_prediction"):
        modules += [_context_prediction(model), _entropy_parameters(model)]
    tensors: List[Tensor] = []
    for module in modules:
        tensors += list(module.parameters()) + list(module.buffers())
    return tensors


def _build(model: nn.Module) -> Any:
    gc = _gaussian_conditional(model)
    if gc.scale_table.numel() == 0:
        raise ValueError(
            f"{type(model).__name__} has no scale table yet: call update() before compress() or decompress()"
        )
    kwargs: Dict[str, Any] = {}
    if hasattr(model, "context_prediction"):
        context = _context_prediction(model)
        kernel = _pair(context.kernel_size, "kernel", context)
        if (
            getattr(context, "mask_type", "A") != "A"
            or _pair(context.stride, "stride", context) != 1
            or _pair(context.padding, "padding", context) != kernel // 2
            or kernel % 2 == 0
        ):
            raise EngineUnsupportedError("the engine needs a mask-A context model, odd kernel, stride 1, 'same' padding")
        _check_conv(context)
        entropy = list(_entropy_parameters(model))
        first = entropy[0]
        if not isinstance(first, nn.Conv2d) or _pair(first.kernel_size, "kernel", first) != 1:
            raise EngineUnsupportedError("the entropy parameters must start with a 1x1 convolution")
        rest = _core.EngineNetwork()
        for module in entropy[1:]:
            export_into(rest, module)
        kwargs = dict(
            context_weight=_f32(context.weight * context.mask),
            context_bias=_bias(context),
            entropy_weight=_f32(first.weight),
            entropy_bias=_bias(first),
            entropy_rest=rest,
            params_channels=first.in_channels - context.out_channels,
        )
    return _core.Engine(
        _network(_h_s(model)),
        _f32(gc.scale_table),
        float(gc.lower_bound_scale.bound.detach().cpu().float().reshape(-1)[0]),
        threads=1,
        **kwargs,
    )


# Engines per model, keyed on every tensor they were built from (tensor_versions, and the
# scalar switch), with those tensors (so the key cannot be matched by new tensors at the
# same addresses); held weakly so a model can be collected or deep-copied.
_CACHE: "weakref.WeakKeyDictionary[nn.Module, Tuple[Tuple[Any, ...], Any, List[Tensor]]]" = weakref.WeakKeyDictionary()


def engine_for(model: nn.Module) -> Any:
    """The native engine of ``model`` (built, or rebuilt after any weight change)."""
    tensors = _tracked_tensors(model)
    key = tensor_versions(tensors) + (os.environ.get("NEURALCODEC_ENGINE_SCALAR", ""),)
    cached = _CACHE.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    built = _build(model)
    _CACHE[model] = (key, built, tensors)
    return built


# ---------------------------------------------------------------------------- helpers


def _hwc(tensor: Tensor) -> np.ndarray:
    """``[C, H, W]`` tensor -> C-contiguous float32 ``[H, W, C]`` numpy array."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).permute(1, 2, 0).numpy())


def _chw(array: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).contiguous().to(device)


def _params_hwc(model: nn.Module, z_hat: Tensor, threads: Optional[int]) -> List[np.ndarray]:
    native = engine_for(model)
    threads = threads or get_num_threads()
    return [native.hyper(_hwc(z), threads) for z in z_hat]


def hyper_parameters(model: nn.Module, z_hat: Tensor, threads: Optional[int] = None) -> Tensor:
    """``h_s(z_hat)`` computed by the engine: float32 ``[B, C, 4h, 4w]`` on ``z_hat``'s device."""
    return torch.stack([_chw(p, z_hat.device) for p in _params_hwc(model, z_hat, threads)])


def scale_indexes(model: nn.Module, scales: Tensor) -> Tensor:
    """The CDF row of every scale (any shape) by the engine's rule: int32, same shape."""
    native = engine_for(model)
    values = np.ascontiguousarray(scales.detach().to("cpu", torch.float32).numpy())
    return torch.from_numpy(native.indexes(values)).to(scales.device)


def entropy_parameters(
    model: nn.Module, params: Tensor, y_hat: Tensor, threads: Optional[int] = None
) -> Tuple[Tensor, Tensor]:
    """Scales and means ``[B, M, H, W]`` of a known latent ``y_hat`` given the hyper
    parameters ``params`` (autoregressive models), exactly as the coding loop sees them."""
    native = engine_for(model)
    threads = threads or get_num_threads()
    out = torch.stack(
        [_chw(native.entropy_parameters(_hwc(p), _hwc(y), threads), y_hat.device) for p, y in zip(params, y_hat)]
    )
    scales, means = out.chunk(2, 1)
    return scales, means


def compress_latent(
    model: nn.Module, y: Tensor, z_hat: Tensor, threads: Optional[int] = None
) -> Tuple[List[bytes], Tensor]:
    """Autoregressive encoding of ``y`` ``[B, M, H, W]`` (cast to float32) given the
    decoded side information ``z_hat``; returns one string per image and ``y_hat``, the
    latent the decoder will reconstruct (bit for bit)."""
    native = engine_for(model)
    threads = threads or get_num_threads()
    table = _gaussian_conditional(model)._cdf_table().native
    strings: List[bytes] = []
    y_hats = []
    for y_i, params in zip(y, _params_hwc(model, z_hat, threads)):
        data, y_hat = native.encode(_hwc(y_i), params, table, threads)
        strings.append(data)
        y_hats.append(_chw(y_hat, y.device))
    return strings, torch.stack(y_hats)


def decompress_latent(
    model: nn.Module, strings: Sequence[bytes], z_hat: Tensor, threads: Optional[int] = None
) -> Tensor:
    """Decodes the strings of :func:`compress_latent`: ``y_hat`` float32 ``[B, M, 4h, 4w]``.

    Raises:
        StreamError: a string is truncated, corrupted or has trailing data.
    """
    native = engine_for(model)
    threads = threads or get_num_threads()
    table = _gaussian_conditional(model)._cdf_table().native
    y_hats = []
    for data, params in zip(strings, _params_hwc(model, z_hat, threads)):
        y_hats.append(_chw(native.decode(bytes(data), params, table, threads), z_hat.device))
    return torch.stack(y_hats)
