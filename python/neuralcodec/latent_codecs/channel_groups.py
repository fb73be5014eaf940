"""Channel groups coded one after another, each conditioned on the groups before it."""

from __future__ import annotations

from itertools import accumulate
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, cast

import torch
from torch import Tensor, nn

from neuralcodec.latent_codecs.base import LatentCodec, child_prefix
from neuralcodec.latent_codecs.description import ChannelGroupsNode
from neuralcodec.registry import register_module

__all__ = ["ChannelGroupsLatentCodec"]


@register_module("ChannelGroupsLatentCodec")
class ChannelGroupsLatentCodec(LatentCodec):
    """Splits ``y`` along channels into ``groups`` and codes them in order; group ``k``
    is conditioned on the decoded groups before it through ``channel_context["y<k>"]``.

    The channel-conditional model of Minnen & Singh, "Channel-wise autoregressive entropy
    models for learned image compression", ICIP 2020, with ELIC's uneven groups (He et
    al., "ELIC: efficient learned image compression with unevenly grouped space-channel
    contextual adaptive coding", CVPR 2022). Group ``k`` is coded by
    ``latent_codec["y<k>"]`` with the parameters ``side_params`` (``k = 0``) or
    ``cat(channel_context["y<k>"](cat(y_hat of context_groups[k])), side_params)``.

    Args:
        latent_codec: ``{"y0": codec, "y1": codec, ...}``, one per group.
        channel_context: ``{"y1": net, ...}``, one per group after the first.
        groups: channels per group.
        context_groups: per group, the indices of the earlier groups its channel context
            reads, in order (default: all of them, as in ELIC; CompressAI's
            ``Elic2022Chandelier`` reads the first and the latest). Not a CompressAI
            argument: CompressAI changes ``merge_y`` instead.

    State: ``channel_context.y<k>.*``, ``latent_codec.y<k>.*``. ``compress`` returns the
    groups' strings one after the other and ``shape`` as the list of the groups' shapes.
    """

    def __init__(
        self,
        latent_codec: Mapping[str, LatentCodec],
        channel_context: Mapping[str, nn.Module],
        *,
        groups: Sequence[int],
        context_groups: Optional[Sequence[Sequence[int]]] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.groups = [int(g) for g in groups]
        if not self.groups or any(g <= 0 for g in self.groups):
            raise ValueError(f"groups must be positive channel counts, got {list(groups)}")
        if context_groups is None:
            context_groups = [tuple(range(k)) for k in range(len(self.groups))]
        self.context_groups: List[Tuple[int, ...]] = [tuple(int(j) for j in c) for c in context_groups]
        if len(self.context_groups) != len(self.groups) or self.context_groups[0]:
            raise ValueError("context_groups needs one entry per group, the first one empty")
        for k, sources in enumerate(self.context_groups[1:], start=1):
            if not sources or any(not 0 <= j < k for j in sources):
                raise ValueError(f"group {k} can read only earlier groups, got {sources}")
        self.groups_acc = list(accumulate(self.groups, initial=0))
        names = {f"y{k}" for k in range(len(self.groups))}
        if set(latent_codec) != names:
            raise ValueError(f"latent_codec needs the keys {sorted(names)}, got {sorted(latent_codec)}")
        if set(channel_context) != names - {"y0"}:
            raise ValueError(f"channel_context needs the keys {sorted(names - {'y0'})}, got {sorted(channel_context)}")
        self.channel_context = nn.ModuleDict(dict(channel_context))
        self.latent_codec = nn.ModuleDict(dict(latent_codec))

    def __getitem__(self, key: str) -> LatentCodec:
        return cast(LatentCodec, self.latent_codec[key])  # __init__ stores LatentCodecs only

    def _codec(self, k: int) -> LatentCodec:
        """The codec of group ``k`` (an ``nn.ModuleDict`` entry is typed as a plain module)."""
        return cast(LatentCodec, self.latent_codec[f"y{k}"])

    def merge_y(self, *args: Tensor) -> Tensor:
        return torch.cat(args, dim=1)

    def merge_params(self, *args: Tensor) -> Tensor:
        return torch.cat(args, dim=1)

    def _get_ctx_params(self, k: int, side_params: Tensor, y_hat_: Sequence[Tensor]) -> Tensor:
        if k == 0:
            return side_params
        sources = [y_hat_[j] for j in self.context_groups[k]]
        context = self.channel_context[f"y{k}"](self.merge_y(*sources))
        return self.merge_params(context, side_params)

    def forward(self, y: Tensor, side_params: Tensor) -> Dict[str, Any]:
        y_ = torch.split(y, self.groups, dim=1)
        y_hat_: List[Tensor] = []
        likelihoods: List[Tensor] = []
        for k in range(len(self.groups)):
            out = self.latent_codec[f"y{k}"](y_[k], self._get_ctx_params(k, side_params, y_hat_))
            y_hat_.append(out["y_hat"])
            likelihoods.append(out["likelihoods"]["y"])
        return {"likelihoods": {"y": torch.cat(likelihoods, dim=1)}, "y_hat": torch.cat(y_hat_, dim=1)}

    def compress(self, y: Tensor, side_params: Tensor) -> Dict[str, Any]:
        y_ = torch.split(y, self.groups, dim=1)
        y_hat = torch.zeros_like(y)
        y_hat_ = y_hat.split(self.groups, dim=1)
        strings: List[List[bytes]] = []
        shapes = []
        for k in range(len(self.groups)):
            out = self._codec(k).compress(y_[k], self._get_ctx_params(k, side_params, y_hat_))
            y_hat_[k][:] = out["y_hat"]
            strings.extend(out["strings"])
            shapes.append(out["shape"])
        return {"strings": strings, "shape": shapes, "y_hat": y_hat}

    def decompress(
        self, strings: Sequence[Sequence[bytes]], shape: Sequence[Sequence[int]], side_params: Tensor, **kwargs: Any
    ) -> Dict[str, Any]:
        groups = len(self.groups)
        if not isinstance(strings, (list, tuple)) or not strings or len(strings) % groups:
            raise ValueError(f"{type(self).__name__} needs a multiple of {groups} string lists")
        n = len(strings[0])
        if any(len(group) != n for group in strings):
            raise ValueError(f"{type(self).__name__}: every string list must hold one string per image")
        if len(shape) != groups:
            raise ValueError(f"{type(self).__name__} needs one shape per group, got {len(shape)}")
        per_group = len(strings) // groups
        y_hat = torch.zeros((n, sum(self.groups), *side_params.shape[-2:]), device=side_params.device)
        y_hat_ = y_hat.split(self.groups, dim=1)
        for k in range(groups):
            params = self._get_ctx_params(k, side_params, y_hat_)
            group_strings = list(strings[per_group * k : per_group * (k + 1)])
            y_hat_[k][:] = self._codec(k).decompress(group_strings, shape[k], params)["y_hat"]
        return {"y_hat": y_hat}

    def describe(self, prefix: str = "") -> ChannelGroupsNode:
        codecs = child_prefix(prefix, "latent_codec")
        contexts = child_prefix(prefix, "channel_context")
        return ChannelGroupsNode(
            tuple(self.groups),
            tuple(self.context_groups),
            tuple(None if k == 0 else f"{contexts}.y{k}" for k in range(len(self.groups))),
            tuple(self._codec(k).describe(f"{codecs}.y{k}") for k in range(len(self.groups))),
        )
