"""The one model loader (:mod:`neuralcodec.zoo.loader`) and the model options every
command spells alike (``--model``, ``-q``, ``--metric``, ``--checkpoint``,
``--pretrained``, ``--random``): each source kind on ``compress``, ``eval`` and
``export``, the project's own ElicLiteVbr shards, a ``neuralcodec train`` checkpoint,
variable-rate checkpoints with their own lambdas, and refused combinations.

Small randomly initialised models stand in for trained ones; CompressAI's published
weights are replaced by a small model (no network).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import neuralcodec.zoo as zoo
from neuralcodec.cli import main
from neuralcodec.codec import Codec, read_header
from neuralcodec.codec.container import Origin
from neuralcodec.codec.identity import weights_sha256
from neuralcodec.models import ElicLiteVbr, MeanScaleHyperprior, MeanScaleHyperpriorGained, MeanScaleHyperpriorVbr
from neuralcodec.settings import COMPRESSAI_LAMBDAS, DEFAULT_LAMBDAS
from neuralcodec.train.shards import save_shards
from neuralcodec.zoo.defaults import save_weights
from neuralcodec.zoo.loader import (
    ArchitectureMismatchError,
    ModelSourceError,
    ModelSpec,
    WeightsNotFoundError,
    load,
)

ROOT = Path(__file__).resolve().parents[1]
IMAGES = Path(__file__).parent / "fixtures" / "images"
SMALL_IMAGE = IMAGES / "kodim19-47x33.png"
ELIC_LITE = ROOT / "results" / "training" / "elic-lite-vbr"


def _small(cls=MeanScaleHyperprior, n=8, m=12, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = cls(n, m, **kwargs)
    model.update(force=True)
    return model.eval()


@pytest.fixture
def weights(tmp_path):
    """``(model, {kind: path})``: one small mbt2018-mean model as a .safetensors file, a
    shard folder, a shard file, a torch state_dict and a CompressAI checkpoint."""
    model = _small()
    paths = {"safetensors": tmp_path / "w.safetensors", "shards": tmp_path / "shards"}
    save_weights(model, paths["safetensors"], "mbt2018-mean", {"lambda": "0.0067", "metric": "mse"})
    paths["shard file"] = save_shards(model, paths["shards"], "mbt2018-mean", {"lambda": "0.0067"})[0]
    paths["state_dict"] = tmp_path / "plain.pth"
    torch.save(model.state_dict(), paths["state_dict"])
    paths["compressai"] = tmp_path / "compressai.pth.tar"
    torch.save({"epoch": 3, "state_dict": model.state_dict()}, paths["compressai"])
    return model, paths


@pytest.fixture
def fake_compressai(monkeypatch):
    """CompressAI's published weights replaced by small models (records the requests)."""
    requests = []

    def fake_load_model(architecture, quality, metric="mse", pretrained=False, progress=True):
        requests.append((architecture, quality, metric, pretrained))
        return _small(seed=quality)

    monkeypatch.setattr(zoo, "load_model", fake_load_model)
    return requests


# ------------------------------------------------------------------ the loader
def test_every_checkpoint_kind_loads_to_the_same_model_with_its_lambda(weights):
    model, paths = weights
    for kind, path in paths.items():
        architecture = "mbt2018-mean" if kind in ("state_dict", "compressai") else None
        loaded = load(architecture, checkpoint=path)
        assert loaded.architecture == "mbt2018-mean" and loaded.source == "checkpoint", kind
        assert isinstance(loaded.model, MeanScaleHyperprior) and not loaded.model.training, kind
        if kind.startswith("shard"):  # float16 kernels
            assert torch.equal(loaded.model.g_a[0].weight, model.g_a[0].weight.half().float())
        else:
            assert weights_sha256(loaded.model) == weights_sha256(model), kind
        assert loaded.lmbda == (None if architecture else 0.0067), kind


def test_the_shipped_and_compressai_lambdas_come_from_the_one_table(fake_compressai):
    shipped = load(quality=2.5)  # one variable-rate model: its lambda per quality
    assert shipped.variable_rate and shipped.quality == 2.5 and shipped.lmbda is None
    assert shipped.lambda_at(2) == pytest.approx(DEFAULT_LAMBDAS[2])
    assert shipped.lambda_at() == pytest.approx((DEFAULT_LAMBDAS[2] * DEFAULT_LAMBDAS[3]) ** 0.5)
    previous = load("mbt2018-mean", 2, source="shipped")  # the default before it, kept for old files
    assert previous.lmbda == DEFAULT_LAMBDAS[2] and previous.architecture == "mbt2018-mean"
    pretrained = load("mbt2018-mean", 5, "ms-ssim")
    assert pretrained.source == "pretrained" and pretrained.lmbda == COMPRESSAI_LAMBDAS["ms-ssim"][4]
    assert fake_compressai == [("mbt2018-mean", 5, "ms-ssim", True)]
    random = load("mbt2018-mean", 2, source="random")
    assert random.source == "random" and random.lmbda is None
    assert random.model.entropy_bottleneck._quantized_cdf.numel() > 0  # tables built


@pytest.mark.parametrize(
    "spec, error, message",
    [
        (ModelSpec("mbt2018-mean", source="checkpoint"), ModelSourceError, "needs a checkpoint"),
        (ModelSpec(source="pretrained"), ModelSourceError, "need an architecture"),
        (ModelSpec(source="random"), ModelSourceError, "need an architecture"),
        (ModelSpec("no-such-model"), ModelSourceError, "unknown architecture"),
        (ModelSpec("mbt2018-mean", 9), ModelSourceError, "has qualities"),
        (ModelSpec(quality=7), ModelSourceError, "shipped model takes any quality within 1..4"),
        (ModelSpec("mbt2018-mean", 2.5, source="shipped"), ModelSourceError, r"shipped mbt2018-mean at qualities \[1, 2, 3, 4\]"),
        (ModelSpec(metric="ms-ssim"), ModelSourceError, "trained for mse"),
        (ModelSpec("cheng2020-anchor", source="shipped"), ModelSourceError, "shipped model is mbt2018-mean-ladder"),
        (ModelSpec(checkpoint="/nonexistent.safetensors"), WeightsNotFoundError, "does not exist"),
        (ModelSpec(source="sideways"), ModelSourceError, "unknown weights source"),
    ],
)
def test_requests_that_cannot_be_met_are_refused_before_loading(spec, error, message):
    with pytest.raises(error, match=message):
        spec.check()


def test_a_checkpoint_naming_another_architecture_and_one_naming_none_are_refused(weights):
    _, paths = weights
    with pytest.raises(ArchitectureMismatchError, match="holds a mbt2018-mean model, not mbt2018"):
        load("mbt2018", checkpoint=paths["safetensors"])
    with pytest.raises(ModelSourceError, match="does not name its architecture"):
        load(checkpoint=paths["state_dict"])


def test_a_variable_rate_checkpoint_loads_with_its_own_lambda_table(tmp_path):
    lambdas = [0.001, 0.004, 0.016]
    model = _small(MeanScaleHyperpriorVbr, lambdas=lambdas)
    save_weights(model, tmp_path / "vbr.safetensors", "mbt2018-mean-vbr",
                 {"lambda": "variable", "lambdas": json.dumps(lambdas)})
    loaded = load(checkpoint=tmp_path / "vbr.safetensors", quality=2)
    assert loaded.variable_rate and loaded.model.lmbda == lambdas
    assert loaded.lmbda is None and loaded.lambda_at(2) == pytest.approx(0.004)
    assert loaded.lambda_at(1) == pytest.approx(0.001) and loaded.model.qualities() == (1.0, 3.0)
    save_shards(model, tmp_path / "shards", "mbt2018-mean-vbr", {"lambdas": json.dumps(lambdas)})
    assert load(checkpoint=tmp_path / "shards").model.lmbda == lambdas


def test_the_elic_lite_vbr_training_shards_load_as_a_registered_model():
    loaded = load(checkpoint=ELIC_LITE)
    assert isinstance(loaded.model, ElicLiteVbr) and loaded.architecture == "elic-lite-vbr"
    assert loaded.metadata["steps"] and loaded.model.qualities() == (1.0, 6.0)
    assert loaded.lambda_at(2.0) == pytest.approx(ElicLiteVbr.lmbda(2.0).item())


def test_a_random_elic_lite_vbr_saved_as_weights_loads_back(tmp_path):
    model = ElicLiteVbr(16, 144, levels=3, context_channels=8, aggregation_channels=(8, 8))
    model.update(force=True)
    save_weights(model, tmp_path / "e.safetensors", "elic-lite-vbr")
    loaded = load(checkpoint=tmp_path / "e.safetensors").model
    assert (loaded.N, loaded.M, loaded.levels, loaded.context_channels) == (16, 144, 3, 8)
    assert weights_sha256(loaded) == weights_sha256(model)


# ------------------------------------------------------------------ the commands
def _compress(tmp_path, name, *options):
    target = tmp_path / f"{name}.nci"
    code = main(["compress", str(SMALL_IMAGE), "-o", str(target), "--quiet", *map(str, options)])
    return code, target


def _export(tmp_path, name, *options):
    out = tmp_path / f"export-{name}"
    code = main(["export", str(out), "--format", "torchscript", "--transform", "g_s", *map(str, options)])
    return code, out


def _eval(*options):
    return main(["eval", str(SMALL_IMAGE), "--quiet", *map(str, options)])


@pytest.mark.parametrize("kind", ["safetensors", "shards", "shard file", "state_dict", "compressai"])
def test_every_checkpoint_kind_works_on_compress_eval_and_export(weights, kind, tmp_path, capsys):
    _model, paths = weights
    model_option = ["--model", "mbt2018-mean"] if kind in ("state_dict", "compressai") else []
    options = [*model_option, "--checkpoint", paths[kind]]
    code, target = _compress(tmp_path, "c", *options)
    assert code == 0, capsys.readouterr().err
    header = read_header(target.read_bytes())
    assert header.model.architecture == "mbt2018-mean" and header.model.origin == Origin.CHECKPOINT
    assert main(["decompress", str(target), "-o", str(tmp_path / "c.png"), "--checkpoint", str(paths[kind]),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert _eval(*options) == 0, capsys.readouterr().err
    results = json.loads(capsys.readouterr().out)
    assert results["results"]["bpp"][0] > 0
    code, out = _export(tmp_path, kind, *options)
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["metadata"]["architecture"] == "mbt2018-mean"
    assert (out / "entropy.safetensors").is_file()


def test_the_shipped_and_pretrained_sources_work_on_every_command(fake_compressai, monkeypatch, tmp_path, capsys):
    from neuralcodec.zoo import defaults

    small_default = _small(MeanScaleHyperpriorGained, seed=10)
    monkeypatch.setattr(defaults, "default_model", lambda device="cpu": small_default)
    monkeypatch.setattr(defaults, "default_weights_path", lambda: SMALL_IMAGE)  # "installed"
    code, target = _compress(tmp_path, "shipped", "-q", "2.5")
    header = read_header(target.read_bytes())
    assert code == 0 and header.model.origin == Origin.NEURALCODEC and header.coded_quality == 2.5
    for spelling in (["--model", "mbt2018-mean"], ["--model", "mbt2018-mean", "--pretrained"]):
        code, target = _compress(tmp_path, f"p{len(spelling)}", *spelling, "-q", "4")
        named = read_header(target.read_bytes()).model
        assert code == 0 and (named.origin, named.quality) == (Origin.COMPRESSAI, 4)
    assert _eval("-q", "2") == 0 and _eval("--model", "mbt2018-mean", "--pretrained", "-q", "4") == 0
    capsys.readouterr()
    for name, spelling in {"shipped": ["-q", "2"], "pretrained": ["--model", "mbt2018-mean", "--pretrained"]}.items():
        code, out = _export(tmp_path, name, *spelling)
        assert code == 0, capsys.readouterr().err
        origin = json.loads((out / "manifest.json").read_text())["model"]["metadata"]["origin"]
        assert origin == Origin.NEURALCODEC.label if name == "shipped" else Origin.COMPRESSAI.label


def test_export_random_writes_the_entropy_file(tmp_path, capsys):
    code, out = _export(tmp_path, "random", "--model", "bmshj2018-hyperprior", "-q", "1", "--random")
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["metadata"]["origin"] == "random initialisation"
    assert "path" in manifest["entropy"] and (out / manifest["entropy"]["path"]).is_file()


def test_compress_takes_the_elic_lite_vbr_training_shards(tmp_path, capsys):
    code, target = _compress(tmp_path, "elic", "--checkpoint", ELIC_LITE, "-q", "2.5")
    assert code == 0, capsys.readouterr().err
    header = read_header(target.read_bytes())
    assert header.model.architecture == "elic-lite-vbr" and header.coded_quality == 2.5
    decoded = tmp_path / "elic.png"
    assert main(["decompress", str(target), "-o", str(decoded), "--checkpoint", str(ELIC_LITE), "--quiet"]) == 0
    original = np.asarray(Image.open(SMALL_IMAGE).convert("RGB"), dtype=float)
    mse = np.mean((np.asarray(Image.open(decoded).convert("RGB"), dtype=float) - original) ** 2)
    assert 10 * np.log10(255**2 / mse) > 20  # trained weights: a recognisable image


def test_a_one_step_training_checkpoint_loads_in_compress_eval_and_export(tmp_path, capsys):
    folder = tmp_path / "train"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", str(folder), "-o", str(run), "--model", "mbt2018-mean", "--N", "8", "--M", "12",
                 "--steps", "1", "--batch-size", "1", "--patch-size", "64", "--lambda", "0.02", "--quiet",
                 "--threads", "1"]) == 0
    checkpoint = run / "checkpoint.pt"
    loaded = load(checkpoint=checkpoint)
    assert loaded.architecture == "mbt2018-mean" and loaded.lmbda == 0.02 and loaded.metadata["steps"] == "1"
    assert (loaded.model.N, loaded.model.M) == (8, 12)
    code, _target = _compress(tmp_path, "trained", "--checkpoint", checkpoint)
    assert code == 0, capsys.readouterr().err
    assert Codec.from_checkpoint(checkpoint).lmbda == 0.02
    assert _eval("--checkpoint", checkpoint, "--effort", "1") == 0, capsys.readouterr().err  # its lambda is known
    capsys.readouterr()
    code, out = _export(tmp_path, "trained", "--checkpoint", checkpoint)
    assert code == 0, capsys.readouterr().err
    assert (out / "entropy.safetensors").is_file()


@pytest.mark.parametrize(
    "command, options, message",
    [
        ("compress", ["--checkpoint", "{w}", "--pretrained"], "do not combine"),
        ("compress", ["--pretrained"], "--pretrained needs --model"),
        ("compress", ["--metric", "ms-ssim"], "trained for mse"),
        ("eval", ["--checkpoint", "{w}", "--pretrained"], "do not combine"),
        ("eval", ["--model", "mbt2018-mean", "-q", "1"], "give --pretrained"),
        ("export", ["--checkpoint", "{w}", "--random"], "do not combine"),
        ("export", ["--random"], "--random needs --model"),
        ("export", ["--model", "mbt2018-mean", "--pretrained", "--random"], "give one"),
        ("export", ["--model", "mbt2018", "--checkpoint", "{w}"], "holds a mbt2018-mean model, not mbt2018"),
    ],
)
def test_contradicting_model_options_exit_2_with_a_message(weights, tmp_path, capsys, command, options, message):
    _, paths = weights
    options = [o.format(w=paths["safetensors"]) for o in options]
    if command == "compress":
        code, _ = _compress(tmp_path, "bad", *options)
    elif command == "eval":
        code = _eval(*options)
    else:
        code, _ = _export(tmp_path, "bad", *options)
    assert code == 2
    assert message in capsys.readouterr().err
