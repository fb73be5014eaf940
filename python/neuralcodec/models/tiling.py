"""Running the analysis and synthesis transforms on overlapping tiles, in bounded memory.

A 12-megapixel photo through ``g_a`` holds several gigabytes of activations at once (the
first layers have ``N`` channels at half the image size). Convolutional transforms are
local, so the output over a tile needs only the input over that tile plus a margin (the
*halo*) that covers the receptive field; computing the transform tile by tile and keeping
only each tile's own output gives the whole-image result up to float rounding (a
convolution may sum in another order on another size), with memory set by the tile size.

:func:`footprint` works out a transform's scale and receptive-field radius from its
modules (``nn.Sequential`` compositions of convolutions, transposed convolutions, pixel
shuffles, pointwise layers such as GDN and activations, and the residual blocks of
:mod:`neuralcodec.layers`); a module it cannot analyse makes it return ``None``, and the
callers then run the transform on the whole image as before. A module may also declare
its own footprint with a ``tiling_footprint()`` method returning a :class:`Footprint`.

:func:`tiled_analysis` and :func:`tiled_synthesis` split the *output's* grid into tiles
whose input windows start on the transform's stride grid, so every tile sees exactly the
samples, and the zero padding at the image border, that the whole-image pass sees.

The image itself never needs to exist in float: the analysis cuts each window out of the
input as it is (8-bit pixels, say), replicating its edges by clamped indices, and the
caller's ``transform`` converts the window; the synthesis crops each tile's output to the
image and can hand it to a ``finish`` function (e.g. rounding to 8 bits) before writing it
into an output of the finished type.
"""

from __future__ import annotations

import ctypes
import functools
import math
import sys
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Tuple, cast

import torch
from torch import Tensor, nn

from neuralcodec.layers import GDN
from neuralcodec.layers.layers import ResidualBlockUpsample, ResidualBlockWithStride
from neuralcodec.ops import compute_padding
from neuralcodec.settings import DEFAULT_TILE_SIZE

__all__ = [
    "Footprint",
    "analysis_halo",
    "footprint",
    "return_freed_memory",
    "synthesis_halo",
    "tiled_analysis",
    "tiled_synthesis",
]

_POINTWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.PReLU, GDN)


@dataclass(frozen=True)
class Footprint:
    """How a transform maps positions: ``scale`` input pixels per output pixel (2 for a
    stride-2 convolution, 1/2 for a 2x upsampling), and ``radius``, the distance in
    input pixels beyond an output pixel's own position that can reach it (an upper
    bound)."""

    scale: float
    radius: float

    def then(self, other: "Footprint") -> "Footprint":
        """This footprint followed by ``other``."""
        return Footprint(self.scale * other.scale, self.radius + other.radius * self.scale)


def _conv(module: nn.Conv2d) -> Optional[Footprint]:
    kernel, stride, dilation = module.kernel_size, module.stride, module.dilation
    padding = module.padding
    if isinstance(padding, str) or len(set(kernel)) != 1 or len(set(stride)) != 1 or len(set(dilation)) != 1:
        return None
    k, s, d = kernel[0], stride[0], dilation[0]
    if set(padding) != {d * (k - 1) // 2}:  # "same" padding only: the output grid is the input's / s
        return None
    # Output j reads inputs s*j - p .. s*j - p + d*(k - 1): an even kernel reaches one further right.
    p = padding[0]
    return Footprint(float(s), float(max(p, d * (k - 1) - p)))


def _conv_transpose(module: nn.ConvTranspose2d) -> Optional[Footprint]:
    kernel, stride = module.kernel_size, module.stride
    if len(set(kernel)) != 1 or len(set(stride)) != 1 or set(module.dilation) != {1}:
        return None
    k, s = kernel[0], stride[0]
    p = k // 2
    if set(module.padding) != {p} or set(module.output_padding) != {s - 1}:
        return None  # not the "multiply the size by s exactly" configuration
    # Output o takes the inputs i with 0 <= o + p - i*s <= k - 1: within (k - 1 - p) / s
    # below and p / s above its own position o / s.
    return Footprint(1.0 / s, max(k - 1 - p, p) / s)


def _leaves(module: nn.Module) -> Iterator[nn.Module]:
    children = list(module.children())
    if not children:
        yield module
    for child in children:
        yield from _leaves(child)


def footprint(module: nn.Module) -> Optional[Footprint]:
    """The :class:`Footprint` of ``module``, or ``None`` when it cannot be bounded."""
    declared = getattr(module, "tiling_footprint", None)
    if callable(declared):
        return declared()
    if isinstance(module, nn.Sequential):
        total = Footprint(1.0, 0.0)
        for child in module:
            part = footprint(child)
            if part is None:
                return None
            total = total.then(part)
        return total
    if isinstance(module, nn.Conv2d):
        return _conv(module)
    if isinstance(module, nn.ConvTranspose2d):
        return _conv_transpose(module)
    if isinstance(module, nn.PixelShuffle):
        return Footprint(1.0 / module.upscale_factor, 1.0)
    if isinstance(module, _POINTWISE):
        return Footprint(1.0, 0.0)
    if isinstance(module, ResidualBlockWithStride):  # the skip (a strided 1x1 or identity) reaches less
        return footprint(nn.Sequential(module.conv1, module.conv2))
    if isinstance(module, ResidualBlockUpsample):  # the skip is the main path's first layer
        return footprint(nn.Sequential(module.subpel_conv, module.conv))
    # Any other block: bounded when every leaf keeps the resolution; branches in parallel
    # or in series, the sum of the leaves' radii bounds the block's.
    radius = 0.0
    for leaf in _leaves(module):
        part = footprint(leaf) if leaf is not module else None
        if part is None or part.scale != 1.0:
            return None
        radius += part.radius
    return Footprint(1.0, radius)


def analysis_halo(shape: Footprint) -> Tuple[int, int]:
    """The latent positions a downsampling transform's tile must read beyond its own on
    each side, ``(before, after)``: output ``o`` reads input pixels ``s*o - r .. s*o + r``
    (``s = shape.scale``, ``r = shape.radius``); the tile's window starts on the stride grid
    at ``s*(o0 - before) <= s*o0 - r`` and ends past ``s*(o1 - 1) + r``."""
    scale, radius = shape.scale, shape.radius
    return math.ceil(radius / scale), max(0, math.ceil((radius + 1 - scale) / scale))


def synthesis_halo(shape: Footprint) -> Tuple[int, int]:
    """The latent positions an upsampling transform's tile must read beyond its own on each
    side, ``(before, after)``: output pixel ``P`` (at latent position ``P / S``, ``S = 1 /
    shape.scale``) reads the latents within ``R = shape.radius`` of it, so the tile's pixels
    ``S*o0 .. S*o1 - 1`` read the latents ``o0 - R .. o1 - 1/S + R``."""
    upscale, radius = 1.0 / shape.scale, shape.radius
    return math.floor(radius), math.floor(radius - 1.0 / upscale) + 1


def _windows(size: int, tile: int, halo: Tuple[int, int]) -> Iterator[Tuple[int, int, int, int]]:
    """Tiles ``[o0, o1)`` of a latent grid of ``size``, each with its window ``[i0, i1)``
    (``halo = (before, after)`` more on each side, clipped to the grid)."""
    for start in range(0, size, tile):
        stop = min(size, start + tile)
        yield start, stop, max(0, start - halo[0]), min(size, stop + halo[1])


def _tiled(
    transform: Callable[[Tensor], Tensor],
    x: Tensor,
    scale: int,
    tile_out: int,
    halo_out: Tuple[int, int],
    upsample: bool,
    progress: Optional[Callable[[int, int], None]] = None,
    padding: Tuple[int, int, int, int] = (0, 0, 0, 0),
    crop: Optional[Tuple[int, int, int, int]] = None,
    finish: Optional[Callable[[Tensor], Tensor]] = None,
    channels_last: bool = False,
) -> Tensor:
    """The loop of both directions: ``scale`` is the transform's stride (image pixels per
    latent position); tiles and halos (before, after) are counted in latent positions. ``padding``
    (left, right, top, bottom; analysis only) pads ``x`` by edge replication, window by
    window, without a padded copy of the image. Synthesis only: ``crop`` (top, left,
    height, width) keeps that part of the output, ``finish`` maps each kept piece before
    it is written, and ``channels_last`` allocates the result in that layout."""
    left_pad, right_pad, top_pad, bottom_pad = padding
    batch, _, height, width = x.shape
    height, width = height + top_pad + bottom_pad, width + left_pad + right_pad
    coarse_h, coarse_w = (height, width) if upsample else (height // scale, width // scale)
    out_h, out_w = (height * scale, width * scale) if upsample else (coarse_h, coarse_w)
    crop_top, crop_left, out_h, out_w = crop if crop is not None else (0, 0, out_h, out_w)
    output: Optional[Tensor] = None
    layout = torch.channels_last if channels_last else torch.contiguous_format
    rows = list(_windows(coarse_h, tile_out, halo_out))
    columns = list(_windows(coarse_w, tile_out, halo_out))
    done, total = 0, len(rows) * len(columns)
    for o_top, o_bottom, i_top, i_bottom in rows:
        for o_left, o_right, i_left, i_right in columns:
            if upsample:
                # The tile's output rows/columns, in the cropped image's coordinates.
                t0, t1 = max(0, o_top * scale - crop_top), min(out_h, o_bottom * scale - crop_top)
                l0, l1 = max(0, o_left * scale - crop_left), min(out_w, o_right * scale - crop_left)
                if t0 < t1 and l0 < l1:  # else the tile lies in the cropped-off padding
                    piece = transform(x[:, :, i_top:i_bottom, i_left:i_right])
                    top, left = t0 + crop_top - i_top * scale, l0 + crop_left - i_left * scale
                    piece = piece[:, :, top : top + t1 - t0, left : left + l1 - l0]
                    if finish is not None:
                        piece = finish(piece)
                    if output is None:
                        output = torch.empty((batch, piece.shape[1], out_h, out_w), dtype=piece.dtype,
                                             device=piece.device, memory_format=layout)
                    output[:, :, t0:t1, l0:l1] = piece
                    del piece
            else:
                if any(padding):  # replicate padding = clamped source indices
                    rows_at = (torch.arange(i_top * scale, i_bottom * scale) - top_pad).clamp_(0, x.shape[-2] - 1)
                    cols_at = (torch.arange(i_left * scale, i_right * scale) - left_pad).clamp_(0, x.shape[-1] - 1)
                    window = x.index_select(-2, rows_at.to(x.device)).index_select(-1, cols_at.to(x.device))
                else:
                    window = x[:, :, i_top * scale : i_bottom * scale, i_left * scale : i_right * scale]
                piece = transform(window)
                del window
                top, left = o_top - i_top, o_left - i_left
                piece = piece[:, :, top : top + o_bottom - o_top, left : left + o_right - o_left]
                if output is None:
                    output = piece.new_empty(batch, piece.shape[1], out_h, out_w)
                output[:, :, o_top:o_bottom, o_left:o_right] = piece
                del piece
            done += 1
            if progress is not None:
                progress(done, total)
    assert output is not None
    if total > 1:
        return_freed_memory()
    return output


def return_freed_memory() -> None:
    """Hands the heap memory a tile loop freed back to the operating system. glibc keeps
    freed blocks for reuse (about 200 MB after the analysis of a 48-megapixel photo),
    which would add to what the whole-latent coding that follows holds; ``malloc_trim(0)``
    returns them. Does nothing where the C library has no ``malloc_trim``."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Optional[Callable[[int], int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return cast(Callable[[int], int], ctypes.CDLL("libc.so.6").malloc_trim)
    except (OSError, AttributeError):
        return None


def tiled_analysis(
    g_a: nn.Module,
    x: Tensor,
    tile: int = DEFAULT_TILE_SIZE,
    transform: Optional[Callable[[Tensor], Tensor]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    padding: Tuple[int, int, int, int] = (0, 0, 0, 0),
) -> Optional[Tensor]:
    """``g_a(x)`` computed over tiles of ``tile`` image pixels, or ``None`` when ``g_a``'s
    footprint cannot be bounded (then call ``g_a`` on the whole image).

    Args:
        g_a: a downsampling transform (integer scale ``s``, e.g. 16).
        x: ``[B, C, H, W]`` of any dtype ``transform`` takes (e.g. uint8 pixels, with a
            ``transform`` that converts each window); with ``padding`` its padded size
            must be a multiple of ``s``.
        tile: output tile side in image pixels (rounded to a multiple of ``s``).
        transform: what to run on each window (default ``g_a``; e.g. a channels-last
            wrapper).
        progress: called with ``(tiles done, tiles)`` after each tile.
        padding: ``(left, right, top, bottom)`` pixels of edge replication around ``x``
            (the model's centred padding), applied per window: the image is never copied
            whole.
    """
    shape = footprint(g_a)
    if shape is None or shape.scale < 1 or shape.scale != int(shape.scale):
        return None
    scale = int(shape.scale)
    padded = (x.shape[-2] + padding[2] + padding[3], x.shape[-1] + padding[0] + padding[1])
    if padded[0] % scale or padded[1] % scale:
        raise ValueError(f"tiled_analysis needs sizes that are multiples of {scale}, got {padded}")
    return _tiled(transform or g_a, x, scale, max(1, tile // scale), analysis_halo(shape), upsample=False,
                  progress=progress, padding=padding)


def tiled_synthesis(
    g_s: nn.Module,
    y_hat: Tensor,
    tile: int = DEFAULT_TILE_SIZE,
    transform: Optional[Callable[[Tensor], Tensor]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    x_size: Optional[Tuple[int, int]] = None,
    finish: Optional[Callable[[Tensor], Tensor]] = None,
    channels_last: bool = False,
) -> Optional[Tensor]:
    """``g_s(y_hat)`` computed over tiles of ``tile`` image pixels, or ``None`` when
    ``g_s``'s footprint cannot be bounded. Arguments as in :func:`tiled_analysis`;
    ``y_hat`` is ``[B, M, h, w]`` and the result ``[B, 3, s*h, s*w]``, or:

    Args:
        x_size: ``(H, W)``: keep only the image inside the output's padding, centred
            as :func:`~neuralcodec.ops.compute_padding` places it: the result is then
            ``[B, 3, H, W]``, and tiles wholly in the padding are not synthesized.
        finish: applied to each tile's kept output before it is written (e.g. clamping
            and rounding to uint8); the result takes its dtype.
        channels_last: allocate the result channels-last (for 3 channels, the ``[H, W,
            3]`` layout of image files); default: contiguous.
    """
    shape = footprint(g_s)
    if shape is None or shape.scale > 1 or (1 / shape.scale) != int(round(1 / shape.scale)):
        return None
    scale = int(round(1 / shape.scale))
    crop = None
    if x_size is not None:
        height, width = int(x_size[0]), int(x_size[1])
        full_h, full_w = y_hat.shape[-2] * scale, y_hat.shape[-1] * scale
        if not (0 < height <= full_h and 0 < width <= full_w):
            raise ValueError(f"x_size {tuple(x_size)} does not fit in the output of {(full_h, full_w)}")
        left, _, top, _ = compute_padding(height, width, out_h=full_h, out_w=full_w)[0]
        crop = (top, left, height, width)
    return _tiled(transform or g_s, y_hat, scale, max(1, tile // scale), synthesis_halo(shape), upsample=True,
                  progress=progress, crop=crop, finish=finish, channels_last=channels_last)
