"""Files: writing without ever leaving half of one or replacing one unasked, and the
sample photo shipped in the package.

:func:`write_atomic` writes to a temporary file in the target's folder and renames it
into place, so an interrupted run leaves the old file or the new one, never a mix.
Without ``force`` the final step is a hard link, which fails if the name appeared in the
meantime (another process, a long run): an existing file is never replaced unless the
caller asks. This module imports nothing heavy (no torch), so the results and plotting
tools can use it cheaply.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from importlib import resources
from pathlib import Path
from typing import Union

__all__ = ["sample_image_path", "write_atomic"]

PathLike = Union[str, Path]


def sample_image_path() -> Path:
    """Path of the sample photo shipped in the package (256x256 RGB, a Kodak crop): what
    ``neuralcodec demo`` and ``lossless`` code when given no image."""
    return Path(str(resources.files("neuralcodec") / "data" / "sample.png"))


def _partial_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")


def write_atomic(path: PathLike, data: bytes, *, force: bool = False) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder and a rename,
    so an interrupted run leaves either the old file or the new one, never half of one.

    Raises:
        FileExistsError: ``path`` exists and ``force`` is false (nothing is written).
    """
    path = Path(path)
    if not force and os.path.lexists(path):
        raise FileExistsError(f"{path} exists; pass --force (force=True) to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(path)
    try:
        with open(partial, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(partial, path)
        else:
            try:
                os.link(partial, path)  # atomic, and fails if the name appeared meanwhile
            except FileExistsError:
                raise FileExistsError(f"{path} exists; pass --force (force=True) to overwrite it") from None
            except OSError:  # file systems without hard links
                if os.path.lexists(path):
                    raise FileExistsError(f"{path} exists; pass --force (force=True) to overwrite it") from None
                os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
