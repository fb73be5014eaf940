"""How a rate ladder's qualities between its rungs compare with the rungs' own curve:
``python results/training/msh-ladder/score.py RESULTS.json...``.

Each file is a ``neuralcodec eval`` result of a ladder at several qualities, the integers
among them (where the ladder is its fixed-rate rungs). For each it prints the BD-rate
(PSNR, MS-SSIM in dB) of the curve through every quality against the curve through the
integer ones alone, and each fractional quality's rate against the integer curve
interpolated (PCHIP, log-rate as a function of PSNR) at its PSNR, in percent: what the
rates between the rungs cost over an ideal interpolation of the fixed-rate models.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from scipy.interpolate import PchipInterpolator

from neuralcodec.eval.rd import bjontegaard, msssim_db


def main(paths: list) -> int:
    for path in paths:
        document = json.load(open(path))
        results, qualities = document["results"], np.array(document["qualities"], dtype=float)
        bpp, psnr = np.array(results["bpp"]), np.array(results["psnr-rgb"])
        msssim = msssim_db(results["ms-ssim-rgb"])
        integer = qualities == np.round(qualities)
        deltas = [f"{name} {bjontegaard(bpp[integer], values[integer], bpp, values).rate_percent:+.2f}%"
                  for name, values in (("PSNR", psnr), ("MS-SSIM", msssim))]
        curve = PchipInterpolator(psnr[integer], np.log(bpp[integer]))
        points = [f"{q:g}: {100 * (np.exp(np.log(b) - curve(p)) - 1):+.1f}"
                  for q, b, p, i in zip(qualities, bpp, psnr, integer) if not i]
        print(f"{path}: BD-rate {', '.join(deltas)}; per quality: {', '.join(points)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
