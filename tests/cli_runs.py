"""Running the ``neuralcodec`` command in tests: end to end in a subprocess, or in this
process through ``cli.main`` (faster, and argparse's usage errors become exit codes)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Optional, Tuple

from neuralcodec.cli import main


def run_cli(*args: Any, cwd: Any = None, timeout: Optional[float] = 300) -> subprocess.CompletedProcess:
    """``python -m neuralcodec ARGS`` in a subprocess: the real command, end to end."""
    return subprocess.run(
        [sys.executable, "-m", "neuralcodec", *map(str, args)], capture_output=True, text=True, cwd=cwd,
        timeout=timeout,
    )  # fmt: skip


def run_in_process(capsys: Any, *args: Any) -> Tuple[Any, str, str]:
    """``neuralcodec ARGS`` in this process (``cli.main``, as the command runs it): the exit
    code (argparse's usage errors included), stdout and stderr."""
    try:
        code = main([str(arg) for arg in args])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
