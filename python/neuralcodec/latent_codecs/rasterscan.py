"""Autoregressive coding in raster-scan order with a masked-convolution context."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.ans import BufferedRansEncoder, CdfTable, RansDecoder
from neuralcodec.entropy_models import GaussianConditional
from neuralcodec.latent_codecs.base import LatentCodec, check_strings, child_prefix
from neuralcodec.latent_codecs.description import RasterScanNode
from neuralcodec.registry import register_module

__all__ = ["RasterScanLatentCodec"]


@register_module("RasterScanLatentCodec")
class RasterScanLatentCodec(LatentCodec):
    """Codes ``y`` position by position in raster order; each position's Gaussian comes
    from the parent's parameters and a masked convolution over the positions before it.

    The context model of Minnen, Ballé, Toderici, "Joint autoregressive and hierarchical
    priors for learned image compression", NeurIPS 2018 (after the PixelCNN of van den
    Oord et al. 2016): ``entropy_parameters(cat(params, context_prediction(y_hat)))``,
    split into scales and means. ``entropy_parameters`` must be pointwise (1x1
    convolutions and activations).

    Args:
        gaussian_conditional: the entropy model (default ``GaussianConditional()``).
        entropy_parameters: the parameter network (default identity).
        context_prediction: a :class:`~neuralcodec.layers.MaskedConv2d` with odd square
            kernel and ``padding = kernel_size // 2`` (required).

    State: ``gaussian_conditional.*``, ``entropy_parameters.*``,
    ``context_prediction.{weight,bias,mask}``. Strings: one list; ``shape``: ``(H, W)``.
    The loop runs in PyTorch here, as slow as CompressAI's (every position costs a few
    small convolutions); this is the byte-compatible (compat) path.
    """

    def __init__(
        self,
        gaussian_conditional: Optional[GaussianConditional] = None,
        entropy_parameters: Optional[nn.Module] = None,
        context_prediction: Optional[nn.Conv2d] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if context_prediction is None:
            raise ValueError(f"{type(self).__name__} needs a context_prediction (a MaskedConv2d)")
        kernel = tuple(context_prediction.kernel_size)
        if len(set(kernel)) != 1 or kernel[0] % 2 != 1:
            raise ValueError(f"context_prediction needs an odd square kernel, got {kernel}")
        self.gaussian_conditional = gaussian_conditional or GaussianConditional()
        self.entropy_parameters = entropy_parameters or nn.Identity()
        self.context_prediction = context_prediction
        self.kernel_size = int(kernel[0])
        self.padding = (self.kernel_size - 1) // 2

    @staticmethod
    def merge(*args: Tensor) -> Tensor:
        return torch.cat(args, dim=1)

    def forward(self, y: Tensor, params: Tensor) -> Dict[str, Any]:
        y_hat = self.gaussian_conditional.quantize(y, "noise" if self.training else "dequantize")
        gaussian_params = self.entropy_parameters(self.merge(params, self.context_prediction(y_hat)))
        scales, means = gaussian_params.chunk(2, 1)
        _, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
        return {"likelihoods": {"y": y_likelihoods}, "y_hat": y_hat}

    # ------------------------------------------------------------------ coding loop
    def _masked_weight(self) -> Tensor:
        mask = getattr(self.context_prediction, "mask", None)
        weight = self.context_prediction.weight
        return weight if mask is None else weight * mask

    def _position(
        self, y_hat: Tensor, params: Tensor, h: int, w: int, weight: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """(window of the padded ``y_hat`` at (h, w), CDF rows ``[1, C]``, means ``[1, C]``)."""
        k = self.kernel_size
        window = y_hat[:, :, h : h + k, w : w + k]
        context = F.conv2d(window, weight, self.context_prediction.bias)
        gaussian_params = self.entropy_parameters(self.merge(params[:, :, h : h + 1, w : w + 1], context))
        scales, means = gaussian_params.squeeze(3).squeeze(2).chunk(2, 1)
        return window, self.gaussian_conditional.build_indexes(scales), means

    def compress(self, y: Tensor, ctx_params: Tensor) -> Dict[str, Any]:
        table = self.gaussian_conditional.cdf_table()
        strings, y_hats = [], []
        with torch.no_grad():
            weight = self._masked_weight()
            for i in range(y.size(0)):
                string, y_hat = self._compress_one(y[i : i + 1], ctx_params[i : i + 1], table, weight)
                strings.append(string)
                y_hats.append(y_hat)
        return {"strings": [strings], "shape": y.shape[2:4], "y_hat": torch.cat(y_hats)}

    def _compress_one(self, y: Tensor, params: Tensor, table: CdfTable, weight: Tensor) -> Tuple[bytes, Tensor]:
        p = self.padding
        height, width = y.shape[-2:]
        y_hat = F.pad(y, (p, p, p, p))
        symbols, indexes = [], []
        for h in range(height):
            for w in range(width):
                window, rows, means = self._position(y_hat, params, h, w, weight)
                values = self.gaussian_conditional.quantize(window[:, :, p, p], "symbols", means)
                y_hat[:, :, h + p, w + p] = values + means
                symbols.append(values.reshape(-1))
                indexes.append(rows.reshape(-1))
        encoder = BufferedRansEncoder()
        if symbols:
            encoder.encode_with_indexes(torch.cat(symbols).cpu().numpy(), torch.cat(indexes).cpu().numpy(), table)
        return encoder.flush(), F.pad(y_hat, (-p, -p, -p, -p))

    def decompress(
        self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], ctx_params: Tensor, **kwargs: Any
    ) -> Dict[str, Any]:
        batch = check_strings(strings, 1, type(self).__name__)
        if batch != ctx_params.size(0):
            raise ValueError(f"got {batch} strings for parameters of batch {ctx_params.size(0)}")
        height, width = (int(s) for s in shape)
        table = self.gaussian_conditional.cdf_table()
        p = self.padding
        channels = self.context_prediction.in_channels
        y_hat = torch.zeros((batch, channels, height + 2 * p, width + 2 * p), device=ctx_params.device)
        with torch.no_grad():
            weight = self._masked_weight()
            for i, string in enumerate(strings[0]):
                self._decompress_one(string, y_hat[i : i + 1], ctx_params[i : i + 1], table, weight)
        return {"y_hat": F.pad(y_hat, (-p, -p, -p, -p))}

    def _decompress_one(self, string: bytes, y_hat: Tensor, params: Tensor, table: CdfTable, weight: Tensor) -> None:
        p = self.padding
        height, width = y_hat.shape[-2] - 2 * p, y_hat.shape[-1] - 2 * p
        decoder = RansDecoder()
        decoder.set_stream(string)
        for h in range(height):
            for w in range(width):
                _, rows, means = self._position(y_hat, params, h, w, weight)
                values = decoder.decode_stream(rows.reshape(-1).cpu().numpy().astype(np.int32), table)
                symbols = torch.from_numpy(values).to(y_hat.device).reshape(1, -1)
                y_hat[:, :, h + p, w + p] = self.gaussian_conditional.dequantize(symbols, means)
        decoder.finish()

    def describe(self, prefix: str = "") -> RasterScanNode:
        return RasterScanNode(
            child_prefix(prefix, "gaussian_conditional"),
            child_prefix(prefix, "entropy_parameters"),
            child_prefix(prefix, "context_prediction"),
            self.kernel_size,
        )
