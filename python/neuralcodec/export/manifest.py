"""The manifest of an export folder: which files hold which transform, their shapes, and
the model they came from. Pure Python (no torch), so a deployment reads it with the
standard library alone.

``manifest.json`` (UTF-8 JSON, format version :data:`MANIFEST_VERSION`)::

    {
      "format": "neuralcodec-export",
      "version": 2,
      "neuralcodec_version": "0.1.0",
      "torch_version": "2.5.1",
      "model": {
        "class": "neuralcodec.models.hyperprior.MeanScaleHyperprior",
        "architecture": "mbt2018-mean",          # zoo name, or null for other classes
        "N": 128, "M": 192,
        "downsampling_factor": 64,               # pad images to multiples of this
        "weights_sha256": "9f3c...",             # hash of the state_dict, as files record it
        "coding_paths": ["compat"],
        "metadata": {"quality": "3", ...}        # what the caller recorded (strings)
      },
      "transforms": {
        "g_a": {
          "role": "analysis transform: image -> latent y",
          "input":  {"name": "x", "shape": ["batch", 3, "height", "width"]},
          "output": {"name": "y", "shape": ["batch", 192, "height/16", "width/16"]},
          "scale": 0.0625,                       # output height / input height
          "size_multiple": 16,                   # input height and width must be multiples
          "files": {
            "torchscript": {"path": "g_a.pt", "sha256": "...", "method": "script"},
            "onnx": {"path": "g_a.onnx", "sha256": "...", "opset": 17,
                     "exporter": "torchscript"}
          }
        },
        "g_s": ..., "h_a": ..., "h_s": ...
      },
      "entropy": {"path": "entropy.safetensors", "sha256": "...", "kind": "mean-scale", ...}
    }

``"entropy"`` (optional) describes the CDF tables and the engine's networks that decode
the latents without PyTorch (see :mod:`neuralcodec.export.entropy`); it is
``{"skipped": "<reason>"}`` when the model's entropy coding could not be exported.

Shapes are lists whose entries are sizes or strings naming a dynamic axis (``"batch"``,
``"height"``, ``"width"``, or an expression of them such as ``"height/16"``). Every
tensor is float32 in NCHW layout. The images the transforms see are RGB in ``[0, 1]``;
``g_s`` returns the image before clamping to ``[0, 1]`` and before the crop that undoes
the encoder's padding (the model's ``decompress`` does both).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from neuralcodec.errors import NeuralCodecError

__all__ = [
    "ENTROPY_FILE",
    "FORMATS",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "ManifestError",
    "TransformEntry",
    "file_sha256",
    "read_manifest",
    "transform_entry",
    "verify_files",
]

#: File name of the manifest inside an export folder.
MANIFEST_NAME = "manifest.json"
#: Version of the manifest layout this module writes and reads.
MANIFEST_VERSION = 2

#: The entropy kinds each manifest version knows: version 1 named the model families,
#: version 2 records the coding graph itself (:mod:`neuralcodec.graph_spec`).
ENTROPY_KINDS: Dict[int, Tuple[str, ...]] = {
    1: ("factorized", "scale", "mean-scale", "autoregressive"),
    2: ("factorized", "graph"),
}
#: Export formats and the suffix of their files.
FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}
#: File of the CDF tables and engine networks (see :mod:`neuralcodec.export.entropy`).
ENTROPY_FILE = "entropy.safetensors"

PathLike = Union[str, Path]


class ManifestError(NeuralCodecError, ValueError):
    """A manifest is missing, malformed, or does not match the files beside it."""


@dataclass(frozen=True)
class TransformEntry:
    """One transform of a manifest, with the paths of its files resolved.

    Attributes:
        name: ``"g_a"``, ``"g_s"``, ``"h_a"`` or ``"h_s"``.
        input_name, output_name: tensor names (the ONNX graph's input and output names).
        input_shape, output_shape: sizes or dynamic-axis names (see the module documentation).
        files: format -> absolute path of the file.
    """

    name: str
    input_name: str
    output_name: str
    input_shape: List[Union[int, str]]
    output_shape: List[Union[int, str]]
    files: Dict[str, Path]


def file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _require(condition: bool, path: Path, message: str) -> None:
    if not condition:
        raise ManifestError(f"{path}: {message}")


def read_manifest(folder: PathLike) -> Dict[str, Any]:
    """The manifest of an export folder, checked for structure (not for file hashes).

    Args:
        folder: the export folder, or the ``manifest.json`` itself.

    Returns:
        The parsed JSON object (see the module documentation).

    Raises:
        ManifestError: no manifest, not JSON, another format or a newer version, or
            missing fields.
    """
    path = Path(folder)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: no export manifest here (run `neuralcodec export` first)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: not a JSON manifest ({error})") from error
    _require(isinstance(manifest, dict), path, "the manifest must be a JSON object")
    _require(manifest.get("format") == "neuralcodec-export", path, "not a neuralcodec export manifest")
    version = manifest.get("version")
    _require(isinstance(version, int) and 1 <= version <= MANIFEST_VERSION, path,
             f"manifest version {version!r} is not supported (this neuralcodec reads 1..{MANIFEST_VERSION})")
    _require(isinstance(manifest.get("model"), dict), path, "missing the 'model' object")
    transforms = manifest.get("transforms")
    _require(isinstance(transforms, dict) and bool(transforms), path, "missing the 'transforms' object")
    for name, entry in transforms.items():
        _require(isinstance(entry, dict), path, f"transform {name!r} must be an object")
        for key in ("input", "output", "files"):
            _require(isinstance(entry.get(key), dict), path, f"transform {name!r} lacks {key!r}")
        for fmt, info in entry["files"].items():
            _require(fmt in FORMATS, path, f"transform {name!r} has an unknown format {fmt!r}")
            _require(isinstance(info, dict) and isinstance(info.get("path"), str), path,
                     f"transform {name!r}, format {fmt!r}: missing 'path'")
            _require(Path(info["path"]).name == info["path"], path,
                     f"transform {name!r}: file paths must be plain names inside the folder, got {info['path']!r}")
    entropy = manifest.get("entropy")
    if entropy is not None:
        _require(isinstance(entropy, dict), path, "'entropy' must be an object")
        if "skipped" not in entropy:
            _require(isinstance(entropy.get("path"), str) and Path(entropy["path"]).name == entropy["path"], path,
                     "'entropy' needs 'path', a plain file name inside the folder")
            kinds = ENTROPY_KINDS[version]
            _require(entropy.get("kind") in kinds, path,
                     f"unknown entropy kind {entropy.get('kind')!r} in a version {version} manifest (one of {kinds})")
    return manifest


def transform_entry(folder: PathLike, manifest: Mapping[str, Any], name: str) -> TransformEntry:
    """The entry of transform ``name`` with file paths resolved against ``folder``.

    Raises:
        ManifestError: the manifest has no such transform.
    """
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    transforms = manifest["transforms"]
    if name not in transforms:
        raise ManifestError(f"{folder}: the export has no {name!r} (it has {', '.join(sorted(transforms))})")
    entry = transforms[name]
    return TransformEntry(
        name=name,
        input_name=entry["input"]["name"],
        output_name=entry["output"]["name"],
        input_shape=list(entry["input"]["shape"]),
        output_shape=list(entry["output"]["shape"]),
        files={fmt: folder / info["path"] for fmt, info in entry["files"].items()},
    )


def verify_files(folder: PathLike, manifest: Optional[Mapping[str, Any]] = None) -> None:
    """Checks that every file the manifest lists exists and has the recorded SHA-256.

    Raises:
        ManifestError: naming the first missing or altered file.
    """
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    if manifest is None:
        manifest = read_manifest(folder)
    listed = [
        (f"{name}, {fmt}", info)
        for name, entry in manifest["transforms"].items()
        for fmt, info in entry["files"].items()
    ]
    entropy = manifest.get("entropy")
    if entropy is not None and "path" in entropy:
        listed.append(("entropy", entropy))
    for what, info in listed:
        path = folder / info["path"]
        if not path.is_file():
            raise ManifestError(f"{path}: listed in the manifest ({what}) but missing")
        if info.get("sha256") and file_sha256(path) != info["sha256"]:
            raise ManifestError(f"{path}: SHA-256 differs from the manifest ({what}); the file was altered")
