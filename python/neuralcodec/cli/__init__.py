"""The ``neuralcodec`` command line.

Each subcommand lives beside the code it drives and registers itself here through a
``register(subparsers)`` function that adds its parser and sets ``handler`` (a function
of the parsed arguments returning the exit code). Registration modules import only
argparse-level code; torch and the models load when a handler runs, so ``--help`` is fast
(``tests/test_cli_help.py`` checks it).

Layering: this package is the command-line vocabulary (:mod:`neuralcodec.cli.options`,
imported by every command module) and the dispatcher. It imports only torch-free modules
below it; it reaches the commands (:data:`COMMAND_MODULES`, which may live in any layer,
``neuralcodec.apps`` included) only by name, when the parser is built. The import-linter
contracts in ``pyproject.toml`` check both.

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

__all__ = ["COMMAND_MODULES", "build_parser", "main", "sample_image_path", "subcommand_parsers"]

#: Modules whose ``register(subparsers)`` adds subcommands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "neuralcodec.apps.demo",
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


def subcommand_parsers() -> Dict[str, argparse.ArgumentParser]:
    """Each subcommand's parser by name, in the order ``--help`` lists them."""
    return _build()[1]


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
