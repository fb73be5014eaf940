"""A dataset computed once into memory-mapped arrays on disk, then read from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union, cast

import numpy as np
from torch.utils.data import Dataset

from neuralcodec.files import write_atomic

__all__ = ["CacheDataset"]


def _dtype_name(value: Any) -> str:
    """``value``'s dtype as numpy spells it (torch's ``torch.float32`` becomes ``float32``)."""
    name = str(value.dtype)
    return name[len("torch.") :] if name.startswith("torch.") else name


class CacheDataset(Dataset):
    """Base of datasets whose samples are slow to make (decoding, resampling) but fixed:
    the first use computes every sample once into ``cache_root`` and later uses read the
    cache through memory maps.

    A sample is a dict of arrays (or tensors) of fixed shapes. The cache holds one file
    ``<key>.npy`` per key, raw data of shape ``[samples, *shape]`` (no ``.npy`` header),
    and ``info.json`` with each key's ``dtype`` and ``shape``.

    Subclasses implement the two hooks CompressAI's point-cloud datasets implement:
    ``_get_items()``, the list of items (e.g. file paths), and ``_load_item(item)``, one
    sample as a dict; and call ``self._ensure_cache()`` at the end of ``__init__``.

    Args:
        cache_root: the cache directory.
        pre_transform: applied to each sample before it is cached.
        transform: applied to each sample (a copy) when it is read.
    """

    def __init__(
        self,
        cache_root: Union[str, Path, None] = None,
        pre_transform: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None,
        transform: Optional[Callable[[Dict[str, Any]], Any]] = None,
    ) -> None:
        if cache_root is None:
            raise ValueError("CacheDataset needs a cache_root directory")
        self.cache_root = Path(cache_root)
        self.pre_transform = pre_transform
        self.transform = transform
        self._store: Dict[str, np.memmap] = {}

    def __len__(self) -> int:
        if not self._store:
            return 0
        return int(next(iter(self._store.values())).shape[0])

    def __getitem__(self, index: int) -> Any:
        sample = {key: np.array(values[index]) for key, values in self._store.items()}
        if self.transform is not None:
            return self.transform(sample)
        return sample

    def _ensure_cache(self) -> None:
        """Opens the cache, computing it first when ``info.json`` is missing."""
        if not (self.cache_root / "info.json").is_file():
            self._generate_cache()
        self._load_cache(mode="r")

    def _load_cache(self, mode: str) -> None:
        with (self.cache_root / "info.json").open() as f:
            self._open_store(json.load(f), mode)

    def _open_store(self, info: Mapping[str, Any], mode: str) -> None:
        self._store = {
            key: np.memmap(self.cache_root / f"{key}.npy", mode=cast(Any, mode), dtype=spec["dtype"], shape=tuple(spec["shape"]))
            for key, spec in info.items()
        }

    def _generate_cache(self, verbose: bool = True) -> None:
        """Computes every sample (``_load_item`` then ``pre_transform``) into the cache.

        ``info.json`` is written last (atomically), so an interrupted run leaves no cache
        that looks complete: the next use computes it again.
        """
        items = self._get_items()
        iterable: Any = items
        if verbose:
            from tqdm import tqdm

            print(f"Generating cache at {self.cache_root}...")
            iterable = tqdm(items)
        info: Dict[str, Any] = {}
        for i, item in enumerate(iterable):
            sample = self._load_item(item)
            if self.pre_transform is not None:
                sample = self.pre_transform(sample)
            if i == 0:
                info = self._cache_info(len(items), sample)
                self.cache_root.mkdir(parents=True, exist_ok=True)
                self._open_store(info, mode="w+")
            for key, value in sample.items():
                self._store[key][i] = np.asarray(value)
        for values in self._store.values():
            values.flush()
        write_atomic(self.cache_root / "info.json", json.dumps(info, indent=2).encode(), force=True)

    @staticmethod
    def _cache_info(num_samples: int, data: Mapping[str, Any]) -> Dict[str, Any]:
        """Each key's ``dtype`` and ``shape`` ``[num_samples, *sample_shape]``."""
        return {key: {"dtype": _dtype_name(v), "shape": [num_samples, *v.shape]} for key, v in data.items()}

    def _get_items(self) -> Sequence[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _get_items()")

    def _load_item(self, item: Any) -> Dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _load_item(item)")
