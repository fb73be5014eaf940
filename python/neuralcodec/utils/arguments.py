"""The command-line options CompressAI's image tools share with their video twins.

``python -m neuralcodec.utils.bench`` and ``neuralcodec.utils.video.bench`` both take
``-j/--num-jobs`` and ``-q/--qps``; ``neuralcodec.utils.eval_model`` and
``neuralcodec.utils.video.eval_model`` both take ``-a/--architecture``,
``-c/--entropy-coder``, ``-m/--metric``, ``-d/--output_directory``, ``-o/--output-file``
and the subcommands ``pretrained`` (``-q/--quality``) and ``checkpoint`` (``-p/--path``,
``--no-update``). Each of those options (its flags, destination, type, default and
choices, which are CompressAI 1.2.8's, so that its command lines and test suite run
unchanged) is declared here, once; each tool calls the builders in the order its
``--help`` lists the options. Where the two tools word an option's help differently the
tool passes its own wording; an option that is only a flag with a tool's own help
(``--cuda``, ``--verbose``, ...) stays in the tool.

Torch-free: the tools' parsers can be built without loading torch.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable, List, Protocol

from neuralcodec import available_entropy_coders

__all__ = [
    "add_architecture_argument",
    "add_entropy_coder_argument",
    "add_metric_argument",
    "add_model_source_subcommands",
    "add_num_jobs_argument",
    "add_output_arguments",
    "add_qps_argument",
    "entropy_coder_names",
]


class _Subcommands(Protocol):
    """What :meth:`argparse.ArgumentParser.add_subparsers` returns: it adds subcommands."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def add_num_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """``-j/--num-jobs N`` (``num_jobs``, default 1): how many processes code in parallel."""
    parser.add_argument(
        "-j", "--num-jobs", type=int, metavar="N", default=1, help="number of parallel jobs (default: %(default)s)"
    )


def add_qps_argument(parser: argparse.ArgumentParser, *, default: str, help: str) -> None:
    """``-q/--qps`` (``qps``): the codec's quality or quantization parameters, as one
    comma-separated string (``"22,27,32"``) that the tool splits into integers."""
    parser.add_argument("-q", "--qps", dest="qps", type=str, default=default, help=help)


def add_architecture_argument(parser: argparse.ArgumentParser, choices: Iterable[str]) -> None:
    """``-a/--architecture`` (required): the model's zoo name, one of ``choices``."""
    parser.add_argument("-a", "--architecture", type=str, choices=list(choices), required=True, help="model architecture")


def entropy_coder_names() -> List[str]:
    """The names ``-c/--entropy-coder`` takes, the first one its default: those of
    :func:`neuralcodec.available_entropy_coders` (``["ans"]``, the rANS coder)."""
    return available_entropy_coders()


def add_entropy_coder_argument(parser: argparse.ArgumentParser) -> None:
    """``-c/--entropy-coder`` (default: the first of :func:`entropy_coder_names`): the
    coder the model's entropy models are built with."""
    coders = entropy_coder_names()
    parser.add_argument("-c", "--entropy-coder", choices=coders, default=coders[0], help="entropy coder (default: %(default)s)")


def add_metric_argument(parser: argparse.ArgumentParser, *, help: str) -> None:
    """``-m/--metric`` (``mse`` or ``ms-ssim``, default ``mse``): the distortion the
    weights were trained for, which picks the zoo's weights and names the results."""
    parser.add_argument("-m", "--metric", type=str, choices=["mse", "ms-ssim"], default="mse", help=help)


def add_output_arguments(parser: argparse.ArgumentParser, *, directory_help: str, file_help: str) -> None:
    """``-d/--output_directory`` and ``-o/--output-file`` (both default ``""``): where the
    results JSON is written, and its name without ``.json``."""
    parser.add_argument("-d", "--output_directory", type=str, default="", help=directory_help)
    parser.add_argument("-o", "--output-file", type=str, default="", help=file_help)


def add_model_source_subcommands(
    subparsers: _Subcommands,
    parent: argparse.ArgumentParser,
    *,
    quality_help: str,
    paths_dest: str,
    path_help: str,
    no_update_help: str,
) -> None:
    """The two sources of the model to evaluate, as subcommands that take ``parent``'s
    options too: ``pretrained`` (the zoo's weights) with ``-q/--quality`` (``qualities``,
    default ``"1"``, a comma-separated string such as ``"1,2,3"`` that the tool splits
    into integers), and ``checkpoint`` (training checkpoints) with ``-p/--path FILE...``
    (required, stored under ``paths_dest``: CompressAI's image tool says
    ``checkpoint_paths``, its video tool ``paths``) and ``--no-update`` (keep the
    checkpoint's entropy tables rather than rebuild them with ``update(force=True)``)."""
    pretrained = subparsers.add_parser("pretrained", parents=[parent])
    pretrained.add_argument("-q", "--quality", dest="qualities", type=str, default="1", help=quality_help)
    checkpoint = subparsers.add_parser("checkpoint", parents=[parent])
    checkpoint.add_argument("-p", "--path", dest=paths_dest, type=str, nargs="*", required=True, help=path_help)
    checkpoint.add_argument("--no-update", action="store_true", help=no_update_help)
