"""CompressAI's ``compressai.registry.transforms``: image transforms by name.

:data:`TRANSFORMS` starts with torchvision's transform classes (``"RandomCrop"``,
``"ToTensor"``, ...). CompressAI also adds torch_geometric's, for its point-cloud models,
which neuralcodec does not have.
"""

from typing import Any, Callable, Dict, TypeVar

import torchvision.transforms  # type: ignore[import-untyped]

from neuralcodec.registry.models import register_in

__all__ = ["TRANSFORMS", "register_transform"]

T = TypeVar("T")

#: Name -> transform class.
TRANSFORMS: Dict[str, Callable[..., Any]] = {
    name: value for name, value in vars(torchvision.transforms).items() if name[:1].isupper()
}


def register_transform(name: str) -> Callable[[T], T]:
    """Decorator: registers a transform class under ``name`` in :data:`TRANSFORMS`."""
    return register_in(TRANSFORMS, name)
