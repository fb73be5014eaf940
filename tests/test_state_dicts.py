"""neuralcodec.state_dicts: the one owner of CompressAI's checkpoint key spellings."""

import pytest
import torch

from neuralcodec.entropy_models import EntropyBottleneck
from neuralcodec.state_dicts import convert_compressai_keys, density_key, rename_density_keys

KINDS = [("matrix", "matrices"), ("bias", "biases"), ("factor", "factors")]


@pytest.mark.parametrize("singular, plural", KINDS)
def test_every_spelling_of_a_density_parameter_reads_the_same(singular, plural):
    for spelling in (f"_{singular}12", f"_{plural}.12", f"{plural}.12", f"{singular}.12", f"{plural}12", f"_{plural}12"):
        assert density_key(spelling) == f"{plural}.12", spelling
        assert density_key(spelling, "attribute") == f"_{singular}12", spelling


def test_other_names_are_not_density_parameters():
    for name in ("quantiles", "_offset", "matrices", "_matrix", "bias", "matrices.1.weight", "x_bias0"):
        assert density_key(name) is None, name
    with pytest.raises(ValueError, match="layout"):
        density_key("_bias0", "flat")  # type: ignore[arg-type]


def test_rename_touches_only_the_module_at_the_prefix():
    state = {"h.entropy_bottleneck._bias0": 1, "h.entropy_bottleneck.quantiles": 2, "g._bias0": 3, "h.entropy_bottleneck.factors.2": 4}
    rename_density_keys(state, "h.entropy_bottleneck.")
    assert state == {"h.entropy_bottleneck.biases.0": 1, "h.entropy_bottleneck.quantiles": 2, "g._bias0": 3,
                     "h.entropy_bottleneck.factors.2": 4}
    rename_density_keys(state, "h.entropy_bottleneck.", "attribute")
    assert set(state) == {"h.entropy_bottleneck._bias0", "h.entropy_bottleneck.quantiles", "g._bias0",
                          "h.entropy_bottleneck._factor2"}


def test_a_checkpoint_in_old_spellings_loads_into_the_current_layout():
    torch.manual_seed(0)
    source = EntropyBottleneck(4)
    current = source.state_dict()
    old = {}
    for key, value in current.items():
        attribute = density_key(key, "attribute")
        old["module.entropy_bottleneck." + (attribute or key)] = value
    converted = convert_compressai_keys(old)
    assert list(converted) == ["entropy_bottleneck." + key for key in current]
    target = EntropyBottleneck(4)
    target.load_state_dict({k[len("entropy_bottleneck."):]: v for k, v in converted.items()})
    for key, value in target.state_dict().items():
        assert torch.equal(value, current[key]), key
