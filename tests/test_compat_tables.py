"""The table/path rule: CDF tables record which construction built them, ``update()``
builds the construction of the model's coding path, and a path refuses tables built by
the other path's construction (issue 27, "No silent table mismatch").

- compat path: CompressAI's construction, so "load CompressAI weights, update(force=True),
  compress" gives CompressAI's strings (checked against the strings CompressAI 1.2.8 made
  from the same weights and its own tables, ``tests/fixtures/compressai/models.npz``);
- engine path: portable tables, unchanged;
- tables loaded with the weights are used as they are by both paths;
- inside ``bound_tables()`` (the codec, whose files name the tables by hash) any tables code.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from test_models_compressai import loaded, reference_input, reference_state, reference_strings

from neuralcodec import models
from neuralcodec.entropy_models import (
    STORED,
    EntropyBottleneck,
    GaussianConditional,
    TableMismatchError,
    bound_tables,
    check_tables,
)

HYPERPRIOR = "bmshj2018-hyperprior"


def _methods(model: torch.nn.Module) -> set:
    return {m.table_method for m in model.modules() if isinstance(m, (EntropyBottleneck, GaussianConditional))}


def test_tables_record_their_construction_through_copies_moves_and_pickles():
    eb = EntropyBottleneck(4)
    assert eb.table_method is None
    eb.update(force=True)
    assert eb.table_method == "portable"
    eb.update(force=True, method="compressai")
    assert eb.table_method == "compressai"
    assert copy.deepcopy(eb).table_method == "compressai"
    assert pickle.loads(pickle.dumps(eb)).table_method == "compressai"
    assert eb.to("cpu").table_method == "compressai"
    fresh = EntropyBottleneck(4)
    fresh.load_state_dict(eb.state_dict())
    assert fresh.table_method == STORED  # loaded: model data, whatever built it
    eb._quantized_cdf[0, 1] += 1  # changed in place: no longer what update() built
    assert eb.table_method == STORED


def test_update_builds_the_construction_of_the_models_coding_path():
    torch.manual_seed(0)
    model = models.ScaleHyperprior(8, 12).eval()
    assert model.coding_path == "engine"
    model.update(force=True)
    assert _methods(model) == {"portable"}
    model.coding_path = "compat"
    model.update(force=True)
    assert _methods(model) == {"compressai"}
    model.update(force=True, method="portable")  # an explicit choice wins
    assert _methods(model) == {"portable"}
    # the factorized prior codes on the compat path only: CompressAI's tables
    factorized = models.FactorizedPrior(8, 12).eval()
    factorized.update(force=True)
    assert _methods(factorized) == {"compressai"}


@pytest.mark.parametrize("case", ["bmshj2018-factorized", HYPERPRIOR, "mbt2018-mean", "mbt2018"])
def test_load_update_force_compress_on_the_compat_path_uses_compressais_construction(case):
    model = loaded(case)  # CompressAI's state_dict, compat path
    assert _methods(model) == {STORED}
    x = reference_input()
    with torch.no_grad():
        stored = model.compress(x)
    assert stored["strings"] == reference_strings(case)  # CompressAI's tables as shipped
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    model.update(force=True)
    assert _methods(model) == {"compressai"}
    explicit = loaded(case)
    explicit.update(force=True, method="compressai")
    for key, value in explicit.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    # CompressAI's construction rebuilds CompressAI's recorded tables up to float rounding of
    # this machine (one count): same shapes, offsets and lengths.
    for key in reference:
        if key.endswith(("_offset", "_cdf_length")):
            assert torch.equal(model.state_dict()[key], reference[key]), key
        if key.endswith("_quantized_cdf"):
            assert (model.state_dict()[key] - reference[key]).abs().max() <= 1, key
    with torch.no_grad():
        rebuilt = model.compress(x)
        decoded = model.decompress(rebuilt["strings"], rebuilt["shape"])
    assert decoded["x_hat"].shape == x.shape
    tables_equal = all(torch.equal(model.state_dict()[k], v) for k, v in reference.items() if "_quantized_cdf" in k)
    if tables_equal:  # this machine's floats rebuilt CompressAI's tables: its strings exactly
        assert rebuilt["strings"] == reference_strings(case)


@pytest.mark.parametrize("case", [HYPERPRIOR, "mbt2018-mean"])
def test_a_path_refuses_the_other_paths_tables_with_the_call_to_make(case):
    x = reference_input()[:1]
    engine_tables = loaded(case)
    engine_tables.update(force=True, method="portable")
    with torch.no_grad():
        strings = engine_tables.compress(x, coding_path="engine")
        with pytest.raises(TableMismatchError, match=r"update\(force=True, method='compressai'\)"):
            engine_tables.compress(x, coding_path="compat")
        with pytest.raises(TableMismatchError, match="'compat' coding path"):
            engine_tables.decompress(strings["strings"], strings["shape"], coding_path="compat")
    compat_tables = loaded(case)
    compat_tables.update(force=True)  # compat path: CompressAI's construction
    with torch.no_grad(), pytest.raises(TableMismatchError, match=r"update\(force=True, method='portable'\)"):
        compat_tables.decompress(strings["strings"], strings["shape"], coding_path="engine")
    assert issubclass(TableMismatchError, ValueError)


@pytest.mark.parametrize("case", [HYPERPRIOR, "mbt2018"])
def test_stored_tables_serve_both_paths_and_bound_tables_lifts_the_rule(case):
    model = loaded(case)
    x = reference_input()[:1]
    with torch.no_grad():
        for path in ("engine", "compat"):
            out = model.compress(x, coding_path=path)
            y = model.decompress(out["strings"], out["shape"], coding_path=path)["x_hat"]
            assert y.shape == x.shape
        model.update(force=True, method="portable")
        with bound_tables():
            out = model.compress(x, coding_path="compat")
            assert model.decompress(out["strings"], out["shape"], coding_path="compat")["x_hat"].shape == x.shape
        with pytest.raises(TableMismatchError):
            model.compress(x, coding_path="compat")  # the context ended


def test_check_tables_ignores_paths_it_does_not_know_and_models_without_tables():
    model = models.ScaleHyperprior(8, 12)
    check_tables(model, "compat")  # no tables yet: compress raises its own error
    model.update(force=True)
    check_tables(model, "engine")
    check_tables(model, "some-future-path")
    with pytest.raises(TableMismatchError, match=r"ScaleHyperprior\.entropy_bottleneck"):
        check_tables(model, "compat")


def test_engine_path_default_tables_are_unchanged_portable_ones():
    torch.manual_seed(0)
    model = models.MeanScaleHyperprior(8, 8).eval()
    model.update(force=True)
    reference = copy.deepcopy(model)
    for module in reference.modules():
        if isinstance(module, (EntropyBottleneck, GaussianConditional)):
            module.update(force=True, method="portable")
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_state_dict_keys_do_not_change():
    model = models.ScaleHyperprior(8, 12)
    keys = set(model.state_dict())
    model.update(force=True)
    assert set(model.state_dict()) == keys
    assert set(reference_state(HYPERPRIOR)) == set(loaded(HYPERPRIOR).state_dict())
