"""Reading training checkpoints as CompressAI's tools read them, through the zoo.

:func:`read_state_dict` is the one reader that ``eval_model`` and ``update_model`` share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Union

from torch import Tensor

from neuralcodec.zoo import WeightsError, load_checkpoint, load_state_dict

__all__ = ["read_state_dict"]


def read_state_dict(path: Union[str, Path]) -> Dict[str, Tensor]:
    """The state_dict of a checkpoint file (bare, or under ``"network"``, ``"state_dict"``
    or ``"model_state_dict"``), read by :func:`neuralcodec.zoo.load_checkpoint` (no code
    runs from the pickle), with CompressAI's older key spellings converted
    (:func:`neuralcodec.zoo.load_state_dict`).

    Raises:
        EOFError, pickle.UnpicklingError, RuntimeError: torch cannot read the file
            (``torch.load``'s own exception, as CompressAI's tools raise it; the zoo's
            explanation is its context).
        neuralcodec.zoo.WeightsError: no such file, or it holds no state_dict.
    """
    try:
        state_dict = load_checkpoint(path)
    except WeightsError as error:
        if isinstance(error.__cause__, Exception):
            raise error.__cause__ from error
        raise
    return dict(load_state_dict(state_dict))
