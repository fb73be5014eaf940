"""Image folders: the one listing and decoding of training images.

:func:`list_images` and :func:`read_rgb` are what every image folder in neuralcodec
reads through: :class:`ImageFolder` (CompressAI's ``root/split/*`` dataset, for
``torch.utils.data.DataLoader`` pipelines) and the trainer's in-memory crop sampler
(:class:`neuralcodec.train.data.CropSampler`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Union

from torch.utils.data import Dataset

from neuralcodec.datasets.errors import DatasetNotFoundError
from neuralcodec.registry import register_dataset
from neuralcodec.settings import IMAGE_SUFFIXES

__all__ = ["ImageFolder", "ImageListDataset", "list_images", "read_rgb"]


def list_images(folder: Union[str, Path], allow_empty: bool = False) -> List[Path]:
    """The image files directly in ``folder`` (suffixes in
    :data:`neuralcodec.settings.IMAGE_SUFFIXES`, any case), sorted by name.

    Other files (``.DS_Store``, notes, lists) and subdirectories are skipped.

    Raises:
        DatasetNotFoundError: ``folder`` is not a directory.
        ValueError: it holds no image files (unless ``allow_empty``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f'Missing directory "{folder}" (an image folder)')
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files and not allow_empty:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


#: PIL modes of more than 8 bits per sample, which ``convert("RGB")`` would clip.
HIGH_BIT_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def read_rgb(path: Union[str, Path]) -> Any:
    """The image at ``path`` decoded as an 8-bit RGB ``PIL.Image.Image`` (grayscale and
    palette are expanded to three channels, alpha is dropped); the file is closed on
    return.

    Raises:
        ValueError: a 16-bit or floating-point image (converting it would clip it).
        OSError: the file is missing or not an image (``PIL.UnidentifiedImageError``).
    """
    from PIL import Image

    with Image.open(path) as img:
        if img.mode in HIGH_BIT_DEPTH_MODES:
            raise ValueError(f"{path}: {img.mode} images (more than 8 bits per sample) are not supported")
        return img.convert("RGB")


class ImageListDataset(Dataset):
    """A dataset of image files: item ``i`` is ``samples[i]`` read as an RGB
    ``PIL.Image.Image`` (:func:`read_rgb`), or ``transform`` of it. The common part of
    :class:`ImageFolder` and :class:`neuralcodec.datasets.vimeo90k.Vimeo90kDataset`, whose
    constructors fill ``samples`` (paths) and ``transform``."""

    samples: Sequence[Union[str, Path]]
    transform: Optional[Callable[[Any], Any]]

    def __getitem__(self, index: int) -> Any:
        """Image ``index``: a PIL RGB image, or what ``transform`` makes of it."""
        img = read_rgb(self.samples[index])
        if self.transform:
            return self.transform(img)
        return img

    def __len__(self) -> int:
        return len(self.samples)


@register_dataset("ImageFolder")
class ImageFolder(ImageListDataset):
    """The images of ``root/split/``, as CompressAI's ``ImageFolder``::

        root/
            train/  img000.png  img001.png ...
            test/   img000.png ...

    Item ``i`` is the ``i``-th image by file name, an RGB ``PIL.Image.Image``, or
    ``transform(image)`` when a transform is given (e.g. torchvision's
    ``Compose([RandomCrop(256), ToTensor()])`` for ``[3, 256, 256]`` floats in
    ``[0, 1]``). Files are listed by :func:`list_images` (image suffixes only) and
    decoded by :func:`read_rgb` when the item is read.

    Args:
        root: the dataset directory.
        transform: applied to each PIL image.
        split: the subdirectory to read (``"train"``, ``"test"``, ``"val"``...).

    Raises:
        DatasetNotFoundError: ``root/split`` is not a directory (a ``RuntimeError``,
            as CompressAI raises). An empty split is allowed (length 0).
    """

    def __init__(self, root: Union[str, Path], transform: Optional[Callable[[Any], Any]] = None, split: str = "train") -> None:
        self.samples: List[Path] = list_images(Path(root) / split, allow_empty=True)
        self.transform = transform
