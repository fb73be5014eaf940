"""Helpers for building and loading models, with CompressAI's names (``compressai.models.utils``).

* :func:`conv`, :func:`deconv`: the strided 5x5 convolutions of the Ballé/Minnen transforms.
* :func:`find_named_module`, :func:`find_named_buffer`: look a submodule or buffer up by
  its dotted name.
* :func:`update_registered_buffers`: resize a module's buffers to the sizes a state_dict
  holds them in (the CDF tables have data-dependent sizes), before loading it.
* :func:`remap_old_keys`: the entropy bottleneck's old parameter names to the current ones.
* :func:`gaussian_kernel1d`, :func:`gaussian_kernel2d`, :func:`gaussian_blur`,
  :func:`meshgrid2d`: the blur and sampling grid of scale-space flow (video models).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "KEY_MAP",
    "conv",
    "deconv",
    "find_named_buffer",
    "find_named_module",
    "gaussian_blur",
    "gaussian_kernel1d",
    "gaussian_kernel2d",
    "meshgrid2d",
    "remap_old_keys",
    "update_registered_buffers",
]

#: Old entropy-bottleneck parameter prefix -> the current parameter list's name.
KEY_MAP: Dict[str, str] = {"_bias": "biases", "_matrix": "matrices", "_factor": "factors"}
_OLD_KEY = re.compile(r"^(_bias|_matrix|_factor)(\d+)$")


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """Strided convolution with 'same' padding: divides ``H, W`` by ``stride`` (rounding up)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies ``H, W`` by ``stride`` exactly."""
    return nn.ConvTranspose2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        output_padding=stride - 1,
        padding=kernel_size // 2,
    )


def find_named_module(module: nn.Module, query: str) -> Optional[nn.Module]:
    """The submodule of ``module`` named ``query`` (dotted, as in ``named_modules()``; ``""``
    is ``module`` itself), or None."""
    return next((m for name, m in module.named_modules() if name == query), None)


def find_named_buffer(module: nn.Module, query: str) -> Optional[Tensor]:
    """The buffer of ``module`` named ``query`` (dotted, as in ``named_buffers()``), or None."""
    return next((b for name, b in module.named_buffers() if name == query), None)


def _update_registered_buffer(
    module: nn.Module,
    buffer_name: str,
    state_dict_key: str,
    state_dict: Mapping[str, Tensor],
    policy: str = "resize_if_empty",
    dtype: torch.dtype = torch.int,
) -> None:
    """Resizes (or registers) one buffer to the size of ``state_dict[state_dict_key]``;
    see :func:`update_registered_buffers` for ``policy``.

    Raises:
        RuntimeError: ``resize``/``resize_if_empty`` of a buffer that is not registered,
            or ``register`` of one that is.
        ValueError: an unknown policy.
    """
    size = state_dict[state_dict_key].size()
    buffer = find_named_buffer(module, buffer_name)
    if policy in ("resize_if_empty", "resize"):
        if buffer is None:
            raise RuntimeError(f'buffer "{buffer_name}" was not registered')
        if policy == "resize" or buffer.numel() == 0:
            buffer.resize_(size)
    elif policy == "register":
        if buffer is not None:
            raise RuntimeError(f'buffer "{buffer_name}" was already registered')
        module.register_buffer(buffer_name, torch.zeros(size, dtype=dtype))
    else:
        raise ValueError(f'Invalid policy "{policy}"; use "resize_if_empty", "resize" or "register"')


def update_registered_buffers(
    module: nn.Module,
    module_name: str,
    buffer_names: Sequence[str],
    state_dict: Mapping[str, Tensor],
    policy: str = "resize_if_empty",
    dtype: torch.dtype = torch.int,
) -> None:
    """Gives ``module``'s buffers ``buffer_names`` the sizes of ``state_dict``'s
    ``"{module_name}.{buffer}"`` entries, so that ``load_state_dict`` can then copy them
    (torch only copies into a buffer of the same size).

    Args:
        module: the module owning the buffers.
        module_name: its name (prefix) in ``state_dict``.
        buffer_names: the buffers to resize.
        state_dict: the state_dict about to be loaded.
        policy: ``"resize_if_empty"`` (resize buffers with no elements yet), ``"resize"``
            (always) or ``"register"`` (register new zero buffers of ``dtype``).
        dtype: the dtype of buffers registered with ``policy="register"``.

    Raises:
        ValueError: a name in ``buffer_names`` is not a buffer of ``module``; an unknown policy.
        RuntimeError: see :func:`_update_registered_buffer`.
    """
    known = {name for name, _ in module.named_buffers()}
    for name in buffer_names:
        if name not in known:
            raise ValueError(f'Invalid buffer name "{name}"')
    for name in buffer_names:
        _update_registered_buffer(module, name, f"{module_name}.{name}", state_dict, policy, dtype)


def remap_old_keys(module_name: str, state_dict: Mapping[str, Tensor]) -> "OrderedDict[str, Tensor]":
    """``state_dict`` with the old parameter names of the entropy bottleneck ``module_name``
    (``_bias0``, ``_matrix1``, ``_factor2``, ...) renamed to the current ones (``biases.0``,
    ``matrices.1``, ``factors.2``); other keys unchanged, order kept."""
    prefix = f"{module_name}."
    remapped: "OrderedDict[str, Tensor]" = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(prefix):
            match = _OLD_KEY.match(key[len(prefix) :])
            if match:
                key = f"{prefix}{KEY_MAP[match.group(1)]}.{match.group(2)}"
        remapped[key] = value
    return remapped


def gaussian_kernel1d(kernel_size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A normalised 1-D Gaussian of standard deviation ``sigma`` sampled at ``kernel_size``
    points centred on 0, shape ``[kernel_size]``."""
    half = (kernel_size - 1) / 2.0
    x = torch.linspace(-half, half, steps=kernel_size, dtype=dtype, device=device)
    density = torch.exp(-0.5 * (x / sigma) ** 2)
    return density / density.sum()


def gaussian_kernel2d(kernel_size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> Tensor:
    """The separable 2-D Gaussian, ``[kernel_size, kernel_size]``, summing to 1."""
    kernel = gaussian_kernel1d(kernel_size, sigma, device, dtype)
    return torch.outer(kernel, kernel)


def gaussian_blur(
    x: Tensor, kernel: Optional[Tensor] = None, kernel_size: Optional[int] = None, sigma: Optional[float] = None
) -> Tensor:
    """Blurs each channel of ``x`` (``[N, C, H, W]``) with ``kernel`` (``[k, k]``) or, if
    none, a Gaussian of ``kernel_size`` and ``sigma``; edges replicated, same size out.

    Raises:
        RuntimeError: neither ``kernel`` nor both ``kernel_size`` and ``sigma`` are given.
    """
    if kernel is None:
        if kernel_size is None or sigma is None:
            raise RuntimeError("gaussian_blur needs a kernel, or kernel_size and sigma")
        dtype = x.dtype if torch.is_floating_point(x) else torch.float32
        kernel = gaussian_kernel2d(kernel_size, sigma, x.device, dtype)
    pad = kernel.size(0) // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    channels = x.size(1)
    weight = kernel.expand(channels, 1, kernel.size(0), kernel.size(1))
    return F.conv2d(padded, weight, groups=channels)


def meshgrid2d(N: int, C: int, H: int, W: int, device: torch.device) -> Tensor:
    """The identity sampling grid of :func:`torch.nn.functional.grid_sample` for an
    ``[N, C, H, W]`` input: ``[N, H, W, 2]`` coordinates in ``[-1, 1]`` (pixel centres)."""
    theta = torch.eye(2, 3, device=device).unsqueeze(0).expand(N, 2, 3)
    size: Tuple[int, int, int, int] = (N, C, H, W)
    return F.affine_grid(theta, list(size), align_corners=False)
