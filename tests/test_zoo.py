"""Zoo entry points: CompressAI's sizes per quality, and pretrained weights from files or URLs."""

from __future__ import annotations

import hashlib
import io

import pytest
import torch
from test_zoo_weights import FileServer

from neuralcodec import zoo
from neuralcodec.models import Cheng2020Anchor, MeanScaleHyperprior, ScaleHyperprior
from neuralcodec.zoo import WeightsError, image_models, load_model


@pytest.mark.parametrize(
    ("name", "quality", "sizes"),
    [
        ("bmshj2018-factorized", 1, (128, 192)),
        ("bmshj2018-factorized", 6, (192, 320)),
        ("bmshj2018-hyperprior", 5, (128, 192)),
        ("bmshj2018-hyperprior", 8, (192, 320)),
        ("mbt2018-mean", 4, (128, 192)),
        ("mbt2018-mean", 5, (192, 320)),
        ("mbt2018", 1, (192, 192)),
        ("mbt2018", 5, (192, 320)),
        ("cheng2020-anchor", 3, (128, 128)),
        ("cheng2020-attn", 4, (192, 192)),
        ("bmshj2018-factorized-relu", 5, (128, 192)),
        ("bmshj2018-factorized-relu", 6, (192, 320)),
        ("cheng2020-anchor-checkerboard", 4, (192, 192)),
    ],
)
def test_each_quality_gets_compressai_sizes(name, quality, sizes):
    model = image_models[name](quality)
    assert sizes == (model.N, model.M)
    assert type(model) is zoo.ARCHITECTURES[name]


def test_entry_points_have_compressai_names():
    assert zoo.mbt2018_mean.__name__ == "mbt2018_mean"
    # CompressAI's zoo.models holds every model, image and video.
    assert set(zoo.models) == set(zoo.image_models) | set(zoo.video_models)
    assert zoo.models["ssf2020"] is zoo.ssf2020 and zoo.models["mbt2018"].__name__ == "mbt2018"
    assert set(image_models) == set(zoo.ARCHITECTURES)


def test_the_models_compressai_publishes_no_weights_for_are_refused_as_pretrained():
    for name in ("bmshj2018-factorized-relu", "cheng2020-anchor-checkerboard", "elic2022-official"):
        assert name not in zoo.WEIGHT_FILES
        with pytest.raises(ValueError, match="no published weights"):
            load_model(name, 1, pretrained=True)
    assert zoo.bmshj2018_factorized_relu.__name__ == "bmshj2018_factorized_relu"
    assert zoo.CONFIGS["elic2022-chandelier"][1] == (192, 320)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("mbt2018", 0), "qualities 1..8"),
        (("mbt2018", 9), "qualities 1..8"),
        (("cheng2020-anchor", 7), "qualities 1..6"),
        (("mbt2018", True), "qualities"),
        (("mbt2018", 3, "psnr"), "metric"),
        (("bmshj2018", 3), "unknown architecture"),
    ],
)
def test_bad_choices_are_refused_with_what_is_available(args, message):
    with pytest.raises(ValueError, match=message):
        load_model(*args)


def small_trained_model() -> MeanScaleHyperprior:
    torch.manual_seed(0)
    model = MeanScaleHyperprior(8, 12).eval()
    model.update(force=True)
    return model


def test_a_local_training_checkpoint_loads_with_its_tables(tmp_path):
    model = small_trained_model()
    wrapped = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "checkpoint_best_loss.pth.tar"
    torch.save({"epoch": 10, "state_dict": wrapped}, path)
    loaded = load_model("mbt2018-mean", 3, pretrained=path)
    assert not loaded.training
    assert (loaded.N, loaded.M) == (8, 12), "sizes come from the file"
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert loaded.compress(x)["strings"] == model.compress(x)["strings"]


def test_a_checkpoint_without_tables_gets_them_built(tmp_path):
    torch.manual_seed(0)
    state = {k: v for k, v in ScaleHyperprior(8, 12).state_dict().items()}
    torch.save(state, tmp_path / "raw.pth")
    loaded = load_model("bmshj2018-hyperprior", 1, pretrained=tmp_path / "raw.pth")
    with torch.no_grad():
        compressed = loaded.compress(torch.rand(1, 3, 64, 64))
    assert compressed["strings"][0][0]


def test_published_weights_are_downloaded_verified_and_cached(tmp_path, monkeypatch):
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(Cheng2020Anchor(8).state_dict(), buffer)
    body = buffer.getvalue()
    name = f"cheng2020-anchor-1-{hashlib.sha256(body).hexdigest()[:8]}.pth.tar"
    monkeypatch.setenv("NEURALCODEC_HOME", str(tmp_path))
    with FileServer({name: body}) as server:
        monkeypatch.setattr("neuralcodec.zoo.image.weights_url", lambda a, m, q: server.url + name)
        first = zoo.cheng2020_anchor(1, pretrained=True, progress=False)
        second = zoo.cheng2020_anchor(1, pretrained=True, progress=False)
    assert server.requests == [name], "the second call is served from the cache"
    assert first.N == second.N == 8
    assert (tmp_path / "weights" / name).is_file()


def test_a_download_that_does_not_match_the_published_hash_is_refused(tmp_path, monkeypatch):
    body = b"not the published weights"
    name = zoo.WEIGHT_FILES["mbt2018"]["mse"][3]
    monkeypatch.setenv("NEURALCODEC_HOME", str(tmp_path))
    with FileServer({name: body}) as server:
        monkeypatch.setattr("neuralcodec.zoo.image.weights_url", lambda a, m, q: server.url + name)
        with pytest.raises(WeightsError, match="promises 22901978"):
            zoo.mbt2018(3, pretrained=True, progress=False)
