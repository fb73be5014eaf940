"""Small functional helpers: straight-through rounding and stride padding."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ["compute_padding", "quantize_ste"]


def quantize_ste(x: Tensor) -> Tensor:
    """Rounds ``x`` to the nearest integer (ties to even, as :func:`torch.round`) in the
    forward pass, and behaves as the identity in the backward pass.

    This straight-through estimator (Theis et al. 2017, "Lossy image compression with
    compressive autoencoders") lets a model train through the hard quantisation it uses at
    test time; e.g. Minnen et al. 2018 feed rounded latents to the synthesis transform.

    Args:
        x: any shape and floating dtype.

    Returns:
        ``round(x)``, same shape and dtype, with ``d out / d x = 1``.

    Example::

        >>> import torch
        >>> from neuralcodec.ops import quantize_ste
        >>> x = torch.tensor([0.4, 1.5, 2.5, -0.6], requires_grad=True)
        >>> y = quantize_ste(x)
        >>> y.detach()
        tensor([ 0.,  2.,  2., -1.])
        >>> y.sum().backward()
        >>> x.grad
        tensor([1., 1., 1., 1.])
    """
    return x + (torch.round(x) - x).detach()


def compute_padding(
    in_h: int,
    in_w: int,
    *,
    out_h: Optional[int] = None,
    out_w: Optional[int] = None,
    min_div: int = 1,
) -> Tuple[Tuple[int, int, int, int], Tuple[int, int, int, int]]:
    """Padding that centres an ``in_h x in_w`` image in an ``out_h x out_w`` canvas.

    Models with a total stride ``s`` (64 for the Cheng2020 and Minnen models) need input
    sizes divisible by ``s``; by default the output size is the input size rounded up to
    a multiple of ``min_div``.

    Args:
        in_h, in_w: input height and width in pixels.
        out_h, out_w: target size; default: rounded up to a multiple of ``min_div``.
        min_div: the required divisor.

    Returns:
        ``(pad, unpad)``: ``pad = (left, right, top, bottom)`` for
        :func:`torch.nn.functional.pad`, and ``unpad``, its negation, which crops back.

    Raises:
        ValueError: the target size is not a multiple of ``min_div``. (A target smaller
            than the input gives negative padding, i.e. a crop.)

    Example (a 100x150 image for a model of stride 64 is centred in 128x192)::

        >>> from neuralcodec.ops import compute_padding
        >>> pad, unpad = compute_padding(100, 150, min_div=64)
        >>> pad                     # left, right, top, bottom
        (21, 21, 14, 14)
        >>> unpad
        (-21, -21, -14, -14)
    """
    if min_div < 1:
        raise ValueError(f"min_div must be >= 1, got {min_div}")
    if out_h is None:
        out_h = -(-in_h // min_div) * min_div
    if out_w is None:
        out_w = -(-in_w // min_div) * min_div
    if out_h % min_div or out_w % min_div:
        raise ValueError(
            f"padded size {out_h}x{out_w} is not divisible by min_div={min_div}"
        )
    left = (out_w - in_w) // 2
    top = (out_h - in_h) // 2
    right = out_w - in_w - left
    bottom = out_h - in_h - top
    pad = (left, right, top, bottom)
    unpad = (-left, -right, -top, -bottom)
    return pad, unpad
