"""Datasets, at CompressAI's ``compressai.datasets`` path (``torch.utils.data`` datasets).

* :class:`ImageFolder` (:mod:`~neuralcodec.datasets.image`): ``root/split/*`` images,
  listed and decoded by :func:`~neuralcodec.datasets.image.list_images` and
  :func:`~neuralcodec.datasets.image.read_rgb`, which our trainer's crop sampler uses too.
* :class:`PreGeneratedMemmapDataset`: pre-cut patches in one memory-mapped file.
* :class:`VideoFolder` (:mod:`~neuralcodec.datasets.video`) and
  :class:`Vimeo90kDataset`: video clips as folders of frames.
* :class:`RawVideoSequence`, :class:`VideoFormat` and the rest of
  :mod:`~neuralcodec.datasets.rawvideo`: raw YUV files, memory-mapped.
* :mod:`~neuralcodec.datasets.cache`, :mod:`~neuralcodec.datasets.ndarray`,
  :mod:`~neuralcodec.datasets.stack`, :mod:`~neuralcodec.datasets.utils`: building blocks.
* :mod:`~neuralcodec.datasets.pointcloud`: CompressAI's point-cloud datasets are not
  provided; their names raise an :class:`ImportError` that says so.

Nothing here imports torchvision: transforms are whatever callables the caller passes.
"""

from __future__ import annotations

from typing import Any

from neuralcodec.datasets import pointcloud
from neuralcodec.datasets.errors import DatasetNotFoundError, InvalidChoiceError
from neuralcodec.datasets.image import ImageFolder
from neuralcodec.datasets.pregenerated import PreGeneratedMemmapDataset
from neuralcodec.datasets.rawvideo import (
    RawVideoSequence,
    VideoFormat,
    bitdepth_to_dtype,
    file_extensions,
    framerate_to_fraction,
    get_num_frms,
    get_raw_video_file_info,
    make_dtype,
    subsampling,
    video_formats,
)
from neuralcodec.datasets.video import VideoFolder
from neuralcodec.datasets.vimeo90k import Vimeo90kDataset

__all__ = [
    "DatasetNotFoundError",
    "ImageFolder",
    "InvalidChoiceError",
    "PreGeneratedMemmapDataset",
    "RawVideoSequence",
    "VideoFolder",
    "VideoFormat",
    "Vimeo90kDataset",
    "bitdepth_to_dtype",
    "file_extensions",
    "framerate_to_fraction",
    "get_num_frms",
    "get_raw_video_file_info",
    "make_dtype",
    "subsampling",
    "video_formats",
]


def __getattr__(name: str) -> Any:
    if name in pointcloud.UNAVAILABLE:
        return getattr(pointcloud, name)  # raises the ImportError that explains
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
