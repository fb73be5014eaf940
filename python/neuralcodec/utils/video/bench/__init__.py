"""Classical video codecs on raw YUV sequences: see :mod:`neuralcodec.utils.video.bench.__main__`."""
