"""A latent coded with a factorized (per-channel) learned density."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from torch import Tensor

from neuralcodec.entropy_models import EntropyBottleneck
from neuralcodec.latent_codecs.base import LatentCodec, check_strings, child_prefix
from neuralcodec.latent_codecs.description import EntropyBottleneckNode
from neuralcodec.registry import register_module

__all__ = ["EntropyBottleneckLatentCodec"]


@register_module("EntropyBottleneckLatentCodec")
class EntropyBottleneckLatentCodec(LatentCodec):
    """Codes ``y`` (``[N, C, H, W]``) with an entropy bottleneck, the factorized prior of
    Ballé et al., "Variational image compression with a scale hyperprior", ICLR 2018.

    Args:
        entropy_bottleneck: the density model; default ``EntropyBottleneck(**kwargs)``
            (so ``channels=C`` must then be given).

    State: ``entropy_bottleneck.*``. Strings: one list, ``shape``: ``(H, W)``.
    """

    def __init__(self, entropy_bottleneck: Optional[EntropyBottleneck] = None, **kwargs: Any) -> None:
        super().__init__()
        self.entropy_bottleneck = entropy_bottleneck or EntropyBottleneck(**kwargs)

    def forward(self, y: Tensor) -> Dict[str, Any]:
        y_hat, y_likelihoods = self.entropy_bottleneck(y)
        return {"likelihoods": {"y": y_likelihoods}, "y_hat": y_hat}

    def compress(self, y: Tensor) -> Dict[str, Any]:
        shape = y.shape[-2:]
        y_strings = self.entropy_bottleneck.compress(y)
        y_hat = self.entropy_bottleneck.decompress(y_strings, shape)
        return {"strings": [y_strings], "shape": shape, "y_hat": y_hat}

    def decompress(self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], **kwargs: Any) -> Dict[str, Any]:
        check_strings(strings, 1, type(self).__name__)
        return {"y_hat": self.entropy_bottleneck.decompress(strings[0], shape)}

    def describe(self, prefix: str = "") -> EntropyBottleneckNode:
        return EntropyBottleneckNode(
            child_prefix(prefix, "entropy_bottleneck"), int(self.entropy_bottleneck.channels)
        )
