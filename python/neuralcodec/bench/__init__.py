"""Benchmarks of classical image codecs, for comparison with learned models.

* :mod:`neuralcodec.bench.codecs`: the :class:`~neuralcodec.bench.codecs.Codec`
  interface and the library codecs (JPEG, WebP, JPEG 2000, AVIF, JPEG XL, HEIF).
* :mod:`neuralcodec.bench.external`: codecs run as executables (BPG, VTM, HM, aomenc,
  cjxl).
* :mod:`neuralcodec.bench.runner`: the codec registry and the parallel benchmark loop.
* ``neuralcodec bench`` (:mod:`neuralcodec.bench.commands`).

Importing this package is cheap (no numpy, Pillow or torch), so the command line can
register the subcommand without loading them.
"""

#: The codec names ``neuralcodec bench`` takes (see :data:`neuralcodec.bench.runner.CODECS`).
CODEC_NAMES = ("jpeg420", "jpeg444", "webp", "jpeg2000", "avif", "jpegxl", "heif", "bpg", "bpg420", "vtm", "hm", "av1")

__all__ = ["CODEC_NAMES"]
