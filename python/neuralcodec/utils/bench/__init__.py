"""See :mod:`neuralcodec.utils.bench.__main__` (run with ``python -m neuralcodec.utils.bench``)."""
