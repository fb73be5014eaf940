"""Rate-distortion plots of video results files: see :mod:`neuralcodec.utils.video.plot.__main__`."""
