"""See :mod:`neuralcodec.utils.find_close.__main__` (run with ``python -m neuralcodec.utils.find_close``)."""
