"""neuralcodec: learned image compression.

Neural transforms and entropy models in PyTorch; the rANS coder and CDF quantization in
a Rust core (:mod:`neuralcodec.ans`), bit-exact on every machine and byte-compatible
with CompressAI.

Subpackages by concern: :mod:`neuralcodec.ans` (entropy coder), ``ops``, ``layers``,
``entropy_models``, ``latent_codecs``, ``models``, ``zoo`` (pretrained and shipped
weights), ``codec`` (the image file format), ``train``, ``eval``, ``bench``, ``export``,
and CompressAI 1.2.8's ``datasets``, ``losses``, ``optimizers``, ``registry``,
``transforms``, ``typing`` and ``utils``. Every submodule is imported on first use (as
an attribute, ``neuralcodec.models``, or by an import statement), so ``import
neuralcodec`` stays cheap and does not import torch.

The entropy coder that CompressAI-style code paths use is chosen process-wide, as in
CompressAI: :func:`set_entropy_coder`, :func:`get_entropy_coder`,
:func:`available_entropy_coders`. neuralcodec has one coder, the Rust rANS coder, named
``"ans"`` (byte-compatible with CompressAI's coder of that name).
"""

from __future__ import annotations

import importlib
from typing import Any, List

from neuralcodec._core import __version__

__all__ = [
    "__version__",
    "available_entropy_coders",
    "datasets",
    "entropy_models",
    "get_entropy_coder",
    "latent_codecs",
    "layers",
    "losses",
    "models",
    "ops",
    "optimizers",
    "registry",
    "set_entropy_coder",
    "transforms",
    "typing",
    "zoo",
]

#: The submodules that ``neuralcodec.<name>`` imports on first access.
_SUBMODULES = frozenset(
    {
        "ans",
        "bench",
        "codec",
        "datasets",
        "engine",
        "entropy_models",
        "eval",
        "export",
        "latent_codecs",
        "layers",
        "losses",
        "models",
        "ops",
        "optimizers",
        "registry",
        "train",
        "transforms",
        "typing",
        "utils",
        "zoo",
    }
)

#: The entropy coders this installation offers, by CompressAI's names.
_ENTROPY_CODERS = ("ans",)
_entropy_coder = "ans"


def available_entropy_coders() -> List[str]:
    """The names of the entropy coders :func:`set_entropy_coder` accepts (a new list):
    ``["ans"]``, neuralcodec's rANS coder."""
    return list(_ENTROPY_CODERS)


def get_entropy_coder() -> str:
    """The name of the entropy coder that entropy models created without an explicit
    ``entropy_coder`` use (``"ans"`` unless :func:`set_entropy_coder` chose another)."""
    return _entropy_coder


def set_entropy_coder(entropy_coder: str) -> None:
    """Chooses the default entropy coder of the process, by name.

    Entropy models read it when they are created (``entropy_coder=None``), as in
    CompressAI; models already built keep theirs.

    Raises:
        ValueError: ``entropy_coder`` is not one of :func:`available_entropy_coders`.
    """
    global _entropy_coder
    if not isinstance(entropy_coder, str) or entropy_coder not in _ENTROPY_CODERS:
        raise ValueError(
            f"unknown entropy coder {entropy_coder!r}; available: {', '.join(_ENTROPY_CODERS)}"
        )
    _entropy_coder = entropy_coder


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | _SUBMODULES)
