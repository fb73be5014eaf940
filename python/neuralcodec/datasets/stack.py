"""Several datasets of one length, read side by side."""

from __future__ import annotations

from typing import Any, Dict, Tuple, Union

from torch.utils.data import Dataset

__all__ = ["StackDataset"]


class StackDataset(Dataset):
    """Item ``i`` gathers item ``i`` of each dataset: a tuple for positional datasets
    (``StackDataset(images, labels)[i] == (images[i], labels[i])``) or a dict for keyword
    ones (``StackDataset(image=images, label=labels)[i] == {"image": ..., "label": ...}``).

    Raises:
        ValueError: no datasets, both positional and keyword datasets, or datasets of
            different lengths.
    """

    datasets: Union[Tuple[Any, ...], Dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("StackDataset takes datasets either positionally (tuple items) or by keyword (dict items), not both")
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        members = list(args) if args else list(kwargs.values())
        lengths = {len(d) for d in members}
        if len(lengths) != 1:
            raise ValueError(f"Size mismatch between datasets: lengths {sorted(lengths)}")
        self._length = lengths.pop()
        self.datasets = tuple(args) if args else dict(kwargs)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(self.datasets, dict):
            return {name: d[index] for name, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length
