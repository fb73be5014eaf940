"""The side-information ("hyper") branch of a hyperprior, with and without gains."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from torch import Tensor, nn

from neuralcodec.entropy_models import EntropyBottleneck
from neuralcodec.latent_codecs.base import LatentCodec, check_strings, child_prefix, network_prefix
from neuralcodec.latent_codecs.description import EntropyBottleneckNode, HyperNode
from neuralcodec.latent_codecs.gaussian_conditional import quantize_around
from neuralcodec.registry import register_module

__all__ = ["GainHyperLatentCodec", "HyperLatentCodec"]


@register_module("HyperLatentCodec")
class HyperLatentCodec(LatentCodec):
    """``z = h_a(y)``, coded with an entropy bottleneck; returns ``params = h_s(z_hat)``.

    The side information of Ballé et al., "Variational image compression with a scale
    hyperprior", ICLR 2018; use it as the ``"hyper"`` codec of a
    :class:`~neuralcodec.latent_codecs.HyperpriorLatentCodec`.

    Args:
        entropy_bottleneck: the density of ``z`` (required).
        h_a: hyper-analysis (default identity).
        h_s: hyper-synthesis (default identity).
        quantizer: ``"noise"`` or ``"ste"``: with ``"ste"``, ``forward`` feeds
            ``round(z - median) + median`` (straight-through) to ``h_s`` instead of the
            entropy bottleneck's (noisy, in training) output.

    State: ``entropy_bottleneck.*``, ``h_a.*``, ``h_s.*``. Strings: one list (``z``);
    ``shape``: ``(h, w)`` of ``z``.
    """

    def __init__(
        self,
        entropy_bottleneck: Optional[EntropyBottleneck] = None,
        h_a: Optional[nn.Module] = None,
        h_s: Optional[nn.Module] = None,
        quantizer: str = "noise",
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if entropy_bottleneck is None:
            raise ValueError(f"{type(self).__name__} needs an entropy_bottleneck")
        if quantizer not in ("noise", "ste"):
            raise ValueError(f'quantizer must be "noise" or "ste", got {quantizer!r}')
        self.entropy_bottleneck = entropy_bottleneck
        self.h_a = h_a or nn.Identity()
        self.h_s = h_s or nn.Identity()
        self.quantizer = quantizer

    def forward(self, y: Tensor) -> Dict[str, Any]:
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        if self.quantizer == "ste":
            z_hat = quantize_around(z, self.entropy_bottleneck._get_medians())
        return {"likelihoods": {"z": z_likelihoods}, "params": self.h_s(z_hat)}

    def compress(self, y: Tensor) -> Dict[str, Any]:
        z = self.h_a(y)
        shape = z.shape[-2:]
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, shape)
        return {"strings": [z_strings], "shape": shape, "params": self.h_s(z_hat)}

    def decompress(self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], **kwargs: Any) -> Dict[str, Any]:
        check_strings(strings, 1, type(self).__name__)
        z_hat = self.entropy_bottleneck.decompress(strings[0], shape)
        return {"params": self.h_s(z_hat)}

    def describe(self, prefix: str = "") -> HyperNode:
        return HyperNode(
            network_prefix(self.h_a, prefix, "h_a"),
            network_prefix(self.h_s, prefix, "h_s"),
            EntropyBottleneckNode(child_prefix(prefix, "entropy_bottleneck"), int(self.entropy_bottleneck.channels)),
            gain=False,
        )


@register_module("GainHyperLatentCodec")
class GainHyperLatentCodec(LatentCodec):
    """The hyper branch with gains (Cui et al., "Asymmetric gained deep image compression
    with continuous rate adaptation", CVPR 2021): ``z = h_a(y) * gain`` is coded, and
    ``params = h_s(z_hat * gain_inv)``. The gains (broadcastable to ``z``, e.g.
    ``[1, C, 1, 1]``) are given by the caller on every call.

    Args and state: as :class:`HyperLatentCodec` (without ``quantizer``).
    """

    def __init__(
        self,
        entropy_bottleneck: Optional[EntropyBottleneck] = None,
        h_a: Optional[nn.Module] = None,
        h_s: Optional[nn.Module] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if entropy_bottleneck is None:
            raise ValueError(f"{type(self).__name__} needs an entropy_bottleneck")
        self.entropy_bottleneck = entropy_bottleneck
        self.h_a = h_a or nn.Identity()
        self.h_s = h_s or nn.Identity()

    def forward(self, y: Tensor, gain: Tensor, gain_inv: Tensor) -> Dict[str, Any]:
        z = self.h_a(y) * gain
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        return {"likelihoods": {"z": z_likelihoods}, "params": self.h_s(z_hat * gain_inv)}

    def compress(self, y: Tensor, gain: Tensor, gain_inv: Tensor) -> Dict[str, Any]:
        z = self.h_a(y) * gain
        shape = z.shape[-2:]
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, shape)
        return {"strings": [z_strings], "shape": shape, "params": self.h_s(z_hat * gain_inv)}

    def decompress(
        self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], gain_inv: Tensor, **kwargs: Any
    ) -> Dict[str, Any]:
        check_strings(strings, 1, type(self).__name__)
        z_hat = self.entropy_bottleneck.decompress(strings[0], shape)
        return {"params": self.h_s(z_hat * gain_inv)}

    def describe(self, prefix: str = "") -> HyperNode:
        return HyperNode(
            network_prefix(self.h_a, prefix, "h_a"),
            network_prefix(self.h_s, prefix, "h_s"),
            EntropyBottleneckNode(child_prefix(prefix, "entropy_bottleneck"), int(self.entropy_bottleneck.channels)),
            gain=True,
        )
