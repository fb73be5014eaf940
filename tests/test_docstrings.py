"""Docstring examples are executed, so the documentation cannot drift from the code."""

import doctest
import importlib
import pkgutil

import pytest
import torch

import neuralcodec

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

#: Modules whose docstrings must hold examples (and they must pass).
MODULES = [
    "neuralcodec.ans",
    "neuralcodec.engine",
    "neuralcodec.entropy_models.entropy_models",
    "neuralcodec.export.exporter",
    "neuralcodec.layers.gdn",
    "neuralcodec.metrics",
    "neuralcodec.ops.ops",
    "neuralcodec.zoo.image",
]


def public_modules():
    """Every module of the installed package except private ones and ``__main__``."""
    names = ["neuralcodec"]
    for info in pkgutil.walk_packages(neuralcodec.__path__, "neuralcodec."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts[1:]):
            continue
        names.append(info.name)
    return sorted(names)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Examples are tiny; on a shared machine, torch's thread pool costs more than it gives."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=OPTIONS)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0


def test_the_modules_that_must_have_examples_exist():
    assert set(MODULES) <= set(public_modules())


@pytest.mark.parametrize("name", [n for n in public_modules() if n not in MODULES])
def test_every_other_public_module_imports_and_its_examples_pass(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=OPTIONS)
    assert result.failed == 0
