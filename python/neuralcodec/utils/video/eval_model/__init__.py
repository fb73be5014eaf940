"""Learned video models on raw YUV sequences: see :mod:`neuralcodec.utils.video.eval_model.__main__`."""
