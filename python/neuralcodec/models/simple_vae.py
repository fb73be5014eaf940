"""Models made of a transform pair around one latent codec."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from torch import Tensor, nn

from neuralcodec.latent_codecs import LatentCodec, ModelDescription
from neuralcodec.models.base import CompressionModel

__all__ = ["SimpleVAECompressionModel"]


class SimpleVAECompressionModel(CompressionModel):
    """``y = g_a(x)``, coded by ``latent_codec``, and ``x_hat = g_s(y_hat)``.

    CompressAI's ``SimpleVAECompressionModel``: the whole entropy structure lives in
    ``self.latent_codec`` (:mod:`neuralcodec.latent_codecs`), which :meth:`describe`
    reports as data. Subclasses set ``g_a``, ``g_s`` and ``latent_codec``.

    * ``forward(x)`` -> ``{"x_hat", "likelihoods"}`` (the latent codec's likelihoods).
    * ``compress(x)`` -> the latent codec's ``{"strings", "shape", "y_hat"}`` plus
      ``"x_size"``; the image is padded to multiples of :attr:`downsampling_factor` first
      (a no-op, so CompressAI's bytes, for sizes that are multiples already).
    * ``decompress(strings, shape, x_size=None)`` -> ``{"x_hat"}`` clamped to ``[0, 1]``,
      cropped to ``x_size`` when given.

    Only the ``"compat"`` coding path (PyTorch computes the entropy parameters) exists
    for these models so far.
    """

    g_a: nn.Module
    g_s: nn.Module
    latent_codec: LatentCodec

    def __getitem__(self, key: str) -> LatentCodec:
        return self.latent_codec[key]  # type: ignore[index]

    def forward(self, x: Tensor) -> Dict[str, Any]:
        y_out = self.latent_codec(self.g_a(x))
        return {"x_hat": self.g_s(y_out["y_hat"]), "likelihoods": y_out["likelihoods"]}

    def compress(self, x: Tensor) -> Dict[str, Any]:
        self._check_input(x)
        self._use_engine()  # validates coding_path
        outputs = dict(self.latent_codec.compress(self.g_a(self.pad(x))))
        outputs["x_size"] = tuple(x.shape[-2:])
        return outputs

    def decompress(
        self, strings: Sequence[Sequence[bytes]], shape: Any, x_size: Optional[Sequence[int]] = None, **kwargs: Any
    ) -> Dict[str, Any]:
        self._use_engine()
        y_hat = self.latent_codec.decompress(strings, shape, **kwargs)["y_hat"]
        return self._finish(self._synthesize(y_hat), x_size)

    def describe(self) -> ModelDescription:
        """The model's coding graph as torch-free data (see :mod:`neuralcodec.latent_codecs`)."""
        return ModelDescription(
            type(self).__name__, "g_a", "g_s", self.latent_codec.describe("latent_codec"), self.downsampling_factor
        )

    @classmethod
    def _loaded(cls, model: "SimpleVAECompressionModel", state_dict: Mapping[str, Tensor]) -> Any:
        from neuralcodec.zoo.weights import convert_compressai_keys

        model.load_state_dict(convert_compressai_keys(state_dict))
        return model
