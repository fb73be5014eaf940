"""CompressAI's ``compressai.registry.torchvision``: the transform registry."""

from neuralcodec.registry.transforms import TRANSFORMS, register_transform

__all__ = ["TRANSFORMS", "register_transform"]
