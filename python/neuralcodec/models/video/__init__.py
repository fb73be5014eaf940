"""Video compression models, with CompressAI's names (``compressai.models.video``).

| class | zoo name | paper |
| --- | --- | --- |
| :class:`ScaleSpaceFlow` | ``ssf2020`` | Agustsson et al. 2020, scale-space flow |

Pretrained weights: :mod:`neuralcodec.zoo.video` (``ssf2020``).
"""

from neuralcodec.models.video.google import ScaleSpaceFlow

__all__ = ["ScaleSpaceFlow"]
