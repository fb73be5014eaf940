"""Video models by architecture and quality: CompressAI's ``compressai.zoo.video``.

* :func:`ssf2020` ``(quality, metric="mse", pretrained=False, progress=True, **kwargs)``:
  :class:`~neuralcodec.models.video.ScaleSpaceFlow` (Agustsson et al., CVPR 2020).
  ``quality`` 1..9 selects CompressAI's published MSE weights (the architecture is the
  same at every quality); ``metric`` is ``"mse"`` or ``"ms-ssim"`` (no MS-SSIM weights are
  published: asking for them pretrained raises ``RuntimeError``, as CompressAI does).
  ``pretrained`` is ``False`` (random initialisation, ``**kwargs`` passed to the
  constructor), ``True`` (the published file, downloaded once into
  :func:`neuralcodec.zoo.weights.cache_dir` and verified against the SHA-256 prefix in
  its name, see :mod:`neuralcodec.zoo.urls`), or the path or URL of a checkpoint file.
  Pretrained models come in ``eval()`` mode with the checkpoint's CDF tables, as the
  image models of :mod:`neuralcodec.zoo.image` do.
* :data:`video_models` (zoo name -> entry point) and :data:`model_architectures` (zoo
  name -> class), CompressAI's two tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Type, Union

from neuralcodec.models.base import CompressionModel
from neuralcodec.models.video import ScaleSpaceFlow
from neuralcodec.settings import METRICS
from neuralcodec.zoo.urls import weights_url
from neuralcodec.zoo.weights import load_weights

__all__ = ["QUALITIES", "model_architectures", "ssf2020", "video_models"]

#: Zoo name -> model class (CompressAI's ``model_architectures``).
model_architectures: Dict[str, Type[CompressionModel]] = {"ssf2020": ScaleSpaceFlow}

#: Zoo name -> the qualities its entry point takes.
QUALITIES: Dict[str, range] = {"ssf2020": range(1, 10)}


def _load_model(
    architecture: str,
    metric: str,
    quality: int,
    pretrained: Union[bool, str, Path] = False,
    progress: bool = True,
    **kwargs: Any,
) -> CompressionModel:
    if architecture not in model_architectures:
        raise ValueError(f'Invalid architecture name "{architecture}"; known: {", ".join(model_architectures)}')
    if quality not in QUALITIES[architecture]:
        raise ValueError(f'Invalid quality value "{quality}"')
    cls = model_architectures[architecture]
    if pretrained is False:
        return cls(**kwargs)
    if pretrained is True:
        try:
            source: Union[str, Path] = weights_url(architecture, metric, quality)
        except ValueError as error:  # CompressAI's exception type for weights it does not publish
            raise RuntimeError(f"Pre-trained model not yet available: {error}") from None
    else:
        source = pretrained
    model = cls.from_state_dict(load_weights(source, progress=progress))
    model.update(force=False)  # builds only tables the checkpoint lacks
    return model.eval()


def ssf2020(
    quality: int, metric: str = "mse", pretrained: Union[bool, str, Path] = False, progress: bool = True, **kwargs: Any
) -> CompressionModel:
    """ScaleSpaceFlow (``"ssf2020"``) at ``quality`` 1 (lowest rate) .. 9; see the module
    documentation for the arguments.

    Raises:
        ValueError: an unknown metric or a quality outside 1..9.
        RuntimeError: ``pretrained=True`` for a metric without published weights.
        neuralcodec.zoo.WeightsError: the weights cannot be downloaded or read.
    """
    if metric not in METRICS:
        raise ValueError(f'Invalid metric "{metric}"; choose from {METRICS}')
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 9:
        raise ValueError(f'Invalid quality "{quality}", should be between (1, 9)')
    return _load_model("ssf2020", metric, quality, pretrained, progress, **kwargs)


#: Zoo name -> entry point (CompressAI's ``video_models``).
video_models: Dict[str, Callable[..., CompressionModel]] = {"ssf2020": ssf2020}
