"""Parallel-context models: the checkerboard Cheng2020 and ELIC.

* :class:`Cheng2020AnchorCheckerboard`: Cheng et al. 2020's anchor transforms with the
  checkerboard context model of He et al., "Checkerboard context model for efficient
  learned image compression", CVPR 2021 (``cheng2020-anchor-checkerboard``).
* :class:`Elic2022Official`: He et al., "ELIC: efficient learned image compression with
  unevenly grouped space-channel contextual adaptive coding", CVPR 2022: uneven channel
  groups (16, 16, 32, 64, M-128), each with a checkerboard inside
  (``elic2022-official``).
* :class:`Elic2022Chandelier`: ELIC as re-implemented by V. Chandelier (2023): the
  channel context of a group reads only the first and the latest group, the
  hyper-synthesis ends in a convolution, and the parameters are split means first
  (``elic2022-chandelier``).

Module layout, sizes and state_dict keys are CompressAI 1.2.8's (``compressai.models.
sensetime``), so its checkpoints load; the entropy structure is a tree of latent codecs
under ``latent_codec`` (:mod:`neuralcodec.latent_codecs`). Shapes: ``x`` ``[B, 3, H, W]``,
``y`` ``[B, M, H/16, W/16]``, ``z`` ``[B, N, H/64, W/64]``.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence

from torch import Tensor, nn

from neuralcodec.entropy_models import EntropyBottleneck
from neuralcodec.latent_codecs import (
    ChannelGroupsLatentCodec,
    CheckerboardLatentCodec,
    GaussianConditionalLatentCodec,
    HyperLatentCodec,
    HyperpriorLatentCodec,
)
from neuralcodec.layers import (
    AttentionBlock,
    CheckerboardMaskedConv2d,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    ResidualBottleneckBlock,
    conv1x1,
    conv3x3,
    sequential_channel_ramp,
    subpel_conv3x3,
)
from neuralcodec.models.hyperprior import conv, deconv
from neuralcodec.models.simple_vae import SimpleVAECompressionModel
from neuralcodec.registry.models import register_model

__all__ = ["Cheng2020AnchorCheckerboard", "Elic2022Chandelier", "Elic2022Official", "elic_groups"]


def elic_groups(M: int) -> List[int]:
    """ELIC's uneven channel groups for ``M`` latent channels: 16, 16, 32, 64, M - 128."""
    if M <= 128:
        raise ValueError(f"ELIC's default groups need M > 128, got {M}; pass groups explicitly")
    return [16, 16, 32, 64, M - 128]


def _checkerboard(channels: int, entropy_parameters: nn.Module, chunks: Sequence[str]) -> CheckerboardLatentCodec:
    return CheckerboardLatentCodec(
        latent_codec={"y": GaussianConditionalLatentCodec(quantizer="ste", chunks=tuple(chunks))},
        entropy_parameters=entropy_parameters,
        context_prediction=CheckerboardMaskedConv2d(channels, 2 * channels, kernel_size=5, stride=1, padding=2),
    )


@register_model("cheng2020-anchor-checkerboard")
class Cheng2020AnchorCheckerboard(SimpleVAECompressionModel):
    """Cheng2020 anchor transforms (residual blocks, sub-pixel upsampling) with a
    checkerboard context over a mean-scale hyperprior. ``N`` channels everywhere
    (``M = N``). See the module documentation."""

    downsampling_factor = 64

    def __init__(self, N: int = 192, **kwargs: Any) -> None:
        super().__init__()
        self.N = self.M = int(N)
        self.g_a = nn.Sequential(
            ResidualBlockWithStride(3, N, stride=2),
            ResidualBlock(N, N),
            ResidualBlockWithStride(N, N, stride=2),
            ResidualBlock(N, N),
            ResidualBlockWithStride(N, N, stride=2),
            ResidualBlock(N, N),
            conv3x3(N, N, stride=2),
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
        h_a = nn.Sequential(
            conv3x3(N, N), nn.LeakyReLU(inplace=True),
            conv3x3(N, N), nn.LeakyReLU(inplace=True),
            conv3x3(N, N, stride=2), nn.LeakyReLU(inplace=True),
            conv3x3(N, N), nn.LeakyReLU(inplace=True),
            conv3x3(N, N, stride=2),
        )  # fmt: skip
        h_s = nn.Sequential(
            conv3x3(N, N), nn.LeakyReLU(inplace=True),
            subpel_conv3x3(N, N, 2), nn.LeakyReLU(inplace=True),
            conv3x3(N, N * 3 // 2), nn.LeakyReLU(inplace=True),
            subpel_conv3x3(N * 3 // 2, N * 3 // 2, 2), nn.LeakyReLU(inplace=True),
            conv3x3(N * 3 // 2, N * 2),
        )  # fmt: skip
        entropy_parameters = nn.Sequential(
            nn.Conv2d(N * 12 // 3, N * 10 // 3, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(N * 10 // 3, N * 8 // 3, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(N * 8 // 3, N * 6 // 3, 1),
        )  # fmt: skip
        self.latent_codec = HyperpriorLatentCodec(
            latent_codec={
                "y": _checkerboard(N, entropy_parameters, ("scales", "means")),
                "hyper": HyperLatentCodec(entropy_bottleneck=EntropyBottleneck(N), h_a=h_a, h_s=h_s, quantizer="ste"),
            }
        )

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "Cheng2020AnchorCheckerboard":
        from neuralcodec.state_dicts import convert_compressai_keys

        state_dict = convert_compressai_keys(state_dict)
        return cls._loaded(cls(state_dict["g_a.0.conv1.weight"].size(0)), state_dict)


def _elic_transforms(N: int, M: int) -> tuple:
    g_a = nn.Sequential(
        conv(3, N, kernel_size=5, stride=2),
        *(ResidualBottleneckBlock(N, N) for _ in range(3)),
        conv(N, N, kernel_size=5, stride=2),
        *(ResidualBottleneckBlock(N, N) for _ in range(3)),
        AttentionBlock(N),
        conv(N, N, kernel_size=5, stride=2),
        *(ResidualBottleneckBlock(N, N) for _ in range(3)),
        conv(N, M, kernel_size=5, stride=2),
        AttentionBlock(M),
    )
    g_s = nn.Sequential(
        AttentionBlock(M),
        deconv(M, N, kernel_size=5, stride=2),
        *(ResidualBottleneckBlock(N, N) for _ in range(3)),
        deconv(N, N, kernel_size=5, stride=2),
        AttentionBlock(N),
        *(ResidualBottleneckBlock(N, N) for _ in range(3)),
        deconv(N, N, kernel_size=5, stride=2),
        *(ResidualBottleneckBlock(N, N) for _ in range(3)),
        deconv(N, 3, kernel_size=5, stride=2),
    )
    h_a = nn.Sequential(
        conv(M, N, kernel_size=3, stride=1), nn.ReLU(inplace=True),
        conv(N, N, kernel_size=5, stride=2), nn.ReLU(inplace=True),
        conv(N, N, kernel_size=5, stride=2),
    )  # fmt: skip
    return g_a, g_s, h_a


def _channel_context(in_channels: int, group: int) -> nn.Sequential:
    """ELIC's ``g_ch``: three 5x5 convolutions, 224 and 128 channels inside."""
    return nn.Sequential(
        conv(in_channels, 224, kernel_size=5, stride=1), nn.ReLU(inplace=True),
        conv(224, 128, kernel_size=5, stride=1), nn.ReLU(inplace=True),
        conv(128, group * 2, kernel_size=5, stride=1),
    )  # fmt: skip


@register_model("elic2022-official")
class Elic2022Official(SimpleVAECompressionModel):
    """ELIC with the paper's context model: group ``k`` reads all groups before it.

    Args:
        N: channels of the transforms and of ``z``.
        M: channels of ``y``.
        groups: channels per group (default :func:`elic_groups`).
    """

    downsampling_factor = 64

    #: Which earlier groups feed the channel context of group k (``None``: all of them).
    _context_groups: Optional[str] = None

    def __init__(self, N: int = 192, M: int = 320, groups: Optional[Sequence[int]] = None, **kwargs: Any) -> None:
        super().__init__()
        self.N, self.M = int(N), int(M)
        self.groups = list(groups) if groups is not None else elic_groups(M)
        if sum(self.groups) != M:
            raise ValueError(f"groups must sum to M={M}, got {self.groups}")
        self.g_a, self.g_s, h_a = _elic_transforms(N, M)
        h_s = self._hyper_synthesis(N, M)
        hyper_channels = self._hyper_channels(N, M)
        G = self.groups
        sources = self._sources()
        channel_context = {
            f"y{k}": _channel_context(sum(G[j] for j in sources[k]), G[k]) for k in range(1, len(G))
        }
        scctx = {
            f"y{k}": _checkerboard(G[k], self._param_aggregation(k, hyper_channels, M), self._chunks)
            for k in range(len(G))
        }
        self.latent_codec = HyperpriorLatentCodec(
            latent_codec={
                "y": ChannelGroupsLatentCodec(
                    groups=G, channel_context=channel_context, latent_codec=scctx, context_groups=sources
                ),
                "hyper": HyperLatentCodec(entropy_bottleneck=EntropyBottleneck(N), h_a=h_a, h_s=h_s, quantizer="ste"),
            }
        )

    _chunks = ("scales", "means")

    def _sources(self) -> List[tuple]:
        return [tuple(range(k)) for k in range(len(self.groups))]

    @staticmethod
    def _hyper_channels(N: int, M: int) -> int:
        return 2 * N

    @staticmethod
    def _hyper_synthesis(N: int, M: int) -> nn.Sequential:
        return nn.Sequential(
            deconv(N, N, kernel_size=5, stride=2), nn.ReLU(inplace=True),
            deconv(N, N * 3 // 2, kernel_size=5, stride=2), nn.ReLU(inplace=True),
            deconv(N * 3 // 2, N * 2, kernel_size=3, stride=1),
        )  # fmt: skip

    def _param_aggregation(self, k: int, hyper_channels: int, M: int) -> nn.Sequential:
        g = self.groups[k]
        return sequential_channel_ramp(
            g * 2 + (k > 0) * g * 2 + hyper_channels,
            g * 2,
            min_ch=hyper_channels,
            num_layers=3,
            interp="linear",
            make_layer=nn.Conv2d,
            make_act=lambda: nn.ReLU(inplace=True),
            kernel_size=1,
            stride=1,
            padding=0,
        )

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "Elic2022Official":
        """A model sized from ``state_dict`` (``N``, ``M`` and the groups), weights loaded."""
        from neuralcodec.state_dicts import convert_compressai_keys

        state_dict = convert_compressai_keys(state_dict)
        N = state_dict["g_a.0.weight"].size(0)
        M = state_dict["g_a.13.weight"].size(0)
        groups: List[int] = []
        while f"latent_codec.y.latent_codec.y{len(groups)}.context_prediction.weight" in state_dict:
            groups.append(state_dict[f"latent_codec.y.latent_codec.y{len(groups)}.context_prediction.weight"].size(1))
        return cls._loaded(cls(N, M, groups=groups or None), state_dict)


@register_model("elic2022-chandelier")
class Elic2022Chandelier(Elic2022Official):
    """ELIC as re-implemented by Chandelier (2023), CompressAI's ``Elic2022Chandelier``:
    the channel context of group ``k`` reads group 0 and group ``k - 1`` only, ``h_s``
    ends in a 3x3 convolution to ``2M`` channels, the parameter aggregation is three 1x1
    convolutions through ``2M`` and 512 channels, and the parameters are split means
    first. Arguments as :class:`Elic2022Official`.
    """

    _chunks = ("means", "scales")

    def _sources(self) -> List[tuple]:
        return [()] + [(0,) if k == 1 else (0, k - 1) for k in range(1, len(self.groups))]

    @staticmethod
    def _hyper_channels(N: int, M: int) -> int:
        return 2 * M

    @staticmethod
    def _hyper_synthesis(N: int, M: int) -> nn.Sequential:
        return nn.Sequential(
            deconv(N, N, kernel_size=5, stride=2), nn.ReLU(inplace=True),
            deconv(N, N * 3 // 2, kernel_size=5, stride=2), nn.ReLU(inplace=True),
            conv(N * 3 // 2, M * 2, kernel_size=3, stride=1),
        )  # fmt: skip

    def _param_aggregation(self, k: int, hyper_channels: int, M: int) -> nn.Sequential:
        g = self.groups[k]
        return nn.Sequential(
            conv1x1(g * 2 + (k > 0) * g * 2 + hyper_channels, M * 2), nn.ReLU(inplace=True),
            conv1x1(M * 2, 512), nn.ReLU(inplace=True),
            conv1x1(512, g * 2),
        )  # fmt: skip
