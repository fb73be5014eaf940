"""Build a trained checkpoint's entropy tables and export it under a hash-suffixed name.

``python -m neuralcodec.utils.update_model CHECKPOINT -a ARCH [-n NAME] [-d DIR]
[--no-update]`` (CompressAI's ``update_model``): reads the checkpoint through the zoo
(a bare state_dict, or one under ``"network"`` or ``"state_dict"``, older key spellings
converted), builds the model ``ARCH`` from it, rebuilds its entropy tables with
``update(force=True)`` as CompressAI does (unless ``--no-update``), and saves the
model's state_dict (the training state stripped) as ``DIR/NAME-HASH.EXT``: ``NAME``
defaults to the checkpoint's name without its suffixes, ``EXT`` is the checkpoint's
suffixes (``.pth.tar``), ``HASH`` the first 8 hex digits of the saved file's SHA-256, so
the file can be verified when it is loaded by URL (:func:`neuralcodec.zoo.download_weights`).
As in CompressAI, the file is first written as ``DIR/NAME.EXT`` and then renamed: with
the default name and folder that replaces the checkpoint itself.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path
from typing import Any, Dict, Sequence

import torch
from torch import Tensor

from neuralcodec.files import write_atomic
from neuralcodec.models import (
    FactorizedPrior,
    JointAutoregressiveHierarchicalPriors,
    MeanScaleHyperprior,
    ScaleHyperprior,
)
from neuralcodec.utils.checkpoints import read_state_dict
from neuralcodec.zoo import ARCHITECTURES

__all__ = ["description", "load_checkpoint", "main", "models", "setup_args", "sha256_file"]

description = (
    "Export a trained model to a new checkpoint with updated CDFs and a hash prefix, "
    "so that it can be loaded later by URL."
)

#: ``-a`` name -> model class: CompressAI's short class names and the zoo's architectures.
models: Dict[str, Any] = {
    "factorized-prior": FactorizedPrior,
    "jarhp": JointAutoregressiveHierarchicalPriors,
    "mean-scale-hyperprior": MeanScaleHyperprior,
    "scale-hyperprior": ScaleHyperprior,
}
models.update(ARCHITECTURES)
#: CompressAI 1.2.8's own spelling of this one (``compressai.zoo.image.model_architectures``).
models["bmshj2018_factorized_relu"] = ARCHITECTURES["bmshj2018-factorized-relu"]

_GAIN_BOTTLENECK_ARCHITECTURES = ("bmshj2018-hyperprior-vbr", "mbt2018-mean-vbr")


def sha256_file(filepath: Path, len_hash_prefix: int = 8) -> str:
    """The first ``len_hash_prefix`` hex digits of the SHA-256 of the file at ``filepath``."""
    digest = hashlib.sha256()
    with Path(filepath).open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()[:len_hash_prefix]


def load_checkpoint(filepath: Path, arch: str) -> Dict[str, Tensor]:
    """The state_dict in a checkpoint file, keys converted (``arch`` is not needed to read it).

    Raises:
        EOFError, pickle.UnpicklingError, RuntimeError: torch cannot read the file.
        neuralcodec.zoo.WeightsError: the file holds no state_dict.
    """
    del arch
    return read_state_dict(filepath)


def setup_args() -> argparse.ArgumentParser:
    """The parser, with CompressAI's arguments."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("filepath", type=str, help="path of the checkpoint to export")
    parser.add_argument("-n", "--name", type=str, help="exported model name")
    parser.add_argument("-d", "--dir", type=str, help="exported model directory (default: the current one)")
    parser.add_argument("--no-update", action="store_true", default=False, help="do not rebuild the entropy tables")
    parser.add_argument(
        "-a", "--architecture", default="scale-hyperprior", choices=list(models),
        help="model architecture (default: %(default)s)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str]) -> None:
    """Runs the tool on ``argv`` (without the program name); prints nothing.

    Raises:
        SystemExit: bad arguments.
        RuntimeError: ``filepath`` is not a file.
        EOFError, pickle.UnpicklingError: torch cannot read the file.
    """
    args = setup_args().parse_args(list(argv))
    filepath = Path(args.filepath).resolve()
    if not filepath.is_file():
        raise RuntimeError(f'"{filepath}" is not a valid file.')
    state_dict = load_checkpoint(filepath, args.architecture)

    from neuralcodec.zoo.loader import build_model  # the one model builder

    # The registry's name of the class ``-a`` names (CompressAI's short names included).
    architecture = next(name for name, cls in ARCHITECTURES.items() if cls is models[args.architecture])
    gain_bottleneck = {"vr_entbttlnck": True} if args.architecture in _GAIN_BOTTLENECK_ARCHITECTURES else {}
    net: Any = build_model(architecture, state_dict, {}, filepath, **gain_bottleneck)
    if not args.no_update:
        # CompressAI's tool writes CompressAI's tables: the file equals its update_model's
        # output on this machine (neuralcodec loads them as stored tables, on every path).
        net.update(force=True, method="compressai")

    if args.name:
        name = args.name
    else:
        name = filepath.name
        while Path(name).suffixes:
            name = Path(name).stem
    ext = "".join(filepath.suffixes)
    output_dir = Path(args.dir) if args.dir is not None else Path.cwd()
    output_dir.mkdir(exist_ok=True)

    # As CompressAI: saved under the plain name first (the hash is of the saved bytes),
    # then renamed, so a file of that name there (the checkpoint itself, with the default
    # name and folder) is replaced.
    target = output_dir / f"{name}{ext}"
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    write_atomic(target, buffer.getvalue(), force=True)
    target.rename(output_dir / f"{name}-{sha256_file(target)}{ext}")


if __name__ == "__main__":
    main(sys.argv[1:])
