"""Rewrites a ladder with one gain row per side as one with two, coding the same:
``python results/training/msh-ladder/more_rows.py IN.safetensors OUT.safetensors``.

The new rows at a quarter of a level from each rung are the old linear interpolation
there (half the identity, half the row at the boundary), so the output codes every quality
as the input did; training it then lets the gains bend between the rung and the boundary
(run c started from run a this way).
"""

from __future__ import annotations

import json
import sys

import torch

from neuralcodec.models.gain_units import GAIN_UNIT_NAMES
from neuralcodec.models.ladder import MeanScaleLadder
from neuralcodec.zoo.defaults import load_weights_file, save_weights


def main(source: str, target: str) -> int:
    old = load_weights_file(source)
    if not isinstance(old, MeanScaleLadder) or old.rows_per_side != 1:
        raise SystemExit(f"{source} is not a ladder with one gain row per side")
    rungs = [old.fixed_rate_model(k) for k in range(len(old.rungs))]
    new = MeanScaleLadder.from_fixed_rate(rungs, old.lmbda, rows_per_side=2)
    with torch.no_grad():
        for mine, theirs in zip(new.rungs, old.rungs):
            for name in GAIN_UNIT_NAMES:
                rows, table = getattr(theirs, name), getattr(mine, name)
                table[0], table[2], table[4] = rows[0], rows[1], rows[2]
                table[1], table[3] = 0.5 * (rows[0] + rows[1]), 0.5 * (rows[1] + rows[2])
    new.update()
    save_weights(new, target, "mbt2018-mean-ladder", metadata={"lambdas": json.dumps(new.lmbda)},
                 half_precision_kernels=True)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
