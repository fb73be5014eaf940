"""Cheng et al., "Learned image compression with discretized Gaussian mixture likelihoods
and attention modules", CVPR 2020: the anchor (residual blocks, sub-pixel upsampling) and
the attention variant, both with a single Gaussian per latent (as CompressAI implements
them) and the autoregressive context model of Minnen et al. 2018.

``N`` is both the inner width and the number of latent channels (``M = N``).
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import Tensor, nn

from neuralcodec.layers import (
    AttentionBlock,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    conv3x3,
    subpel_conv3x3,
)
from neuralcodec.models.hyperprior import JointAutoregressiveHierarchicalPriors, _load
from neuralcodec.registry.models import register_model

__all__ = ["Cheng2020Anchor", "Cheng2020Attention"]


@register_model("cheng2020-anchor")
class Cheng2020Anchor(JointAutoregressiveHierarchicalPriors):
    """Cheng2020 anchor: residual analysis/synthesis with sub-pixel upsampling."""

    def __init__(self, N: int = 192, **kwargs: Any) -> None:
        super().__init__(N=N, M=N, **kwargs)
        self.g_a = nn.Sequential(
            ResidualBlockWithStride(3, N, stride=2),
            ResidualBlock(N, N),
            ResidualBlockWithStride(N, N, stride=2),
            ResidualBlock(N, N),
            ResidualBlockWithStride(N, N, stride=2),
            ResidualBlock(N, N),
            conv3x3(N, N, stride=2),
        )
        self.h_a = nn.Sequential(
            conv3x3(N, N),
            nn.LeakyReLU(inplace=True),
            conv3x3(N, N),
            nn.LeakyReLU(inplace=True),
            conv3x3(N, N, stride=2),
            nn.LeakyReLU(inplace=True),
            conv3x3(N, N),
            nn.LeakyReLU(inplace=True),
            conv3x3(N, N, stride=2),
        )
        self.h_s = nn.Sequential(
            conv3x3(N, N),
            nn.LeakyReLU(inplace=True),
            subpel_conv3x3(N, N, 2),
            nn.LeakyReLU(inplace=True),
            conv3x3(N, N * 3 // 2),
            nn.LeakyReLU(inplace=True),
            subpel_conv3x3(N * 3 // 2, N * 3 // 2, 2),
            nn.LeakyReLU(inplace=True),
            conv3x3(N * 3 // 2, N * 2),
        )
        self.g_s = nn.Sequential(
            ResidualBlock(N, N),
            ResidualBlockUpsample(N, N, 2),
            ResidualBlock(N, N),
            ResidualBlockUpsample(N, N, 2),
            ResidualBlock(N, N),
            ResidualBlockUpsample(N, N, 2),
            ResidualBlock(N, N),
            subpel_conv3x3(N, 3, 2),
        )

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "Cheng2020Anchor":
        from neuralcodec.state_dicts import convert_compressai_keys

        state_dict = convert_compressai_keys(state_dict)
        model = cls(state_dict["g_a.0.conv1.weight"].size(0))
        _load(model, state_dict)
        return model


@register_model("cheng2020-attn")
class Cheng2020Attention(Cheng2020Anchor):
    """Cheng2020 with simplified attention blocks in the analysis and synthesis transforms."""

    def __init__(self, N: int = 192, **kwargs: Any) -> None:
        super().__init__(N=N, **kwargs)
        self.g_a = nn.Sequential(
            ResidualBlockWithStride(3, N, stride=2),
            ResidualBlock(N, N),
            ResidualBlockWithStride(N, N, stride=2),
            AttentionBlock(N),
            ResidualBlock(N, N),
            ResidualBlockWithStride(N, N, stride=2),
            ResidualBlock(N, N),
            conv3x3(N, N, stride=2),
            AttentionBlock(N),
        )
        self.g_s = nn.Sequential(
            AttentionBlock(N),
            ResidualBlock(N, N),
            ResidualBlockUpsample(N, N, 2),
            ResidualBlock(N, N),
            ResidualBlockUpsample(N, N, 2),
            AttentionBlock(N),
            ResidualBlock(N, N),
            ResidualBlockUpsample(N, N, 2),
            ResidualBlock(N, N),
            subpel_conv3x3(N, 3, 2),
        )
