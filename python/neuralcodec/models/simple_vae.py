"""Models made of a transform pair around one latent codec."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, cast

from torch import Tensor, nn

from neuralcodec import engine
from neuralcodec.entropy_models import EntropyBottleneck
from neuralcodec.latent_codecs import LatentCodec, ModelDescription
from neuralcodec.latent_codecs.description import HyperNode, HyperpriorNode
from neuralcodec.models.base import CodingOptions, CompressionModel

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

    Coding paths (``coding_path`` argument of ``compress``/``decompress``, or
    ``options.coding_path``; default the class's :attr:`coding_path`):

    * ``"engine"`` (default): ``z`` is coded by the hyper branch's entropy bottleneck, then
      ``y`` by the Rust engine from the model's description (:func:`neuralcodec.engine.
      compress_graph`): ``h_s`` and every context network run there, deterministic on
      every machine, one call per latent. ``strings`` is ``[y, z]``, ``shape`` ``z``'s
      ``(h, w)``, the layout the container stores.
    * ``"compat"``: the latent codecs in PyTorch, CompressAI's strings and shapes byte
      for byte.
    """

    g_a: nn.Module
    g_s: nn.Module
    latent_codec: LatentCodec
    coding_path = "engine"
    coding_paths: Tuple[str, ...] = ("engine", "compat")

    def __getitem__(self, key: str) -> LatentCodec:
        return self.latent_codec[key]  # type: ignore[index]

    def forward(self, x: Tensor) -> Dict[str, Any]:
        y_out = self.latent_codec(self.g_a(x))
        return {"x_hat": self.g_s(y_out["y_hat"]), "likelihoods": y_out["likelihoods"]}

    codes_given_latent = True

    def compress(
        self,
        x: Tensor,
        coding_path: Optional[str] = None,
        latent: Optional[Tensor] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> Dict[str, Any]:
        """See the class documentation; ``latent``: code this ``y`` (the shape
        :meth:`analyze` gives for ``x``) instead of the analysis's; ``options``: the call's
        settings (:class:`~neuralcodec.models.base.CodingOptions`)."""
        self._check_input(x)
        options = self._options(options, coding_path)
        if not self._use_engine(options.coding_path):
            y = self.g_a(self.pad(x)) if latent is None else self._latent_to_code(x, False, latent, options)
            outputs = dict(self.latent_codec.compress(y))
            outputs["x_size"] = tuple(x.shape[-2:])
            return outputs
        y = self._latent_to_code(x, True, latent, options)
        hyper = self._hyper_node()
        z = self._submodule(hyper.h_a)(y)
        bottleneck = cast(EntropyBottleneck, self.get_submodule(hyper.z.entropy_bottleneck))
        z_strings = bottleneck.compress(z)
        z_hat = bottleneck.decompress(z_strings, z.shape[-2:])
        y_strings, y_hat = engine.compress_graph(self, y, z_hat)
        return {"strings": [y_strings, z_strings], "shape": tuple(z.shape[-2:]), "x_size": tuple(x.shape[-2:]),
                "y_hat": y_hat}  # fmt: skip

    def decompress(
        self,
        strings: Sequence[Sequence[bytes]],
        shape: Any,
        x_size: Optional[Sequence[int]] = None,
        coding_path: Optional[str] = None,
        *,
        options: Optional[CodingOptions] = None,
        **kwargs: Any,
    ) -> Dict[str, Any]:
        """``{"x_hat"}`` from the strings of :meth:`compress` (same coding path; ``options``:
        the call's settings; ``kwargs`` go to the latent codec on the compat path)."""
        options = self._options(options, coding_path)
        if not self._use_engine(options.coding_path):
            y_hat = self.latent_codec.decompress(strings, shape, **kwargs)["y_hat"]
            return self._decoded(y_hat, x_size, options)
        if len(strings) != 2:
            raise ValueError(f"the engine path of {type(self).__name__} needs 2 string lists (y, z), got {len(strings)}")
        bottleneck = cast(EntropyBottleneck, self.get_submodule(self._hyper_node().z.entropy_bottleneck))
        z_hat = bottleneck.decompress(strings[1], tuple(int(s) for s in shape))
        y_hat = engine.decompress_graph(self, strings[0], z_hat)
        return self._decoded(y_hat.to(z_hat.dtype), x_size, options)

    def _hyper_node(self) -> HyperNode:
        root = engine.describe(self).latent_codec  # described once, kept with the engine's graph
        if not isinstance(root, HyperpriorNode):
            raise ValueError(f"{type(self).__name__} is not a hyperprior model: use coding_path='compat'")
        return root.hyper

    def _submodule(self, prefix: Optional[str]) -> nn.Module:
        return nn.Identity() if prefix is None else self.get_submodule(prefix)

    def describe(self) -> ModelDescription:
        """The model's coding graph as torch-free data (see :mod:`neuralcodec.latent_codecs`)."""
        return ModelDescription(
            type(self).__name__, "g_a", "g_s", self.latent_codec.describe("latent_codec"), self.downsampling_factor
        )

    @classmethod
    def _loaded(cls, model: "SimpleVAECompressionModel", state_dict: Mapping[str, Tensor]) -> Any:
        from neuralcodec.state_dicts import convert_compressai_keys

        model.load_state_dict(convert_compressai_keys(state_dict))
        return model
