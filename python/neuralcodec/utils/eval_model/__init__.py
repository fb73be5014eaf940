"""See :mod:`neuralcodec.utils.eval_model.__main__` (run with ``python -m neuralcodec.utils.eval_model``)."""
