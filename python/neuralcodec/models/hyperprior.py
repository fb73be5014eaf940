"""The Ballé and Minnen families: factorized prior, scale and mean-scale hyperpriors, and
the joint autoregressive + hyperprior model.

* :class:`FactorizedPrior`: Ballé et al., "Variational image compression with a scale
  hyperprior", ICLR 2018 (its factorized-prior baseline; "bmshj2018-factorized").
* :class:`ScaleHyperprior`: the same paper's hyperprior model ("bmshj2018-hyperprior").
* :class:`MeanScaleHyperprior`: Minnen, Ballé, Toderici, "Joint autoregressive and
  hierarchical priors for learned image compression", NeurIPS 2018, mean-scale variant
  ("mbt2018-mean").
* :class:`JointAutoregressiveHierarchicalPriors`: that paper's full model ("mbt2018").

Module layout and state_dict keys are CompressAI's, so its checkpoints load unchanged.
``N`` is the width of the inner layers, ``M`` the number of latent channels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec import engine
from neuralcodec.ans import BufferedRansEncoder, CdfTable, RansDecoder
from neuralcodec.entropy_models import EntropyBottleneck, GaussianConditional
from neuralcodec.latent_codecs.description import (
    EntropyBottleneckNode,
    GaussianConditionalNode,
    HyperNode,
    HyperpriorNode,
    ModelDescription,
    Node,
    RasterScanNode,
)
from neuralcodec.layers import GDN, MaskedConv2d
from neuralcodec.models.base import CompressionModel

if TYPE_CHECKING:
    from neuralcodec.latent_codecs import ModelDescription

__all__ = [
    "FactorizedPrior",
    "FactorizedPriorReLU",
    "JointAutoregressiveHierarchicalPriors",
    "MeanScaleHyperprior",
    "ScaleHyperprior",
    "conv",
    "deconv",
]


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """Strided convolution with 'same' padding: divides the size by ``stride``."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies the size by ``stride`` exactly."""
    return nn.ConvTranspose2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        output_padding=stride - 1,
        padding=kernel_size // 2,
    )


def _analysis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))


def _synthesis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(M, N),
        GDN(N, inverse=True),
        deconv(N, N),
        GDN(N, inverse=True),
        deconv(N, N),
        GDN(N, inverse=True),
        deconv(N, 3),
    )


def _load(model: CompressionModel, state_dict: Mapping[str, Tensor]) -> None:
    from neuralcodec.state_dicts import convert_compressai_keys

    model.load_state_dict(convert_compressai_keys(state_dict))


class FactorizedPrior(CompressionModel):
    """Factorized-prior model: ``y = g_a(x)`` coded with a learned per-channel density.

    Shapes: ``x`` ``[B, 3, H, W]`` -> ``y`` ``[B, M, H/16, W/16]``.
    """

    downsampling_factor = 16

    def __init__(self, N: int, M: int, **kwargs: Any) -> None:
        super().__init__()
        self.N, self.M = int(N), int(M)
        self.entropy_bottleneck = EntropyBottleneck(M)
        self.g_a = _analysis(N, M)
        self.g_s = _synthesis(N, M)

    def forward(self, x: Tensor) -> Dict[str, Any]:
        y = self.g_a(x)
        y_hat, y_likelihoods = self.entropy_bottleneck(y)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods}}

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "FactorizedPrior":
        model = cls(state_dict["g_a.0.weight"].size(0), state_dict["g_a.6.weight"].size(0))
        _load(model, state_dict)
        return model

    def compress(self, x: Tensor) -> Dict[str, Any]:
        self._check_input(x)
        y = self.g_a(self.pad(x))
        strings = self.entropy_bottleneck.compress(y)
        return self._result([strings], y.shape[-2:], x)

    def decompress(
        self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], x_size: Optional[Sequence[int]] = None
    ) -> Dict[str, Any]:
        self._check_strings(strings, 1)
        y_hat = self.entropy_bottleneck.decompress(strings[0], self._shape(shape))
        return self._decoded(y_hat, x_size)


class FactorizedPriorReLU(FactorizedPrior):
    """:class:`FactorizedPrior` with ReLU activations instead of GDN
    ("bmshj2018-factorized-relu"; CompressAI's ``FactorizedPriorReLU``).

    Shapes: ``x`` ``[B, 3, H, W]`` -> ``y`` ``[B, M, H/16, W/16]``. CompressAI 1.2.8
    publishes no weights for it.
    """

    def __init__(self, N: int, M: int, **kwargs: Any) -> None:
        super().__init__(N, M, **kwargs)
        self.g_a = nn.Sequential(
            conv(3, N), nn.ReLU(inplace=True), conv(N, N), nn.ReLU(inplace=True),
            conv(N, N), nn.ReLU(inplace=True), conv(N, M),
        )  # fmt: skip
        self.g_s = nn.Sequential(
            deconv(M, N), nn.ReLU(inplace=True), deconv(N, N), nn.ReLU(inplace=True),
            deconv(N, N), nn.ReLU(inplace=True), deconv(N, 3),
        )  # fmt: skip

    def describe(self) -> "ModelDescription":
        """The coding graph as data: ``y`` coded by the entropy bottleneck alone."""
        from neuralcodec.latent_codecs import EntropyBottleneckNode, ModelDescription

        node = EntropyBottleneckNode("entropy_bottleneck", int(self.entropy_bottleneck.channels))
        return ModelDescription(type(self).__name__, "g_a", "g_s", node, self.downsampling_factor)


class ScaleHyperprior(CompressionModel):
    """Scale hyperprior: ``z = h_a(|y|)`` side information predicts the Gaussian scales of ``y``.

    Shapes: ``y`` ``[B, M, H/16, W/16]``, ``z`` ``[B, N, H/64, W/64]``.
    """

    downsampling_factor = 64

    #: The entropy parameters come from the Rust engine by default (bit-exact on every
    #: machine, see :mod:`neuralcodec.engine`); ``"compat"`` computes them with PyTorch,
    #: byte-compatible with CompressAI.
    coding_path = "engine"
    coding_paths: Tuple[str, ...] = ("engine", "compat")

    def __init__(self, N: int, M: int, **kwargs: Any) -> None:
        super().__init__()
        self.N, self.M = int(N), int(M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.g_a = _analysis(N, M)
        self.g_s = _synthesis(N, M)
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3),
            nn.ReLU(inplace=True),
            conv(N, N),
            nn.ReLU(inplace=True),
            conv(N, N),
        )
        self.h_s = nn.Sequential(
            deconv(N, N),
            nn.ReLU(inplace=True),
            deconv(N, N),
            nn.ReLU(inplace=True),
            conv(N, M, stride=1, kernel_size=3),
            nn.ReLU(inplace=True),
        )
        self.gaussian_conditional = GaussianConditional(None)

    def forward(self, x: Tensor) -> Dict[str, Any]:
        y = self.g_a(x)
        z = self.h_a(torch.abs(y))
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales_hat = self.h_s(z_hat)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales_hat)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "ScaleHyperprior":
        model = cls(state_dict["g_a.0.weight"].size(0), state_dict["g_a.6.weight"].size(0))
        _load(model, state_dict)
        return model

    def _side_information(self, y: Tensor) -> Tuple[Tensor, List[bytes], Tensor]:
        z = self.h_a(torch.abs(y))
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        return z, z_strings, z_hat

    #: How ``h_s``'s output splits into the Gaussian parameters (scales only here).
    _chunks: Tuple[str, ...] = ("scales",)

    def describe(self) -> ModelDescription:
        """The coding graph as data (:mod:`neuralcodec.latent_codecs.description`): a
        hyperprior whose ``h_s`` gives the parameters of ``y``'s Gaussian conditional
        (the engine path codes ``y`` from it; ``h_a`` reads ``|y|`` in this model)."""
        hyper = HyperNode("h_a", "h_s", EntropyBottleneckNode("entropy_bottleneck", self.N))
        return ModelDescription(
            type(self).__name__, "g_a", "g_s", HyperpriorNode(hyper, self._y_node()), self.downsampling_factor
        )

    def _y_node(self) -> Node:
        return GaussianConditionalNode("gaussian_conditional", None, self._chunks)

    def _code_y(self, y: Tensor, z_hat: Tensor, use_engine: bool) -> List[bytes]:
        """``y``'s strings given the side information: the engine codes the whole latent
        from :meth:`describe`; the compat path is CompressAI's."""
        if use_engine:
            return engine.compress_graph(self, y, z_hat)[0]
        scales_hat, means_hat = self._compat_parameters(z_hat)
        return self.gaussian_conditional.compress(y, self.gaussian_conditional.build_indexes(scales_hat), means=means_hat)

    def _decode_y(self, strings: Sequence[bytes], z_hat: Tensor, use_engine: bool) -> Tensor:
        if use_engine:
            return engine.decompress_graph(self, strings, z_hat).to(z_hat.dtype)
        scales_hat, means_hat = self._compat_parameters(z_hat)
        indexes = self.gaussian_conditional.build_indexes(scales_hat)
        return self.gaussian_conditional.decompress(strings, indexes, z_hat.dtype, means=means_hat)

    def _compat_parameters(self, z_hat: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Scales and means (None: zero) of ``y`` computed by PyTorch."""
        return self.h_s(z_hat), None

    def compress(self, x: Tensor, coding_path: Optional[str] = None) -> Dict[str, Any]:
        self._check_input(x)
        use_engine = self._use_engine(coding_path)
        y = self._analyze(x, use_engine)
        z, z_strings, z_hat = self._side_information(y)
        return self._result([self._code_y(y, z_hat, use_engine), z_strings], z.shape[-2:], x)

    def decompress(
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Sequence[int],
        x_size: Optional[Sequence[int]] = None,
        coding_path: Optional[str] = None,
    ) -> Dict[str, Any]:
        self._check_strings(strings, 2)
        use_engine = self._use_engine(coding_path)
        z_hat = self.entropy_bottleneck.decompress(strings[1], self._shape(shape))
        y_hat = self._decode_y(strings[0], z_hat, use_engine)
        return self._decoded(y_hat, x_size)


class MeanScaleHyperprior(ScaleHyperprior):
    """Mean-scale hyperprior: the hyper-synthesis predicts the means and the scales of ``y``."""

    def __init__(self, N: int, M: int, **kwargs: Any) -> None:
        super().__init__(N, M, **kwargs)
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3),
            nn.LeakyReLU(inplace=True),
            conv(N, N),
            nn.LeakyReLU(inplace=True),
            conv(N, N),
        )
        self.h_s = nn.Sequential(
            deconv(N, M),
            nn.LeakyReLU(inplace=True),
            deconv(M, M * 3 // 2),
            nn.LeakyReLU(inplace=True),
            conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
        )

    def forward(self, x: Tensor) -> Dict[str, Any]:
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales_hat, means=means_hat)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def _side_information(self, y: Tensor) -> Tuple[Tensor, List[bytes], Tensor]:
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        return z, z_strings, z_hat

    _chunks = ("scales", "means")

    def _compat_parameters(self, z_hat: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        scales_hat, means_hat = self.h_s(z_hat).chunk(2, 1)
        return scales_hat, means_hat


class JointAutoregressiveHierarchicalPriors(MeanScaleHyperprior):
    """Joint autoregressive and hierarchical priors (Minnen et al. 2018, "mbt2018").

    The Gaussian parameters of each latent position come from the hyperprior and from a
    masked 5x5 convolution over the already-decoded positions, so coding proceeds
    position by position. On the engine path (the default) the whole loop runs in Rust,
    in wavefront order (``docs/bitstream.md``); on the ``"compat"`` path it runs in
    PyTorch in raster order, byte for byte as CompressAI.
    """

    #: Context-model kernel and the padding it needs around the latent.
    context_kernel_size = 5

    def __init__(self, N: int = 192, M: int = 192, **kwargs: Any) -> None:
        super().__init__(N, M, **kwargs)
        self.g_a = nn.Sequential(
            conv(3, N, kernel_size=5, stride=2),
            GDN(N),
            conv(N, N, kernel_size=5, stride=2),
            GDN(N),
            conv(N, N, kernel_size=5, stride=2),
            GDN(N),
            conv(N, M, kernel_size=5, stride=2),
        )
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3),
            nn.LeakyReLU(inplace=True),
            conv(N, N, stride=2, kernel_size=5),
            nn.LeakyReLU(inplace=True),
            conv(N, N, stride=2, kernel_size=5),
        )
        self.h_s = nn.Sequential(
            deconv(N, M, stride=2, kernel_size=5),
            nn.LeakyReLU(inplace=True),
            deconv(M, M * 3 // 2, stride=2, kernel_size=5),
            nn.LeakyReLU(inplace=True),
            conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
        )
        self.entropy_parameters = nn.Sequential(
            nn.Conv2d(M * 12 // 3, M * 10 // 3, 1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(M * 10 // 3, M * 8 // 3, 1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(M * 8 // 3, M * 6 // 3, 1),
        )
        self.context_prediction = MaskedConv2d(M, 2 * M, kernel_size=5, padding=2, stride=1)

    def forward(self, x: Tensor) -> Dict[str, Any]:
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        params = self.h_s(z_hat)
        y_hat = self.gaussian_conditional.quantize(y, "noise" if self.training else "dequantize")
        ctx_params = self.context_prediction(y_hat)
        scales_hat, means_hat = self.entropy_parameters(torch.cat((params, ctx_params), dim=1)).chunk(2, 1)
        _, y_likelihoods = self.gaussian_conditional(y, scales_hat, means=means_hat)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "JointAutoregressiveHierarchicalPriors":
        model = cls(state_dict["g_a.0.weight"].size(0), state_dict["g_a.6.weight"].size(0))
        _load(model, state_dict)
        return model

    # --------------------------------------------------------- autoregressive coding
    def _table(self) -> CdfTable:
        return self.gaussian_conditional._cdf_table()

    def _masked_context_weight(self) -> Tensor:
        """The context kernel with its causal mask applied (computed once per image)."""
        return self.context_prediction.weight * self.context_prediction.mask

    def _position_parameters(
        self, y_crop: Tensor, params: Tensor, h: int, w: int, masked_weight: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        """Scales and means ``[1, M]`` at latent position (h, w) from its 5x5 causal window."""
        if masked_weight is None:
            masked_weight = self._masked_context_weight()
        ctx_p = F.conv2d(y_crop, masked_weight, bias=self.context_prediction.bias)
        p = params[:, :, h : h + 1, w : w + 1]
        gaussian_params = self.entropy_parameters(torch.cat((p, ctx_p), dim=1)).squeeze(3).squeeze(2)
        scales_hat, means_hat = gaussian_params.chunk(2, 1)
        return scales_hat, means_hat

    def _y_node(self) -> Node:
        return RasterScanNode("gaussian_conditional", "entropy_parameters", "context_prediction", self.context_kernel_size)

    def compress(self, x: Tensor, coding_path: Optional[str] = None) -> Dict[str, Any]:
        self._check_input(x)
        use_engine = self._use_engine(coding_path)
        y = self._analyze(x, use_engine)
        z, z_strings, z_hat = self._side_information(y)
        if use_engine:
            return self._result([self._code_y(y, z_hat, True), z_strings], z.shape[-2:], x)
        params = self.h_s(z_hat)
        table = self._table()
        padding = self.context_kernel_size // 2
        y_height, y_width = y.shape[-2:]
        y_hat = F.pad(y, (padding, padding, padding, padding))
        y_strings = [
            self._compress_ar(y_hat[i : i + 1], params[i : i + 1], y_height, y_width, table)
            for i in range(y.size(0))
        ]
        return self._result([y_strings, z_strings], z.shape[-2:], x)

    def _compress_ar(self, y_hat: Tensor, params: Tensor, height: int, width: int, table: CdfTable) -> bytes:
        k = self.context_kernel_size
        padding = k // 2
        encoder = BufferedRansEncoder()
        with torch.no_grad():
            masked_weight = self._masked_context_weight()
            for h in range(height):
                for w in range(width):
                    y_crop = y_hat[:, :, h : h + k, w : w + k]
                    scales_hat, means_hat = self._position_parameters(y_crop, params, h, w, masked_weight)
                    indexes = self.gaussian_conditional.build_indexes(scales_hat)
                    y_q = self.gaussian_conditional.quantize(y_crop[:, :, padding, padding], "symbols", means_hat)
                    y_hat[:, :, h + padding, w + padding] = y_q + means_hat
                    encoder.encode_with_indexes(y_q.reshape(-1), indexes.reshape(-1), table)
        return encoder.flush()

    def decompress(
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Sequence[int],
        x_size: Optional[Sequence[int]] = None,
        coding_path: Optional[str] = None,
    ) -> Dict[str, Any]:
        self._check_strings(strings, 2)
        use_engine = self._use_engine(coding_path)
        z_hat = self.entropy_bottleneck.decompress(strings[1], self._shape(shape))
        if use_engine:
            return self._decoded(self._decode_y(strings[0], z_hat, True), x_size)
        params = self.h_s(z_hat)
        table = self._table()
        k = self.context_kernel_size
        padding = k // 2
        y_height, y_width = z_hat.size(2) * 4, z_hat.size(3) * 4
        y_hat = torch.zeros(
            (z_hat.size(0), self.M, y_height + 2 * padding, y_width + 2 * padding),
            device=z_hat.device,
            dtype=z_hat.dtype,
        )
        for i, y_string in enumerate(strings[0]):
            self._decompress_ar(y_string, y_hat[i : i + 1], params[i : i + 1], y_height, y_width, table)
        y_hat = F.pad(y_hat, (-padding, -padding, -padding, -padding))
        return self._decoded(y_hat, x_size)

    def _decompress_ar(
        self, y_string: bytes, y_hat: Tensor, params: Tensor, height: int, width: int, table: CdfTable
    ) -> None:
        k = self.context_kernel_size
        padding = k // 2
        decoder = RansDecoder()
        decoder.set_stream(y_string)
        with torch.no_grad():
            masked_weight = self._masked_context_weight()
            for h in range(height):
                for w in range(width):
                    y_crop = y_hat[:, :, h : h + k, w : w + k]
                    scales_hat, means_hat = self._position_parameters(y_crop, params, h, w, masked_weight)
                    indexes = self.gaussian_conditional.build_indexes(scales_hat)
                    values = decoder.decode_stream(indexes.reshape(-1), table)
                    symbols = torch.from_numpy(values).to(y_hat.device).reshape(1, -1)
                    y_hat[:, :, h + padding, w + padding] = self.gaussian_conditional.dequantize(
                        symbols, means_hat
                    )
        decoder.finish()
