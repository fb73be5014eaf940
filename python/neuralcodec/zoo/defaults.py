"""neuralcodec's own shipped weights, and the safetensors weight files they are stored in.

The default is one variable-rate model, ``mbt2018-mean-ladder``
(:class:`~neuralcodec.models.ladder.MeanScaleLadder`): the four fixed-rate mean-scale
models shipped before it as rungs, with gain units between them, so it codes at any
quality in ``1 .. 4``; it lives in ``neuralcodec/data/weights/``
(:data:`~neuralcodec.settings.DEFAULT_WEIGHTS_FILE`). ``neuralcodec compress``, ``eval``
and the main job use it when no model is named. The files made with the fixed-rate models
decode with its rungs (:data:`~neuralcodec.settings.PREVIOUS_DEFAULTS`,
:func:`previous_default_model`).

Weight files are safetensors: the model's state_dict (CDF tables included, so no
``update()`` is needed) plus string metadata: ``architecture``, ``N``, ``M``,
``constructor`` (the constructor arguments, JSON), and
whatever the trainer records (``lambda`` or ``lambdas``, ``metric``, ``steps``, ``seed``). A CDF table
whose rows are zero-padded to the longest one is stored packed, each row cut to its
``_cdf_length``, under ``<name>._quantized_cdf.packed`` (a Gaussian table of 64 rows of
up to 3133 values shrinks from 0.8 MB to about 0.1 MB); reading restores the padded
table exactly.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from neuralcodec.files import write_atomic
from neuralcodec.models.base import CompressionModel
from neuralcodec.settings import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_LAMBDAS,
    DEFAULT_QUALITY,
    DEFAULT_WEIGHTS_FILE,
    PREVIOUS_DEFAULTS,
)

__all__ = [
    "DEFAULT_ARCHITECTURE",
    "DEFAULT_LAMBDAS",
    "DEFAULT_QUALITY",
    "default_model",
    "default_weights_path",
    "load_model_file",
    "previous_default_model",
    "load_weights_file",
    "read_state_dict",
    "read_weights",
    "save_weights",
]

# DEFAULT_ARCHITECTURE, DEFAULT_LAMBDAS and DEFAULT_QUALITY are owned by neuralcodec.settings
# (the command line's help is generated from them without importing torch), re-exported here.

PathLike = Union[str, Path]


def _packaged(name: str) -> Path:
    return Path(str(resources.files("neuralcodec") / "data" / "weights" / name))


def default_weights_path() -> Path:
    """Where the shipped model's weights live inside the package."""
    return _packaged(DEFAULT_WEIGHTS_FILE)


def save_weights(
    model: CompressionModel,
    path: PathLike,
    architecture: str,
    metadata: Optional[Mapping[str, str]] = None,
    half_precision_kernels: bool = False,
) -> None:
    """Writes ``model``'s state_dict and sizes to a safetensors file (atomically).

    Args:
        model: a model whose tables are built (``update()``), so the file is ready to code.
        path: the ``.safetensors`` file to write.
        architecture: the zoo name of the model's architecture.
        metadata: extra string entries to record.
        half_precision_kernels: store convolution kernels (4-D float tensors) as float16,
            halving the file; everything else (biases, GDN parameters, the entropy
            models and their integer tables) stays exact. Loading widens them back to
            float32, so the file, not the model it came from, defines the codec: load
            it again before measuring or coding with it.
    """
    from safetensors.torch import save

    from neuralcodec.zoo.image import ARCHITECTURES
    from neuralcodec.zoo.shards import constructor_arguments

    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}")
    tensors = _pack_cdf_tables({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    if half_precision_kernels:
        tensors = {k: v.half() if v.is_floating_point() and v.dim() == 4 else v for k, v in tensors.items()}
    info = {"format": "neuralcodec-weights", "architecture": architecture, **(metadata or {})}
    for attribute in ("N", "M"):
        if hasattr(model, attribute):
            info[attribute] = str(int(getattr(model, attribute)))
    # What rebuilds a class that cannot read its sizes off its weights (ElicLiteVbr).
    info.setdefault("constructor", json.dumps(constructor_arguments(model)))
    # Serialised in memory and written like any file: the usual permissions (umask), where
    # safetensors' save_file would create it readable by its owner only.
    write_atomic(path, save(tensors, metadata={k: str(v) for k, v in info.items()}), force=True)


def read_weights(path: PathLike) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """``(state_dict, metadata)`` of a safetensors weight file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a readable safetensors file.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            state_dict = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
        state_dict = {k: v.float() if v.dtype == torch.float16 else v for k, v in state_dict.items()}
    except Exception as error:  # safetensors raises its own error types
        raise ValueError(f"{path} is not a readable safetensors weights file: {error}") from error
    return _unpack_cdf_tables(state_dict, path), metadata


_PACKED_SUFFIX = ".packed"


def _pack_cdf_tables(tensors: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """``tensors`` with each ``*._quantized_cdf`` ``[rows, width]`` whose rows are zero past
    their ``_cdf_length`` and whose width is the longest length replaced by the
    concatenation of its rows cut to length (1-D, same dtype); other tables stay as they are."""
    packed = dict(tensors)
    for key, table in tensors.items():
        if not key.endswith("._quantized_cdf") or table.dim() != 2:
            continue
        length_table = tensors.get(key[: -len("_quantized_cdf")] + "_cdf_length")
        if length_table is None or length_table.shape != (table.shape[0],) or table.shape[0] == 0:
            continue
        lengths: List[int] = length_table.tolist()
        if max(lengths) != table.shape[1] or min(lengths) < 0:
            continue
        if any(bool(row[n:].any()) for row, n in zip(table, lengths)):
            continue
        del packed[key]
        packed[key + _PACKED_SUFFIX] = torch.cat([row[:n] for row, n in zip(table, lengths)])
    return packed


def _unpack_cdf_tables(state_dict: Dict[str, Tensor], path: Path) -> Dict[str, Tensor]:
    """The inverse of :func:`_pack_cdf_tables`; ValueError naming ``path`` when a packed
    table does not match its lengths."""
    unpacked = dict(state_dict)
    for key, packed in state_dict.items():
        if not key.endswith("._quantized_cdf" + _PACKED_SUFFIX):
            continue
        name = key[: -len(_PACKED_SUFFIX)]
        lengths = state_dict.get(name[: -len("_quantized_cdf")] + "_cdf_length")
        if lengths is None or lengths.dim() != 1 or packed.dim() != 1 or lengths.numel() == 0:
            raise ValueError(f"{path}: the packed table {name} has no matching _cdf_length")
        sizes = lengths.tolist()
        if min(sizes) < 0 or sum(sizes) != packed.numel():
            raise ValueError(f"{path}: the packed table {name} holds {packed.numel()} values, "
                             f"its _cdf_length rows add up to {sum(sizes)}")
        table = packed.new_zeros((len(sizes), max(sizes)))
        for row, values in zip(table, torch.split(packed, sizes)):
            row[: values.numel()] = values
        del unpacked[key]
        unpacked[name] = table
    return unpacked


def load_weights_file(path: PathLike, device: Union[str, torch.device] = "cpu") -> CompressionModel:
    """The model stored in a safetensors weight file, in eval mode with its tables ready."""
    if Path(path).suffix != ".safetensors":
        raise ValueError(f"{path} is not a .safetensors weights file")
    return load_model_file(path, None, device)


def read_state_dict(path: PathLike) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """``(state_dict, metadata)`` of any weights file: a neuralcodec ``.safetensors`` file
    (with its metadata), a folder of weight shards or one shard file
    (:mod:`neuralcodec.zoo.shards`), or a torch file holding a state_dict, a CompressAI
    training checkpoint or a ``neuralcodec train`` checkpoint (whose config gives the
    metadata; CompressAI's older key spellings converted). The one reader of weights files
    that the model loader (:mod:`neuralcodec.zoo.loader`: ``compress``, ``eval``,
    ``export``) and fine-tuning share.

    Raises:
        FileNotFoundError: no such file (or no shards in the folder).
        ValueError: a safetensors file or shard that cannot be read.
        neuralcodec.zoo.WeightsError: a torch file that cannot be read or holds no state_dict.
    """
    from neuralcodec.state_dicts import convert_compressai_keys
    from neuralcodec.zoo.shards import is_shard, read_shards
    from neuralcodec.zoo.weights import read_checkpoint

    path = Path(path)
    if path.is_dir() or is_shard(path):
        return read_shards(path)
    if path.suffix == ".safetensors":
        return read_weights(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    state, metadata = read_checkpoint(path)
    return dict(convert_compressai_keys(state)), metadata


def load_model_file(
    path: PathLike, architecture: Optional[str] = None, device: Union[str, torch.device] = "cpu"
) -> CompressionModel:
    """The model in any weights file (see :func:`read_state_dict`), in eval mode with its
    tables ready (:func:`neuralcodec.zoo.build.model_from_weights`, as the model loader
    builds it). A
    ``.safetensors`` file, shards and a training checkpoint name their architecture;
    other files need ``architecture`` (a zoo name).

    Raises:
        FileNotFoundError: no such file.
        ValueError: no or an unknown architecture, or one other than the file's.
        neuralcodec.zoo.WeightsError: the file does not hold that model's weights.
    """
    from neuralcodec.zoo.build import model_from_weights

    state_dict, metadata = read_state_dict(path)
    return model_from_weights(state_dict, metadata, architecture, path)[0].to(device)


def default_model(device: Union[str, torch.device] = "cpu") -> CompressionModel:
    """The shipped model (one variable-rate model: pass the quality when coding), ready
    to code."""
    return _load_packaged(default_weights_path(), device)


def previous_default_model(
    architecture: str, quality: int, device: Union[str, torch.device] = "cpu"
) -> CompressionModel:
    """A model neuralcodec shipped before (:data:`~neuralcodec.settings.PREVIOUS_DEFAULTS`),
    ready to decode the files made with it: the fixed-rate ``mbt2018-mean`` at rate point
    ``quality`` is the shipped ladder's rung ``quality - 1``, its gain tables left out
    (the same state_dict, so the same weights hash).

    Raises:
        ValueError: neuralcodec never shipped ``architecture`` at ``quality``.
        FileNotFoundError: the shipped weights are missing from this installation.
    """
    from neuralcodec.models.ladder import MeanScaleLadder

    points = PREVIOUS_DEFAULTS.get(architecture, {})
    if isinstance(quality, bool) or quality not in points:
        shipped = "; ".join(f"{name} at qualities {sorted(p)}" for name, p in PREVIOUS_DEFAULTS.items())
        raise ValueError(f"neuralcodec never shipped {architecture} at quality {quality!r} (it shipped {shipped})")
    ladder = default_model()
    if not isinstance(ladder, MeanScaleLadder) or len(ladder.rungs) < max(points):
        raise FileNotFoundError(f"the shipped model holds no rung for {architecture} quality {quality}")
    return ladder.fixed_rate_model(int(quality) - 1).to(device)


def _load_packaged(path: Path, device: Union[str, torch.device]) -> CompressionModel:
    if not path.is_file():
        raise FileNotFoundError(f"the shipped weights {path.name} are missing from this installation; reinstall neuralcodec")
    return load_weights_file(path, device)
