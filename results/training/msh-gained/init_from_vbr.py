"""Writes the starting weights of the gained mean-scale model (``mbt2018-mean-gained``) from a
``mbt2018-mean-vbr`` weights file: ``python results/training/msh-gained/init_from_vbr.py VBR OUT``.

The transforms, hyper transforms and entropy models carry over as they are; the gain of
``y`` at level ``k`` starts at the scalar step the variable-rate model codes that level with
(``|Gain[k]|`` in every channel, its inverse the reciprocal) and the gains of ``z`` at 1
(that model codes ``z`` with a unit step). Its reconstruction offsets (``QuantABCD``) have
no counterpart and are dropped: the learned inverse gains take their place. The lambda
table is the variable-rate model's.
"""

from __future__ import annotations

import json
import sys

import torch
from safetensors import safe_open

from neuralcodec.models.gained import MeanScaleHyperpriorGained
from neuralcodec.train.trainer import load_model_weights
from neuralcodec.zoo.defaults import save_weights


def main(source: str, target: str) -> None:
    with safe_open(source, "pt") as f:
        lambdas = json.loads((f.metadata() or {})["lambdas"])
    state = load_model_weights(source)
    steps = state.pop("Gain").abs().float()
    for key in [k for k in state if k.startswith("QuantABCD.")]:
        del state[key]
    model = MeanScaleHyperpriorGained(int(state["g_a.0.weight"].shape[0]), int(state["g_a.6.weight"].shape[0]), lambdas=lambdas)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert sorted(missing) == sorted(["y_gain", "y_gain_inv", "z_gain", "z_gain_inv"]), missing
    with torch.no_grad():
        model.y_gain.copy_(steps.view(-1, 1).expand_as(model.y_gain))
        model.y_gain_inv.copy_((1.0 / steps).view(-1, 1).expand_as(model.y_gain_inv))
    model.update(force=True)
    save_weights(model, target, "mbt2018-mean-gained", metadata={"lambdas": json.dumps(lambdas)})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
