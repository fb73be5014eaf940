"""Loading the CompressAI reference vectors committed under ``tests/fixtures/compressai/``
(each ``.npz`` made by the script beside it; see that folder's README)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

FOLDER = Path(__file__).parent / "fixtures" / "compressai"


class Vectors:
    """The arrays of one ``.npz`` file, read once: ``arrays()``, ``tensor(key)`` (a
    writable copy), ``cases()`` (the names under ``meta/cases``)."""

    def __init__(self, name: str) -> None:
        self.path = FOLDER / name

    @functools.lru_cache(maxsize=1)  # noqa: B019 (one instance per file, alive for the session)
    def arrays(self) -> Dict[str, np.ndarray]:
        with np.load(self.path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}

    def tensor(self, key: str) -> torch.Tensor:
        return torch.from_numpy(self.arrays()[key].copy())

    def cases(self) -> List[str]:
        return [str(name) for name in self.arrays()["meta/cases"]]
