"""The Vimeo-90K frames as single images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Union

from neuralcodec.datasets.errors import InvalidChoiceError
from neuralcodec.datasets.image import ImageListDataset
from neuralcodec.registry import register_dataset

__all__ = ["Vimeo90kDataset"]

#: List-file prefix of each tuplet size, and list-file suffix of each split.
TUPLET_PREFIXES = {3: "tri", 7: "sep"}
SPLIT_SUFFIXES = {"train": "trainlist", "valid": "testlist"}


@register_dataset("Vimeo90kDataset")
class Vimeo90kDataset(ImageListDataset):
    """Every frame of the Vimeo-90K triplet or septuplet dataset, one image per item.

    Xue, Chen, Wu, Wei and Freeman, "Video Enhancement with Task-Oriented Flow", IJCV 2019
    (https://arxiv.org/abs/1711.09078). The layout is the dataset's own::

        root/
            tri_trainlist.txt  tri_testlist.txt   (sep_... for septuplets)
            sequences/00001/0001/im1.png ... im3.png (im7.png)

    Each line ``00001/0001`` of the list contributes its ``tuplet`` frames, in order.
    Item ``i`` is an RGB ``PIL.Image.Image``, or ``transform`` of it.

    Args:
        root: the dataset directory.
        transform: applied to each PIL image.
        split: ``"train"`` (the train list) or ``"valid"`` (the test list).
        tuplet: 3 (triplets) or 7 (septuplets).

    Raises:
        InvalidChoiceError: another ``split`` or ``tuplet`` (a ``ValueError`` and
            ``KeyError``).
        FileNotFoundError: the list file is missing.
    """

    def __init__(
        self,
        root: Union[str, Path],
        transform: Optional[Callable[[Any], Any]] = None,
        split: str = "train",
        tuplet: int = 3,
    ) -> None:
        list_path = Path(root) / self._list_filename(split, tuplet)
        with list_path.open() as f:
            clips = [line.rstrip() for line in f if line.strip()]
        self.samples = [f"{root}/sequences/{clip}/im{k}.png" for clip in clips for k in range(1, tuplet + 1)]
        self.transform = transform

    def _list_filename(self, split: str, tuplet: int) -> str:
        if tuplet not in TUPLET_PREFIXES:
            raise InvalidChoiceError(f"tuplet must be 3 or 7, got {tuplet!r}")
        if split not in SPLIT_SUFFIXES:
            raise InvalidChoiceError(f"split must be 'train' or 'valid', got {split!r}")
        return f"{TUPLET_PREFIXES[tuplet]}_{SPLIT_SUFFIXES[split]}.txt"
