"""Benchmarks of classical image codecs, for comparison with learned models.

* :mod:`neuralcodec.bench.codecs`: the :class:`~neuralcodec.bench.codecs.BenchCodec`
  interface and the library codecs (JPEG, WebP, JPEG 2000, AVIF, JPEG XL, HEIF).
* :mod:`neuralcodec.bench.external`: codecs run as executables (BPG, VTM, HM, aomenc,
  cjxl).
* :mod:`neuralcodec.bench.runner`: the codec registry (:data:`~neuralcodec.bench.runner.CODECS`,
  built from the codec classes) and the parallel benchmark loop.
* ``neuralcodec bench`` (:mod:`neuralcodec.bench.commands`).

Importing this package is cheap (no numpy, Pillow or torch), so the command line can
register the subcommand without loading them.
"""
