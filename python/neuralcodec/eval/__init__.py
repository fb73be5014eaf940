"""Evaluation: metrics of decoded images, learned-model evaluation, results files, BD-rate and plots.

* :mod:`neuralcodec.eval.learned`: :func:`~neuralcodec.eval.learned.evaluate` learned
  models (bpp from the real bitstreams, PSNR-RGB, MS-SSIM-RGB, times).
* :mod:`neuralcodec.eval.results`: the results file layout (CompressAI's, plus per-image
  detail), reading and writing it.
* :mod:`neuralcodec.eval.rd`: Bjøntegaard deltas (PCHIP) and RD plots.
* :mod:`neuralcodec.eval.images`, :mod:`neuralcodec.eval.measure`: data sets and the
  distortion of one decoded image.
* ``neuralcodec eval``, ``plot`` and ``bdrate`` (:mod:`neuralcodec.eval.commands`).

Importing this package is cheap; the submodules load numpy, torch or matplotlib.
"""
