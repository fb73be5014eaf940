"""Downloading and hashing dataset files."""

from __future__ import annotations

import hashlib
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Union

__all__ = ["download_url", "hash_file"]


def download_url(
    url: str,
    path: Union[str, Path],
    chunk_size: int = 65536,
    check_certificate: bool = True,
    overwrite: bool = False,
) -> Path:
    """Downloads ``url`` to ``path`` (a file, or a directory to put the URL's file name
    in) with a progress bar, and returns the file's path.

    A file already there with the size the server announces is kept unless
    ``overwrite``. The download goes to ``<path>.part`` and is renamed when complete, so
    an interrupted download never leaves a truncated file under the final name.

    Raises:
        RuntimeError: the server sent fewer bytes than it announced.
        urllib.error.URLError: the request failed.
    """
    import ssl

    from tqdm import tqdm

    path = Path(path)
    if path.is_dir():
        path = path / urllib.parse.unquote(url.split("/")[-1])
    context = ssl.create_default_context()
    if not check_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    print(f"Downloading {url} to {path}...")
    with urllib.request.urlopen(url, context=context) as response:
        total = int(response.headers.get("content-length") or 0)
        if not overwrite and path.is_file() and path.stat().st_size == total:
            return path
        partial = path.with_name(path.name + ".part")
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True) as bar, partial.open("wb") as f:
            while chunk := response.read(chunk_size):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total and received != total:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"Could not download file: got {received} of {total} bytes from {url}")
    partial.replace(path)
    return path


def hash_file(path: Union[str, Path], method: str = "sha256", bufsize: int = 131072) -> str:
    """The hex digest of the file at ``path`` (``method``: any :mod:`hashlib` algorithm,
    ``"sha256"`` by default), read in ``bufsize`` chunks.

    Raises:
        ValueError: an unknown ``method``.
    """
    try:
        digest = hashlib.new(method)
    except ValueError as error:
        raise ValueError(f"unknown hash method {method!r}") from error
    view = memoryview(bytearray(bufsize))
    with open(path, "rb", buffering=0) as f:
        while count := f.readinto(view):
            digest.update(view[:count])
    return digest.hexdigest()
