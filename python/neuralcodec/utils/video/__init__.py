"""CompressAI's video tools (``compressai.utils.video``), each runnable as
``python -m neuralcodec.utils.video.<tool>`` and callable as ``main(argv)``:

* :mod:`neuralcodec.utils.video.eval_model`: code raw YUV 4:2:0 sequences with a learned
  video model (``ssf2020``, :mod:`neuralcodec.zoo.video`) and measure them;
* :mod:`neuralcodec.utils.video.bench`: the same measurements for x264, x265 (through
  ``ffmpeg``), VTM and HM;
* :mod:`neuralcodec.utils.video.plot`: rate-distortion curves (bit rate in kbit/s) of
  their results files.

Results files have CompressAI's video layout: ``{"name", "description", "results"}`` with
``results`` holding per rate point ``psnr-y``, ``psnr-u``, ``psnr-v``, ``psnr-yuv``,
``psnr-rgb``, ``ms-ssim-rgb``, ``mse-rgb`` (learned models) and ``bitrate`` (kbit/s).
"""
