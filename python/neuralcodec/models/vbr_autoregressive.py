"""mbt2018-vbr's autoregressive loop on the compat path, in PyTorch, in raster order.

:class:`~neuralcodec.models.vbr.JointAutoregressiveHierarchicalPriorsVbr` codes ``y``
position by position: the masked 5x5 context of the positions already decoded, plus the
gain's context term ``scale_to_context(gain)``, plus the hyper-decoder's output give the
Gaussian parameters at each position; with ``ste_recursive`` the offset reconstruction
(:mod:`neuralcodec.models.quant_offsets`) of each position is the context of the later
ones. The strings are CompressAI's byte for byte. The engine path (the default) runs the
same loop in Rust instead (:mod:`neuralcodec.engine`).

Shapes: ``y_hat`` is the padded latent ``[1, M, H + 2p, W + 2p]`` (``p = kernel_size // 2``),
filled in place; ``params`` the hyper-decoder's output ``[1, 2M, H, W]``.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.ans import BufferedRansEncoder, CdfTable, RansDecoder
from neuralcodec.entropy_models import GaussianConditional
from neuralcodec.models.quant_offsets import reconstruct

__all__ = ["GainedContext", "compress_raster", "decompress_raster"]


@dataclasses.dataclass(frozen=True)
class GainedContext:
    """The entropy parameters of ``y`` at one position, for one gain.

    Attributes:
        kernel_size: the context kernel's size ``k`` (5).
        weight: the context kernel with its causal mask applied ``[2M, M, k, k]``.
        bias: the context convolution's bias ``[2M]`` (or None).
        entropy_parameters: the network from ``[hyper params, context]`` to ``[scales, means]``.
        context_term: the gain's context term ``[1, 2M, 1, 1]`` added to the context's
            output (None: none, stage 1 or ``scl2ctx=False``).
        gaussian_conditional: the conditional that codes ``y`` (its tables, indexes, bound).
        offsets: the ``QuantABCD`` network of the reconstruction offsets.
    """

    kernel_size: int
    weight: Tensor
    bias: Optional[Tensor]
    entropy_parameters: nn.Module
    context_term: Optional[Tensor]
    gaussian_conditional: GaussianConditional
    offsets: nn.Module

    def parameters_at(self, y_crop: Tensor, params: Tensor, h: int, w: int) -> Tuple[Tensor, Tensor]:
        """Scales and means ``[1, M]`` at (h, w) from the ``k x k`` window ``y_crop`` and the gain's context term."""
        ctx_p = F.conv2d(y_crop, self.weight, bias=self.bias)
        if self.context_term is not None:
            ctx_p = ctx_p + self.context_term
        p = params[:, :, h : h + 1, w : w + 1]
        gaussian_params = self.entropy_parameters(torch.cat((p, ctx_p), dim=1)).squeeze(3).squeeze(2)
        scales_hat, means_hat = gaussian_params.chunk(2, 1)
        return scales_hat, means_hat

    def reconstruct(
        self, q_abs: Tensor, signs: Tensor, scales: Tensor, scale: Tensor, means: Optional[Tensor]
    ) -> Tensor:
        """The offset reconstruction of the symbols (:func:`~neuralcodec.models.quant_offsets.reconstruct`)
        for the gain-scaled scales ``scales`` (lower-bounded here)."""
        stdev = self.gaussian_conditional.lower_bound_scale(scales)
        return reconstruct(self.offsets, q_abs, signs, stdev, scale, means)


def compress_raster(
    context: GainedContext,
    y_hat: Tensor,
    params: Tensor,
    height: int,
    width: int,
    table: CdfTable,
    scale: Tensor,
    stage: int,
    offsets: bool,
) -> bytes:
    """One image's string of ``y`` (``y_hat`` holds ``y``, padded, and gets the decoder's
    reconstruction in place). ``offsets``: stage 2 reconstructs with the offsets (the
    context of later positions), else with ``q / gain + mean``."""
    k = context.kernel_size
    padding = k // 2
    gc = context.gaussian_conditional
    encoder = BufferedRansEncoder()
    rescale = 1.0 / scale
    for h in range(height):
        for w in range(width):
            y_crop = y_hat[:, :, h : h + k, w : w + k]
            scales_hat, means_hat = context.parameters_at(y_crop, params, h, w)
            # CompressAI scales the indexes by the gain in both stages.
            indexes = gc.build_indexes(scales_hat * scale)
            centre = y_crop[:, :, padding, padding]
            if stage == 1:
                y_q = gc.quantize(centre, "symbols", means_hat)
                y_hat[:, :, h + padding, w + padding] = y_q + means_hat
            elif not offsets:
                y_q = gc.quantize((centre - means_hat) * scale, "symbols")
                y_hat[:, :, h + padding, w + padding] = y_q * rescale + means_hat
            else:
                scaled = (centre - means_hat) * scale
                signs = torch.sign(scaled)
                q_abs = torch.round(torch.abs(scaled))
                y_q = (signs * q_abs).int()
                y_hat[:, :, h + padding, w + padding] = context.reconstruct(
                    q_abs, signs, scales_hat * scale, scale, means_hat
                )
            encoder.encode_with_indexes(y_q.reshape(-1), indexes.reshape(-1), table)
    return encoder.flush()


def decompress_raster(
    context: GainedContext,
    y_string: bytes,
    y_hat: Tensor,
    y_rec: Optional[Tensor],
    params: Tensor,
    height: int,
    width: int,
    table: CdfTable,
    scale: Tensor,
    stage: int,
    offsets: bool,
) -> None:
    """Decodes one image's string of ``y`` into ``y_hat`` (padded, zeros) in place.
    ``offsets``: stage 2 reconstructs with the offsets; then with ``y_rec`` (same shape)
    the context ``y_hat`` gets ``q / gain + mean`` and ``y_rec`` the offset reconstruction
    (``ste_recursive=False``), else ``y_hat`` gets the offset reconstruction."""
    k = context.kernel_size
    padding = k // 2
    gc = context.gaussian_conditional
    decoder = RansDecoder()
    decoder.set_stream(y_string)
    rescale = 1.0 / scale
    for h in range(height):
        for w in range(width):
            y_crop = y_hat[:, :, h : h + k, w : w + k]
            scales_hat, means_hat = context.parameters_at(y_crop, params, h, w)
            indexes = gc.build_indexes(scales_hat * scale)
            values = decoder.decode_stream(indexes.reshape(-1), table)
            symbols = torch.from_numpy(values).to(y_hat.device).reshape(1, -1)
            hp, wp = h + padding, w + padding
            if stage == 1:
                y_hat[:, :, hp, wp] = gc.dequantize(symbols, means_hat)
            elif not offsets:
                y_hat[:, :, hp, wp] = gc.dequantize(symbols) * rescale + means_hat
            else:
                q_val = gc.dequantize(symbols)
                rv_out = context.reconstruct(q_val.abs(), torch.sign(q_val), scales_hat * scale, scale, means_hat)
                if y_rec is not None:  # context without offsets, reconstruction with
                    y_hat[:, :, hp, wp] = gc.dequantize(symbols) * rescale + means_hat
                    y_rec[:, :, hp, wp] = rv_out
                else:
                    y_hat[:, :, hp, wp] = rv_out
    decoder.finish()
