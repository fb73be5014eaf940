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

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from neuralcodec import engine
from neuralcodec.entropy_models import EntropyBottleneck, GaussianConditional
from neuralcodec.latent_codecs import (
    GaussianConditionalLatentCodec,
    HyperLatentCodec,
    HyperpriorLatentCodec,
    LatentCodec,
    RasterScanLatentCodec,
    describe_shared,
)
from neuralcodec.latent_codecs.description import EntropyBottleneckNode, HyperpriorNode, ModelDescription
from neuralcodec.layers import GDN, MaskedConv2d
from neuralcodec.models.base import CodingOptions, CompressionModel
from neuralcodec.models.utils import conv, deconv
from neuralcodec.registry.models import register_model

__all__ = [
    "FactorizedPrior",
    "FactorizedPriorReLU",
    "JointAutoregressiveHierarchicalPriors",
    "MeanScaleHyperprior",
    "ScaleHyperprior",
    "conv",
    "deconv",
]


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


@register_model("bmshj2018-factorized")
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

    def describe(self) -> ModelDescription:
        """The coding graph as data: ``y`` coded by the entropy bottleneck alone."""
        node = EntropyBottleneckNode("entropy_bottleneck", int(self.entropy_bottleneck.channels))
        return ModelDescription(type(self).__name__, "g_a", "g_s", node, self.downsampling_factor)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "FactorizedPrior":
        model = cls(state_dict["g_a.0.weight"].size(0), state_dict["g_a.6.weight"].size(0))
        _load(model, state_dict)
        return model

    def compress(
        self, x: Tensor, coding_path: Optional[str] = None, *, options: Optional[CodingOptions] = None
    ) -> Dict[str, Any]:
        """``{"strings": [y strings], "shape": y's (h, w), "x_size"}``; ``options``: the
        call's settings (:class:`~neuralcodec.models.base.CodingOptions`; the analysis
        runs on the whole image here, as CompressAI's)."""
        self._check_input(x)
        options = self._options(options, coding_path)
        self._use_engine(options.coding_path)  # checks it: the entropy bottleneck has one path
        y = self.g_a(self.pad(x))
        strings = self.entropy_bottleneck.compress(y)
        return self._result([strings], y.shape[-2:], x)

    def decompress(
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Sequence[int],
        x_size: Optional[Sequence[int]] = None,
        coding_path: Optional[str] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """``{"x_hat"}`` from the strings of :meth:`compress` (``options``: the call's settings)."""
        self._check_strings(strings, 1)
        options = self._options(options, coding_path)
        self._use_engine(options.coding_path)
        y_hat = self.entropy_bottleneck.decompress(strings[0], self._shape(shape))
        return self._decoded(y_hat, x_size, options)


@register_model("bmshj2018-factorized-relu")
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


@register_model("bmshj2018-hyperprior")
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
        out = self.latent_codec(self.g_a(x))
        return {"x_hat": self.g_s(out["y_hat"]), "likelihoods": out["likelihoods"]}

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "ScaleHyperprior":
        model = cls(state_dict["g_a.0.weight"].size(0), state_dict["g_a.6.weight"].size(0))
        _load(model, state_dict)
        return model

    # ------------------------------------------------------------------ coding graph
    @property
    def latent_codec(self) -> HyperpriorLatentCodec:
        """The model's coding graph as latent codecs (:mod:`neuralcodec.latent_codecs`)
        over its own modules, as the latent-codec models hold theirs: a hyperprior whose
        hyper branch reads :meth:`hyper_analysis` and whose ``y`` codec is
        :meth:`_y_codec`. Built on each access and not registered, so the state_dict keys
        stay CompressAI's (``h_a.*``, not ``latent_codec.hyper.h_a.*``); ``forward`` and the
        compat path run it, :meth:`describe` describes it."""
        hyper = HyperLatentCodec(entropy_bottleneck=self.entropy_bottleneck, h_a=self.hyper_analysis(), h_s=self.h_s)
        codec = HyperpriorLatentCodec({"y": self._y_codec(), "hyper": hyper})
        # The new wrappers take the model's mode (train: noise, eval: rounding); the
        # modules they wrap are the model's and keep theirs.
        own = {id(module) for module in self.modules()}
        for module in codec.modules():
            if id(module) not in own:
                module.training = self.training
        return codec

    def hyper_analysis(self) -> nn.Module:
        """What the hyper branch applies to ``y`` (``[B, M, h, w] -> [B, N, h/4, w/4]``):
        ``h_a(|y|)`` in this model; the export writes it as its ``h_a``."""
        return nn.Sequential(_Magnitude(), self.h_a)

    #: How ``h_s``'s output splits into the Gaussian parameters (scales only here).
    _chunks: Tuple[str, ...] = ("scales",)

    def _y_codec(self) -> LatentCodec:
        return GaussianConditionalLatentCodec(gaussian_conditional=self.gaussian_conditional, chunks=self._chunks)

    def describe(self) -> ModelDescription:
        """The coding graph as data (:mod:`neuralcodec.latent_codecs.description`): that of
        :meth:`latent_codec`, its networks named by this model's state_dict prefixes (the
        engine path codes ``y`` from it)."""
        root = describe_shared(self, self.latent_codec, aliases={"hyper.h_a": "h_a"})
        assert isinstance(root, HyperpriorNode)
        return ModelDescription(type(self).__name__, "g_a", "g_s", root, self.downsampling_factor)

    def _side_information(self, y: Tensor) -> Tuple[Tensor, List[bytes], Tensor]:
        """``(z, its strings, z_hat)`` of the engine path (``h_s`` runs in the engine)."""
        z = self.hyper_analysis()(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        return z, z_strings, z_hat

    @staticmethod
    def _y_shape(z_shape: Sequence[int]) -> Tuple[int, int]:
        """The latent's ``(H, W)``: ``h_s`` upsamples the hyper-latent by 4."""
        return int(z_shape[0]) * 4, int(z_shape[1]) * 4

    codes_given_latent = True

    def compress(
        self,
        x: Tensor,
        coding_path: Optional[str] = None,
        latent: Optional[Tensor] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """Strings ``[y_strings, z_strings]`` and the shape of ``z``: ``y`` coded by the
        engine from :meth:`describe` (default) or, on the compat path, by
        :meth:`latent_codec` byte for byte as CompressAI. ``latent``: code this ``y``
        (the shape :meth:`analyze` gives for ``x``) instead of the analysis's.
        ``options``: the call's settings (:class:`~neuralcodec.models.base.CodingOptions`)."""
        self._check_input(x)
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        y = self._latent_to_code(x, use_engine, latent, options)
        if not use_engine:
            out = self.latent_codec.compress(y)
            return self._result(out["strings"], out["shape"]["hyper"], x)
        z, z_strings, z_hat = self._side_information(y)
        return self._result([engine.encode_graph(self, y, z_hat), z_strings], z.shape[-2:], x)

    def decompress(
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Sequence[int],
        x_size: Optional[Sequence[int]] = None,
        coding_path: Optional[str] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """``{"x_hat"}`` from the strings of :meth:`compress` (same coding path;
        ``options``: the call's settings)."""
        self._check_strings(strings, 2)
        options = self._options(options, coding_path)
        use_engine = self._use_engine(options.coding_path)
        z_shape = self._shape(shape)
        if use_engine:
            z_hat = self.entropy_bottleneck.decompress(strings[1], z_shape)
            y_hat = engine.decompress_graph(self, strings[0], z_hat).to(z_hat.dtype)
        else:
            y_hat = self.latent_codec.decompress(strings, {"y": self._y_shape(z_shape), "hyper": z_shape})["y_hat"]
        return self._decoded(y_hat, x_size, options)


class _Magnitude(nn.Module):
    """``|y|``: what the scale hyperprior's ``h_a`` reads."""

    def forward(self, y: Tensor) -> Tensor:
        return torch.abs(y)


@register_model("mbt2018-mean")
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

    def hyper_analysis(self) -> nn.Module:
        """``h_a(y)``: the mean-scale models read ``y`` itself."""
        return self.h_a

    _chunks = ("scales", "means")


@register_model("mbt2018")
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

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "JointAutoregressiveHierarchicalPriors":
        model = cls(state_dict["g_a.0.weight"].size(0), state_dict["g_a.6.weight"].size(0))
        _load(model, state_dict)
        return model

    def _y_codec(self) -> LatentCodec:
        return RasterScanLatentCodec(
            gaussian_conditional=self.gaussian_conditional,
            entropy_parameters=self.entropy_parameters,
            context_prediction=self.context_prediction,
        )
