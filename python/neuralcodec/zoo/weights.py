"""Getting weights: verified downloads, a cache folder, and CompressAI checkpoint files.

* :func:`download_weights` fetches a URL into the cache folder once, verifies the file
  against the SHA-256 prefix in its name (``name-<8+ hex>.ext``, the torch.hub
  convention that CompressAI's file names follow but CompressAI never checks), and
  writes it atomically, so an interrupted or corrupted download never leaves a file
  that later loads as weights.
* :func:`load_checkpoint` reads a local file with ``torch.load(weights_only=True)``
  (no code execution from untrusted pickles) and returns a flat state_dict, whether
  the file holds a bare state_dict or a training checkpoint (``{"state_dict": ...}``).
* :func:`convert_compressai_keys` maps the key spellings of CompressAI's older
  checkpoints and of DataParallel wrappers to the current module layout.

The cache folder is ``$NEURALCODEC_HOME/weights`` when that variable is set, else
``~/.cache/neuralcodec/weights``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch

from neuralcodec.errors import NeuralCodecError
from neuralcodec.state_dicts import convert_compressai_keys  # re-exported; models import it from there

__all__ = [
    "ArchitectureMismatchError",
    "ModelSourceError",
    "WeightsError",
    "WeightsNotFoundError",
    "cache_dir",
    "convert_compressai_keys",
    "download_weights",
    "expected_hash_prefix",
    "TRAIN_CHECKPOINT_FORMAT",
    "load_checkpoint",
    "load_weights",
    "read_checkpoint",
]

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.")
_CHUNK = 1 << 20


class WeightsError(NeuralCodecError, RuntimeError):
    """Weights could not be obtained or read; the message says why and what to do."""


class ModelSourceError(NeuralCodecError, ValueError):
    """A model request that cannot be met as asked: an unknown architecture, a quality it
    does not have, a checkpoint without the architecture it needs, sources that
    contradict each other. The message says what to give instead."""


class ArchitectureMismatchError(ModelSourceError):
    """A weights file names another architecture than the one asked for."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """No weights at the path given (no such file, or a folder without weight shards)."""


def cache_dir() -> Path:
    """The folder downloaded weights are kept in (created on first download)."""
    home = os.environ.get("NEURALCODEC_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "neuralcodec"
    return base / "weights"


def expected_hash_prefix(file_name: str) -> Optional[str]:
    """The SHA-256 prefix a file name promises (``abc-1234abcd.pth.tar`` -> ``1234abcd``), if any."""
    match = _HASH_IN_NAME.search(file_name)
    return match.group(1) if match else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _progress_bar(total: Optional[int], name: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=not enabled, file=sys.stderr
    )


def download_weights(
    url: str,
    *,
    directory: Optional[Union[str, Path]] = None,
    progress: bool = True,
    check_hash: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Returns the local path of ``url``'s file, downloading it into the cache if needed.

    A cached file is verified again before use, so a corrupted cache is detected.

    Args:
        url: ``http(s)://`` or ``file://`` URL whose last path component is the file name.
        directory: the cache folder (default :func:`cache_dir`).
        progress: show a progress bar on stderr.
        check_hash: verify the SHA-256 prefix in the file name (refuses names without one).
        timeout: seconds to wait for the server before giving up.

    Raises:
        WeightsError: the server cannot be reached (offline, refused, timed out, HTTP
            error), or the file does not match the hash in its name (it is deleted).
    """
    name = url.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise WeightsError(f"cannot tell the file name from the URL {url!r}")
    expected = expected_hash_prefix(name)
    if check_hash and expected is None:
        raise WeightsError(
            f"{name!r} carries no SHA-256 prefix (name-<hex>.ext), so the download cannot be verified; "
            "pass check_hash=False to accept it unverified"
        )
    folder = Path(directory) if directory is not None else cache_dir()
    target = folder / name

    if target.is_file():
        if not check_hash or _sha256(target).startswith(expected or ""):
            return target
        raise WeightsError(
            f"the cached file {target} does not match the SHA-256 prefix {expected} in its name "
            "(corrupted or replaced); delete it to download it again"
        )

    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    temporary_path = Path(temporary)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except urllib.error.HTTPError as error:
                raise WeightsError(f"cannot download {url}: the server answered HTTP {error.code} {error.reason}") from None
            except (TimeoutError, urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise WeightsError(
                    f"cannot download {url}: {reason}. If this machine is offline, fetch the file "
                    f"elsewhere and place it in the weights folder {folder} (NEURALCODEC_HOME moves it), "
                    "or pass the file itself (--checkpoint FILE on the command line, a path in Python)"
                ) from None
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                received = 0
                with _progress_bar(total, name, progress) as bar:
                    while True:
                        try:
                            chunk = response.read(_CHUNK)
                        except (TimeoutError, OSError) as error:
                            raise WeightsError(f"the download of {url} broke off: {error}") from None
                        if not chunk:
                            break
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                if total is not None and received != total:
                    raise WeightsError(f"the download of {url} is incomplete: {received} of {total} bytes")
        actual = digest.hexdigest()
        if check_hash and expected is not None and not actual.startswith(expected):
            raise WeightsError(
                f"the file downloaded from {url} has SHA-256 {actual[:len(expected)]}..., but its name "
                f"promises {expected}: it is corrupted or was replaced, and was discarded"
            )
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)
    return target


#: The ``format`` of a ``neuralcodec train`` checkpoint (``checkpoint.pt``, ``best.pt``).
TRAIN_CHECKPOINT_FORMAT = "neuralcodec-train-checkpoint"


def _training_metadata(checkpoint: Mapping[str, Any]) -> Dict[str, str]:
    """What a ``neuralcodec train`` checkpoint's config says about its model, as the
    string metadata a weights file records (``architecture``, ``N``, ``M``, ``metric``,
    ``lambda``, ``lambdas``, ``steps``); empty for other checkpoints."""
    config = checkpoint.get("config")
    if checkpoint.get("format") != TRAIN_CHECKPOINT_FORMAT or not isinstance(config, Mapping):
        return {}
    metadata = {"format": TRAIN_CHECKPOINT_FORMAT}
    for key in ("architecture", "N", "M", "metric"):
        if config.get(key) is not None:
            metadata[key] = str(config[key])
    if config.get("variable_rate"):
        metadata["lambda"] = "variable"
    elif config.get("lmbda") is not None:
        metadata["lambda"] = repr(float(config["lmbda"]))
    if config.get("lambdas") is not None:
        metadata["lambdas"] = json.dumps([float(v) for v in config["lambdas"]])
    if checkpoint.get("step") is not None:
        metadata["steps"] = str(checkpoint["step"])
    return metadata


def read_checkpoint(path: Union[str, Path]) -> "Tuple[OrderedDict[str, torch.Tensor], Dict[str, str]]":
    """``(state_dict, metadata)`` of a torch weights file: a flat state_dict on the CPU
    (keys as stored, see :func:`load_checkpoint`), and, for a ``neuralcodec train``
    checkpoint, what its config says about the model (architecture, sizes, lambda; see
    :data:`TRAIN_CHECKPOINT_FORMAT`), else ``{}``.

    Raises:
        WeightsError: the file is missing, not a torch file (``torch.load``'s own
            exception is its ``__cause__``), or holds no state_dict.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for bad files
        raise WeightsError(f"cannot read weights from {path}: {error}") from error
    metadata: Dict[str, str] = {}
    if isinstance(checkpoint, Mapping):
        metadata = _training_metadata(checkpoint)
        for key in ("state_dict", "network", "model_state_dict", "model"):
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping):
                checkpoint = inner
                break
    if not isinstance(checkpoint, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in checkpoint.items()
    ):
        raise WeightsError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    return OrderedDict(checkpoint), metadata


def load_checkpoint(path: Union[str, Path]) -> "OrderedDict[str, torch.Tensor]":
    """Reads a weights file into a flat state_dict on the CPU, keys as stored.

    Accepts a bare state_dict, or a training checkpoint holding one under
    ``"state_dict"`` (CompressAI's training script), ``"network"``,
    ``"model_state_dict"`` (the keys CompressAI's ``eval_model`` and ``update_model``
    look under) or ``"model"`` (``neuralcodec train``).

    Raises:
        WeightsError: the file is missing, not a torch file (``torch.load``'s own
            exception is its ``__cause__``), or holds no state_dict.
    """
    return read_checkpoint(path)[0]


def load_weights(
    source: Union[str, Path], *, progress: bool = True, directory: Optional[Union[str, Path]] = None
) -> "OrderedDict[str, torch.Tensor]":
    """A converted state_dict from a URL (downloaded and verified) or a local path."""
    text = str(source)
    if re.match(r"^(https?|file)://", text):
        path = download_weights(text, directory=directory, progress=progress)
    else:
        path = Path(source)
    return convert_compressai_keys(load_checkpoint(path))
