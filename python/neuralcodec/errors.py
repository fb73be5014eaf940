"""The base of every exception neuralcodec defines.

``except NeuralCodecError`` catches any error the library raises on purpose (a damaged
file, a wrong model, an unknown dataset, a weights download that fails, ...), whatever
module raised it. Each exception class also keeps the built-in base that says what kind
of error it is (``ValueError`` for bad input, ``RuntimeError`` for a failing tool,
``TypeError`` for an unsupported module), so ``except ValueError`` keeps working too.

This module is at the bottom of the package: it imports nothing, so any module (the
torch-free command line included) can derive its errors from it.

The Rust core's :class:`neuralcodec.ans.StreamError` (a string that cannot be decoded) is
defined in the extension (``rust/python/mod.rs``) on :class:`NeuralCodecValueError`, so it
is in the hierarchy too.
"""

from __future__ import annotations

__all__ = ["NeuralCodecError", "NeuralCodecValueError"]


class NeuralCodecError(Exception):
    """Base class of the exceptions neuralcodec defines (see the module documentation)."""


class NeuralCodecValueError(NeuralCodecError, ValueError):
    """A value neuralcodec cannot work with; the base of the Rust core's ``StreamError``
    (a string that cannot be decoded), which the core defines on it."""
