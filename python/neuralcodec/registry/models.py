"""The model registry: the one owner of model names (standard library only).

A model is known by name once its class is decorated with :func:`register_model` and it
has a :class:`ZooEntry` (:data:`ZOO_ENTRIES`): the sizes the zoo builds it with at each
quality, and whether it codes at a continuous quality. Everything else that lists models
derives from these two tables: the zoo's ``model_architectures``/``cfgs``/``image_models``
and entry points (:mod:`neuralcodec.zoo.image`), the rate points and the variable-rate
list of :mod:`neuralcodec.settings`, the command line's ``--model`` names, the trainer.

The zoo entries are plain data, so the command line can name the models and their rate
points without importing torch (``neuralcodec --help`` stays cheap); the classes register
themselves when :mod:`neuralcodec.models` is imported. Adding a model is therefore::

    @register_model("my-model")
    class MyModel(CompressionModel): ...

    add_zoo_entry("my-model", ZooEntry(sizes={1: (64, 96), 2: (128, 192)}))

after which ``neuralcodec.zoo.load_model("my-model", 2)``, the codec's loading by
architecture and the command line's ``--model my-model`` know it.

Names are CompressAI's (``"mbt2018-mean"``, ...), and :data:`MODELS` and
:func:`register_model` are CompressAI's ``compressai.registry`` ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Mapping, Sequence, Tuple, TypeVar, Union, overload

V = TypeVar("V")

__all__ = [
    "CRITERIONS",
    "DATASETS",
    "MODELS",
    "MODULES",
    "ZOO_ENTRIES",
    "LiveMapping",
    "NameView",
    "ZooEntry",
    "add_zoo_entry",
    "register_criterion",
    "register_dataset",
    "register_in",
    "register_model",
    "register_module",
    "variable_rate_names",
    "zoo_names",
]

T = TypeVar("T")

#: Name -> model class (CompressAI's ``MODELS``), filled by :func:`register_model`.
MODELS: Dict[str, Callable[..., Any]] = {}
#: Name -> loss class (CompressAI's ``CRITERIONS``), filled by :func:`register_criterion`.
CRITERIONS: Dict[str, Callable[..., Any]] = {}
#: Name -> dataset class (CompressAI's ``DATASETS``), filled by :func:`register_dataset`.
DATASETS: Dict[str, Callable[..., Any]] = {}
#: Name -> module class (CompressAI's ``MODULES``), filled by :func:`register_module`.
MODULES: Dict[str, Callable[..., Any]] = {}


def register_in(table: Dict[str, Callable[..., Any]], name: str) -> Callable[[T], T]:
    """Decorator: stores the decorated class or factory under ``name`` in ``table`` (a
    later one of the same name replaces it) and returns it unchanged. The body of every
    ``register_*`` decorator (these, :mod:`neuralcodec.registry.torch`'s and
    :mod:`neuralcodec.registry.transforms`')."""

    def decorator(obj: T) -> T:
        table[name] = obj  # type: ignore[assignment]
        return obj

    return decorator


def _registrar(table: Dict[str, Callable[..., Any]], kind: str) -> Callable[[str], Callable[[T], T]]:
    def register(name: str) -> Callable[[T], T]:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {kind} name is a non-empty string, got {name!r}")
        return register_in(table, name)

    register.__name__ = register.__qualname__ = f"register_{kind}"
    register.__doc__ = (
        f"Class decorator: registers the decorated {kind} under ``name`` (a later registration "
        "of the same name replaces the earlier one, as in CompressAI) and returns it unchanged."
    )
    return register


register_model = _registrar(MODELS, "model")
register_criterion = _registrar(CRITERIONS, "criterion")
register_dataset = _registrar(DATASETS, "dataset")
register_module = _registrar(MODULES, "module")


@dataclass(frozen=True)
class ZooEntry:
    """How the zoo builds a registered model by quality.

    Attributes:
        sizes: quality -> the positional constructor arguments at that quality (CompressAI's
            ``cfgs``: ``(N, M)``, or ``(N,)`` for the Cheng2020 models); its keys are the
            model's rate points, its tuple length the number of size arguments the class takes.
        variable_rate: one network for every rate (Kamisli et al. 2024): the qualities are
            the gain levels it interpolates between, and the zoo also takes ``quality=0``
            (CompressAI's default for these, ignored).
    """

    sizes: Mapping[int, Tuple[int, ...]]
    variable_rate: bool = False
    qualities: Tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ValueError("a zoo entry needs at least one quality")
        arities = {len(args) for args in self.sizes.values()}
        if len(arities) != 1:
            raise ValueError(f"every quality must give the same number of size arguments, got {sorted(arities)}")
        for quality in self.sizes:
            if isinstance(quality, bool) or not isinstance(quality, int) or quality < 1:
                raise ValueError(f"qualities are integers >= 1, got {quality!r}")
        object.__setattr__(self, "sizes", {q: tuple(self.sizes[q]) for q in sorted(self.sizes)})
        object.__setattr__(self, "qualities", tuple(self.sizes))

    @property
    def arity(self) -> int:
        """How many size arguments the class takes (1 for ``(N,)``, 2 for ``(N, M)``)."""
        return len(next(iter(self.sizes.values())))


def _by_quality(qualities: range, small: Tuple[int, ...], large: Tuple[int, ...], last_small: int) -> ZooEntry:
    return ZooEntry({q: small if q <= last_small else large for q in qualities})


_SMALL, _LARGE = (128, 192), (192, 320)

#: Name -> zoo entry. The built-in ones: CompressAI's sizes per quality; for the three
#: models CompressAI has as classes only, the anchor's sizes (checkerboard) and ELIC's
#: (N=192, M=320 at every rate, He et al. 2022); CompressAI's variable-rate models are one
#: network (N=192, M=320) with 8 gain levels, neuralcodec's ``elic-lite-vbr`` one network
#: (N=128, M=192) with 6.
ZOO_ENTRIES: Dict[str, ZooEntry] = {
    "bmshj2018-factorized": _by_quality(range(1, 9), _SMALL, _LARGE, 5),
    "bmshj2018-hyperprior": _by_quality(range(1, 9), _SMALL, _LARGE, 5),
    "mbt2018-mean": _by_quality(range(1, 9), _SMALL, _LARGE, 4),
    "mbt2018": _by_quality(range(1, 9), (192, 192), _LARGE, 4),
    "cheng2020-anchor": _by_quality(range(1, 7), (128,), (192,), 3),
    "cheng2020-attn": _by_quality(range(1, 7), (128,), (192,), 3),
    "bmshj2018-factorized-relu": _by_quality(range(1, 9), _SMALL, _LARGE, 5),
    "cheng2020-anchor-checkerboard": _by_quality(range(1, 7), (128,), (192,), 3),
    "elic2022-official": ZooEntry(dict.fromkeys(range(1, 9), _LARGE)),
    "elic2022-chandelier": ZooEntry(dict.fromkeys(range(1, 9), _LARGE)),
    "bmshj2018-hyperprior-vbr": ZooEntry(dict.fromkeys(range(1, 9), _LARGE), variable_rate=True),
    "mbt2018-mean-vbr": ZooEntry(dict.fromkeys(range(1, 9), _LARGE), variable_rate=True),
    "mbt2018-vbr": ZooEntry(dict.fromkeys(range(1, 9), _LARGE), variable_rate=True),
    # neuralcodec's candidate default (N=128, M=192, 6 learned gain levels; no published weights).
    "elic-lite-vbr": ZooEntry(dict.fromkeys(range(1, 7), (128, 192)), variable_rate=True),
    # neuralcodec's mean-scale model with learned gain units, at the shipped models' size
    # and rate points (N=96, M=128, 4 levels; issue 28).
    "mbt2018-mean-gained": ZooEntry(dict.fromkeys(range(1, 5), (96, 128)), variable_rate=True),
    # neuralcodec's rate ladder: the shipped fixed-rate models as rungs (N=96, M=128, 4 rungs)
    # with gain units between them (issue 28).
    "mbt2018-mean-ladder": ZooEntry(dict.fromkeys(range(1, 5), (96, 128)), variable_rate=True),
}


def add_zoo_entry(name: str, entry: ZooEntry) -> ZooEntry:
    """Gives the registered model ``name`` (or one about to be registered) its zoo entry.

    Raises:
        TypeError: ``entry`` is not a :class:`ZooEntry`.
    """
    if not isinstance(entry, ZooEntry):
        raise TypeError(f"expected a ZooEntry, got {type(entry).__name__}")
    ZOO_ENTRIES[name] = entry
    return entry


def zoo_names() -> Tuple[str, ...]:
    """The names with a zoo entry, in the order they were added."""
    return tuple(ZOO_ENTRIES)


def variable_rate_names() -> Tuple[str, ...]:
    """The names whose zoo entry codes at a continuous quality."""
    return tuple(name for name, entry in ZOO_ENTRIES.items() if entry.variable_rate)


class NameView(Sequence[str]):
    """A read-only, live sequence of names, recomputed from the registry at each use (so a
    model registered later appears in it). Joins (``", ".join(view)``), membership and
    ``+`` with a tuple work as with the tuple it replaces."""

    def __init__(self, names: Callable[[], Tuple[str, ...]]) -> None:
        self._names = names

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Tuple[str, ...]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[str, Tuple[str, ...]]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __add__(self, other: Sequence[str]) -> Tuple[str, ...]:
        return self._names() + tuple(other)

    def __radd__(self, other: Sequence[str]) -> Tuple[str, ...]:
        return tuple(other) + self._names()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (NameView, tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._names())


class LiveMapping(Mapping[str, V]):
    """A read-only mapping recomputed from the registry at each use: ``table()`` returns
    the current dict (so a model registered later appears in it)."""

    def __init__(self, table: Callable[[], Mapping[str, V]]) -> None:
        self._table = table

    def __getitem__(self, name: str) -> V:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __contains__(self, name: object) -> bool:
        return name in self._table()

    def __repr__(self) -> str:
        return repr(dict(self._table()))
