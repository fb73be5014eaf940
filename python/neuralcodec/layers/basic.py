"""Small shape and bookkeeping layers, for building transforms as ``nn.Sequential`` s.

* :class:`Lambda`: any tensor function as a layer.
* :class:`NamedLayer`: the identity with a name (a marker inside a ``Sequential``).
* :class:`Reshape`, :class:`Transpose`: reshape (batch dimension kept) and swap two dimensions.
* :class:`Interleave`: channel shuffle between groups.
* :class:`Gain`: a learned per-element gain.

Names, constructor arguments and ``repr`` follow CompressAI's ``compressai.layers.basic``.
"""

from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn

__all__ = ["Gain", "Interleave", "Lambda", "NamedLayer", "Reshape", "Transpose"]


class Lambda(nn.Module):
    """Applies ``func`` to the input: ``Lambda(torch.tanh)(x) == torch.tanh(x)``.

    ``func`` is any callable from a tensor to a tensor; it holds no parameters of the
    module (a callable module passed here is not registered as a submodule).
    """

    def __init__(self, func: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.func = func

    def __repr__(self) -> str:
        return f"{type(self).__name__}(func={self.func})"

    def forward(self, x: Tensor) -> Tensor:
        return self.func(x)


class NamedLayer(nn.Module):
    """The identity, carrying ``name``: marks a point of a ``Sequential`` (e.g. where a
    feature is read with a forward hook)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name})"

    def forward(self, x: Tensor) -> Tensor:
        return x


class Reshape(nn.Module):
    """Reshapes ``[B, ...]`` to ``[B, *shape]`` (the batch dimension is kept).

    Raises:
        RuntimeError: the element counts do not match; the message names both shapes.
    """

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = shape

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape})"

    def forward(self, x: Tensor) -> Tensor:
        target = (x.shape[0], *self.shape)
        try:
            return x.reshape(target)
        except RuntimeError as error:
            error.args += (f"Cannot reshape input {tuple(x.shape)} to {target}",)
            raise


class Transpose(nn.Module):
    """Swaps dimensions ``dim0`` and ``dim1``; the result is contiguous."""

    def __init__(self, dim0: int, dim1: int) -> None:
        super().__init__()
        self.dim0 = dim0
        self.dim1 = dim1

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim0={self.dim0}, dim1={self.dim1})"

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(self.dim0, self.dim1).contiguous()


class Interleave(nn.Module):
    """Channel shuffle: ``[B, C, ...]`` read as ``groups`` groups of ``C / groups``
    channels, and written channel ``k`` of every group in turn (ShuffleNet's shuffle).

    With ``C = 6, groups = 2`` the channels ``0 1 2 | 3 4 5`` come out as ``0 3 1 4 2 5``.
    ``C`` must be divisible by ``groups``.
    """

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        batch, channels = x.shape[0], x.shape[1]
        grouped = x.reshape(batch, self.groups, channels // self.groups, *x.shape[2:])
        return grouped.transpose(1, 2).reshape(x.shape)


class Gain(nn.Module):
    """``factor * gain * x`` with a learned ``gain`` (parameter of ``shape``, initialised
    to ones; broadcast against ``x``) and a fixed float ``factor``."""

    def __init__(self, shape: Optional[Union[int, Sequence[int]]] = None, factor: float = 1.0) -> None:
        super().__init__()
        self.factor = factor
        self.gain = nn.Parameter(torch.ones(() if shape is None else shape))

    def forward(self, x: Tensor) -> Tensor:
        return self.factor * self.gain * x
