"""Builds a rate ladder (``mbt2018-mean-ladder``) from the four shipped fixed-rate models.

    python results/training/msh-ladder/make_ladder.py OUT.safetensors [--gains TRAINED]

Without ``--gains`` the gain tables start at the steps ``sqrt(lambda / own lambda)`` (the
starting point of a gain-training run). With ``--gains`` (a ladder checkpoint, weights
file or shard folder of a run that trained the gains with ``--train-only '*gain*'``), the
gain tables are taken from it and every other tensor from the shipped files, so the rungs
(their entropy models' tables included) stay byte for byte the shipped models.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from neuralcodec.models.gain_units import GAIN_UNIT_NAMES
from neuralcodec.models.ladder import MeanScaleLadder
from neuralcodec.settings import DEFAULT_LAMBDAS
from neuralcodec.train.trainer import load_model_weights
from neuralcodec.zoo.defaults import default_weights_path, load_weights_file, save_weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--gains", help="take the gain tables from these trained ladder weights")
    args = parser.parse_args()
    qualities = sorted(DEFAULT_LAMBDAS)
    models = [load_weights_file(default_weights_path(q)) for q in qualities]
    ladder = MeanScaleLadder.from_fixed_rate(models, [DEFAULT_LAMBDAS[q] for q in qualities])
    if args.gains:
        trained = load_model_weights(args.gains)
        with torch.no_grad():
            for k, rung in enumerate(ladder.rungs):
                for name in GAIN_UNIT_NAMES:
                    table = trained[f"rungs.{k}.{name}"].float()
                    if not torch.equal(table[1], torch.ones_like(table[1])):
                        raise SystemExit(f"rung {k}: {name}'s middle level is not the identity in {args.gains}")
                    getattr(rung, name).copy_(table)
    ladder.update()
    save_weights(ladder, args.out, "mbt2018-mean-ladder", half_precision_kernels=True,
                 metadata={"lambdas": json.dumps([DEFAULT_LAMBDAS[q] for q in qualities])})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
