"""The package version, at CompressAI's ``compressai.version`` path.

One source: Cargo.toml's ``version``, compiled into the native module (and the wheel's
metadata, ``dynamic = ["version"]``).
"""

from __future__ import annotations

from neuralcodec._core import __version__

__all__ = ["__version__"]
