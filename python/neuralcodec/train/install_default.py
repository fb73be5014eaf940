"""Installs a trained variable-rate checkpoint as neuralcodec's shipped model:
``python -m neuralcodec.train.install_default CHECKPOINT``.

The checkpoint (any file the model loader reads: a ``neuralcodec train`` checkpoint, its
``weights.safetensors``, ...) must hold the shipped architecture
(:data:`~neuralcodec.settings.DEFAULT_ARCHITECTURE`) with the shipped lambda table
(:data:`~neuralcodec.settings.DEFAULT_LAMBDAS`). Its tables are built with the
quantiles fitted afresh, and it is written to the package's weights folder
(:func:`~neuralcodec.zoo.defaults.default_weights_path`) with float16 convolution kernels
(the file, not the checkpoint, then defines the codec). The sample photo's figures at
the integer qualities and between them are recorded beside it
(:data:`SAMPLE_RECORD`), and a test checks every installation reproduces them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

from neuralcodec.settings import DEFAULT_ARCHITECTURE, DEFAULT_LAMBDAS

__all__ = ["SAMPLE_QUALITIES", "SAMPLE_RECORD", "install", "main", "measure_sample"]

#: The file, beside the weights, with the sample photo's figures (quality -> bytes, bpp, PSNR, weights hash).
SAMPLE_RECORD = "neuralcodec-msh-gained.sample.json"
#: The qualities recorded: the integer ones and one between each pair.
SAMPLE_QUALITIES = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)


def measure_sample(quality: float) -> Dict[str, float]:
    """Bytes, bpp and PSNR (dB) of the shipped sample photo coded by the installed model
    at ``quality``, and the weights hash the file names."""
    import numpy as np
    from PIL import Image

    from neuralcodec.codec import Codec
    from neuralcodec.files import sample_image_path

    codec = Codec.default(quality)
    with Image.open(sample_image_path()) as img:
        rgb = np.asarray(img.convert("RGB"))
    data = codec.encode(rgb)
    decoded = np.asarray(codec.decode(data).convert("RGB"), dtype=np.float64)
    mse = float(np.mean((decoded - rgb) ** 2))
    return {
        "bytes": len(data),
        "bpp": 8 * len(data) / (rgb.shape[0] * rgb.shape[1]),
        "psnr": 10 * math.log10(255.0**2 / mse),
        "weights_sha256": codec.identity.weights_sha256.hex(),
    }


def install(checkpoint: Path) -> Path:
    """Writes ``checkpoint``'s model as the shipped one and records the sample's figures;
    returns the installed file.

    Raises:
        ValueError: the checkpoint holds another architecture or lambda table.
    """
    from neuralcodec.files import write_atomic
    from neuralcodec.train.trainer import prepare_for_coding
    from neuralcodec.zoo.defaults import default_weights_path, save_weights
    from neuralcodec.zoo.loader import load

    loaded = load(checkpoint=checkpoint)
    model = loaded.model
    lambdas = [float(v) for v in getattr(model, "lmbda", [])]
    expected = [DEFAULT_LAMBDAS[q] for q in sorted(DEFAULT_LAMBDAS)]
    if loaded.architecture != DEFAULT_ARCHITECTURE or lambdas != expected:
        raise ValueError(
            f"{checkpoint} holds {loaded.architecture} with lambdas {lambdas}; the shipped model is "
            f"{DEFAULT_ARCHITECTURE} with lambdas {expected}"
        )
    prepare_for_coding(model)
    target = default_weights_path()
    metadata = {key: value for key, value in loaded.metadata.items() if key in ("steps", "seed", "metric")}
    metadata["lambdas"] = json.dumps(expected)
    save_weights(model, target, DEFAULT_ARCHITECTURE, metadata=metadata, half_precision_kernels=True)
    record = {f"{q:g}": measure_sample(q) for q in SAMPLE_QUALITIES}
    write_atomic(target.parent / SAMPLE_RECORD, (json.dumps(record, indent=2) + "\n").encode(), force=True)
    return target


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralcodec.train.install_default", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="the trained model (a checkpoint or weights file)")
    args = parser.parse_args(argv)
    target = install(args.checkpoint)
    print(f"installed {args.checkpoint} as {target}, sample figures in {target.parent / SAMPLE_RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
