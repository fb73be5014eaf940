"""Pre-cut training patches in one uint8 file, read through a memory map."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np
from torch.utils.data import Dataset

from neuralcodec.datasets.errors import DatasetNotFoundError
from neuralcodec.registry import register_dataset

__all__ = ["PreGeneratedMemmapDataset"]

#: The file each split reads, in ``root``.
SPLIT_FILES = {"train": "training.npy", "valid": "validation.npy"}


@register_dataset("PreGeneratedMemmapDataset")
class PreGeneratedMemmapDataset(Dataset):
    """Image patches stored as raw ``uint8`` RGB, ``N x H x W x 3`` in C order, memory-mapped.

    The file is ``root/training.npy`` (``split="train"``) or ``root/validation.npy``
    (``split="valid"``): raw bytes, no ``.npy`` header, as CompressAI writes them.
    Patches cut and shuffled ahead of time make an epoch a sequential read.

    Item ``i`` is patch ``i`` as an RGB ``PIL.Image.Image``, or ``transform`` of it.

    Args:
        root: the directory holding the files.
        transform: applied to each PIL image.
        split: ``"train"`` or ``"valid"``.
        image_size: ``(H, W)`` of each patch, or one int for square patches.

    Raises:
        DatasetNotFoundError: ``root`` is not a directory (a ``RuntimeError``).
        ValueError: an unknown ``split``, or a file that is empty or not a whole number
            of ``H x W x 3`` patches.
        FileNotFoundError: the split's file is missing.
    """

    def __init__(
        self,
        root: Union[str, Path],
        transform: Optional[Callable[[Any], Any]] = None,
        split: str = "train",
        image_size: Union[int, Tuple[int, int]] = (256, 256),
    ) -> None:
        if not Path(root).is_dir():
            raise DatasetNotFoundError(f"Invalid path {root}: not a directory")
        if split not in SPLIT_FILES:
            raise ValueError(f"split must be one of {', '.join(SPLIT_FILES)}, got {split!r}")
        self.split = split
        self.transform = transform
        self.shuffle = False
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if height < 1 or width < 1:
            raise ValueError(f"image_size must be positive, got {image_size!r}")
        path = Path(root) / SPLIT_FILES[split]
        if not path.is_file():
            raise FileNotFoundError(f"no {SPLIT_FILES[split]} in {root} (the {split!r} split)")
        size = path.stat().st_size
        patch = height * width * 3
        if size == 0 or size % patch:
            raise ValueError(f"{path} holds {size} bytes, not a whole positive number of {height}x{width}x3 patches")
        data = np.memmap(path, mode="r", dtype=np.uint8)
        self.data: np.ndarray = data.reshape((-1, height, width, 3))

    def __getitem__(self, index: int) -> Any:
        """Patch ``index``: a PIL RGB image, or what ``transform`` makes of it."""
        from PIL import Image

        sample = Image.fromarray(np.asarray(self.data[index]))
        if self.transform:
            return self.transform(sample)
        return sample

    def __len__(self) -> int:
        return int(self.data.shape[0])
