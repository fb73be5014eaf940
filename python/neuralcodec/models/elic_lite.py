"""ELIC-lite VBR: the candidate for the next shipped default (issue 19).

One network for every rate, with ELIC's space-channel context over a small GDN
transform pair:

* ``g_a`` / ``g_s``: the mean-scale hyperprior's transforms (four 5x5 stride-2
  convolutions with GDN), ``N`` channels, an ``M``-channel latent ``y`` at 1/16 of the
  image size (Minnen, Ballé, Toderici, NeurIPS 2018).
* ``h_a`` / ``h_s``: ELIC's hyper transforms; ``h_s(z_hat)`` gives ``2M`` hyper
  parameters per latent position (He et al., "ELIC", CVPR 2022).
* ``y`` is coded in uneven channel groups (``groups``, 16, 16, 32, 64, M-128). Group
  ``k`` is predicted from the hyper parameters, a *channel context* over the groups
  decoded before it (``channel_context[k-1]``, 3x3 convolutions), and a *checkerboard*
  spatial context inside the group (He et al., CVPR 2021): the anchors (positions with
  ``(row + column)`` even) are coded first without spatial context, then the other half
  with a masked 5x5 convolution over the decoded anchors (``spatial_context[k]``). A
  small 1x1 network per group (``param_aggregation[k]``) turns the three inputs into the
  group's means and scales.
* **Variable rate** through learned gain units, a quantization step per channel and
  level (:mod:`neuralcodec.models.gain_units`, Cui et al., CVPR 2021): at quality ``q``
  (continuous, ``1 .. levels``) ``y`` is quantized as ``round(y * gain) / gain`` and
  reconstructed with ``y_gain_inv``; ``z`` likewise with ``z_gain``. Every network works
  on unscaled latents; the predicted means and scales are multiplied by the gain before
  coding, since ``y ~ N(mu, sigma)`` gives ``g y ~ N(g mu, g sigma)``.

Shapes: ``x`` ``[B, 3, H, W]`` in ``[0, 1]`` with ``H``, ``W`` multiples of 64 in
``forward``; ``y`` ``[B, M, H/16, W/16]``; ``z`` ``[B, N, H/64, W/64]``.

Coding paths: ``"engine"`` (default) codes ``y`` in one call of the Rust engine from
:meth:`ElicLiteVbr.describe` (deterministic on every machine; strings ``[y, z]``);
``"compat"`` computes the same parameters in PyTorch and writes one string per group and
pass (strings ``[y0.anchor, y0.other, ..., z]``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from neuralcodec import engine
from neuralcodec.entropy_models import EntropyBottleneck, GaussianConditional
from neuralcodec.latent_codecs.description import (
    ChannelGroupsNode,
    CheckerboardNode,
    EntropyBottleneckNode,
    GaussianConditionalNode,
    HyperNode,
    HyperpriorNode,
    ModelDescription,
)
from neuralcodec.layers import GDN, CheckerboardMaskedConv2d
from neuralcodec.models.base import CodingOptions
from neuralcodec.models.gain_units import GainedRates
from neuralcodec.models.hyperprior import conv, deconv
from neuralcodec.registry.models import register_model

__all__ = ["ELIC_LITE_LAMBDAS", "ElicLiteVbr", "checkerboard_anchor_mask"]

#: Lambda of each integer quality 1..6 (``lambda * 255^2 * MSE + bpp``): from the
#: shipped q1 (0.0018) doubling per level, past the shipped q4 (0.032).
ELIC_LITE_LAMBDAS: Tuple[float, ...] = tuple(0.0018 * 2.0**level for level in range(6))


def checkerboard_anchor_mask(height: int, width: int, device: Optional[torch.device] = None) -> Tensor:
    """``[1, 1, height, width]`` float mask, 1 at the anchors (``(row + column)`` even)."""
    rows = torch.arange(height, device=device).view(-1, 1)
    columns = torch.arange(width, device=device).view(1, -1)
    return ((rows + columns) % 2 == 0).float().view(1, 1, height, width)


def _quantize_ste(values: Tensor, means: Tensor) -> Tensor:
    """``round(values - means) + means`` with a straight-through gradient."""
    centred = values - means
    return centred + (torch.round(centred) - centred).detach() + means


@register_model("elic-lite-vbr")
class ElicLiteVbr(GainedRates):
    """See the module documentation. ``levels`` rate levels (qualities ``1 .. levels``).

    Args:
        N: channels of the transforms and of ``z``.
        M: channels of ``y``.
        groups: channel groups of ``y`` (sum ``M``); default ``16, 16, 32, 64, M - 128``.
        levels: number of learned gain vectors (integer qualities).
        context_channels: hidden channels of the channel-context networks.
        aggregation_channels: hidden channels of the parameter-aggregation networks.
    """

    downsampling_factor = 64
    coding_path = "engine"
    coding_paths: Tuple[str, ...] = ("engine", "compat")

    def __init__(
        self,
        N: int = 128,
        M: int = 192,
        groups: Optional[Sequence[int]] = None,
        levels: int = len(ELIC_LITE_LAMBDAS),
        context_channels: int = 128,
        aggregation_channels: Tuple[int, int] = (256, 128),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        groups = list(groups) if groups is not None else [16, 16, 32, 64, M - 128]
        if sum(groups) != M or any(g <= 0 for g in groups):
            raise ValueError(f"groups must be positive and sum to M={M}, got {groups}")
        if levels < 2:
            raise ValueError(f"a variable-rate model needs at least 2 levels, got {levels}")
        self.N, self.M, self.groups = N, M, groups
        self.context_channels, self.aggregation_channels = context_channels, tuple(aggregation_channels)

        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.h_a = nn.Sequential(
            conv(M, N, kernel_size=3, stride=1), nn.ReLU(inplace=True), conv(N, N), nn.ReLU(inplace=True), conv(N, N)
        )
        self.h_s = nn.Sequential(
            deconv(N, N), nn.ReLU(inplace=True), deconv(N, N * 3 // 2), nn.ReLU(inplace=True),
            conv(N * 3 // 2, 2 * M, kernel_size=3, stride=1),
        )
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

        hidden = context_channels
        self.channel_context = nn.ModuleList(
            nn.Sequential(
                conv(sum(groups[:k]), hidden, kernel_size=3, stride=1), nn.ReLU(inplace=True),
                conv(hidden, 2 * groups[k], kernel_size=3, stride=1),
            )
            for k in range(1, len(groups))
        )
        self.spatial_context = nn.ModuleList(
            CheckerboardMaskedConv2d(g, 2 * g, kernel_size=5, padding=2) for g in groups
        )
        first, second = aggregation_channels
        self.param_aggregation = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(2 * M + 2 * g + (2 * g if k > 0 else 0), first, 1), nn.ReLU(inplace=True),
                nn.Conv2d(first, second, 1), nn.ReLU(inplace=True),
                nn.Conv2d(second, 2 * g, 1),
            )
            for k, g in enumerate(groups)
        )
        # Initial steps: gain ~ sqrt(lambda / lambda_mid), the high-rate optimum.
        lambdas = torch.tensor([0.0018 * 2.0**level for level in range(levels)])
        self._init_gain_units(M, N, torch.sqrt(lambdas / lambdas[levels // 2]).tolist())

    # -- rate levels -----------------------------------------------------------------

    def lambda_for_quality(self, quality: float) -> float:
        """:meth:`lmbda` at ``quality`` (checked against :meth:`qualities`), as a float."""
        return float(self.lmbda(self.check_quality(quality)))

    @staticmethod
    def lmbda(quality: Union[float, Tensor]) -> Tensor:
        """The training lambda at ``quality`` (geometric between the levels)."""
        q = torch.as_tensor(quality, dtype=torch.float32)
        return ELIC_LITE_LAMBDAS[0] * 2.0 ** (q - 1)

    # -- training --------------------------------------------------------------------

    def _group_parameters(
        self, k: int, hyper: Tensor, channel: Optional[Tensor], spatial: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """Means and scales of group ``k`` (unscaled domain)."""
        inputs = [spatial] + ([channel] if channel is not None else []) + [hyper]
        means, scales = self.param_aggregation[k](torch.cat(inputs, dim=1)).chunk(2, 1)
        return means, scales

    def forward(self, x: Tensor, quality: Union[float, Tensor] = 3.0) -> Dict[str, Any]:
        """Training pass at ``quality`` (a float or one per image, ``[B]``).

        Rates use additive uniform noise in the gained domain; ``g_s`` and the contexts
        see rounded latents (straight-through gradient), as they will when decoding.

        Returns:
            ``x_hat`` ``[B, 3, H, W]``, ``likelihoods`` (``y`` ``[B, M, h, w]``, ``z``).
        """
        gain = self.gains(quality)
        y = self.g_a(x)
        z = self.h_a(y) * gain["z_gain"]
        z_noisy, z_likelihoods = self.entropy_bottleneck(z)
        z_hat = z_noisy
        if self.training:
            medians = self.entropy_bottleneck._get_medians().view(1, -1, 1, 1)
            z_hat = _quantize_ste(z, medians)
        hyper = self.h_s(z_hat * gain["z_gain_inv"])
        hyper_groups = hyper  # all 2M hyper parameters feed every group, as in ELIC

        height, width = y.shape[-2:]
        anchors = checkerboard_anchor_mask(height, width, y.device)
        y_groups = y.split(self.groups, dim=1)
        y_gain_groups = gain["y_gain"].split(self.groups, dim=1)
        y_inv_groups = gain["y_gain_inv"].split(self.groups, dim=1)
        decoded: List[Tensor] = []  # unscaled reconstructions of the groups so far
        likelihoods: List[Tensor] = []
        for k, y_k in enumerate(y_groups):
            g, g_inv = y_gain_groups[k], y_inv_groups[k]
            channel = self.channel_context[k - 1](torch.cat(decoded, dim=1)) if k > 0 else None
            zeros = y_k.new_zeros(y_k.shape[0], 2 * self.groups[k], height, width)
            means_a, scales_a = self._group_parameters(k, hyper_groups, channel, zeros)
            anchor_hat = _quantize_ste(y_k * g, means_a * g) * g_inv * anchors
            means_n, scales_n = self._group_parameters(k, hyper_groups, channel, self.spatial_context[k](anchor_hat))
            means = means_a * anchors + means_n * (1 - anchors)
            scales = scales_a * anchors + scales_n * (1 - anchors)
            _, likelihood = self.gaussian_conditional(y_k * g, scales * g, means=means * g)
            likelihoods.append(likelihood)
            decoded.append(_quantize_ste(y_k * g, means * g) * g_inv)
        y_hat = torch.cat(decoded, dim=1)
        return {
            "x_hat": self.g_s(y_hat),
            "likelihoods": {"y": torch.cat(likelihoods, dim=1), "z": z_likelihoods},
        }

    # -- coding ------------------------------------------------------------------------

    def describe(self) -> ModelDescription:
        """The coding graph as data (:mod:`neuralcodec.latent_codecs.description`): a
        gained hyper branch, and channel groups of checkerboards whose Gaussian leaves
        multiply means and scales by the gain (the networks see unscaled latents)."""
        leaf = GaussianConditionalNode("gaussian_conditional", None, ("means", "scales"), gain=True)
        groups = ChannelGroupsNode(
            tuple(self.groups),
            tuple(tuple(range(k)) for k in range(len(self.groups))),
            (None, *(f"channel_context.{k}" for k in range(len(self.groups) - 1))),
            tuple(
                CheckerboardNode("even", f"spatial_context.{k}", 2 * g, f"param_aggregation.{k}", leaf)
                for k, g in enumerate(self.groups)
            ),
        )
        hyper = HyperNode("h_a", "h_s", EntropyBottleneckNode("entropy_bottleneck", self.N), gain=True)
        return ModelDescription(type(self).__name__, "g_a", "g_s", HyperpriorNode(hyper, groups), self.downsampling_factor)

    def _side(self, y: Tensor, gain: Dict[str, Tensor]) -> Tuple[List[bytes], Tensor, Tuple[int, int]]:
        """``z``'s strings, ``z_hat`` and ``z``'s shape."""
        z = self.h_a(y) * gain["z_gain"]
        z_strings = self.entropy_bottleneck.compress(z)
        shape = (int(z.shape[-2]), int(z.shape[-1]))
        return z_strings, self.entropy_bottleneck.decompress(z_strings, shape), shape

    def compress(  # type: ignore[override]
        self, x: Tensor, quality: float = 3.0, coding_path: Optional[str] = None, *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """Codes ``x`` (one image) at ``quality``. ``shape`` is ``z``'s ``(h, w)``;
        ``strings`` ``[y, z]`` on the engine path, ``[y strings per group and pass
        (anchors first)..., z]`` on the compat path, each a list of one ``bytes``."""
        self._check_input(x)
        if x.shape[0] != 1:
            raise ValueError(f"compress codes one image at a time, got a batch of {x.shape[0]}")
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        gain = self.gains(quality)
        y = self._analyze(x, use_engine, options)
        z_strings, z_hat, shape = self._side(y, gain)
        hyper_input = z_hat * gain["z_gain_inv"]
        if use_engine:
            y_strings = engine.encode_graph(self, y, hyper_input, gain=self.y_gains(gain))
            strings = [y_strings]
        else:
            strings, _ = self._code_groups(self.h_s(hyper_input), gain, y=y)
        return {"strings": [*strings, z_strings], "shape": shape, "x_size": tuple(x.shape[-2:]),
                "quality": float(quality)}  # fmt: skip

    def decompress(  # type: ignore[override]
        self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], x_size: Optional[Sequence[int]] = None,
        quality: float = 3.0, coding_path: Optional[str] = None, *, options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """Inverse of :meth:`compress` (same ``quality`` and coding path; ``options``: the
        call's settings, :class:`~neuralcodec.models.base.CodingOptions`)."""
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        expected = 2 if use_engine else 2 * len(self.groups) + 1
        if len(strings) != expected:
            raise ValueError(f"expected {expected} string lists, got {len(strings)}")
        gain = self.gains(quality)
        z_hat = self.entropy_bottleneck.decompress(strings[-1], tuple(int(s) for s in shape))
        hyper_input = z_hat * gain["z_gain_inv"]
        if use_engine:
            y_hat = engine.decompress_graph(self, strings[0], hyper_input, gain=self.y_gains(gain))
        else:
            _, y_hat = self._code_groups(self.h_s(hyper_input), gain, strings=strings[:-1])
        return self._decoded(y_hat, x_size, options)

    def _code_groups(
        self, hyper: Tensor, gain: Dict[str, Tensor], y: Optional[Tensor] = None,
        strings: Optional[Sequence[Sequence[bytes]]] = None,
    ) -> Tuple[List[List[bytes]], Tensor]:
        """Encodes ``y`` (when given) or decodes ``strings``, group by group, anchors
        first; returns the strings and the unscaled reconstruction ``y_hat``."""
        batch, _, height, width = hyper.shape
        anchors = checkerboard_anchor_mask(height, width, hyper.device).bool().expand(batch, -1, -1, -1)
        y_gain_groups = gain["y_gain"].split(self.groups, dim=1)
        y_inv_groups = gain["y_gain_inv"].split(self.groups, dim=1)
        y_groups = y.split(self.groups, dim=1) if y is not None else [None] * len(self.groups)
        decoded: List[Tensor] = []
        out_strings: List[List[bytes]] = []
        conditional = self.gaussian_conditional
        for k, size in enumerate(self.groups):
            g, g_inv = y_gain_groups[k], y_inv_groups[k]
            channel = self.channel_context[k - 1](torch.cat(decoded, dim=1)) if k > 0 else None
            symbols_hat = hyper.new_zeros(batch, size, height, width)  # gained, quantized
            spatial = hyper.new_zeros(batch, 2 * size, height, width)
            for step, positions in enumerate((anchors, ~anchors)):
                if step == 1:
                    spatial = self.spatial_context[k](symbols_hat * g_inv * anchors)
                means, scales = self._group_parameters(k, hyper, channel, spatial)
                means, scales = means * g, scales * g
                mask = positions.expand(-1, size, -1, -1)
                index = conditional.build_indexes(scales[mask].view(1, -1))
                if y_groups[k] is not None:
                    values = (y_groups[k] * g)[mask].view(1, -1)
                    pass_strings = conditional.compress(values, index, means=means[mask].view(1, -1))
                else:
                    assert strings is not None  # decoding: no y, so the caller passed strings
                    pass_strings = list(strings[2 * k + step])
                out_strings.append(pass_strings)
                values_hat = conditional.decompress(pass_strings, index, means=means[mask].view(1, -1))
                symbols_hat[mask] = values_hat.view(-1).to(symbols_hat.dtype)
            decoded.append(symbols_hat * g_inv)
        return out_strings, torch.cat(decoded, dim=1)
