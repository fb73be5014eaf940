"""Coding images to neuralcodec files and back: :class:`Codec`, :func:`encode_image`,
:func:`decode_image`, and file helpers that never leave half-written files.

The model a file was made with is recorded in its header (architecture, quality,
metric, where the weights come from, and the SHA-256 of its state_dict), so
:func:`decode_image` finds it without being told: neuralcodec's shipped weights, or
CompressAI's published ones (downloaded once and verified). Files made with a user's
checkpoint need that model passed in; a model with other weights is refused with a
:class:`~neuralcodec.codec.ModelMismatchError` naming both.

The file also records the coding path (``model.coding_path`` unless the call names
another); the decoding model must offer it, and codes on it for that call (an argument of
the call: a :class:`Codec`, like its model, can be used from several threads at once).
The ``"engine"`` path (the default of the hyperprior-family models) is bit-exact on every
machine. The ``"compat"`` path computes
the entropy parameters with PyTorch floats, so decoding on another kind of device or
software than the encoder can, rarely, pick another CDF row, which the coder's
end-of-stream check almost always refuses (a :class:`~neuralcodec.codec.FormatError`).
Use the engine path where files must decode exactly across machines.

**Variable rate.** A variable-rate model (the ``*-vbr`` models, ``ElicLiteVbr``: one set of
weights for every rate) codes at any quality of its continuous range: ``Codec(model,
quality=2.5)``, ``encode_image(..., quality=2.5)``. The file records that quality (the
critical ``QUAL`` extension, ``docs/format.md``), so the decoder needs nothing else. A
target instead of a quality, ``encode_image(..., bpp=0.5)`` or ``size="30KB"``, writes the
largest file not over it (:meth:`Codec.encode_target`, :mod:`neuralcodec.codec.rate`).
Models with discrete rate points refuse a fractional quality and a target.

This module is the public face: :class:`Codec` lives in :mod:`neuralcodec.codec.codec`, the
one-call functions in :mod:`neuralcodec.codec.facade`, :func:`save_image_atomic` and
:class:`ImageConversionWarning` in :mod:`neuralcodec.codec.images`.
"""

from __future__ import annotations

import warnings
from typing import Any

from neuralcodec.codec.codec import METADATA_CHOICES, Codec
from neuralcodec.codec.facade import (
    decode_file,
    decode_image,
    decoder_for,
    encode_file,
    encode_image,
    identity_of,
)
from neuralcodec.codec.images import ImageConversionWarning, save_image_atomic
from neuralcodec.codec.rate import RateSearch
from neuralcodec.files import write_atomic  # the CLI writes through this name (tests patch it)

__all__ = [
    "METADATA_CHOICES",
    "Codec",
    "ImageConversionWarning",
    "RateSearch",
    "decode_file",
    "decode_image",
    "decoder_for",
    "encode_file",
    "encode_image",
    "identity_of",
    "save_image_atomic",
    "write_atomic",
]


def __getattr__(name: str) -> Any:
    # ``psnr`` here was :func:`neuralcodec.metrics.psnr_8bit` under the name of
    # :func:`neuralcodec.metrics.psnr` (a tensor metric): one name, two meanings. The old
    # name still works for a release, with a warning.
    if name == "psnr":
        from neuralcodec.metrics import psnr_8bit

        warnings.warn(
            "neuralcodec.codec.psnr is deprecated: use neuralcodec.metrics.psnr_8bit (8-bit images) "
            "or neuralcodec.metrics.psnr (tensors)",
            DeprecationWarning,
            stacklevel=2,
        )
        return psnr_8bit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
