"""See :mod:`neuralcodec.utils.update_model.__main__` (run with ``python -m neuralcodec.utils.update_model``)."""
