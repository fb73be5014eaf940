"""Installs trained gain units into neuralcodec's shipped model:
``python -m neuralcodec.train.install_default CHECKPOINT``.

The shipped model is a rate ladder (:data:`~neuralcodec.settings.DEFAULT_ARCHITECTURE`,
:class:`~neuralcodec.models.ladder.MeanScaleLadder`) whose rungs are the fixed-rate models
shipped before it; the files made with those decode with the rungs, so they must not
change. The checkpoint (any file the model loader reads: a ``neuralcodec train``
checkpoint, its ``weights.safetensors``, ...) must hold the shipped architecture with the
shipped lambda table (:data:`~neuralcodec.settings.DEFAULT_LAMBDAS`), trained from the
installed model with ``--train-only '*gain*'``: its gain tables replace the installed
ones, and everything else (the rungs, their entropy models' tables) stays as installed.
``--replace-rungs`` installs the whole checkpoint instead (new rungs: the files made with
the old ones then no longer decode). The file is written with float16 convolution kernels
to the package's weights folder (:func:`~neuralcodec.zoo.defaults.default_weights_path`),
and the sample photo's figures at the integer qualities and between them are recorded
beside it (:data:`SAMPLE_RECORD`); a test checks every installation reproduces them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from neuralcodec.settings import DEFAULT_ARCHITECTURE, DEFAULT_LAMBDAS

__all__ = ["SAMPLE_QUALITIES", "SAMPLE_RECORD", "install", "main", "measure_sample"]

#: The file, beside the weights, with the sample photo's figures (quality -> bytes, bpp, PSNR, weights hash).
SAMPLE_RECORD = "neuralcodec-msh-ladder.sample.json"
#: The qualities recorded: the integer ones and one between each pair.
SAMPLE_QUALITIES = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)


def measure_sample(quality: float, codec: Optional[Any] = None) -> Dict[str, float]:
    """Bytes, bpp and PSNR (dB) of the shipped sample photo coded by the installed model
    at ``quality`` (``codec``: that model, loaded once for several qualities; default:
    load it), and the weights hash the file names."""
    import numpy as np
    from PIL import Image

    from neuralcodec.codec import Codec
    from neuralcodec.files import sample_image_path
    from neuralcodec.metrics import psnr_8bit

    codec = Codec.default() if codec is None else codec
    with Image.open(sample_image_path()) as img:
        rgb = np.asarray(img.convert("RGB"))
    data = codec.encode(rgb, quality=quality)
    decoded = np.asarray(codec.decode(data).convert("RGB"))
    return {
        "bytes": len(data),
        "bpp": 8 * len(data) / (rgb.shape[0] * rgb.shape[1]),
        "psnr": psnr_8bit(rgb, decoded),
        "weights_sha256": codec.identity.weights_sha256.hex(),
    }


def install(checkpoint: Path, replace_rungs: bool = False, out: Optional[Path] = None) -> Path:
    """Writes ``checkpoint``'s gain tables into the shipped model (with
    ``replace_rungs``: the whole checkpoint) and records the sample's figures; returns the
    installed file. With ``out``, writes that model to ``out`` instead and installs
    nothing (a candidate to measure before installing it).

    Raises:
        ValueError: the checkpoint holds another architecture or lambda table, or a gain
            table whose middle level (a rung's own rate) is not the identity.
    """
    import torch

    from neuralcodec.files import write_atomic
    from neuralcodec.models.base import CompressionModel
    from neuralcodec.models.gain_units import GAIN_UNIT_NAMES
    from neuralcodec.models.ladder import MeanScaleLadder
    from neuralcodec.train.trainer import prepare_for_coding
    from neuralcodec.zoo.defaults import default_model, default_weights_path, save_weights
    from neuralcodec.zoo.loader import load

    loaded = load(checkpoint=checkpoint)
    trained = loaded.model
    lambdas = [float(v) for v in getattr(trained, "lmbda", [])]
    expected = [DEFAULT_LAMBDAS[q] for q in sorted(DEFAULT_LAMBDAS)]
    if loaded.architecture != DEFAULT_ARCHITECTURE or lambdas != expected or not isinstance(trained, MeanScaleLadder):
        raise ValueError(
            f"{checkpoint} holds {loaded.architecture} with lambdas {lambdas}; the shipped model is "
            f"{DEFAULT_ARCHITECTURE} with lambdas {expected}"
        )
    for k, rung in enumerate(trained.rungs):
        for name in GAIN_UNIT_NAMES:
            middle = getattr(rung, name)[trained.middle_level]
            if not torch.equal(middle, torch.ones_like(middle)):
                raise ValueError(f"{checkpoint}: rung {k}'s {name} is not 1 at the rung's own rate")
    model: CompressionModel = trained
    if replace_rungs:
        prepare_for_coding(model)
    else:  # the installed rungs, with the trained gains (as many rows as the checkpoint has)
        installed = default_model()
        assert isinstance(installed, MeanScaleLadder)
        rungs = [installed.fixed_rate_model(k) for k in range(len(installed.rungs))]
        model = MeanScaleLadder.from_fixed_rate(rungs, installed.lmbda, rows_per_side=trained.rows_per_side)
        with torch.no_grad():
            for mine, theirs in zip(model.rungs, trained.rungs):
                for name in GAIN_UNIT_NAMES:
                    getattr(mine, name).copy_(getattr(theirs, name))
    target = default_weights_path() if out is None else Path(out)
    metadata = {key: value for key, value in loaded.metadata.items() if key in ("steps", "seed", "metric")}
    metadata["lambdas"] = json.dumps(expected)
    save_weights(model, target, DEFAULT_ARCHITECTURE, metadata=metadata, half_precision_kernels=True)
    if out is not None:
        return target
    from neuralcodec.codec import Codec

    written = Codec.default()  # the file just written, loaded once for every quality
    record = {f"{q:g}": measure_sample(q, written) for q in SAMPLE_QUALITIES}
    write_atomic(target.parent / SAMPLE_RECORD, (json.dumps(record, indent=2) + "\n").encode(), force=True)
    return target


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralcodec.train.install_default", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="the trained model (a checkpoint or weights file)")
    parser.add_argument("--replace-rungs", action="store_true",
                        help="install the checkpoint's rungs too (files made with the installed rungs stop decoding)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the model there instead of installing it (a candidate to measure first)")
    args = parser.parse_args(argv)
    target = install(args.checkpoint, replace_rungs=args.replace_rungs, out=args.out)
    if args.out is not None:
        print(f"wrote {target} (not installed)")
        return 0
    print(f"installed {args.checkpoint} as {target}, sample figures in {target.parent / SAMPLE_RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
