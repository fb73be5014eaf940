"""A quick look at checkpoints during a run: ``python results/training/msh-gained/probe.py
DATA CHECKPOINT...``.

For 24 fixed 128-pixel crops of the photos in DATA (a seeded draw, the last four photos in
name order left out as the trainer's validation does) and for those last four photos
(512x512 crops), it prints each checkpoint's estimated bits per pixel (the likelihoods,
eval mode) and PSNR at qualities 1, 2.5 and 4. Seconds per checkpoint on one core; not a
measurement to report (``neuralcodec eval`` with actual bytes is), a way to see a trend.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import List

import numpy as np
import torch
from PIL import Image

from neuralcodec.zoo.loader import load

QUALITIES = (1.0, 2.5, 4.0)


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def main(argv: List[str]) -> int:
    torch.set_num_threads(1)
    photos = sorted(p for p in Path(argv[0]).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    rng = np.random.default_rng(0)
    crops = []
    for index in rng.choice(len(photos) - 4, 24, replace=False):
        array = _read(photos[index])
        top, left = rng.integers(0, array.shape[0] - 128), rng.integers(0, array.shape[1] - 128)
        crops.append(torch.from_numpy(array[top : top + 128, left : left + 128]).permute(2, 0, 1))
    sets = {
        "train crops": torch.stack(crops),
        "held-out": torch.stack([torch.from_numpy(_read(p)[:512, :512]).permute(2, 0, 1) for p in photos[-4:]]),
    }
    for checkpoint in argv[1:]:
        model = load(checkpoint=checkpoint).model.eval()
        for name, x in sets.items():
            cells = []
            for quality in QUALITIES:
                with torch.no_grad():
                    out = model(x, quality=quality)
                bits = sum(-torch.log2(v).sum() for v in out["likelihoods"].values())
                bpp = float(bits) / (x.shape[0] * x.shape[-2] * x.shape[-1])
                mse = float(torch.mean((out["x_hat"].clamp(0, 1) - x) ** 2))
                cells.append(f"q{quality:g} {bpp:.3f} bpp {10 * math.log10(1 / mse):.2f} dB")
            print(f"{Path(checkpoint).name:28s} {name:11s} " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
