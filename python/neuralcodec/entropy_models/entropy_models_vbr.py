"""CompressAI's module path ``compressai.entropy_models.entropy_models_vbr``: the
variable-rate entropy models, re-exported from :mod:`neuralcodec.entropy_models.vbr`."""

from neuralcodec.entropy_models.vbr import EntropyBottleneckVbr, EntropyModelVbr

__all__ = ["EntropyBottleneckVbr", "EntropyModelVbr"]
