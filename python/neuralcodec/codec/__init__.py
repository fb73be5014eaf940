"""Image files: compress a photo with a learned model into a documented container, and back.

Typical use::

    from neuralcodec.codec import encode_image, decode_image

    data = encode_image("photo.png")              # neuralcodec's shipped model, default quality
    image = decode_image(data)                    # a PIL.Image; the file names its model
    data = encode_image("photo.png", architecture="cheng2020-anchor", quality=3)  # CompressAI's weights
    data = encode_image(img, model=my_model)      # any model whose CDF tables are built
    x_hat = decode_image(data, model=my_model, output="tensor")   # float [1, 3, H, W]

* :func:`encode_image` / :func:`decode_image` and their file forms :func:`encode_file` /
  :func:`decode_file` (atomic writes, no overwriting without ``force``), and
  :class:`Codec`, a model bound to the identity files record for it.
* :mod:`neuralcodec.codec.container`: the byte layout (``docs/format.md``),
  :func:`read_header` to inspect a file without a model.
* Errors are :class:`CodecError` subclasses (``ValueError``): :class:`FormatError` for any
  damaged, truncated, foreign, oversized or newer file, :class:`ModelMismatchError`,
  :class:`ModelNotFoundError`, :class:`ImageError`.
* The ``neuralcodec compress`` and ``decompress`` commands (:mod:`neuralcodec.codec.commands`).

The container and the errors import without torch; the coding functions import it on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from neuralcodec.codec.container import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_STRING_BYTES,
    DEFAULT_MAX_STRINGS,
    FILE_SUFFIX,
    FORMAT_VERSION,
    MAGIC,
    Header,
    ModelIdentity,
    Origin,
    read_header,
)
from neuralcodec.codec.errors import (
    CodecError,
    FormatError,
    ImageError,
    LimitExceededError,
    ModelMismatchError,
    ModelNotFoundError,
    UnsupportedVersionError,
)

if TYPE_CHECKING:
    from neuralcodec.codec.codec import Codec
    from neuralcodec.codec.facade import (
        decode_file,
        decode_image,
        decoder_for,
        encode_file,
        encode_image,
        identity_of,
    )
    from neuralcodec.codec.identity import weights_sha256
    from neuralcodec.codec.images import ImageConversionWarning, LoadedImage, load_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_STRINGS",
    "DEFAULT_MAX_STRING_BYTES",
    "FILE_SUFFIX",
    "FORMAT_VERSION",
    "MAGIC",
    "Codec",
    "CodecError",
    "FormatError",
    "Header",
    "ImageConversionWarning",
    "ImageError",
    "LimitExceededError",
    "LoadedImage",
    "ModelIdentity",
    "ModelMismatchError",
    "ModelNotFoundError",
    "Origin",
    "UnsupportedVersionError",
    "decode_file",
    "decode_image",
    "decoder_for",
    "encode_file",
    "encode_image",
    "identity_of",
    "load_image",
    "read_header",
    "weights_sha256",
]

_LAZY = {
    "Codec": "codec",
    "ImageConversionWarning": "images",
    "decode_file": "facade",
    "decode_image": "facade",
    "decoder_for": "facade",
    "encode_file": "facade",
    "encode_image": "facade",
    "identity_of": "facade",
    "psnr": "api",  # deprecated: neuralcodec.metrics.psnr_8bit (api warns)
    "weights_sha256": "identity",
    "LoadedImage": "images",
    "load_image": "images",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neuralcodec.codec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"neuralcodec.codec.{module}"), name)
    globals()[name] = value
    return value
