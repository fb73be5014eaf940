"""Measures a variable-rate mean-scale checkpoint against the four shipped fixed-rate models on
held-out photos, with actual bytes: ``python results/training/msh-vbr/compare.py CHECKPOINT
PHOTO...``.

For each photo and each shipped quality q (1-4) it codes the photo with the shipped model of
that quality and with the candidate at quality q (the level trained for the same lambda), on
the engine path, and decodes. Prints bpp and PSNR per point, the mean curve of each, and the
BD-rate of the candidate against the shipped models (negative: the candidate needs fewer
bits). Writes the figures as JSON with ``--json FILE``.

CHECKPOINT is a training checkpoint of ``neuralcodec train --variable-rate`` (``checkpoint.pt``)
or a weights file it wrote; the lambda table comes from its config or metadata.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch
from PIL import Image

from neuralcodec.eval.rd import bd_rate
from neuralcodec.models.vbr import MeanScaleHyperpriorVbr
from neuralcodec.train.trainer import load_model_weights
from neuralcodec.zoo.defaults import default_model

SHIPPED_QUALITIES = (1, 2, 3, 4)


def load_candidate(path: Path) -> MeanScaleHyperpriorVbr:
    """The checkpoint's model, tables built."""
    lambdas: List[float]
    if path.suffix == ".pt":
        state = torch.load(path, map_location="cpu", weights_only=True)
        lambdas = list(state["config"]["lambdas"])
        weights = state["model"]
    else:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            lambdas = json.loads((f.metadata() or {})["lambdas"])
        weights = load_model_weights(str(path))
    model = MeanScaleHyperpriorVbr.from_state_dict(weights, lambdas=lambdas)
    for module in model.modules():
        if hasattr(module, "fit_quantiles"):
            module.fit_quantiles()
    model.update(force=True)
    return model.eval()


def code(model: Any, x: torch.Tensor, **rate: Any) -> Dict[str, float]:
    """Actual bpp and PSNR (dB, RGB, 8-bit) of ``x`` through ``model``'s strings."""
    with torch.no_grad():
        out = model.compress(x, **rate)
        bits = 8 * sum(len(s) for group in out["strings"] for s in group)
        x_hat = model.decompress(out["strings"], out["shape"], x_size=out["x_size"], **rate)["x_hat"]
    pixels = x.shape[-2] * x.shape[-1]
    mse = float(torch.mean((x_hat.clamp(0, 1).mul(255).round() - x.mul(255).round()) ** 2))
    return {"bpp": bits / pixels, "psnr": 10 * math.log10(255.0**2 / max(mse, 1e-10))}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    candidate = load_candidate(args.checkpoint)
    curves: Dict[str, Dict[str, List[float]]] = {"shipped": {"bpp": [], "psnr": []}, "candidate": {"bpp": [], "psnr": []}}
    rows = []
    for q in SHIPPED_QUALITIES:
        shipped = default_model(q).eval()
        points = {"shipped": [], "candidate": []}
        for photo in args.photos:
            with Image.open(photo) as image:
                array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
            x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
            points["shipped"].append(code(shipped, x))
            points["candidate"].append(code(candidate, x, **candidate.prepare_quality(float(q))))
        for name, measured in points.items():
            bpp = float(np.mean([p["bpp"] for p in measured]))
            psnr = float(np.mean([p["psnr"] for p in measured]))
            curves[name]["bpp"].append(bpp)
            curves[name]["psnr"].append(psnr)
            rows.append({"quality": q, "model": name, "bpp": bpp, "psnr": psnr})
            print(f"q{q} {name:9s} {bpp:.4f} bpp {psnr:.2f} dB", flush=True)
    result = bd_rate(curves["shipped"]["bpp"], curves["shipped"]["psnr"], curves["candidate"]["bpp"], curves["candidate"]["psnr"])
    print(f"BD-rate of the candidate against the shipped models: {result:+.2f}%")
    if args.json:
        args.json.write_text(json.dumps({"photos": [p.name for p in args.photos], "points": rows, "bd_rate_percent": result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
