"""Training data: an image folder held in memory (or on the GPU), sampled as random crops
with flips and, optionally, a random downscale.

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
from typing import List, Sequence, Tuple, Union

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
        device: where the decoded images are kept and the crops are cut (e.g. a GPU:
            no copy to the device per step).
        min_scale: smallest downscale of a crop (see :meth:`batch`); 1: none.
        vertical_flip: also flip crops upside down with probability 1/2.
    """

    def __init__(
        self,
        folder: Union[str, Path],
        patch_size: int = 128,
        files: Sequence[Path] = (),
        device: Union[str, torch.device] = "cpu",
        min_scale: float = 1.0,
        vertical_flip: bool = False,
    ) -> None:
        if patch_size < 1:
            raise ValueError(f"patch_size must be positive, got {patch_size}")
        if not 0 < min_scale <= 1:
            raise ValueError(f"min_scale must be within (0, 1], got {min_scale}")
        self.patch_size = int(patch_size)
        self.min_scale = float(min_scale)
        self.vertical_flip = bool(vertical_flip)
        self.files = list(files) if files else list_images(folder)
        self.images: List[Tensor] = []
        self.sizes: List[Tuple[int, int]] = []  # before padding
        for path in self.files:
            pixels = np.asarray(read_rgb(path), dtype=np.uint8)
            self.sizes.append((pixels.shape[0], pixels.shape[1]))
            image = self._pad_to_patch(torch.from_numpy(pixels.copy()).permute(2, 0, 1))
            self.images.append(image.to(device))

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

        With ``min_scale < 1`` each crop is first cut as a square of side ``f *
        patch_size``, ``f`` uniform in ``[1, 1/min_scale]`` (at most the image's shorter
        side), and downscaled to ``patch_size`` (antialiased bilinear); with
        ``vertical_flip`` it is also flipped upside down with probability 1/2. These draw
        from ``generator`` after the draws of the plain crops, so a sampler without them
        draws exactly what it always did.

        Returns:
            float32 ``[batch_size, 3, patch_size, patch_size]`` in ``[0, 1]``, on the
            sampler's device.
        """
        size = self.patch_size
        picks = torch.randint(len(self.images), (batch_size,), generator=generator)
        uniforms = torch.rand(batch_size, 3, generator=generator)
        extra = self.min_scale < 1 or self.vertical_flip
        more = torch.rand(batch_size, 2, generator=generator).tolist() if extra else [[1.0, 1.0]] * batch_size
        crops = []
        for pick, (u_top, u_left, u_flip), (u_scale, u_vflip) in zip(picks.tolist(), uniforms.tolist(), more):
            image = self.images[pick]
            height, width = image.shape[-2:]
            factor = 1.0
            if self.min_scale < 1:
                largest = min(1.0 / self.min_scale, min(height, width) / size)
                factor = 1.0 + u_scale * max(0.0, largest - 1.0)
            side = max(size, int(round(size * factor)))
            side_h, side_w = min(side, height), min(side, width)
            top = int(u_top * (height - side_h + 1))
            left = int(u_left * (width - side_w + 1))
            crop = image[:, top : top + side_h, left : left + side_w].float()
            if (side_h, side_w) != (size, size):
                crop = torch.nn.functional.interpolate(
                    crop[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
                )[0].clamp_(0, 255)
            if u_flip < 0.5:
                crop = crop.flip(-1)
            if self.vertical_flip and u_vflip < 0.5:
                crop = crop.flip(-2)
            crops.append(crop)
        return torch.stack(crops).div_(255.0)

    def full_image(self, index: int) -> Tensor:
        """Image ``index`` whole (as decoded, without the padding), float32 ``[1, 3, H, W]``
        in ``[0, 1]`` on the sampler's device (for validation)."""
        height, width = self.sizes[index]
        return self.images[index][:, :height, :width].float().div(255.0)[None]
