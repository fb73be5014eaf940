"""The errors the datasets raise, each also an instance of what CompressAI raises there."""

from __future__ import annotations

from neuralcodec.errors import NeuralCodecError

__all__ = ["DatasetNotFoundError", "InvalidChoiceError"]


class DatasetNotFoundError(NeuralCodecError, FileNotFoundError, RuntimeError):
    """A dataset directory or file that does not exist.

    A :class:`FileNotFoundError` and, as CompressAI's datasets raise for it, a
    :class:`RuntimeError`.
    """


class InvalidChoiceError(NeuralCodecError, ValueError, KeyError):
    """An argument outside its fixed set of choices: a :class:`ValueError` and, as
    CompressAI's table lookups raise, a :class:`KeyError`."""

    __str__ = ValueError.__str__
