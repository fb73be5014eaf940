"""Docstring examples are executed, so the documentation cannot drift from the code."""

import doctest
import importlib

import pytest

MODULES = ["neuralcodec.ans", "neuralcodec.entropy_models.entropy_models"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0
