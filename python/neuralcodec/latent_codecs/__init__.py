"""Latent codecs: composable coders of one latent tensor, and their description as data.

A model is ``x -> g_a -> y -> latent codec -> y_hat -> g_s -> x_hat``; the latent codec
owns everything between ``y`` and ``y_hat``: the entropy models, the networks that turn
side information and decoded symbols into their parameters, and the order of coding.
Codecs nest, so a model's whole entropy structure is one tree, e.g. ELIC (He et al.
2022)::

    HyperpriorLatentCodec
    ├── hyper: HyperLatentCodec (h_a, entropy bottleneck of z, h_s)
    └── y: ChannelGroupsLatentCodec (groups 16, 16, 32, 64, M-128; channel_context y1..y4)
           └── y0..y4: CheckerboardLatentCodec (context_prediction, entropy_parameters)
                       └── y: GaussianConditionalLatentCodec

Classes, constructor arguments, dict conventions and state_dict keys are CompressAI
1.2.8's (``compressai.latent_codecs``), so its checkpoints load and, on this PyTorch
(compat) path, the strings are CompressAI's byte for byte:

* :class:`EntropyBottleneckLatentCodec`, :class:`GaussianConditionalLatentCodec`: leaves.
* :class:`HyperLatentCodec`, :class:`HyperpriorLatentCodec`: side information.
* :class:`RasterScanLatentCodec` (serial context), :class:`CheckerboardLatentCodec`
  (two passes), :class:`ChannelGroupsLatentCodec` (groups in order): context models.
* :class:`GainHyperLatentCodec`, :class:`GainHyperpriorLatentCodec`: hyperpriors with
  caller-given gains, the building blocks of variable-rate models (Cui et al. 2021).

Every codec follows the contract of :class:`LatentCodec`: ``forward`` ->
``{"likelihoods", "y_hat"}``, ``compress`` -> ``{"strings", "shape", "y_hat"}`` with
``strings`` a list of string lists (one list per coded string, one string per image),
``decompress(strings, shape, ...)`` -> ``{"y_hat"}``.

**Description.** ``codec.describe(prefix)`` returns the codec as frozen dataclasses
(:mod:`neuralcodec.latent_codecs.description`), with no tensors or modules in them:

* :class:`EntropyBottleneckNode` ``(entropy_bottleneck, channels)`` and
  :class:`GaussianConditionalNode` ``(gaussian_conditional, entropy_parameters,
  chunks)``: which entropy model codes, with which parameter network and split;
* :class:`HyperNode` ``(h_a, h_s, z, gain)`` and :class:`HyperpriorNode` ``(hyper, y,
  gain)``: the side branch and what it feeds;
* :class:`RasterScanNode` ``(gaussian_conditional, entropy_parameters,
  context_prediction, kernel_size)``, :class:`CheckerboardNode` ``(anchor_parity,
  context_prediction, context_channels, entropy_parameters, y)``, :class:`ChannelGroupsNode`
  ``(groups, context_groups, channel_context, latent_codecs)``: the context structure and
  its nesting.

Networks appear as their state_dict prefix (``None`` for the identity), so whoever reads
a description takes the weights from the state_dict. Each node also names its strings in
order (``node.strings()``: e.g. ``("y0.anchor", "y0.non_anchor", ..., "z")`` for ELIC),
and :func:`to_dict` gives JSON-ready dicts. A model's ``describe()`` returns a
:class:`ModelDescription` (``g_a``, ``g_s``, the root node, the stride).
"""

from neuralcodec.latent_codecs.base import LatentCodec, describe_shared
from neuralcodec.latent_codecs.channel_groups import ChannelGroupsLatentCodec
from neuralcodec.latent_codecs.checkerboard import (
    CheckerboardLatentCodec,
    checkerboard_embed,
    checkerboard_unembed,
)
from neuralcodec.latent_codecs.description import (
    ChannelGroupsNode,
    CheckerboardNode,
    EntropyBottleneckNode,
    GaussianConditionalNode,
    HyperNode,
    HyperpriorNode,
    ModelDescription,
    Node,
    RasterScanNode,
    renamed,
    to_dict,
)
from neuralcodec.latent_codecs.entropy_bottleneck import EntropyBottleneckLatentCodec
from neuralcodec.latent_codecs.gaussian_conditional import GaussianConditionalLatentCodec
from neuralcodec.latent_codecs.hyper import GainHyperLatentCodec, HyperLatentCodec
from neuralcodec.latent_codecs.hyperprior import GainHyperpriorLatentCodec, HyperpriorLatentCodec
from neuralcodec.latent_codecs.rasterscan import RasterScanLatentCodec

__all__ = [
    "ChannelGroupsLatentCodec",
    "ChannelGroupsNode",
    "CheckerboardLatentCodec",
    "CheckerboardNode",
    "EntropyBottleneckLatentCodec",
    "EntropyBottleneckNode",
    "GainHyperLatentCodec",
    "GainHyperpriorLatentCodec",
    "GaussianConditionalLatentCodec",
    "GaussianConditionalNode",
    "HyperLatentCodec",
    "HyperNode",
    "HyperpriorLatentCodec",
    "HyperpriorNode",
    "LatentCodec",
    "ModelDescription",
    "Node",
    "RasterScanLatentCodec",
    "RasterScanNode",
    "checkerboard_embed",
    "checkerboard_unembed",
    "describe_shared",
    "renamed",
    "to_dict",
]
