"""See :mod:`neuralcodec.utils.plot.__main__` (run with ``python -m neuralcodec.utils.plot``)."""
