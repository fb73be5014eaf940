"""The documentation site builds (warnings are errors) and its worked examples run."""

import doctest
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

DOCS = Path(__file__).resolve().parents[1] / "docs"
HAS_SPHINX = all(importlib.util.find_spec(m) is not None for m in ("sphinx", "myst_parser"))

#: Pages whose ``>>>`` examples are executed.
EXECUTED_PAGES = ["custom-models.md"]


@pytest.mark.skipif(not HAS_SPHINX, reason="sphinx and myst-parser are not installed (pip install '.[docs]')")
def test_the_docs_build_offline_with_warnings_as_errors(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index", "installation", "tour", "custom-models", "export", "benchmarks", "bitstream",
                 "format", "determinism", "api/index", "api/models"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
    models = (tmp_path / "html" / "api" / "models.html").read_text(encoding="utf-8")
    assert 'id="neuralcodec.models.hyperprior.MeanScaleHyperprior"' in models


@pytest.mark.parametrize("page", EXECUTED_PAGES)
def test_the_examples_of_the_page_run(page):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: the thread pool only adds contention
    try:
        result = doctest.testfile(
            str(DOCS / page), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
    finally:
        torch.set_num_threads(threads)
    assert result.attempted > 0 and result.failed == 0
