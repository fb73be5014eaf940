"""The model registry owns the model names: the zoo, the settings, the codec, the trainer and
the command line all derive theirs from it; and CompressAI's registry/zoo API around it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from neuralcodec import settings, zoo
from neuralcodec.models import MeanScaleHyperprior, SimpleVAECompressionModel
from neuralcodec.models.vbr import VariableRateModel
from neuralcodec.registry import MODELS, ZOO_ENTRIES, ZooEntry, add_zoo_entry, register_model
from neuralcodec.zoo import image, image_vbr


def test_every_zoo_name_is_a_registered_class_and_the_other_tables_derive_from_the_registry():
    assert set(ZOO_ENTRIES) <= set(MODELS)
    assert dict(zoo.ARCHITECTURES) == {name: MODELS[name] for name in ZOO_ENTRIES}
    assert image.model_architectures is zoo.ARCHITECTURES and image.cfgs is zoo.CONFIGS
    assert list(settings.COMPRESSAI_QUALITIES) == list(ZOO_ENTRIES)
    for name, entry in ZOO_ENTRIES.items():
        cls = MODELS[name]
        assert entry.variable_rate == issubclass(cls, VariableRateModel), name
        assert (name in settings.VARIABLE_RATE_ARCHITECTURES) == entry.variable_rate
        assert (name in zoo.LATENT_CODEC_ARCHITECTURES) == issubclass(cls, SimpleVAECompressionModel)
        assert tuple(settings.COMPRESSAI_QUALITIES[name]) == tuple(zoo.CONFIGS[name]) == entry.qualities
    # CompressAI's names and classes
    assert MODELS["cheng2020-attn"].__name__ == "Cheng2020Attention"
    assert MODELS["mbt2018-mean"] is MeanScaleHyperprior


@pytest.fixture()
def tiny_model():
    """A model class registered with its zoo entry for one test, then removed again."""

    @register_model("test-tiny-mean")
    class TinyMean(MeanScaleHyperprior):
        pass

    add_zoo_entry("test-tiny-mean", ZooEntry({1: (8, 12), 2: (8, 16)}))
    try:
        yield TinyMean
    finally:
        del MODELS["test-tiny-mean"], ZOO_ENTRIES["test-tiny-mean"]


def test_a_registered_model_with_a_zoo_entry_is_known_everywhere_by_its_name(tiny_model, tmp_path, capsys):
    name = "test-tiny-mean"
    model = zoo.load_model(name, 2)
    assert type(model) is tiny_model and (model.N, model.M) == (8, 16)
    assert type(zoo.image_models[name](1)) is tiny_model and zoo.image_models[name].__name__ == "test_tiny_mean"
    assert zoo.CONFIGS[name] == {1: (8, 12), 2: (8, 16)}
    assert settings.check_rate_point(2, name) == 2
    with pytest.raises(ValueError, match="qualities 1..2"):
        zoo.load_model(name, 3)
    assert name not in zoo.VBR_ARCHITECTURES and name not in zoo.LATENT_CODEC_ARCHITECTURES

    # the codec loads a checkpoint by the architecture's name
    from neuralcodec.codec import Codec

    torch.manual_seed(0)
    trained = tiny_model(8, 12)
    torch.save(trained.state_dict(), tmp_path / "tiny.pth")
    codec = Codec.from_checkpoint(tmp_path / "tiny.pth", architecture=name)
    assert type(codec.model) is tiny_model and codec.model.M == 12

    # the trainer builds it
    from neuralcodec.train.config import TrainConfig
    from neuralcodec.train.trainer import build_model

    config = TrainConfig(architecture=name, N=8, M=12, train_dir=str(tmp_path), out_dir=str(tmp_path / "out"))
    config.validate()
    assert type(build_model(config)) is tiny_model

    # the command line lists it, with its rate points
    from neuralcodec.cli import main

    with pytest.raises(SystemExit):
        main(["compress", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse may wrap at the hyphens
    assert name in help_text and "(1..2fortest-tiny-mean)" in help_text


def test_the_registry_and_the_settings_import_no_torch():
    code = (
        "import sys\n"
        "import neuralcodec.registry, neuralcodec.settings\n"
        "from neuralcodec.settings import COMPRESSAI_QUALITIES, VARIABLE_RATE_ARCHITECTURES\n"
        "print(len(COMPRESSAI_QUALITIES), len(VARIABLE_RATE_ARCHITECTURES), 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    variable = sum(entry.variable_rate for entry in ZOO_ENTRIES.values())  # CompressAI's 3 and elic-lite-vbr
    assert result.stdout.split() == [str(len(ZOO_ENTRIES)), str(variable), "False"]


def test_compressai_registries_of_optimisers_schedulers_and_transforms_load_on_first_use():
    from neuralcodec.registry import OPTIMIZERS, SCHEDULERS, TRANSFORMS, register_optimizer, register_transform

    assert OPTIMIZERS["Adam"] is torch.optim.Adam and SCHEDULERS["StepLR"] is torch.optim.lr_scheduler.StepLR
    assert TRANSFORMS["RandomCrop"].__name__ == "RandomCrop"

    @register_optimizer("test-optimizer")
    def make(params):
        return torch.optim.SGD(params, lr=0.1)

    @register_transform("test-transform")
    class Identity:
        pass

    try:
        assert OPTIMIZERS["test-optimizer"] is make and TRANSFORMS["test-transform"] is Identity
    finally:
        del OPTIMIZERS["test-optimizer"], TRANSFORMS["test-transform"]
    with pytest.raises(TypeError):
        register_model("")
    with pytest.raises(ValueError, match="same number of size arguments"):
        ZooEntry({1: (8,), 2: (8, 12)})


def test_compressai_zoo_functions_raise_what_compressai_raises():
    with pytest.raises(ValueError):
        image._load_model("yolo", "mse", 1)
    with pytest.raises(ValueError):
        image._load_model("mbt2018", "mse", 0)
    with pytest.raises(ValueError):
        zoo.mbt2018_vbr(metric="ms-ssim")  # MSE weights only, as in CompressAI
    with pytest.raises(ValueError):
        zoo.bmshj2018_factorized(1, metric="ssim")
    # no published weights: CompressAI's RuntimeError, and our ValueError
    with pytest.raises(RuntimeError, match="no published weights"):
        image._load_model("elic2022-official", "mse", 1, pretrained=True)
    assert zoo.mbt2018_vbr().M == 320 and image_vbr._load_model("mbt2018-vbr", "mse").M == 320
    with pytest.raises(ValueError, match="variable-rate"):
        image_vbr._load_model("mbt2018", "mse")
    assert set(image_vbr.model_architectures) == set(settings.VARIABLE_RATE_ARCHITECTURES)
    assert image_vbr.cfgs["mbt2018-mean-vbr"] == (192, 320)
    assert image_vbr.model_urls["mbt2018-vbr"]["mse"].endswith("mbt2018-mse-vbr-f12581a1.pth.tar")
    assert image.model_urls["cheng2020-attn"]["ms-ssim"][6].endswith("cheng2020_attn-ms-ssim-6-216423ec.pth.tar")


def test_compressai_checkpoint_keys_convert_through_the_zoo():
    from neuralcodec.zoo.pretrained import rename_key

    assert rename_key("module.g_a.0.downsample.weight") == "g_a.0.skip.weight"
    assert rename_key("entropy_bottleneck._biases.2") == "entropy_bottleneck.biases.2"
    model = MeanScaleHyperprior(8, 12)
    old = {f"module.{k}": v for k, v in model.state_dict().items()}
    loaded = MeanScaleHyperprior(8, 12)
    loaded.load_state_dict(zoo.load_state_dict(old))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_the_command_line_builds_its_parsers_and_model_names_without_torch():
    code = (
        "import sys\n"
        "from neuralcodec.cli import build_parser\n"
        "help_text = build_parser()._subparsers._group_actions[0].choices['compress'].format_help()\n"
        "print('mbt2018-mean-vbr' in ''.join(help_text.split()), 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
