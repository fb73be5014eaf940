"""Which tables each coding path codes with: the rule that no string is ever made or read
with tables of the other construction.

The engine path's strings are bit-exact on every machine only with portable tables; the
CompressAI-compatible path gives CompressAI's strings only with CompressAI's tables
(:mod:`neuralcodec.entropy_models.tables`). :func:`check_tables` refuses, with a
:class:`TableMismatchError` that names the ``update(...)`` call that fixes it, to code on
one path with tables that the other path's construction built; tables loaded from a
state_dict (:data:`~neuralcodec.entropy_models.tables.STORED`) are model data and code on
every path. :func:`bound_tables` lifts the rule for callers that bind the tables to the
strings themselves.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Dict, Iterator

from torch import nn

from neuralcodec.entropy_models.base import EntropyModel
from neuralcodec.entropy_models.tables import STORED
from neuralcodec.errors import NeuralCodecError

__all__ = ["TABLE_METHOD_OF_PATH", "TableMismatchError", "bound_tables", "check_tables"]

#: The construction each coding path codes with when tables are *built* (not loaded):
#: the engine path's strings are bit-exact on every machine only with portable tables,
#: and the compat path gives CompressAI's strings only with CompressAI's.
TABLE_METHOD_OF_PATH: Dict[str, str] = {"engine": "portable", "compat": "compressai"}

_BOUND_TABLES: "contextvars.ContextVar[bool]" = contextvars.ContextVar("neuralcodec_bound_tables", default=False)


class TableMismatchError(NeuralCodecError, ValueError):
    """Tables built by one construction are about to code on the path of the other.

    Raised before any string is written or read, instead of strings that another
    party's tables would decode to garbage or refuse. The message names the call that
    builds the right tables."""


@contextlib.contextmanager
def bound_tables() -> Iterator[None]:
    """Within this context :func:`check_tables` accepts any tables on any path.

    For callers that bind the tables to the strings themselves: neuralcodec's file format
    names the model by a hash of its state_dict, CDF tables included, so a decoder whose
    tables differ in one count refuses the file before decoding (``docs/format.md``); the
    construction that built them then does not matter. Context-local (threads and asyncio
    tasks each see their own)."""
    token = _BOUND_TABLES.set(True)
    try:
        yield
    finally:
        _BOUND_TABLES.reset(token)


def check_tables(module: nn.Module, path: str) -> None:
    """Refuses to code on ``path`` with tables that another path's construction built.

    Every :class:`EntropyModel` inside ``module`` (itself included) must hold tables that
    were loaded (:data:`STORED`), none yet, or tables built by
    ``TABLE_METHOD_OF_PATH[path]``: ``"portable"`` for ``"engine"``, ``"compressai"`` for
    ``"compat"``. Inside :func:`bound_tables` anything is accepted. Paths this rule does
    not know are accepted.

    Raises:
        TableMismatchError: naming the entropy model, how its tables were built, and the
            ``update(...)`` call that builds the path's tables.
    """
    wanted = TABLE_METHOD_OF_PATH.get(path)
    if wanted is None or _BOUND_TABLES.get():
        return
    for name, child in module.named_modules():
        if not isinstance(child, EntropyModel):
            continue
        built = child.table_method
        if built in (None, STORED, wanted):
            continue
        where = f"{type(module).__name__}.{name}" if name else type(module).__name__
        raise TableMismatchError(
            f"{where} holds CDF tables built by update(method={built!r}), but the {path!r} coding "
            f"path codes with {wanted!r} tables (strings made with other tables would not decode); "
            f"call update(force=True, method={wanted!r}) on the model first"
            + (" (for CompressAI's strings)" if path == "compat" else " (the same tables on every machine)")
        )
