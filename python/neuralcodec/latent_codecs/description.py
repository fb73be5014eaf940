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

Each node kind is known here and nowhere else: a node says what it is to the engine
(:meth:`Node.coder_spec`, the spec :mod:`neuralcodec.graph_spec` documents, built
through a :class:`SpecBuilder` that turns named modules into arrays), what the
export names its transforms and the hyper-synthesis output (:meth:`Node.transforms`,
:meth:`Node.parameters_role`), how the export decodes it (:attr:`Node.exported_as`) and
which strings it writes (:meth:`Node.strings`). The engine, the spec reader and the
exporter call these methods and never ask which kind a node is, so a new kind is one
class here (and its Rust coder, ``rust/python/spec.rs``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple, Union, cast

from neuralcodec.errors import NeuralCodecError

__all__ = [
    "ChannelGroupsNode",
    "CheckerboardNode",
    "EngineUnsupportedError",
    "EntropyBottleneckNode",
    "GaussianConditionalNode",
    "HyperNode",
    "HyperpriorNode",
    "ModelDescription",
    "Node",
    "PREFIX_FIELDS",
    "RasterScanNode",
    "SpecBuilder",
    "renamed",
    "to_dict",
]


Spec = Dict[str, Any]


class EngineUnsupportedError(NeuralCodecError, TypeError):
    """A module or node the engine cannot reproduce (e.g. a custom layer in ``h_s``);
    :mod:`neuralcodec.engine` exports it under the same name."""


class SpecBuilder:
    """What a node needs to write its engine spec: arrays of the modules it names.

    :mod:`neuralcodec.engine` implements it over a model's modules (with torch); the
    nodes below call these methods only, so this module stays free of torch. Every
    method takes a module's state_dict ``prefix`` and the ``name`` its arrays are
    recorded under, and raises :class:`EngineUnsupportedError` for a module the engine
    cannot reproduce bit-exactly.
    """

    def network(self, prefix: Optional[str], name: str, pointwise: bool = False) -> List[Spec]:
        """The layers of the network at ``prefix`` (none for the identity, ``None``);
        ``pointwise``: refuse layers that read neighbouring pixels."""
        raise NotImplementedError

    def same_convolution(self, prefix: str, name: str, mask_a: bool = False) -> Tuple[str, int, int]:
        """A (masked) convolution with an odd kernel, stride 1 and "same" padding, masked
        weights and bias recorded under ``name``; ``mask_a``: it must be a mask-A
        :class:`~neuralcodec.layers.MaskedConv2d`. Returns ``(name, in channels, out
        channels)``."""
        raise NotImplementedError

    def split_network(self, prefix: str, name: str) -> Tuple[str, int, List[Spec]]:
        """A network that starts with a 1x1 convolution (the autoregressive parameter
        networks): ``(that convolution's weights, recorded under name + "_first", its
        input channels, the other layers, recorded under name + "_rest")``."""
        raise NotImplementedError

    def column(self, prefix: str, name: str) -> str:
        """A ``Linear(1, n)`` with a bias, recorded as ``name.weight`` ``[n]`` and
        ``name.bias`` ``[n]``."""
        raise NotImplementedError

    def gaussian_tables(self, prefix: str, name: str) -> Spec:
        """``{"scale_table", "scale_bound", "table"}`` of the Gaussian conditional at ``prefix``.

        Raises:
            ValueError: its tables are not built (``update()``).
        """
        raise NotImplementedError

    def in_channels(self, prefix: str) -> int:
        """The input channels of the convolution at ``prefix``."""
        raise NotImplementedError

    def latent_channels(self) -> int:
        """The latent channels the model states (its ``M``), for a node that does not."""
        raise NotImplementedError


#: The engine's names of the parameter splits it codes (those with scales).
_CHUNKS = {("scales", "means"): "scales_means", ("means", "scales"): "means_scales", ("scales",): "scales"}


class Node:
    """What every node of the coding graph answers; the defaults are those of a node that
    neither the engine nor the export codes (an entropy bottleneck as ``y``, a bare hyper
    branch). The nodes are frozen dataclasses deriving from this."""

    #: How the torch-free decoder decodes a model whose root is this node: ``"graph"``
    #: (the engine spec), ``"factorized"`` (one entropy bottleneck) or None (it cannot).
    exported_as: ClassVar[Optional[str]] = None
    #: The node type (a field of each node's dataclass).
    kind: str

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        """Names of the strings the node writes, in order (see the module documentation)."""
        raise NotImplementedError

    def graph_spec(self, builder: SpecBuilder, owner: str) -> Spec:
        """The engine spec ``{"hyper", "coder"}`` of a model whose root is this node
        (``owner``: the model's name, for errors)."""
        raise EngineUnsupportedError(f"{owner} has no hyperprior description for the engine; use coding_path='compat'")

    def coder_spec(self, builder: SpecBuilder, channels: int, name: str) -> Spec:
        """The engine spec of this node coding ``channels`` channels, arrays under ``name``."""
        return self.leaf_spec(builder, channels, name)

    def leaf_spec(self, builder: SpecBuilder, channels: int, name: str) -> Spec:
        """:meth:`coder_spec` of a node that codes positions itself (a checkerboard's passes)."""
        raise EngineUnsupportedError(f"the engine codes Gaussian leaves, got {self.kind}")

    def latent_channels(self, builder: SpecBuilder) -> int:
        """The channels of the latent this node codes."""
        return builder.latent_channels()

    def transforms(self) -> Dict[str, Optional[str]]:
        """The side transforms the node runs, by export name (``h_a``, ``h_s``) -> prefix."""
        return {}

    def parameters_role(self) -> Tuple[str, str]:
        """``(name, meaning)`` of the parameters this node reads from a hyper-synthesis."""
        return "hyper_params", (
            f"hyperprior parameters, read by y's {self.kind.replace('_', '-')} coding with its context networks "
            "(the manifest's entropy graph)"
        )

    def hyper_output(self) -> Tuple[str, str]:
        """``(name, meaning)`` of the hyper-synthesis output of a model whose root is this node."""
        return "params", "entropy parameters of y"


def _gain_spec(node: Any, builder: SpecBuilder, name: str) -> Spec:
    """``gained`` and the reconstruction offsets of a leaf or raster-scan node."""
    if node.reconstruction_offsets is not None and not node.gain:
        raise EngineUnsupportedError(f"{node.kind}: reconstruction offsets need a gain")
    offsets = node.reconstruction_offsets
    return {
        "gained": bool(node.gain),
        "offsets": None if offsets is None else builder.network(offsets, f"{name}.offsets", pointwise=True),
    }


@dataclass(frozen=True)
class EntropyBottleneckNode(Node):
    """A latent coded with a learned density per channel (Ballé et al. 2018).

    Symbols ``round(v - median_c)``, CDF row = channel. Writes one string.

    Attributes:
        entropy_bottleneck: prefix of the :class:`~neuralcodec.entropy_models.EntropyBottleneck`.
        channels: number of channels ``C``.
    """

    entropy_bottleneck: str
    channels: int
    kind: str = field(default="entropy_bottleneck", init=False)
    exported_as: ClassVar[Optional[str]] = "factorized"

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        return (name,)


@dataclass(frozen=True)
class GaussianConditionalNode(Node):
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

    def leaf_spec(self, builder: SpecBuilder, channels: int, name: str) -> Spec:
        chunks = _CHUNKS.get(tuple(self.chunks))
        if chunks is None:
            raise EngineUnsupportedError(f"the engine needs scales in the parameters, got chunks {self.chunks}")
        return {
            "op": "gaussian",
            "channels": int(channels),
            "entropy": builder.network(self.entropy_parameters, f"{name}.entropy", pointwise=True),
            "chunks": chunks,
            **builder.gaussian_tables(self.gaussian_conditional, name),
            **_gain_spec(self, builder, name),
        }

    def parameters_role(self) -> Tuple[str, str]:
        if self.entropy_parameters is None:
            meanings = {
                ("scales",): ("scales", "Gaussian scales of y (means are zero)"),
                ("scales", "means"): (
                    "scales_means", "Gaussian scales then means of y: split in two halves along channels"
                ),
                ("means", "scales"): (
                    "means_scales", "Gaussian means then scales of y: split in two halves along channels"
                ),
            }
            if tuple(self.chunks) in meanings:
                return meanings[tuple(self.chunks)]
        return super().parameters_role()


@dataclass(frozen=True)
class RasterScanNode(Node):
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

    def latent_channels(self, builder: SpecBuilder) -> int:
        return builder.in_channels(self.context_prediction)

    def coder_spec(self, builder: SpecBuilder, channels: int, name: str) -> Spec:
        context, _, context_channels = builder.same_convolution(self.context_prediction, f"{name}.context", mask_a=True)
        first, first_in, rest = builder.split_network(self.entropy_parameters, f"{name}.entropy")
        gain_context = None
        if self.gain_context is not None:
            if not self.gain:
                raise EngineUnsupportedError("the raster scan's gain context needs a gained latent")
            gain_context = builder.column(self.gain_context, f"{name}.gain_context")
        return {
            "op": "raster_scan",
            "context": context,
            "entropy_first": first,
            "entropy_rest": rest,
            "params_channels": int(first_in - context_channels),
            **builder.gaussian_tables(self.gaussian_conditional, name),
            **_gain_spec(self, builder, name),
            "gain_context": gain_context,
        }


@dataclass(frozen=True)
class CheckerboardNode(Node):
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

    def latent_channels(self, builder: SpecBuilder) -> int:
        return builder.in_channels(self.context_prediction)

    def coder_spec(self, builder: SpecBuilder, channels: int, name: str) -> Spec:
        context, _, _ = builder.same_convolution(self.context_prediction, f"{name}.context")
        return {
            "op": "checkerboard",
            "anchor_parity": self.anchor_parity,
            "context": context,
            "entropy": builder.network(self.entropy_parameters, f"{name}.entropy", pointwise=True),
            "leaf": self.y.leaf_spec(builder, channels, f"{name}.leaf"),
        }


@dataclass(frozen=True)
class ChannelGroupsNode(Node):
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

    def latent_channels(self, builder: SpecBuilder) -> int:
        return sum(self.groups)

    def coder_spec(self, builder: SpecBuilder, channels: int, name: str) -> Spec:
        if sum(self.groups) != channels:
            raise EngineUnsupportedError(f"channel groups {self.groups} do not sum to the latent's {channels}")
        return {
            "op": "channel_groups",
            "groups": [int(g) for g in self.groups],
            "sources": [[int(j) for j in sources] for sources in self.context_groups],
            "contexts": [
                None if prefix is None else builder.network(prefix, f"{name}.context{k}")
                for k, prefix in enumerate(self.channel_context)
            ],
            "coders": [
                child.coder_spec(builder, size, f"{name}.y{k}")
                for k, (child, size) in enumerate(zip(self.latent_codecs, self.groups))
            ],
        }


@dataclass(frozen=True)
class HyperNode(Node):
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

    def transforms(self) -> Dict[str, Optional[str]]:
        return {"h_a": self.h_a, "h_s": self.h_s}


@dataclass(frozen=True)
class HyperpriorNode(Node):
    """A latent ``y`` coded with the parameters of a hyper branch: ``hyper`` first at the
    decoder, its output feeding ``y``. Writes ``y``'s strings, then ``z``.

    With ``gain`` (Cui et al. 2021), ``y`` is multiplied by a caller-given gain before
    ``y`` codes it and ``y_hat`` by the inverse gain after (and ``hyper`` has gains too).
    """

    hyper: HyperNode
    y: "Node"
    gain: bool = False
    kind: str = field(default="hyperprior", init=False)
    exported_as: ClassVar[Optional[str]] = "graph"

    def strings(self, name: str = "y") -> Tuple[str, ...]:
        return (*self.y.strings(name), *self.hyper.strings("z"))

    def graph_spec(self, builder: SpecBuilder, owner: str) -> Spec:
        if self.hyper.h_s is None:
            return super().graph_spec(builder, owner)
        channels = self.y.latent_channels(builder)
        hyper = builder.network(self.hyper.h_s, "h_s")
        return {"hyper": hyper, "coder": self.y.coder_spec(builder, channels, "y")}

    def transforms(self) -> Dict[str, Optional[str]]:
        return self.hyper.transforms()

    def hyper_output(self) -> Tuple[str, str]:
        return self.y.parameters_role()


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

    def transforms(self) -> Dict[str, str]:
        """The model's neural transforms by export name (``g_a``, ``g_s``, and ``h_a``,
        ``h_s`` where the coding graph has them) -> state_dict prefix; the identity
        (``None``) is left out."""
        found: Dict[str, Optional[str]] = {"g_a": self.g_a, "g_s": self.g_s, **self.latent_codec.transforms()}
        return {name: prefix for name, prefix in found.items() if prefix is not None}

    def engine_spec(self, builder: SpecBuilder) -> Spec:
        """The spec the engine is built from (:mod:`neuralcodec.graph_spec`).

        Raises:
            EngineUnsupportedError: a node or module the engine cannot code.
            ValueError: ``update()`` has not built the tables.
        """
        return self.latent_codec.graph_spec(builder, self.architecture)

    @property
    def exported_as(self) -> Optional[str]:
        """How the torch-free decoder decodes this model (see :attr:`Node.exported_as`)."""
        return self.latent_codec.exported_as

    def hyper_output(self) -> Tuple[str, str]:
        """``(name, meaning)`` of ``h_s``'s output: what its parameters are to ``y``'s node."""
        return self.latent_codec.hyper_output()


#: The node fields that name modules (state_dict prefixes): what :func:`renamed` renames.
PREFIX_FIELDS = frozenset({
    "entropy_bottleneck", "gaussian_conditional", "entropy_parameters", "context_prediction", "h_a", "h_s",
    "channel_context", "reconstruction_offsets", "gain_context",
})  # fmt: skip


def renamed(node: Node, rename: Callable[[str], str]) -> Node:
    """``node`` with every module prefix ``p`` (the fields in :data:`PREFIX_FIELDS`, in
    this node and the nodes under it) replaced by ``rename(p)``; ``None`` stays."""
    changes: Dict[str, Any] = {}
    data: Any = node  # every node is a dataclass (Node, their base, is not one)
    for item in dataclasses.fields(data):
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
    return cast(Node, dataclasses.replace(data, **changes))


def to_dict(description: Union[ModelDescription, Node]) -> Dict[str, Any]:
    """``description`` as nested dicts, lists and scalars (JSON-ready)."""
    data: Any = description
    return _jsonable(dataclasses.asdict(data))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value
