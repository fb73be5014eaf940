"""The ``neuralcodec`` command line.

Each subcommand lives beside the code it drives and registers itself here through a
``register(subparsers)`` function that adds its parser and sets ``handler`` (a function
of the parsed arguments returning the exit code). Registration modules import only
argparse-level code; torch and the models load when a handler runs, so ``--help`` is fast.

Exit codes shared by all subcommands: 0 every input succeeded, 1 at least one input
failed (the others still ran), 2 bad usage or unreadable arguments.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Dict, Optional, Sequence, Tuple

from neuralcodec import __version__
from neuralcodec.files import sample_image_path

__all__ = ["build_parser", "main", "sample_image_path"]

#: Modules whose ``register(subparsers)`` adds subcommands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "neuralcodec.cli.demo",
    "neuralcodec.codec.commands",
    "neuralcodec.train.commands",
    "neuralcodec.export.commands",
    "neuralcodec.eval.commands",
    "neuralcodec.bench.commands",
    "neuralcodec.cli.lossless",
)


def _build() -> Tuple[argparse.ArgumentParser, Dict[str, argparse.ArgumentParser]]:
    """The ``neuralcodec`` parser, and each subcommand's parser by name."""
    parser = argparse.ArgumentParser(
        prog="neuralcodec",
        description="Learned image compression with a bit-exact Rust entropy coder.",
    )
    parser.add_argument("--version", action="version", version=f"neuralcodec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser, dict(commands.choices)


def build_parser() -> argparse.ArgumentParser:
    """The ``neuralcodec`` parser with every registered subcommand."""
    return _build()[0]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``neuralcodec`` command; returns the exit code.

    Arguments a subcommand does not know are reported by that subcommand's parser (its
    usage line, exit code 2), not by the top-level one.
    """
    parser, subcommands = _build()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        subcommands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
