"""The base class of latent codecs and the helpers they share."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from torch import Tensor, nn

from neuralcodec.latent_codecs.description import Node

__all__ = ["LatentCodec"]


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
