"""The base of every exception neuralcodec defines.

``except NeuralCodecError`` catches any error the library raises on purpose (a damaged
file, a wrong model, an unknown dataset, a weights download that fails, ...), whatever
module raised it. Each exception class also keeps the built-in base that says what kind
of error it is (``ValueError`` for bad input, ``RuntimeError`` for a failing tool,
``TypeError`` for an unsupported module), so ``except ValueError`` keeps working too.

This module is at the bottom of the package: it imports nothing, so any module (the
torch-free command line included) can derive its errors from it.

One exception is outside the hierarchy for now: :class:`neuralcodec.ans.StreamError`
(a ``ValueError``) is made by the Rust core (``rust/python/mod.rs``), whose exception
types cannot take a Python base class without a change of the extension.
"""

from __future__ import annotations

__all__ = ["NeuralCodecError"]


class NeuralCodecError(Exception):
    """Base class of the exceptions neuralcodec defines (see the module documentation)."""
