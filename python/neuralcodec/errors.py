"""The base of every exception neuralcodec defines.

``except NeuralCodecError`` catches any error the library raises on purpose (a damaged
file, a wrong model, an unknown dataset, a weights download that fails, ...), whatever
module raised it. Each exception class also keeps the built-in base that says what kind
of error it is (``ValueError`` for bad input, ``RuntimeError`` for a failing tool,
``TypeError`` for an unsupported module), so ``except ValueError`` keeps working too.

This module is at the bottom of the package: it imports nothing but :mod:`typing`, so any
module (the torch-free command line included) can derive its errors from it. It also
builds the module ``__getattr__`` of the CompressAI modules neuralcodec leaves out
(:func:`unsupported_names_getattr`), so that their ImportErrors are written once.

The Rust core's :class:`neuralcodec.ans.StreamError` (a string that cannot be decoded) is
defined in the extension (``rust/python/mod.rs``) on :class:`NeuralCodecValueError`, so it
is in the hierarchy too.
"""

from __future__ import annotations

from typing import Callable, Collection, NoReturn

__all__ = ["NeuralCodecError", "NeuralCodecValueError", "unsupported_names_getattr"]


class NeuralCodecError(Exception):
    """Base class of the exceptions neuralcodec defines (see the module documentation)."""


class NeuralCodecValueError(NeuralCodecError, ValueError):
    """A value neuralcodec cannot work with; the base of the Rust core's ``StreamError``
    (a string that cannot be decoded), which the core defines on it."""


def unsupported_names_getattr(module: str, names: Collection[str], kind: str, needs: str) -> Callable[[str], NoReturn]:
    """A module-level ``__getattr__`` (PEP 562) for a CompressAI module whose names
    neuralcodec leaves out on purpose (its point-cloud datasets, losses and transforms).

    The module exists, so ``import neuralcodec.X`` works as ``import compressai.X`` does,
    but asking it for one of ``names`` raises an :class:`ImportError` that says what is
    missing and where to get it, rather than a bare :class:`AttributeError`; a ``from
    neuralcodec.X import name`` then fails with that message too. Any other name raises
    the usual :class:`AttributeError`. The message names the CompressAI module to use
    instead: ``module`` with its leading ``neuralcodec`` replaced by ``compressai`` (the
    two packages have the same module paths).

    Args:
        module: the module's ``__name__`` (``"neuralcodec.losses.pointcloud"``).
        names: the CompressAI names it does not provide.
        kind: what one of them is, for the message (``"point-cloud loss"``).
        needs: what CompressAI needs installed for them (``"torch_geometric"``).

    Returns:
        The function to bind to the module's ``__getattr__``.
    """
    unavailable = frozenset(names)
    _, dot, path = module.partition(".")
    compressai_module = f"compressai{dot}{path}"

    def __getattr__(name: str) -> NoReturn:
        if name in unavailable:
            raise ImportError(
                f"neuralcodec does not implement CompressAI's {kind} {name!r} (it codes images); "
                f"install compressai with {needs} and import it from {compressai_module}"
            )
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
