"""Runs CompressAI 1.2.8's own test suite against neuralcodec, ported as a user would port it.

The folders ``tests/`` and ``examples/`` beside this script are CompressAI's, unchanged
(tag v1.2.8, see README.md; BSD 3-Clause Clear, LICENSE beside this script). This script
copies them to a temporary folder, replaces the word ``compressai`` by ``neuralcodec`` in
every ``.py`` file there (the port the README promises: change the import), and runs
pytest on the copy with the interpreter that runs this script.

The tests that download CompressAI's published weights are deselected
(``network_tests.txt``): they fail on CompressAI itself without a network; so is the one
test that fails on CompressAI 1.2.8 itself with this torch and is not portable across
CPUs (``upstream_failures.txt``, with the reason). Every other test must pass; the exit
code is pytest's.

Usage: ``python tests/compressai_v1_2_8/run_suite.py [PYTEST_ARGS...]``
(e.g. ``-k test_zoo -x``). ``--keep DIR`` writes the ported copy to DIR and keeps it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

HERE = Path(__file__).resolve().parent
#: The whole word, as in ``import compressai``, ``compressai.zoo`` and ``"compressai.utils..."``.
WORD = re.compile(r"\bcompressai\b")


def port(destination: Path) -> None:
    """Copies the suite to ``destination`` with ``compressai`` replaced in its Python files."""
    for folder in ("tests", "examples"):
        shutil.copytree(HERE / folder, destination / folder)
    for path in destination.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(WORD.sub("neuralcodec", text), encoding="utf-8")


def listed_tests(name: str) -> List[str]:
    """Node ids (relative to the copy's root) listed in the file ``name`` beside this script."""
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


#: The files of deselected tests: those that need the network, and those that fail on
#: CompressAI 1.2.8 itself for reasons outside both projects (each with its reason).
DESELECTED = ("network_tests.txt", "upstream_failures.txt")


def main(argv: List[str]) -> int:
    keep = None
    if "--keep" in argv:
        at = argv.index("--keep")
        keep = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    root = keep if keep is not None else Path(tempfile.mkdtemp(prefix="compressai-suite-"))
    try:
        if keep is not None and keep.exists():
            shutil.rmtree(keep)
        root.mkdir(parents=True, exist_ok=True)
        port(root)
        deselect = [arg for name in DESELECTED for node in listed_tests(name) for arg in ("--deselect", node)]
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(root), "-q", "tests", *deselect, *argv]
        print(f"CompressAI 1.2.8's suite, ported to neuralcodec, in {root}", flush=True)
        return subprocess.call(command, cwd=root)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
