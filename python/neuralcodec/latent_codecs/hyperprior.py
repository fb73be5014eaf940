"""A latent coded with parameters from a side-information branch (hyperprior)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence

from torch import Tensor

from neuralcodec.latent_codecs.base import LatentCodec, child_prefix
from neuralcodec.latent_codecs.description import HyperNode, HyperpriorNode
from neuralcodec.registry import register_module

__all__ = ["GainHyperpriorLatentCodec", "HyperpriorLatentCodec"]


def _split_strings(strings: Sequence[Sequence[bytes]], owner: str) -> tuple:
    if not isinstance(strings, (list, tuple)) or len(strings) < 2:
        raise ValueError(f"{owner} needs the strings of y then of z (at least 2 lists)")
    *y_strings, z_strings = strings
    if any(len(group) != len(z_strings) for group in y_strings):
        raise ValueError(f"{owner}: every string list must hold one string per image")
    return list(y_strings), z_strings


def _hyper_node(codec: LatentCodec, prefix: str, owner: str) -> HyperNode:
    """``codec.describe(prefix)``, which for the hyper branch of a hyperprior is a :class:`HyperNode`."""
    node = codec.describe(prefix)
    if not isinstance(node, HyperNode):
        raise NotImplementedError(f"{owner} describes itself over a hyper latent codec only, got a {node.kind} node")
    return node


@register_module("HyperpriorLatentCodec")
class HyperpriorLatentCodec(LatentCodec):
    """Codes ``y`` with the codec ``latent_codec["y"]``, given the parameters that the
    side-information codec ``latent_codec["hyper"]`` (e.g. a
    :class:`~neuralcodec.latent_codecs.HyperLatentCodec`) derives from ``y``.

    The hyperprior of Ballé et al., ICLR 2018; with a Gaussian ``y`` codec it is their
    scale (or Minnen et al.'s mean-scale) hyperprior, with a raster-scan, checkerboard or
    channel-groups ``y`` codec the models of Minnen et al. 2018, He et al. 2021/2022.

    State: ``y.*`` and ``hyper.*`` (the two codecs are attributes ``y`` and ``hyper``;
    ``latent_codec`` is the plain mapping, as in CompressAI). ``compress`` returns
    ``strings = [*y strings, z]`` and ``shape = {"y": ..., "hyper": ...}``.
    """

    def __init__(self, latent_codec: Mapping[str, LatentCodec], **kwargs: Any) -> None:
        super().__init__()
        missing = {"y", "hyper"} - set(latent_codec)
        if missing:
            raise ValueError(f"{type(self).__name__} needs latent codecs 'y' and 'hyper'; missing {sorted(missing)}")
        self.y = latent_codec["y"]
        self.hyper = latent_codec["hyper"]
        self.latent_codec = {"y": self.y, "hyper": self.hyper}

    def __getitem__(self, key: str) -> LatentCodec:
        return self.latent_codec[key]

    def forward(self, y: Tensor) -> Dict[str, Any]:
        hyper_out = self.hyper(y)
        y_out = self.y(y, hyper_out["params"])
        likelihoods = {"y": y_out["likelihoods"]["y"], "z": hyper_out["likelihoods"]["z"]}
        return {"likelihoods": likelihoods, "y_hat": y_out["y_hat"]}

    def compress(self, y: Tensor) -> Dict[str, Any]:
        hyper_out = self.hyper.compress(y)
        y_out = self.y.compress(y, hyper_out["params"])
        return {
            "strings": [*y_out["strings"], *hyper_out["strings"]],
            "shape": {"y": y_out["shape"], "hyper": hyper_out["shape"]},
            "y_hat": y_out["y_hat"],
        }

    def decompress(self, strings: Sequence[Sequence[bytes]], shape: Mapping[str, Any], **kwargs: Any) -> Dict[str, Any]:
        y_strings, z_strings = _split_strings(strings, type(self).__name__)
        hyper_out = self.hyper.decompress([z_strings], shape["hyper"])
        return {"y_hat": self.y.decompress(y_strings, shape["y"], hyper_out["params"])["y_hat"]}

    def describe(self, prefix: str = "") -> HyperpriorNode:
        return HyperpriorNode(
            _hyper_node(self.hyper, child_prefix(prefix, "hyper"), type(self).__name__),
            self.y.describe(child_prefix(prefix, "y")),
            gain=False,
        )


@register_module("GainHyperpriorLatentCodec")
class GainHyperpriorLatentCodec(LatentCodec):
    """:class:`HyperpriorLatentCodec` with gains (Cui et al., "Asymmetric gained deep image
    compression with continuous rate adaptation", CVPR 2021): ``y * y_gain`` is coded and
    ``y_hat`` is the decoded value times ``y_gain_inv``; the ``"hyper"`` codec (a
    :class:`~neuralcodec.latent_codecs.GainHyperLatentCodec`) gets ``z_gain`` and
    ``z_gain_inv``. Gains broadcast to the latents (e.g. ``[1, C, 1, 1]``) and are given by
    the caller. State, strings and shape: as :class:`HyperpriorLatentCodec`.
    """

    def __init__(self, latent_codec: Mapping[str, LatentCodec], **kwargs: Any) -> None:
        super().__init__()
        missing = {"y", "hyper"} - set(latent_codec)
        if missing:
            raise ValueError(f"{type(self).__name__} needs latent codecs 'y' and 'hyper'; missing {sorted(missing)}")
        self.y = latent_codec["y"]
        self.hyper = latent_codec["hyper"]
        self.latent_codec = {"y": self.y, "hyper": self.hyper}

    def __getitem__(self, key: str) -> LatentCodec:
        return self.latent_codec[key]

    def forward(
        self, y: Tensor, y_gain: Tensor, z_gain: Tensor, y_gain_inv: Tensor, z_gain_inv: Tensor
    ) -> Dict[str, Any]:
        hyper_out = self.hyper(y, z_gain, z_gain_inv)
        y_out = self.y(y * y_gain, hyper_out["params"])
        likelihoods = {"y": y_out["likelihoods"]["y"], "z": hyper_out["likelihoods"]["z"]}
        return {"likelihoods": likelihoods, "y_hat": y_out["y_hat"] * y_gain_inv}

    def compress(
        self, y: Tensor, y_gain: Tensor, z_gain: Tensor, y_gain_inv: Tensor, z_gain_inv: Tensor
    ) -> Dict[str, Any]:
        hyper_out = self.hyper.compress(y, z_gain, z_gain_inv)
        y_out = self.y.compress(y * y_gain, hyper_out["params"])
        return {
            "strings": [*y_out["strings"], *hyper_out["strings"]],
            "shape": {"y": y_out["shape"], "hyper": hyper_out["shape"]},
            "y_hat": y_out["y_hat"] * y_gain_inv,
        }

    def decompress(
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Mapping[str, Any],
        y_gain_inv: Tensor,
        z_gain_inv: Tensor,
        **kwargs: Any,
    ) -> Dict[str, Any]:
        y_strings, z_strings = _split_strings(strings, type(self).__name__)
        hyper_out = self.hyper.decompress([z_strings], shape["hyper"], z_gain_inv)
        y_hat = self.y.decompress(y_strings, shape["y"], hyper_out["params"])["y_hat"]
        return {"y_hat": y_hat * y_gain_inv}

    def describe(self, prefix: str = "") -> HyperpriorNode:
        return HyperpriorNode(
            _hyper_node(self.hyper, child_prefix(prefix, "hyper"), type(self).__name__),
            self.y.describe(child_prefix(prefix, "y")),
            gain=True,
        )
