"""Training data: an image folder held in memory, sampled as random crops with flips.

Files are listed and decoded by :mod:`neuralcodec.datasets.image` (the one owner of
image folders; its :class:`~neuralcodec.datasets.ImageFolder` is the
``torch.utils.data`` dataset CompressAI-style scripts use); :class:`CropSampler` keeps
the decoded images and draws batches from them.

Sampling is a pure function of ``(seed, rank, step)``: every step draws its images, crop
positions and flips from a generator seeded for that step, so a run resumed from a
checkpoint sees exactly the batches an uninterrupted run would, and the ranks of a
data-parallel run see different batches without coordinating.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from neuralcodec.datasets.image import list_images, read_rgb

__all__ = ["CropSampler", "step_generator"]


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The generator for one step of one rank (independent streams per (seed, rank, step))."""
    mixed = np.random.SeedSequence([seed, rank, step]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(mixed[0] >> np.uint64(1)))


class CropSampler:
    """The RGB images of a folder, decoded once and kept as uint8 tensors, sampled as
    random crops (:meth:`batch`) by a generator the caller seeds.

    Args:
        folder: directory of images (:func:`~neuralcodec.datasets.image.list_images`);
            grayscale and RGBA are converted to RGB
            (:func:`~neuralcodec.datasets.image.read_rgb`).
        patch_size: side of the square crops, in pixels; images smaller than that are
            padded by edge replication.
        files: use these files instead of listing ``folder``.
    """

    def __init__(self, folder: Union[str, Path], patch_size: int = 128, files: Sequence[Path] = ()) -> None:
        if patch_size < 1:
            raise ValueError(f"patch_size must be positive, got {patch_size}")
        self.patch_size = int(patch_size)
        self.files = list(files) if files else list_images(folder)
        self.images: List[Tensor] = []
        for path in self.files:
            pixels = np.asarray(read_rgb(path), dtype=np.uint8)
            self.images.append(self._pad_to_patch(torch.from_numpy(pixels.copy()).permute(2, 0, 1)))

    def _pad_to_patch(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        pad_h, pad_w = max(0, self.patch_size - height), max(0, self.patch_size - width)
        if pad_h or pad_w:
            padded = torch.nn.functional.pad(image[None].float(), (0, pad_w, 0, pad_h), mode="replicate")
            image = padded[0].to(torch.uint8)
        return image

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """``batch_size`` random crops, each flipped left-right with probability 1/2.

        Returns:
            float32 ``[batch_size, 3, patch_size, patch_size]`` in ``[0, 1]``.
        """
        size = self.patch_size
        picks = torch.randint(len(self.images), (batch_size,), generator=generator)
        uniforms = torch.rand(batch_size, 3, generator=generator)
        crops = []
        for pick, (u_top, u_left, u_flip) in zip(picks.tolist(), uniforms.tolist()):
            image = self.images[pick]
            height, width = image.shape[-2:]
            top = int(u_top * (height - size + 1))
            left = int(u_left * (width - size + 1))
            crop = image[:, top : top + size, left : left + size]
            crops.append(crop.flip(-1) if u_flip < 0.5 else crop)
        return torch.stack(crops).float().div_(255.0)

    def full_image(self, index: int) -> Tensor:
        """Image ``index`` whole, float32 ``[1, 3, H, W]`` in ``[0, 1]`` (for validation)."""
        pixels = np.asarray(read_rgb(self.files[index]), dtype=np.float32) / 255.0
        return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None]
