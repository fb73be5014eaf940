"""CompressAI's ``compressai.models.sensetime``: the checkerboard Cheng2020 model and ELIC,
implemented in :mod:`neuralcodec.models.elic` (this module gives them CompressAI's import path)."""

from neuralcodec.layers import ResidualBottleneckBlock  # noqa: F401  (CompressAI defines it in this module)
from neuralcodec.models.elic import Cheng2020AnchorCheckerboard, Elic2022Chandelier, Elic2022Official

__all__ = ["Cheng2020AnchorCheckerboard", "Elic2022Official", "Elic2022Chandelier"]
