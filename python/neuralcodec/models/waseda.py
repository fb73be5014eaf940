"""CompressAI's ``compressai.models.waseda``: the Cheng et al. 2020 models, implemented in
:mod:`neuralcodec.models.cheng2020` (this module gives them CompressAI's import path)."""

from neuralcodec.models.cheng2020 import Cheng2020Anchor, Cheng2020Attention

__all__ = ["Cheng2020Anchor", "Cheng2020Attention"]
