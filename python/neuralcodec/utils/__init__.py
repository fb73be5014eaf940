"""CompressAI's command-line tools, as ``python -m neuralcodec.utils.<tool>``.

The same tools, arguments and output files as ``compressai.utils`` (CompressAI 1.2.8),
as thin front-ends over neuralcodec's own implementations:

* :mod:`neuralcodec.utils.eval_model`: evaluate zoo models or training checkpoints on an
  image folder (:mod:`neuralcodec.eval.learned` codes and measures, results in the layout
  of :mod:`neuralcodec.eval.results`).
* :mod:`neuralcodec.utils.update_model`: build a checkpoint's entropy tables and save it
  under a hash-suffixed name (the zoo's checkpoint reader).
* :mod:`neuralcodec.utils.bench`: CompressAI's codec classes (``JPEG``, ``WebP``, ``BPG``,
  ``VTM``...) over the codec registry of :mod:`neuralcodec.bench`.
* :mod:`neuralcodec.utils.plot`: rate-distortion plots of results files
  (:mod:`neuralcodec.eval.rd`).
* :mod:`neuralcodec.utils.find_close`: the quality parameter of a codec closest to a
  target bpp, PSNR or MS-SSIM.
* :mod:`neuralcodec.utils.video`: the same for video (``eval_model``, ``bench``, ``plot``).

The ``neuralcodec`` command (``neuralcodec eval``, ``bench``, ``plot``) is the other
front-end of the same code.
"""
