"""Every name CompressAI 1.2.8 registers (``@register_criterion``, ``@register_dataset``,
``@register_optimizer``, ``@register_module``) is registered by neuralcodec's own class or
function under the same name, when the package that defines it is imported; and the
optimizer factories look optimizers up in ``OPTIMIZERS`` as CompressAI's do."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
import torch
from torch import nn

#: CompressAI 1.2.8's registrations outside its models (which test_compat_registry.py
#: covers): registry -> name -> (our module that registers it, our attribute).
COMPRESSAI_REGISTERED = {
    "CRITERIONS": {"RateDistortionLoss": ("neuralcodec.losses", "RateDistortionLoss")},
    "DATASETS": {
        "ImageFolder": ("neuralcodec.datasets", "ImageFolder"),
        "PreGeneratedMemmapDataset": ("neuralcodec.datasets", "PreGeneratedMemmapDataset"),
        "VideoFolder": ("neuralcodec.datasets", "VideoFolder"),
        "Vimeo90kDataset": ("neuralcodec.datasets", "Vimeo90kDataset"),
    },
    "OPTIMIZERS": {
        "net": ("neuralcodec.optimizers", "net_optimizer"),
        "net_aux": ("neuralcodec.optimizers", "net_aux_optimizer"),
    },
    "MODULES": {
        name: ("neuralcodec.latent_codecs", name)
        for name in (
            "ChannelGroupsLatentCodec",
            "CheckerboardLatentCodec",
            "EntropyBottleneckLatentCodec",
            "GainHyperLatentCodec",
            "GainHyperpriorLatentCodec",
            "GaussianConditionalLatentCodec",
            "HyperLatentCodec",
            "HyperpriorLatentCodec",
            "RasterScanLatentCodec",
        )
    },
}

#: CompressAI's point-cloud registrations, which neuralcodec (an image codec) leaves out.
POINT_CLOUD = {
    "CRITERIONS": ("ChamferPccRateDistortionLoss", "RateDistortionLoss_hrtzxf2022"),
    "DATASETS": ("ModelNetDataset", "S3disDataset", "SemanticKittiDataset", "ShapeNetCorePartDataset"),
}

CHECK = """
import importlib, json, sys
import neuralcodec.registry as registry
expected = json.loads(sys.argv[1])
before = {f"{t}/{n}": n in getattr(registry, t) for t, names in expected.items() for n in names}
found = {}
for table, names in expected.items():
    for name, (module, attribute) in names.items():
        obj = getattr(importlib.import_module(module), attribute)
        found[f"{table}/{name}"] = [before[f"{table}/{name}"], getattr(registry, table).get(name) is obj]
print(json.dumps(found))
"""


def test_importing_each_package_registers_its_objects_under_compressai_names():
    """In a fresh interpreter, so that no other test's imports fill the registry first."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(COMPRESSAI_REGISTERED)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    found = json.loads(result.stdout)
    expected = [f"{table}/{name}" for table, names in COMPRESSAI_REGISTERED.items() for name in names]
    assert sorted(found) == sorted(expected)
    for key, (registered_before_import, is_ours) in found.items():
        assert is_ours, f"{key} is not registered as neuralcodec's object"
        assert not registered_before_import, f"{key} was registered before its package was imported"


def test_the_registered_objects_are_ours_in_this_process():
    import importlib

    from neuralcodec import registry

    for table, names in COMPRESSAI_REGISTERED.items():
        for name, (module, attribute) in names.items():
            obj = getattr(importlib.import_module(module), attribute)
            assert getattr(registry, table)[name] is obj, (table, name)
            assert obj.__module__.startswith("neuralcodec."), (table, name)


def test_point_cloud_names_are_not_registered_and_say_why():
    import neuralcodec.datasets
    import neuralcodec.losses
    from neuralcodec.registry import CRITERIONS, DATASETS

    for name in POINT_CLOUD["CRITERIONS"]:
        assert name not in CRITERIONS
        with pytest.raises(ImportError, match="point-cloud"):
            getattr(neuralcodec.losses, name)
    for name in POINT_CLOUD["DATASETS"]:
        assert name not in DATASETS
        with pytest.raises(ImportError, match="point-cloud"):
            getattr(neuralcodec.datasets, name)


class Tiny(nn.Module):
    """A convolution and an entropy bottleneck's quantiles (``eb.quantiles``: the aux group)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        self.eb = nn.Module()
        self.eb.quantiles = nn.Parameter(torch.zeros(1, 1, 3))


def test_the_factories_look_optimizers_up_in_the_registry():
    from neuralcodec.optimizers import net_aux_optimizer, net_optimizer
    from neuralcodec.registry import OPTIMIZERS, register_optimizer

    @register_optimizer("test-halving-sgd")
    class HalvingSGD(torch.optim.SGD):
        pass

    try:
        built = net_aux_optimizer(
            Tiny(), {"net": {"type": "test-halving-sgd", "lr": 0.5}, "aux": {"type": "Adam", "lr": 1e-3}}
        )
        assert type(built["net"]) is HalvingSGD and type(built["aux"]) is torch.optim.Adam
        assert built["net"].param_groups[0]["lr"] == 0.5
        # CompressAI's way of calling a registered factory
        via_registry = OPTIMIZERS["net"](Tiny(), {"net": {"type": "test-halving-sgd", "lr": 0.1}})
        assert set(via_registry) == {"net"} and type(via_registry["net"]) is HalvingSGD
        assert len(via_registry["net"].param_groups[0]["params"]) == 3  # weight, bias, quantiles
    finally:
        del OPTIMIZERS["test-halving-sgd"]
    # neither the factories nor the abstract base class are optimizer types
    for name in ("net_aux", "net", "Optimizer", "test-halving-sgd", "NoSuchOptimizer"):
        with pytest.raises(ValueError, match="unknown optimizer type"):
            net_optimizer(Tiny(), {"net": {"type": name, "lr": 0.1}})


def test_compressai_entropy_model_module_paths_hold_the_package_objects():
    import neuralcodec.entropy_models as package
    from neuralcodec.entropy_models import entropy_models, entropy_models_vbr

    for name in ("EntropyModel", "EntropyBottleneck", "GaussianConditional", "GaussianMixtureConditional"):
        assert getattr(entropy_models, name) is getattr(package, name)
    for name in ("EntropyModelVbr", "EntropyBottleneckVbr"):
        assert getattr(entropy_models_vbr, name) is getattr(package, name)
    assert entropy_models.default_entropy_coder() == "ans"
    cdf = entropy_models.pmf_to_quantized_cdf(torch.tensor([0.25, 0.5, 0.25]), 16)
    assert cdf.tolist() == [0, 16384, 49152, 65536]


def test_a_model_pickled_under_the_old_module_path_still_loads():
    """Before the split, pickles named neuralcodec.entropy_models.entropy_models._EntropyCoder
    and the classes there; protocol 0 spells the names out, so the old spelling can be made."""
    from neuralcodec.entropy_models import EntropyBottleneck

    eb = EntropyBottleneck(2)
    eb.update(force=True)
    data = pickle.dumps(eb, protocol=0)
    assert b"neuralcodec.entropy_models.base\nEntropyCoder\n" in data
    old = data.replace(
        b"neuralcodec.entropy_models.base\nEntropyCoder\n", b"neuralcodec.entropy_models.entropy_models\n_EntropyCoder\n"
    ).replace(
        b"neuralcodec.entropy_models.bottleneck\nEntropyBottleneck\n",
        b"neuralcodec.entropy_models.entropy_models\nEntropyBottleneck\n",
    )
    assert old != data
    loaded = pickle.loads(old)
    z = torch.randn(1, 2, 3, 3)
    assert loaded.compress(z) == eb.compress(z)
    assert loaded.entropy_coder == "ans"
