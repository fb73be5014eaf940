"""The coding graph as data: what each latent codec codes, with which networks, in what order.

Every :class:`~neuralcodec.latent_codecs.LatentCodec` returns one of these frozen
dataclasses from ``describe(prefix)``; a model's ``describe()`` wraps the root in a
:class:`ModelDescription`. They hold only ``str``, ``int``, ``bool``, tuples and other
nodes, never tensors or modules, so the description can be compared, printed, turned into
JSON (:func:`to_dict`) and read by code that has no torch (the Rust engine, the ONNX
decoder). Networks are named by their state_dict prefix (``None`` for the identity), so a
reader takes their weights from the state_dict under that prefix.

Conventions shared by all nodes:

* ``kind`` names the node type (``"entropy_bottleneck"``, ``"gaussian_conditional"``,
  ``"hyper"``, ``"hyperprior"``, ``"raster_scan"``, ``"checkerboard"``,
  ``"channel_groups"``); it is a field, so :func:`to_dict` output is self-describing.
* ``strings(name)`` lists the strings the node writes, in the order of the
  ``compress()["strings"]`` list (each entry is one list of bytes, one per image).
* "Parameters" are the tensor a parent hands to a child (``params`` / ``side_params`` /
  ``ctx_params`` in CompressAI); concatenations are along channels, in the order stated
  in each node's documentation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple, Union, cast

__all__ = [
    "ChannelGroupsNode",
    "CheckerboardNode",
    "EntropyBottleneckNode",
    "GaussianConditionalNode",
    "HyperNode",
    "HyperpriorNode",
    "ModelDescription",
    "Node",
    "PREFIX_FIELDS",
    "RasterScanNode",
    "renamed",
    "to_dict",
]


@dataclass(frozen=True)
class EntropyBottleneckNode:
    """A latent coded with a learned density per channel (Ballé et al. 2018).

    Symbols ``round(v - median_c)``, CDF row = channel. Writes one string.

    Attributes:
        entropy_bottleneck: prefix of the :class:`~neuralcodec.entropy_models.EntropyBottleneck`.
        channels: number of channels ``C``.
    """

    entropy_bottleneck: str
    channels: int
    kind: str = field(default="entropy_bottleneck", init=False)

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        return (name,)


@dataclass(frozen=True)
class GaussianConditionalNode:
    """A latent coded with a Gaussian per element whose parameters come from its parent.

    ``entropy_parameters(params)`` (identity when ``None``) is split along channels into
    ``chunks`` (``("scales", "means")``, ``("means", "scales")``, ``("scales",)`` or
    ``("means",)``); symbols are ``round(v - mean)`` with the CDF row chosen by the scale.
    Writes one string.

    With ``gain`` (variable-rate models that keep their networks in the unscaled domain,
    e.g. :class:`~neuralcodec.models.elic_lite.ElicLiteVbr`), ``y``, the means and the
    scales are multiplied by a caller-given per-channel gain ``g`` before coding (symbol
    ``q = round(y g - mean g)``, CDF row from ``scale g``), and the decoded value is
    ``(q + mean g) / g``, so the contexts read the unscaled latent. With
    ``reconstruction_offsets`` as well (Kamisli et al., DCC 2024, CompressAI's
    ``QuantABCD``), it is ``sign(q) (|q| - offsets([max(scale g, bound), g])) / g + mean``
    for ``q != 0`` and ``mean`` for ``q = 0``, the offsets a pointwise network of the
    bounded gained scale and the gain.

    Attributes:
        gaussian_conditional: prefix of the :class:`~neuralcodec.entropy_models.GaussianConditional`.
        entropy_parameters: prefix of the network applied to the parameters, or ``None``.
        chunks: the order of the parameter halves.
        gain: whether a per-channel gain scales this latent (see above).
        reconstruction_offsets: prefix of the offset network (``Linear`` layers over the
            pair ``(scale, gain)`` and activations), or ``None``; needs ``gain``.
    """

    gaussian_conditional: str
    entropy_parameters: Optional[str]
    chunks: Tuple[str, ...]
    gain: bool = False
    reconstruction_offsets: Optional[str] = None
    kind: str = field(default="gaussian_conditional", init=False)

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        return (name,)


@dataclass(frozen=True)
class RasterScanNode:
    """Autoregressive coding position by position in raster order (Minnen et al. 2018).

    At each position the Gaussian parameters are ``entropy_parameters(cat(params,
    context_prediction(y_hat)))``, the context being a masked ``kernel_size`` convolution
    over the positions decoded before, split as ``("scales", "means")``. Writes one
    string per image.

    ``gain`` and ``reconstruction_offsets`` code each position as a
    :class:`GaussianConditionalNode` with them does, and the context reads the
    reconstructed values. With ``gain_context`` (CompressAI's ``scale_to_context`` of its
    variable-rate mbt2018), ``gain_context(g)``, a ``Linear(1, context channels)`` of the
    gain shared by every channel, is added to the context features.

    Attributes:
        gaussian_conditional: prefix of the Gaussian conditional.
        entropy_parameters: prefix of the (pointwise) parameter network.
        context_prediction: prefix of the :class:`~neuralcodec.layers.MaskedConv2d`.
        kernel_size: its (square) kernel size.
        gain: whether a gain scales the latent.
        reconstruction_offsets: prefix of the offset network, or ``None``; needs ``gain``.
        gain_context: prefix of the gain's context term, or ``None``; needs ``gain``.
    """

    gaussian_conditional: str
    entropy_parameters: str
    context_prediction: str
    kernel_size: int
    gain: bool = False
    reconstruction_offsets: Optional[str] = None
    gain_context: Optional[str] = None
    kind: str = field(default="raster_scan", init=False)

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        return (name,)


@dataclass(frozen=True)
class CheckerboardNode:
    """Two-pass checkerboard context (He et al. 2021).

    Anchors are the positions with ``(row + column)`` even (``anchor_parity="even"``) or
    odd. Pass 1 codes the anchors with parameters ``entropy_parameters(cat(0, params))``
    (a zero context); pass 2 codes the non-anchors with ``entropy_parameters(cat(
    context_prediction(anchors_hat), params))``, the context being a
    :class:`~neuralcodec.layers.CheckerboardMaskedConv2d` over the latent holding only the
    decoded anchors. ``y`` codes each pass; a pass's symbols are taken row by row over
    the positions of that colour (a ``[C, H, W/2]`` tensor, ``W`` even). Writes two
    strings: ``<name>.anchor``, ``<name>.non_anchor``.

    Attributes:
        anchor_parity: ``"even"`` or ``"odd"``.
        context_prediction: prefix of the context convolution.
        context_channels: its output channels (the zero context of pass 1 has as many).
        entropy_parameters: prefix of the (pointwise) parameter network.
        y: the Gaussian conditional of both passes.
    """

    anchor_parity: str
    context_prediction: str
    context_channels: int
    entropy_parameters: str
    y: GaussianConditionalNode
    kind: str = field(default="checkerboard", init=False)

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        return (f"{name}.anchor", f"{name}.non_anchor")


@dataclass(frozen=True)
class ChannelGroupsNode:
    """Channel groups coded one after another (Minnen & Singh 2020; He et al. 2022).

    ``y`` is split along channels into ``groups``. Group ``k`` gets the parameters
    ``params`` for ``k = 0`` and ``cat(channel_context[k](cat(y_hat[j] for j in
    context_groups[k])), params)`` after, then is coded by ``latent_codecs[k]``. Writes
    the strings of each group in turn, named ``<name><k>``.

    Attributes:
        groups: channels per group (sum ``M``).
        context_groups: per group, the earlier groups its channel context reads
            (all of them in ELIC; the first and the latest in Chandelier's variant);
            ``()`` for group 0.
        channel_context: per group, prefix of its channel-context network (``None`` for 0).
        latent_codecs: per group, its coding node.
    """

    groups: Tuple[int, ...]
    context_groups: Tuple[Tuple[int, ...], ...]
    channel_context: Tuple[Optional[str], ...]
    latent_codecs: Tuple["Node", ...]
    kind: str = field(default="channel_groups", init=False)

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        return tuple(s for k, node in enumerate(self.latent_codecs) for s in node.strings(f"{name}{k}"))


@dataclass(frozen=True)
class HyperNode:
    """The side-information branch: ``z = h_a(y)`` coded by an entropy bottleneck, and
    the parameters ``h_s(z_hat)`` handed to the main latent (Ballé et al. 2018).

    With ``gain`` (Cui et al. 2021), ``z`` is multiplied by a caller-given gain before
    coding and ``z_hat`` by its inverse before ``h_s``. Writes one string, ``z``.

    Attributes:
        h_a: prefix of the hyper-analysis, ``None`` for the identity.
        h_s: prefix of the hyper-synthesis, ``None`` for the identity.
        z: the entropy bottleneck of ``z``.
        gain: whether gains scale ``z``.
    """

    h_a: Optional[str]
    h_s: Optional[str]
    z: EntropyBottleneckNode
    gain: bool = False
    kind: str = field(default="hyper", init=False)

    def strings(self, name: str = "z") -> Tuple[str, ...]:
        return (name,)


@dataclass(frozen=True)
class HyperpriorNode:
    """A latent ``y`` coded with the parameters of a hyper branch: ``hyper`` first at the
    decoder, its output feeding ``y``. Writes ``y``'s strings, then ``z``.

    With ``gain`` (Cui et al. 2021), ``y`` is multiplied by a caller-given gain before
    ``y`` codes it and ``y_hat`` by the inverse gain after (and ``hyper`` has gains too).
    """

    hyper: HyperNode
    y: "Node"
    gain: bool = False
    kind: str = field(default="hyperprior", init=False)

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        return (*self.y.strings(name), *self.hyper.strings("z"))


Node = Union[
    EntropyBottleneckNode,
    GaussianConditionalNode,
    RasterScanNode,
    CheckerboardNode,
    ChannelGroupsNode,
    HyperNode,
    HyperpriorNode,
]


@dataclass(frozen=True)
class ModelDescription:
    """A whole model: ``x -> g_a -> y -> latent_codec -> y_hat -> g_s -> x_hat``.

    Attributes:
        architecture: the model's class name.
        g_a: prefix of the analysis transform.
        g_s: prefix of the synthesis transform.
        latent_codec: the coding graph of ``y``.
        downsampling_factor: total stride of ``g_a`` (image sizes are padded to multiples).
    """

    architecture: str
    g_a: str
    g_s: str
    latent_codec: Node
    downsampling_factor: int

    def strings(self) -> Tuple[str, ...]:
        """Names of the entries of ``compress()["strings"]``, in order."""
        return self.latent_codec.strings("y")


#: The node fields that name modules (state_dict prefixes): what :func:`renamed` renames.
PREFIX_FIELDS = frozenset({
    "entropy_bottleneck", "gaussian_conditional", "entropy_parameters", "context_prediction", "h_a", "h_s",
    "channel_context", "reconstruction_offsets", "gain_context",
})  # fmt: skip


def renamed(node: Node, rename: Callable[[str], str]) -> Node:
    """``node`` with every module prefix ``p`` (the fields in :data:`PREFIX_FIELDS`, in
    this node and the nodes under it) replaced by ``rename(p)``; ``None`` stays."""
    changes: Dict[str, Any] = {}
    for item in dataclasses.fields(node):
        if not item.init:
            continue
        value = getattr(node, item.name)
        if item.name in PREFIX_FIELDS:
            if isinstance(value, tuple):
                changes[item.name] = tuple(None if v is None else rename(v) for v in value)
            elif value is not None:
                changes[item.name] = rename(value)
        elif dataclasses.is_dataclass(value):
            changes[item.name] = renamed(cast(Node, value), rename)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            changes[item.name] = tuple(renamed(v, rename) for v in value)
    return dataclasses.replace(node, **changes)


def to_dict(description: Union[ModelDescription, Node]) -> Dict[str, Any]:
    """``description`` as nested dicts, lists and scalars (JSON-ready)."""
    return _jsonable(dataclasses.asdict(description))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value
