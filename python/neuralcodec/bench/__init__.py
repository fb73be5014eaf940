"""Benchmarks of classical image codecs, for comparison with learned models.

* :mod:`neuralcodec.bench.base`: the :class:`~neuralcodec.bench.base.BenchCodec`
  interface and :class:`~neuralcodec.bench.base.BenchError`.
* :mod:`neuralcodec.bench.codecs`: the library codecs (JPEG, WebP, JPEG 2000, AVIF,
  JPEG XL, HEIF).
* :mod:`neuralcodec.bench.external`: codecs run as executables (BPG, VTM, HM, aomenc,
  cjxl, TFCI).
* :mod:`neuralcodec.bench.runner`: the codec registry (:data:`~neuralcodec.bench.runner.CODECS`,
  built from the codec classes) and the parallel benchmark loop.
* ``neuralcodec bench`` (:mod:`neuralcodec.bench.commands`), and CompressAI's
  ``python -m neuralcodec.utils.bench`` (:mod:`neuralcodec.utils.bench`), both over
  this registry.

Importing this package is cheap (no numpy, Pillow or torch), so the command line can
register the subcommand without loading them.
"""
