"""Finding and reading the images of an evaluation set.

A data set is a folder of image files (not searched recursively unless asked, taken in
path order so every run visits them alike) or a single image file. Every image is read as
8-bit RGB: grayscale is replicated to three channels, an alpha channel is dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Union

import numpy as np

from neuralcodec.errors import NeuralCodecError
from neuralcodec.settings import IMAGE_SUFFIXES

__all__ = ["IMAGE_EXTENSIONS", "DatasetError", "collect_images", "read_rgb"]

#: File name endings taken as images (case-insensitive): :data:`neuralcodec.settings.IMAGE_SUFFIXES`.
IMAGE_EXTENSIONS = IMAGE_SUFFIXES


class DatasetError(NeuralCodecError, ValueError):
    """A data set path that holds no readable images."""


def collect_images(path: Union[str, Path], recursive: bool = False) -> List[Path]:
    """The image files of ``path`` (a folder or one image file), sorted by path.

    With ``recursive``, the images of the folder's subfolders too (as CompressAI's
    ``eval_model`` and ``bench`` take a data set).

    Raises:
        DatasetError: ``path`` does not exist, or is a folder without image files, or a
            file whose name does not end in one of :data:`IMAGE_EXTENSIONS`.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DatasetError(f"{path} is not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
        return [path]
    if not path.is_dir():
        raise DatasetError(f"data set {path} does not exist")
    candidates = path.rglob("*") if recursive else path.iterdir()
    images = sorted(p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise DatasetError(f"data set folder {path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return images


def read_rgb(path: Union[str, Path]) -> np.ndarray:
    """The image at ``path`` as uint8 RGB ``[H, W, 3]``.

    Raises:
        DatasetError: the file cannot be read as an image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                raise DatasetError(f"{path}: {img.mode} images (more than 8 bits) are not supported")
            return np.array(img.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"cannot read image {path}: {error}") from error
