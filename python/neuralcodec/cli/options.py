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
from pathlib import Path
from typing import Any, Optional, Sequence

from neuralcodec import settings
from neuralcodec.errors import NeuralCodecError

__all__ = [
    "ModelSourceUsageError",
    "add_alias",
    "add_device",
    "add_force",
    "add_model",
    "add_model_source",
    "add_quality",
    "add_quiet",
    "model_source",
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
    :mod:`neuralcodec.models.refinement`; the levels are
    :data:`neuralcodec.settings.EFFORT_STEPS`)."""
    levels = ", ".join(f"{level}: {steps} steps" for level, steps in enumerate(settings.EFFORT_STEPS) if level)
    parser.add_argument(
        "--effort", type=int, choices=range(len(settings.EFFORT_STEPS)), default=0, metavar="LEVEL",
        help=f"fit each image's latent to it before coding ({levels}; default 0: none): smaller files at the same "
        "quality, slower encoding, the same decoder",
    )


def add_quiet(parser: Any, *, short: bool = False, extra_aliases: Sequence[str] = ()) -> None:
    """``--quiet``: no progress bar and no notes (hidden alias ``--no-progress``; ``-q``
    too when ``short``, for commands that take no ``--quality``)."""
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no notes")
    flags = ["--no-progress", *extra_aliases] + (["-q"] if short else [])
    add_alias(parser, *flags, dest="quiet", action="store_true")


class ModelSourceUsageError(NeuralCodecError, ValueError):
    """Model-source options that contradict each other (the commands exit with 2)."""


def add_model_source(
    parser: Any,
    *,
    model_help: Optional[str] = None,
    quality_nargs: Optional[str] = None,
    quality_help: Optional[str] = None,
    checkpoints: str = "one",
    checkpoint_help: Optional[str] = None,
    random: bool = False,
    rate: Any = None,
    metric_default: Optional[str] = None,
) -> None:
    """The options that name a model, spelled alike on every command (``compress``,
    ``eval``, ``export``): ``--model NAME``, ``-q/--quality``, ``--metric``,
    ``--checkpoint FILE`` (any weights file our trainer or CompressAI writes, a folder of
    weight shards; ``checkpoints="many"`` takes several, ``-p`` too), ``--pretrained``
    (CompressAI's published weights of ``--model``) and, with ``random``, ``--random``
    (random weights with the zoo's sizes). :func:`model_source` reads them back and
    refuses contradictions. ``rate``: the group ``--quality`` goes in (a mutually
    exclusive group of rate options), default ``parser``; ``metric_default``: the
    ``--metric`` of a command that states it (``eval``'s results record ``mse``)."""
    add_model(parser, help=model_help)
    add_quality(rate if rate is not None else parser, nargs=quality_nargs, help=quality_help)
    parser.add_argument(
        "--metric", choices=settings.METRICS, default=metric_default,
        help="the distortion the weights were trained for (CompressAI's: default mse)",
    )
    add_alias(parser, "-m", dest="metric", choices=settings.METRICS)
    many = checkpoints == "many"
    parser.add_argument(
        "--checkpoint", type=Path, nargs="+" if many else None, metavar="FILE",
        help=checkpoint_help or "your own weights: a .safetensors file or weight-shard folder from `neuralcodec train` "
        "(names its architecture), a `neuralcodec train` checkpoint.pt/best.pt, or a torch/CompressAI checkpoint "
        "(with --model)",
    )
    if many:
        add_alias(parser, "-p", dest="checkpoint", type=Path, nargs="+", metavar="FILE")
    parser.add_argument(
        "--pretrained", action="store_true", help="CompressAI's published weights of --model (downloaded once, verified)"
    )
    if random:
        parser.add_argument("--random", action="store_true", help="with --model: random weights (tables built), to try it")


def model_source(args: argparse.Namespace, *, model_alone: Optional[str] = "pretrained") -> str:
    """The weights source the parsed options of :func:`add_model_source` ask for:
    ``"checkpoint"``, ``"pretrained"``, ``"random"`` or ``"shipped"`` (the names of
    :data:`neuralcodec.zoo.loader.SOURCES`). ``model_alone``: what ``--model NAME`` with
    neither ``--pretrained`` nor ``--random`` means (None: refused, the command wants
    one said).

    Raises:
        ModelSourceUsageError: contradicting options (the message says which).
    """
    checkpoint = getattr(args, "checkpoint", None)
    pretrained = bool(getattr(args, "pretrained", False))
    random = bool(getattr(args, "random", False))
    model = getattr(args, "model", None)
    if checkpoint and (pretrained or random):
        given = "--pretrained" if pretrained else "--random"
        raise ModelSourceUsageError(f"--checkpoint files are the weights: do not combine them with {given}")
    if pretrained and random:
        raise ModelSourceUsageError("--pretrained and --random are two different weights: give one")
    if checkpoint:
        return "checkpoint"
    if pretrained or random:
        if model is None:
            raise ModelSourceUsageError(f"{'--pretrained' if pretrained else '--random'} needs --model ARCH")
        return "pretrained" if pretrained else "random"
    if model is not None:
        if model_alone is None:
            raise ModelSourceUsageError(
                "give --pretrained for CompressAI's published weights or --checkpoint FILE... for your own"
            )
        return model_alone
    if getattr(args, "metric", None) not in (None, "mse"):
        raise ModelSourceUsageError("the shipped weights are trained for mse; name --model for CompressAI's ms-ssim weights")
    return "shipped"
