"""Access to tests/fixtures/compressai/modules.npz, the reference behaviour of
CompressAI 1.2.8's ops, layers and entropy models (see make_module_vectors.py there)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

PATH = Path(__file__).parent / "fixtures" / "compressai" / "modules.npz"


@functools.lru_cache(maxsize=1)
def _arrays() -> Dict[str, np.ndarray]:
    with np.load(PATH, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def cases(names: List[str]) -> List[str]:
    """The subset of ``names`` present in the file (all of them, unless it is stale)."""
    keys = _arrays()
    return [name for name in names if f"{name}/ctor" in keys or f"{name}/input" in keys]


def tensor(key: str) -> torch.Tensor:
    return torch.from_numpy(_arrays()[key].copy())


def text(key: str) -> str:
    return str(_arrays()[key])


def has(key: str) -> bool:
    return key in _arrays()


def state(prefix: str) -> Dict[str, torch.Tensor]:
    """The state_dict stored under ``prefix/`` (e.g. ``"eb/state"``)."""
    start = prefix + "/"
    return {key[len(start) :]: tensor(key) for key in _arrays() if key.startswith(start)}


def strings(prefix: str) -> List[bytes]:
    """The rANS strings stored under ``prefix/0``, ``prefix/1``, ..."""
    found = []
    while f"{prefix}/{len(found)}" in _arrays():
        found.append(_arrays()[f"{prefix}/{len(found)}"].tobytes())
    return found
