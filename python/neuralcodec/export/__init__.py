"""Export of the neural transforms to TorchScript and ONNX, and decoding without PyTorch.

* :func:`export`, :func:`export_torchscript`, :func:`export_onnx`
  (:mod:`neuralcodec.export.exporter`): write ``g_a``, ``g_s``, ``h_a``, ``h_s`` of a
  model to files plus a ``manifest.json``; the command ``neuralcodec export`` runs them.
* :mod:`neuralcodec.export.manifest`: reading and verifying the manifest (no torch).
* :mod:`neuralcodec.export.frozen`: :func:`freeze`, the inference-only copy with GDN's
  parameters evaluated once, which is what gets exported.

Attributes load on first use, so importing this package (as the command line does) does
not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FrozenGDN",
    "ManifestError",
    "TRANSFORMS",
    "export",
    "export_onnx",
    "export_torchscript",
    "freeze",
    "read_manifest",
    "verify_files",
]

_LOCATIONS = {
    "FrozenGDN": "neuralcodec.export.frozen",
    "freeze": "neuralcodec.export.frozen",
    "TRANSFORMS": "neuralcodec.export.exporter",
    "export": "neuralcodec.export.exporter",
    "export_onnx": "neuralcodec.export.exporter",
    "export_torchscript": "neuralcodec.export.exporter",
    "ManifestError": "neuralcodec.export.manifest",
    "read_manifest": "neuralcodec.export.manifest",
    "verify_files": "neuralcodec.export.manifest",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'neuralcodec.export' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
