"""The base class of latent codecs and the helpers they share."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from torch import Tensor, nn

from neuralcodec.latent_codecs.description import Node, renamed

__all__ = ["LatentCodec", "describe_shared"]


class LatentCodec(nn.Module):
    """Codes one latent tensor ``y`` (``[N, C, H, W]``), possibly given parameters from a
    parent codec. Subclasses implement the CompressAI contract:

    * ``forward(y, ...)`` -> ``{"likelihoods": {name: tensor}, "y_hat": tensor}``
      (a hyper branch returns ``"params"`` instead of ``"y_hat"``);
    * ``compress(y, ...)`` -> ``{"strings": [[bytes per image] per string], "shape":
      ..., "y_hat": ...}``;
    * ``decompress(strings, shape, ...)`` -> ``{"y_hat": ...}``;

    and :meth:`describe`, the codec as torch-free data
    (:mod:`neuralcodec.latent_codecs.description`).
    """

    def forward(self, y: Tensor, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        raise NotImplementedError

    def compress(self, y: Tensor, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        raise NotImplementedError

    def decompress(self, strings: Sequence[Sequence[bytes]], shape: Any, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        raise NotImplementedError

    def describe(self, prefix: str = "") -> Node:
        """This codec's coding graph; networks are named by state_dict prefix under ``prefix``."""
        raise NotImplementedError(f"{type(self).__name__} does not describe itself")


def child_prefix(prefix: str, name: str) -> str:
    """The state_dict prefix of submodule ``name`` of the module at ``prefix``."""
    return f"{prefix}.{name}" if prefix else name


def network_prefix(module: Optional[nn.Module], prefix: str, name: str) -> Optional[str]:
    """``child_prefix(prefix, name)``, or ``None`` when ``module`` is absent or the identity."""
    if module is None or isinstance(module, nn.Identity):
        return None
    return child_prefix(prefix, name)


def check_strings(strings: Sequence[Sequence[bytes]], expected: int, owner: str) -> int:
    """Checks ``strings`` holds ``expected`` lists of equal length; returns the batch size."""
    if not isinstance(strings, (list, tuple)) or len(strings) != expected:
        got = len(strings) if isinstance(strings, (list, tuple)) else type(strings).__name__
        raise ValueError(f"{owner} needs {expected} lists of strings (one per coded string), got {got}")
    sizes = {len(group) for group in strings}
    if len(sizes) != 1:
        raise ValueError(f"{owner}: every string list must hold one string per image, got lengths {sorted(sizes)}")
    return sizes.pop()


def describe_shared(owner: nn.Module, codec: LatentCodec, aliases: Optional[Mapping[str, str]] = None) -> Node:
    """The description of ``codec``, a composition of latent codecs over ``owner``'s own
    modules that ``owner`` does not register (so its state_dict keys stay its own, e.g.
    CompressAI's ``h_a.*`` rather than ``latent_codec.hyper.h_a.*``): each module prefix
    is renamed to the module's name in ``owner``, or by ``aliases`` (codec prefix ->
    name) for a module ``owner`` does not hold as such (e.g. a wrapper around one).

    Raises:
        ValueError: a module of ``codec`` that ``owner`` neither holds nor aliases.
    """
    names = {id(module): name for name, module in owner.named_modules() if name}
    aliases = dict(aliases or {})

    def rename(prefix: str) -> str:
        if prefix in aliases:
            return aliases[prefix]
        try:
            return names[id(codec.get_submodule(prefix))]
        except (AttributeError, KeyError):
            raise ValueError(f"the latent codec's {prefix!r} is not a module of {type(owner).__name__}") from None

    return renamed(codec.describe(), rename)
