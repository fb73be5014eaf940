"""Packs the training photos for a GPU run: ``python benches/gpu/pack_data.py``.

A device call carries at most 64 MiB: the tracked tree (with the committed checkpoint),
the built extension and the photos. The photos in ``../shared/data/train`` and
``train-large`` take 166 MB as PNG, so this writes them to ``.gpu/data/train/`` as JPEG
with full-resolution chroma (4:4:4), downscaled (Lanczos) so that the longer side is at
most the chosen size (Urban100's 1024-1280 px photos shrink most, which also softens
their noise, a usual step for training data), at the largest size and JPEG quality, from
:data:`SETTINGS`, that keeps the whole call under ``--budget-mib``. The held-out photos
(the last ``--val`` of CBSD68 by name, never trained on) go to ``.gpu/data/val/`` as PNG.
``.gpu/`` is ignored by git; name it in the device call's ``carry``.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence, Tuple

from PIL import Image

from neuralcodec.settings import IMAGE_SUFFIXES

#: (longest side in pixels, JPEG quality), best first.
SETTINGS: Tuple[Tuple[int, int], ...] = ((640, 92), (512, 90), (448, 90), (448, 85), (384, 85), (384, 80))


def tracked_bytes(repo: Path) -> int:
    """Bytes of what a device call carries besides the photos: the files git tracks or
    would add (untracked, not ignored) in ``repo``, and the built extension."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
    total = sum((repo / n).stat().st_size for n in names.decode().split("\0") if n and (repo / n).is_file())
    total += sum(p.stat().st_size for p in (repo / "python" / "neuralcodec").glob("_core*.so"))
    untracked = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard"], cwd=repo,
                               capture_output=True, check=True).stdout
    total += sum((repo / n).stat().st_size for n in untracked.decode().split("\0") if n and (repo / n).is_file())
    return total


def encode(paths: Sequence[Path], longest: int, quality: int) -> List[bytes]:
    """The photos as 4:4:4 JPEG at ``quality``, downscaled to ``longest`` pixels at most."""
    encoded = []
    for path in paths:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if max(image.size) > longest:
                factor = longest / max(image.size)
                image = image.resize((round(image.width * factor), round(image.height * factor)), Image.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=quality, subsampling=0)
            encoded.append(buffer.getvalue())
    return encoded


def main() -> int:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(repo.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(repo / ".gpu" / "data"))
    parser.add_argument("--budget-mib", type=float, default=62.0, help="what the whole device call may carry")
    parser.add_argument("--val", type=int, default=4)
    args = parser.parse_args()
    shared, out = Path(args.shared), Path(args.out)
    cbsd = sorted(p for p in (shared / "train").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    held_out = cbsd[-args.val:] if args.val else []
    training = cbsd[: len(cbsd) - len(held_out)]
    training += sorted(p for p in (shared / "train-large").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    val_png = []
    for path in held_out:
        buffer = io.BytesIO()
        with Image.open(path) as image:
            image.convert("RGB").save(buffer, format="PNG")
        val_png.append((path.stem, buffer.getvalue()))
    room = args.budget_mib * 2**20 - tracked_bytes(repo) - sum(len(b) for _, b in val_png)
    for longest, quality in SETTINGS:
        encoded = encode(training, longest, quality)
        size = sum(len(b) for b in encoded)
        if size <= room:
            break
    else:
        print(f"the photos do not fit: {size / 2**20:.1f} MiB at the smallest setting, {room / 2**20:.1f} MiB of room",
              file=sys.stderr)
        return 1
    for folder in ("train", "val"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for old in (out / folder).iterdir():
            old.unlink()
    for index, (path, data) in enumerate(zip(training, encoded)):
        (out / "train" / f"{index:03d}-{path.stem}.jpg").write_bytes(data)
    for stem, data in val_png:
        (out / "val" / f"{stem}.png").write_bytes(data)
    print(f"{len(training)} training photos ({longest} px, JPEG {quality}, {size / 2**20:.1f} MiB), "
          f"{len(held_out)} held out, in {out}; {room / 2**20:.1f} MiB of room")
    return 0


if __name__ == "__main__":
    sys.exit(main())
