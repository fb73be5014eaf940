"""The two-pass checkerboard context model."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from neuralcodec.latent_codecs.base import LatentCodec, check_strings, child_prefix
from neuralcodec.latent_codecs.description import CheckerboardNode, GaussianConditionalNode
from neuralcodec.latent_codecs.gaussian_conditional import GaussianConditionalLatentCodec, quantize_around
from neuralcodec.registry import register_module

__all__ = ["CheckerboardLatentCodec", "checkerboard_embed", "checkerboard_unembed"]

_PARITIES = ("even", "odd")
_FORWARD_METHODS = ("onepass", "twopass", "twopass_faster")


def _colour_slices(parity: str) -> Tuple[Tuple[slice, slice], Tuple[slice, slice]]:
    """(even rows' column slice, odd rows' column slice) of the positions of one colour:
    ``"even"`` is ``(row + column)`` even."""
    start_even_rows = 0 if parity == "even" else 1
    return (slice(0, None, 2), slice(start_even_rows, None, 2)), (slice(1, None, 2), slice(1 - start_even_rows, None, 2))


def checkerboard_unembed(y: Tensor, anchor_parity: str = "even") -> Tensor:
    """``[N, C, H, W]`` -> ``[2, N, C, H, W/2]``: the anchors (index 0) and the other
    positions (1), each row keeping its positions of that colour in order. ``W`` even."""
    n, c, h, w = y.shape
    if w % 2:
        raise ValueError(f"the checkerboard needs an even latent width, got {w}")
    halves = y.new_zeros((2, n, c, h, w // 2))
    for i, parity in enumerate((anchor_parity, _other(anchor_parity))):
        for rows, columns in _colour_slices(parity):
            halves[i, ..., rows, :] = y[..., rows, columns]
    return halves


def checkerboard_embed(halves: Tensor, anchor_parity: str = "even") -> Tensor:
    """The inverse of :func:`checkerboard_unembed`: ``[2, N, C, H, W/2]`` -> ``[N, C, H, W]``."""
    two, n, c, h, half = halves.shape
    if two != 2:
        raise ValueError(f"expected [2, N, C, H, W/2], got {tuple(halves.shape)}")
    y = halves.new_zeros((n, c, h, 2 * half))
    for i, parity in enumerate((anchor_parity, _other(anchor_parity))):
        for rows, columns in _colour_slices(parity):
            y[..., rows, columns] = halves[i, ..., rows, :]
    return y


def _other(parity: str) -> str:
    return "odd" if parity == "even" else "even"


@register_module("CheckerboardLatentCodec")
class CheckerboardLatentCodec(LatentCodec):
    """Codes ``y`` in two passes over a checkerboard (He et al., "Checkerboard context
    model for efficient learned image compression", CVPR 2021).

    The *anchors* (positions with ``(row + column)`` of parity ``anchor_parity``) are
    coded first from the parent's parameters alone; the other half then also sees
    ``context_prediction`` (a :class:`~neuralcodec.layers.CheckerboardMaskedConv2d`) over
    the decoded anchors. The Gaussian parameters are ``entropy_parameters(cat(context,
    side_params))`` with a zero context for the anchors; ``entropy_parameters`` must be
    pointwise. Decoding takes two network passes instead of one per position.

    Args:
        latent_codec: ``{"y": codec}`` coding each pass (default
            ``GaussianConditionalLatentCodec(quantizer="ste")``).
        entropy_parameters: the parameter network (default identity).
        context_prediction: the context convolution (default identity).
        anchor_parity: ``"even"`` or ``"odd"``.
        forward_method: how ``forward`` estimates the rate: ``"twopass"`` (default: the
            anchors' ``y_hat`` is rounded around their predicted means, straight-through,
            before it feeds the context, as in decoding), ``"twopass_faster"`` (the same
            with fewer operations), or ``"onepass"`` (one network pass on noisy or rounded
            ``y``).

    Shapes: ``y`` ``[N, C, H, W]`` with ``W`` even, ``side_params`` ``[N, P, H, W]``.
    State: ``entropy_parameters.*``, ``context_prediction.*``, ``y.*``. ``compress``
    returns two string lists (anchors, then the others) and ``shape`` ``(C, H, W)``.
    """

    def __init__(
        self,
        latent_codec: Optional[Mapping[str, LatentCodec]] = None,
        entropy_parameters: Optional[nn.Module] = None,
        context_prediction: Optional[nn.Module] = None,
        anchor_parity: str = "even",
        forward_method: str = "twopass",
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if anchor_parity not in _PARITIES:
            raise ValueError(f"anchor_parity must be one of {_PARITIES}, got {anchor_parity!r}")
        if forward_method not in _FORWARD_METHODS:
            raise ValueError(f"forward_method must be one of {_FORWARD_METHODS}, got {forward_method!r}")
        self.anchor_parity = anchor_parity
        self.non_anchor_parity = _other(anchor_parity)
        self.forward_method = forward_method
        self.entropy_parameters = entropy_parameters or nn.Identity()
        self.context_prediction = context_prediction or nn.Identity()
        codecs = dict(latent_codec or {})
        self.y = codecs.get("y") or GaussianConditionalLatentCodec(quantizer="ste")
        self.latent_codec = {"y": self.y}

    def __getitem__(self, key: str) -> LatentCodec:
        return self.latent_codec[key]

    # ------------------------------------------------------------------ helpers
    def unembed(self, y: Tensor) -> Tensor:
        """See :func:`checkerboard_unembed`."""
        return checkerboard_unembed(y, self.anchor_parity)

    def embed(self, halves: Tensor) -> Tensor:
        """See :func:`checkerboard_embed`."""
        return checkerboard_embed(halves, self.anchor_parity)

    def merge(self, *args: Tensor) -> Tensor:
        return torch.cat(args, dim=1)

    def _keep_only(self, y: Tensor, step: str) -> Tensor:
        """A copy of ``y`` with the positions of the other step set to 0."""
        parity = self.anchor_parity if step == "anchor" else self.non_anchor_parity
        kept = torch.zeros_like(y)
        for rows, columns in _colour_slices(parity):
            kept[..., rows, columns] = y[..., rows, columns]
        return kept

    def _context_channels(self, y: Tensor) -> int:
        channels = getattr(self.context_prediction, "out_channels", None)
        if channels is None:
            with torch.no_grad():
                channels = self.context_prediction(y[:1, :, :1, :1]).size(1)
        return int(channels)

    def _zero_context(self, like: Tensor, channels: int) -> Tensor:
        return like.new_zeros((like.size(0), channels, *like.shape[2:]))

    def _means(self, params: Tensor) -> Optional[Tensor]:
        chunk = getattr(self.y, "_chunk", None)
        return chunk(params)[1] if chunk is not None else params.chunk(2, 1)[1]

    # ------------------------------------------------------------------ forward
    def forward(self, y: Tensor, side_params: Tensor) -> Dict[str, Any]:
        if self.forward_method == "onepass":
            return self._forward_onepass(y, side_params)
        if self.forward_method == "twopass_faster":
            return self._forward_twopass_faster(y, side_params)
        return self._forward_twopass(y, side_params)

    def _forward_onepass(self, y: Tensor, side_params: Tensor) -> Dict[str, Any]:
        if self.training:
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        else:
            y_hat = torch.round(y)
        context = self._keep_only(self.context_prediction(y_hat), "non_anchor")
        params = self.entropy_parameters(self.merge(context, side_params))
        y_out = self.y(y, params)
        return {"likelihoods": {"y": y_out["likelihoods"]["y"]}, "y_hat": y_hat}

    def _forward_twopass(self, y: Tensor, side_params: Tensor) -> Dict[str, Any]:
        zero = self._zero_context(y, self._context_channels(y))
        anchor_params = self.entropy_parameters(self.merge(zero, side_params))
        anchors_hat = self._step_values(y, anchor_params, "anchor")
        other_params = self.entropy_parameters(self.merge(self.context_prediction(anchors_hat), side_params))
        others_hat = self._step_values(y, other_params, "non_anchor")
        params = self._keep_only(anchor_params, "anchor") + self._keep_only(other_params, "non_anchor")
        y_out = self.y(y, params)
        return {"likelihoods": {"y": y_out["likelihoods"]["y"]}, "y_hat": anchors_hat + others_hat}

    def _step_values(self, y: Tensor, params: Tensor, step: str) -> Tensor:
        """``round(y - mean) + mean`` (straight-through) at the positions of ``step``, 0 elsewhere."""
        means = self._means(self._keep_only(params, step))
        return self._keep_only(quantize_around(self._keep_only(y, step), means), step)

    def _forward_twopass_faster(self, y: Tensor, side_params: Tensor) -> Dict[str, Any]:
        zero = self._zero_context(y, self._context_channels(y))
        anchor_params = self.entropy_parameters(self.merge(zero, side_params))
        anchors_hat = self._keep_only(quantize_around(y, self._means(anchor_params)), "anchor")
        context = self._keep_only(self.context_prediction(anchors_hat), "non_anchor")
        params = self.entropy_parameters(self.merge(context, side_params))
        y_out = self.y(y, params)
        y_hat = self._keep_only(y_out["y_hat"], "non_anchor") + anchors_hat
        return {"likelihoods": {"y": y_out["likelihoods"]["y"]}, "y_hat": y_hat}

    # ------------------------------------------------------------------ coding
    def _pass_params(self, halves_hat: Tensor, side_halves: Tensor, i: int, context_channels: int) -> Tensor:
        """Parameters of pass ``i`` (0: anchors, zero context; 1: context over the anchors)."""
        if i == 0:
            context = self._zero_context(side_halves[0], context_channels)
        else:
            context = self.unembed(self.context_prediction(self.embed(halves_hat)))[1]
        return self.entropy_parameters(self.merge(context, side_halves[i]))

    def compress(self, y: Tensor, side_params: Tensor) -> Dict[str, Any]:
        n, c, h, w = y.shape
        halves_hat = side_params.new_zeros((2, n, c, h, w // 2))
        side_halves = self.unembed(side_params)
        y_halves = self.unembed(y)
        channels = self._context_channels(y)
        strings: List[List[bytes]] = []
        for i in range(2):
            params = self._pass_params(halves_hat, side_halves, i, channels)
            y_out = self.y.compress(y_halves[i], params)
            halves_hat[i] = y_out["y_hat"]
            strings.extend(y_out["strings"])
        y_hat = self.embed(halves_hat)
        return {"strings": strings, "shape": y_hat.shape[1:], "y_hat": y_hat}

    def decompress(
        self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], side_params: Tensor, **kwargs: Any
    ) -> Dict[str, Any]:
        n = check_strings(strings, 2, type(self).__name__)
        c, h, w = (int(s) for s in shape)
        halves_hat = side_params.new_zeros((2, n, c, h, w // 2))
        side_halves = self.unembed(side_params)
        channels = self._context_channels(halves_hat[0])
        for i in range(2):
            params = self._pass_params(halves_hat, side_halves, i, channels)
            halves_hat[i] = self.y.decompress([strings[i]], (h, w // 2), params)["y_hat"]
        return {"y_hat": self.embed(halves_hat)}

    def describe(self, prefix: str = "") -> CheckerboardNode:
        node = self.y.describe(child_prefix(prefix, "y"))
        if not isinstance(node, GaussianConditionalNode):  # the only node of kind "gaussian_conditional"
            raise NotImplementedError("a checkerboard describes itself over a Gaussian conditional only")
        return CheckerboardNode(
            self.anchor_parity,
            child_prefix(prefix, "context_prediction"),
            int(getattr(self.context_prediction, "out_channels", 0)),
            child_prefix(prefix, "entropy_parameters"),
            node,
        )
