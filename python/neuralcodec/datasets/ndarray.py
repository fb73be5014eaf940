"""A dataset over numpy arrays that share their first axis."""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np
from torch.utils.data import Dataset

__all__ = ["NdArrayDataset"]


class NdArrayDataset(Dataset):
    """Item ``i`` is ``tuple(a[i] for a in arrays)``, or ``arrays[0][i]`` with ``single``.

    Args:
        *arrays: arrays with the same length on axis 0.
        single: exactly one array, whose rows are returned bare instead of in a tuple.

    Raises:
        ValueError: no arrays, arrays of different lengths, or ``single`` with more
            than one array.
    """

    arrays: Tuple[np.ndarray, ...]

    def __init__(self, *arrays: np.ndarray, single: bool = False) -> None:
        if not arrays:
            raise ValueError("NdArrayDataset needs at least one array")
        lengths = {int(a.shape[0]) for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"Size mismatch between arrays: first axes of lengths {sorted(lengths)}")
        if single and len(arrays) != 1:
            raise ValueError(f"single=True needs exactly one array, got {len(arrays)}")
        self.arrays = arrays
        self.single = single

    def __getitem__(self, index: Any) -> Any:
        if self.single:
            return self.arrays[0][index]
        return tuple(a[index] for a in self.arrays)

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])
