"""Video clips as folders of frames (Vimeo-90K's layout), drawn as frame triplets."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from neuralcodec.datasets.errors import DatasetNotFoundError
from neuralcodec.datasets.image import read_rgb
from neuralcodec.registry import register_dataset

__all__ = ["VideoFolder"]


@register_dataset("VideoFolder")
class VideoFolder(Dataset):
    """Three frames of one clip per item, as CompressAI's ``VideoFolder``::

        root/
            train.list        one clip folder per line, relative to sequences/
            test.list
            sequences/
                00010/0932/im1.png im2.png ...

    Item ``i`` reads the frames of the ``i``-th listed folder (its files sorted by
    name), takes every ``interval``-th frame from the first and keeps three; the three
    ``H x W x 3`` RGB arrays are stacked on the channel axis (``H x W x 9`` uint8),
    passed through ``transform`` (which must give a ``[9, h, w]`` tensor, e.g.
    torchvision's ``Compose([ToTensor(), RandomCrop(256)])``, so the frames share one
    crop), and split back into a tuple of three ``[3, h, w]`` tensors.

    Randomness comes from Python's :mod:`random` (seed it with ``random.seed``), drawn
    in the same order as CompressAI, so a seeded run sees the same clips.

    Args:
        root: the dataset directory.
        rnd_interval: draw the frame interval uniformly from ``1 ... (frames + 2) // 3``
            instead of 1.
        rnd_temp_order: reverse the triplet with probability 1/2.
        transform: required (see above).
        split: the list file to read, ``root/<split>.list``.

    Raises:
        RuntimeError: no ``transform``; :class:`DatasetNotFoundError` (a
            ``RuntimeError`` and ``FileNotFoundError``) for a missing list file or
            ``sequences`` directory.
    """

    def __init__(
        self,
        root: Union[str, Path],
        rnd_interval: bool = False,
        rnd_temp_order: bool = False,
        transform: Optional[Callable[[Any], torch.Tensor]] = None,
        split: str = "train",
    ) -> None:
        if transform is None:
            raise RuntimeError("VideoFolder needs a transform that turns H x W x 9 frames into a [9, h, w] tensor")
        split_file = Path(root) / f"{split}.list"
        sequences = Path(root) / "sequences"
        if not split_file.is_file():
            raise DatasetNotFoundError(f'Missing file "{split_file}" (the list of {split!r} clips)')
        if not sequences.is_dir():
            raise DatasetNotFoundError(f'Missing directory "{sequences}"')
        with split_file.open() as f:
            self.sample_folders: List[Path] = [sequences / line.strip() for line in f]
        self.max_frames = 3
        self.rnd_interval = rnd_interval
        self.rnd_temp_order = rnd_temp_order
        self.transform = transform

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, ...]:
        """Three frames of clip ``index``, a tuple of ``[3, h, w]`` tensors (see the class)."""
        folder = self.sample_folders[index]
        frames = sorted(p for p in folder.iterdir() if p.is_file())
        interval = random.randint(1, (len(frames) + 2) // self.max_frames) if self.rnd_interval else 1
        chosen = frames[::interval][: self.max_frames]
        stacked = np.concatenate([np.asarray(read_rgb(path)) for path in chosen], axis=-1)
        triplet = torch.chunk(self.transform(stacked), self.max_frames)
        if self.rnd_temp_order and random.random() < 0.5:
            return triplet[::-1]
        return triplet

    def __len__(self) -> int:
        return len(self.sample_folders)
