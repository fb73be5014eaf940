"""The six architectures against CompressAI 1.2.8, from committed reference data.

``tests/fixtures/compressai/models.npz`` was recorded by ``make_model_vectors.py`` (beside
it) in a venv with compressai 1.2.8: for each architecture at a small size, a CompressAI
model (random init, fixed seed, perturbed, after ``update(force=True)``), its state_dict,
its evaluation-mode ``forward`` outputs, its ``compress`` strings and its ``decompress``
output on a 2-image batch. These tests need only numpy and torch.

Models are run on their ``"compat"`` coding path, the one that promises CompressAI's bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest
import torch
from compressai_vectors import Vectors

from neuralcodec import models
from neuralcodec.models import CompressionModel

PATH = Path(__file__).parent / "fixtures" / "compressai" / "models.npz"
SHARED_KEY = "gaussian_conditional._quantized_cdf"


VECTORS = Vectors(PATH.name)
_arrays = VECTORS.arrays
tensor = VECTORS.tensor


CASES = [str(name) for name in _arrays()["meta/cases"]]


def reference_state(case: str) -> Dict[str, torch.Tensor]:
    prefix = f"{case}/state/"
    state = {key[len(prefix) :]: tensor(key) for key in _arrays() if key.startswith(prefix)}
    if "gaussian_conditional._offset" in state:
        state[SHARED_KEY] = tensor(SHARED_KEY)  # stored once for all cases
    return state


def reference_strings(case: str) -> List[List[bytes]]:
    groups: List[List[bytes]] = []
    while f"{case}/strings/{len(groups)}/0" in _arrays():
        latent = len(groups)
        group = []
        while f"{case}/strings/{latent}/{len(group)}" in _arrays():
            group.append(_arrays()[f"{case}/strings/{latent}/{len(group)}"].tobytes())
        groups.append(group)
    return groups


def reference_input() -> torch.Tensor:
    return tensor("x").float() / 255


def compat(model: CompressionModel) -> CompressionModel:
    """Evaluation mode on the CompressAI-compatible coding path."""
    if hasattr(model, "coding_path"):
        model.coding_path = "compat"
    return model.eval()


def loaded(case: str) -> CompressionModel:
    """The model of ``case`` built by ``from_state_dict`` from CompressAI's state_dict."""
    ctor = str(_arrays()[f"{case}/ctor"])
    cls = getattr(models, ctor.split("(")[0])
    return compat(cls.from_state_dict(reference_state(case)))


def test_the_reference_file_covers_the_six_architectures():
    assert sorted(CASES) == sorted(
        [
            "bmshj2018-factorized",
            "bmshj2018-hyperprior",
            "mbt2018-mean",
            "mbt2018",
            "cheng2020-anchor",
            "cheng2020-attn",
        ]
    )
    assert str(_arrays()["meta/compressai_version"]) == "1.2.8"


@pytest.mark.parametrize("case", CASES)
def test_compressai_state_dict_loads_with_from_state_dict_and_load_state_dict(case):
    reference = reference_state(case)
    model = loaded(case)
    ctor = str(_arrays()[f"{case}/ctor"])
    fresh = eval(ctor, vars(models))  # same constructor call as CompressAI's
    fresh.load_state_dict(reference)  # strict: same keys, tables resized to the checkpoint
    for ours in (model.state_dict(), fresh.state_dict()):
        assert set(ours) == set(reference)
        for key, value in reference.items():
            assert ours[key].dtype == value.dtype, key
            assert torch.equal(ours[key], value), key


@pytest.mark.parametrize("case", CASES)
def test_forward_outputs_match_compressai(case):
    model = loaded(case)
    with torch.no_grad():
        out = model(reference_input())
    expected = tensor(f"{case}/forward/x_hat")
    torch.testing.assert_close(out["x_hat"], expected, atol=1e-5, rtol=1e-5)
    prefix = f"{case}/forward/likelihoods/"
    names = {key[len(prefix) :] for key in _arrays() if key.startswith(prefix)}
    assert set(out["likelihoods"]) == names
    for name in names:
        torch.testing.assert_close(out["likelihoods"][name], tensor(prefix + name), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_compress_gives_compressai_strings_byte_for_byte(case):
    model = loaded(case)
    with torch.no_grad():
        compressed = model.compress(reference_input())
    assert compressed["strings"] == reference_strings(case)
    assert tuple(compressed["shape"]) == tuple(int(s) for s in _arrays()[f"{case}/shape"])


@pytest.mark.parametrize("case", CASES)
def test_decompress_of_compressai_strings_gives_compressai_reconstruction(case):
    model = loaded(case)
    shape = tuple(int(s) for s in _arrays()[f"{case}/shape"])
    with torch.no_grad():
        x_hat = model.decompress(reference_strings(case), shape)["x_hat"]
    torch.testing.assert_close(x_hat, tensor(f"{case}/decompressed"), atol=1e-5, rtol=1e-5)
