"""The options every subcommand spells alike.

One idea has one name on the whole command line: ``--model NAME`` (a zoo architecture),
``--quality/-q Q`` (an integer rate point, or any number in a variable-rate model's
range, e.g. ``2.5``), ``--metric``, ``--checkpoint FILE``, ``--device cpu|cuda``,
``--force`` (replace existing outputs) and ``--quiet`` (no progress bar and no notes).
Earlier spellings (``--architecture``, ``-a``, ``--cuda``, ``--overwrite``,
``--no-progress``, and ``-q`` for ``--quiet`` where a command takes no quality) are
still accepted for a release as hidden aliases: they set the same value and are not
listed by ``--help``.

The help texts come from :mod:`neuralcodec.settings`, which owns the rate points and
the architectures. Only argparse and the standard library are imported here.
"""

from __future__ import annotations

import argparse
from typing import Any, Optional, Sequence

from neuralcodec import settings

__all__ = [
    "add_alias",
    "add_device",
    "add_force",
    "add_model",
    "add_quality",
    "add_quiet",
    "quality_number",
]

#: The choices of ``--device``.
DEVICES = ("cpu", "cuda")


def add_alias(parser: Any, *flags: str, dest: str, **kwargs: Any) -> None:
    """Adds ``flags`` as an option ``--help`` does not list, setting ``dest`` as the
    visible option does (an old spelling kept for compatibility).

    The alias's default is ``argparse.SUPPRESS``, so the visible option's default is the
    one the parsed arguments get when neither is given.
    """
    parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def add_model(parser: Any, *, help: Optional[str] = None, dest: str = "model", default: Optional[str] = None) -> None:
    """``--model NAME`` (hidden aliases ``--architecture``, ``-a``): a zoo architecture."""
    names = ", ".join(settings.COMPRESSAI_QUALITIES)
    parser.add_argument(
        "--model",
        dest=dest,
        metavar="NAME",
        default=default,
        help=help or f"the architecture (zoo name): {names}",
    )
    add_alias(parser, "--architecture", "-a", dest=dest, metavar="NAME")


def quality_number(text: str) -> float:
    """An argparse type: a quality, an integer rate point or a continuous quality
    (:func:`neuralcodec.settings.parse_quality`)."""
    try:
        return settings.parse_quality(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a quality is a number such as 3 or 2.5, got {text!r}") from None


def add_quality(
    parser: Any, *, nargs: Optional[str] = None, type: Any = quality_number, help: Optional[str] = None
) -> None:
    """``--quality/-q Q``: a rate point, or a continuous quality of a variable-rate model
    (help text from :func:`neuralcodec.settings.quality_help`)."""
    parser.add_argument(
        "-q",
        "--quality",
        type=type,
        nargs=nargs,
        metavar="Q",
        help=help or settings.quality_help(),
    )


def add_device(parser: Any, *, default: str = "cpu", help: Optional[str] = None) -> None:
    """``--device cpu|cuda`` (hidden alias ``--cuda`` for ``--device cuda``)."""
    parser.add_argument(
        "--device", choices=DEVICES, default=default, help=help or f"where the model runs (default: {default})"
    )
    add_alias(parser, "--cuda", dest="device", action="store_const", const="cuda")


def add_force(parser: Any, *, help: str = "replace existing output files", dest: str = "force") -> None:
    """``--force`` (hidden alias ``--overwrite``)."""
    parser.add_argument("--force", dest=dest, action="store_true", help=help)
    add_alias(parser, "--overwrite", dest=dest, action="store_true")


def add_effort(parser: Any) -> None:
    """``--effort 0..3``: encoder-side latent refinement (see
    :mod:`neuralcodec.models.refinement`)."""
    from neuralcodec.settings import EFFORT_STEPS

    levels = ", ".join(f"{level}: {steps} steps" for level, steps in enumerate(EFFORT_STEPS) if level)
    parser.add_argument(
        "--effort", type=int, choices=range(len(EFFORT_STEPS)), default=0, metavar="LEVEL",
        help=f"fit each image's latent to it before coding ({levels}; default 0: none): smaller files at the same "
        "quality, slower encoding, the same decoder",
    )


def add_quiet(parser: Any, *, short: bool = False, extra_aliases: Sequence[str] = ()) -> None:
    """``--quiet``: no progress bar and no notes (hidden alias ``--no-progress``; ``-q``
    too when ``short``, for commands that take no ``--quality``)."""
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no notes")
    flags = ["--no-progress", *extra_aliases] + (["-q"] if short else [])
    add_alias(parser, *flags, dest="quiet", action="store_true")
