"""A latent coded with Gaussians whose parameters come from the parent codec."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from torch import Tensor, nn

from neuralcodec.entropy_models import GaussianConditional
from neuralcodec.entropy_models.entropy_models import ScaleTable
from neuralcodec.latent_codecs.base import LatentCodec, check_strings, child_prefix, network_prefix
from neuralcodec.latent_codecs.description import GaussianConditionalNode
from neuralcodec.ops import quantize_ste
from neuralcodec.registry import register_module

__all__ = ["GaussianConditionalLatentCodec", "quantize_around"]

_CHUNKS = (("scales", "means"), ("means", "scales"), ("scales",), ("means",))
_QUANTIZERS = ("noise", "ste")


def quantize_around(y: Tensor, means: Optional[Tensor]) -> Tensor:
    """``round(y - means) + means`` with a straight-through gradient (``means`` may be None)."""
    if means is None:
        return quantize_ste(y)
    return quantize_ste(y - means) + means


@register_module("GaussianConditionalLatentCodec")
class GaussianConditionalLatentCodec(LatentCodec):
    """Codes ``y`` with a Gaussian per element (Ballé et al., ICLR 2018; with means as in
    Minnen et al., NeurIPS 2018): ``entropy_parameters(ctx_params)`` is split along
    channels into the scales and means of ``y``.

    Args:
        scale_table: scales of the CDF table (default: none until ``update()``).
        gaussian_conditional: the entropy model; default ``GaussianConditional(scale_table,
            **kwargs)``.
        entropy_parameters: network applied to ``ctx_params`` (default identity).
        quantizer: ``"noise"``: ``forward`` returns the noisy (training) or rounded values
            of the entropy model; ``"ste"``: it returns ``round(y - means) + means`` with a
            straight-through gradient.
        chunks: order of the halves of the parameters, ``("scales", "means")`` (default),
            ``("means", "scales")``, or one of them alone.

    Shapes: ``y`` ``[N, C, H, W]``, ``ctx_params`` whatever ``entropy_parameters`` maps to
    ``[N, 2C, H, W]`` (``[N, C, H, W]`` for one chunk). State: ``gaussian_conditional.*``,
    ``entropy_parameters.*``. Strings: one list; ``shape``: ``(H, W)``.
    """

    def __init__(
        self,
        scale_table: Optional[ScaleTable] = None,
        gaussian_conditional: Optional[GaussianConditional] = None,
        entropy_parameters: Optional[nn.Module] = None,
        quantizer: str = "noise",
        chunks: Tuple[str, ...] = ("scales", "means"),
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if quantizer not in _QUANTIZERS:
            raise ValueError(f"quantizer must be one of {_QUANTIZERS}, got {quantizer!r}")
        if tuple(chunks) not in _CHUNKS:
            raise ValueError(f"chunks must be one of {_CHUNKS}, got {tuple(chunks)!r}")
        self.quantizer = quantizer
        self.gaussian_conditional = gaussian_conditional or GaussianConditional(scale_table, **kwargs)
        self.entropy_parameters = entropy_parameters or nn.Identity()
        self.chunks = tuple(chunks)

    def _chunk(self, params: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """``(scales, means)`` from the parameters (either may be ``None``)."""
        if self.chunks == ("scales",):
            return params, None
        if self.chunks == ("means",):
            return None, params
        first, second = params.chunk(2, 1)
        return (first, second) if self.chunks == ("scales", "means") else (second, first)

    def _scales_means(self, ctx_params: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        scales, means = self._chunk(self.entropy_parameters(ctx_params))
        if scales is None:
            raise ValueError("coding needs scales: chunks=('means',) only suits a codec that supplies them")
        return scales, means

    def forward(self, y: Tensor, ctx_params: Tensor) -> Dict[str, Any]:
        scales, means = self._chunk(self.entropy_parameters(ctx_params))
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
        if self.quantizer == "ste":
            y_hat = quantize_around(y, means)
        return {"likelihoods": {"y": y_likelihoods}, "y_hat": y_hat}

    def compress(self, y: Tensor, ctx_params: Tensor) -> Dict[str, Any]:
        scales, means = self._scales_means(ctx_params)
        indexes = self.gaussian_conditional.build_indexes(scales)
        y_strings = self.gaussian_conditional.compress(y, indexes, means)
        # What the decoder gets back: the coded integers plus the means (no need to decode).
        y_hat = self.gaussian_conditional.quantize(y, "dequantize", means)
        return {"strings": [y_strings], "shape": y.shape[2:4], "y_hat": y_hat}

    def decompress(
        self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], ctx_params: Tensor, **kwargs: Any
    ) -> Dict[str, Any]:
        check_strings(strings, 1, type(self).__name__)
        scales, means = self._scales_means(ctx_params)
        if tuple(scales.shape[2:4]) != tuple(int(s) for s in shape):
            raise ValueError(f"the parameters are {tuple(scales.shape[2:4])} but shape is {tuple(shape)}")
        indexes = self.gaussian_conditional.build_indexes(scales)
        y_hat = self.gaussian_conditional.decompress(strings[0], indexes, scales.dtype, means)
        return {"y_hat": y_hat}

    def describe(self, prefix: str = "") -> GaussianConditionalNode:
        return GaussianConditionalNode(
            child_prefix(prefix, "gaussian_conditional"),
            network_prefix(self.entropy_parameters, prefix, "entropy_parameters"),
            self.chunks,
        )
