"""CompressAI's command-line tools under ``neuralcodec.utils``: what CompressAI's own
suite (tests/test_eval_model.py, test_update_model.py, test_bench_codec.py, test_plot.py,
test_find_close.py) does not check.

Models are tiny factorized priors with random weights, images a few pixels made here or
taken from ``fixtures/images``; executable codecs are the stand-ins of
``fixtures/standin/standin.py``.
"""

import hashlib
import importlib
import json
import os
import stat
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from neuralcodec.bench.runner import make_codec, run_benchmark
from neuralcodec.eval.images import read_rgb
from neuralcodec.models import FactorizedPrior
from neuralcodec.ops import compute_padding

eval_model = importlib.import_module("neuralcodec.utils.eval_model.__main__")
update_model = importlib.import_module("neuralcodec.utils.update_model.__main__")
bench = importlib.import_module("neuralcodec.utils.bench.__main__")
bench_codecs = importlib.import_module("neuralcodec.utils.bench.codecs")
find_close = importlib.import_module("neuralcodec.utils.find_close.__main__")
plot = importlib.import_module("neuralcodec.utils.plot.__main__")

IMAGES = Path(__file__).parent / "fixtures" / "images"
STANDIN = Path(__file__).parent / "fixtures" / "standin" / "standin.py"


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    net = FactorizedPrior(8, 12)
    with torch.no_grad():  # a non-trivial density, so the tables differ from a fresh model's
        for p in net.entropy_bottleneck.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net


@pytest.fixture
def dataset(tmp_path):
    """Two small images, one in a subfolder (CompressAI's tools search recursively)."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for path, (h, w) in ((root / "a.png", (40, 52)), (root / "sub" / "b.png", (33, 47))):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
    return root


# ---------------------------------------------------------------------- update_model
@pytest.mark.parametrize("wrapper", [None, "network", "state_dict"])
def test_update_model_exports_a_hash_named_state_dict_with_built_tables(tmp_path, wrapper):
    net = _tiny_model()
    state = net.state_dict()
    path = tmp_path / "run.pth.tar"
    torch.save(state if wrapper is None else {wrapper: state, "epoch": 3}, path)
    out = tmp_path / "out"
    update_model.main([str(path), "-a", "bmshj2018-factorized", "-d", str(out), "-n", "tiny"])
    (exported,) = out.iterdir()
    digest = hashlib.sha256(exported.read_bytes()).hexdigest()[:8]
    assert exported.name == f"tiny-{digest}.pth.tar"
    saved = torch.load(exported, weights_only=True)
    assert "epoch" not in saved and set(saved) == set(state)
    expected = _tiny_model()
    expected.update(force=True, method="compressai")  # CompressAI's tool writes CompressAI's tables
    for key in ("entropy_bottleneck._quantized_cdf", "entropy_bottleneck._cdf_length", "entropy_bottleneck._offset"):
        assert torch.equal(saved[key], expected.state_dict()[key]), key


def test_update_model_default_name_replaces_the_checkpoint_in_its_folder(tmp_path, monkeypatch):
    path = tmp_path / "model.pth.tar"
    torch.save(_tiny_model().state_dict(), path)
    monkeypatch.chdir(tmp_path)
    update_model.main([str(path), "-a", "factorized-prior"])  # as CompressAI: written as model.pth.tar, renamed
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 1 and names[0].startswith("model-") and names[0].endswith(".pth.tar")


def test_update_model_refuses_bad_input_clearly(tmp_path):
    with pytest.raises(RuntimeError, match="is not a valid file"):
        update_model.main([str(tmp_path)])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(Exception) as info:
        update_model.main([str(garbage)])
    assert not isinstance(info.value, (AttributeError, KeyError, IndexError))  # torch's own error, not a crash
    with pytest.raises(SystemExit):
        update_model.main([str(garbage), "-a", "no-such-model"])


# ------------------------------------------------------------------------ eval_model
def _checkpoint(tmp_path, net):
    net.update(force=True)
    path = tmp_path / "tiny-0123abcd.pth.tar"
    torch.save(net.state_dict(), path)
    return path


def test_eval_model_checkpoint_measures_as_compressai_does(tmp_path, dataset, capsys):
    net = _tiny_model()
    path = _checkpoint(tmp_path, net)
    out = tmp_path / "results"
    argv = ["checkpoint", str(dataset), "-a", "bmshj2018-factorized", "-p", str(path), "-d", str(out), "-o", "run"]
    eval_model.main(argv + ["--per-image"])
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((out / "run.json").read_text())
    assert printed == written
    assert written["name"] == "bmshj2018-factorized-mse" and written["description"] == "Inference (ans)"
    # bpp: the bytes of the zero-padded image's strings over the unpadded pixels, per image, averaged
    net.eval()
    expected = []
    for image in sorted(dataset.rglob("*.png")):
        x = torch.from_numpy(read_rgb(image)).permute(2, 0, 1)[None].float() / 255
        pad, _ = compute_padding(*x.shape[-2:], min_div=64)
        with torch.no_grad():
            strings = net.compress(F.pad(x, pad))["strings"]
        expected.append(8 * sum(len(s[0]) for s in strings) / (x.shape[-2] * x.shape[-1]))
    assert written["results"]["bpp"] == pytest.approx([np.mean(expected)], rel=1e-12)
    for key in ("psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"):
        assert len(written["results"][key]) == 1 and np.isfinite(written["results"][key][0])
    # --per-image mirrors the data set's subfolders
    per_image = json.loads((out / "sub" / "b-tiny-0123abcd-ans.json").read_text())
    assert per_image["source"] == "b" and per_image["results"]["bpp"] == pytest.approx(expected[1])


def test_eval_model_entropy_estimation_uses_the_likelihoods(tmp_path, dataset, capsys):
    net = _tiny_model()
    path = _checkpoint(tmp_path, net)
    eval_model.main(["checkpoint", str(dataset), "-a", "bmshj2018-factorized", "-p", str(path), "--entropy-estimation"])
    output = json.loads(capsys.readouterr().out)
    assert output["description"] == "Inference (entropy estimation)"
    rows = []
    for image in sorted(dataset.rglob("*.png")):
        x = torch.from_numpy(read_rgb(image)).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            likelihoods = net.eval()(x)["likelihoods"]
        rows.append(sum(-torch.log2(v.double()).sum() for v in likelihoods.values()).item() / x[0, 0].numel())
    assert output["results"]["bpp"] == pytest.approx([np.mean(rows)], rel=1e-9)


def test_eval_model_no_update_keeps_the_checkpoint_tables(tmp_path, dataset):
    net = _tiny_model()
    path = _checkpoint(tmp_path, net)
    state = torch.load(path, weights_only=True)
    loaded = eval_model.load_checkpoint("bmshj2018-factorized", True, path)
    assert torch.equal(loaded.state_dict()["entropy_bottleneck._quantized_cdf"], state["entropy_bottleneck._quantized_cdf"])
    assert not loaded.training


def test_eval_model_refuses_an_empty_dataset_and_a_missing_source(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        eval_model.main(["checkpoint", str(tmp_path / "empty"), "-a", "bmshj2018-factorized", "-p", "x.pth.tar"])
    with pytest.raises(SystemExit):
        eval_model.main([])


def test_eval_model_metrics_match_the_shared_definitions():
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.random((1, 3, 24, 24)))
    b = (a + 0.02 * torch.from_numpy(rng.standard_normal((1, 3, 24, 24)))).clamp(0, 1)
    metrics = eval_model.compute_metrics(a, b)
    ua = (a * 255).round().numpy().astype(np.uint8)
    ub = (b * 255).round().numpy().astype(np.uint8)
    mse = np.mean((ua.astype(np.float64) - ub) ** 2)
    assert metrics["psnr-rgb"] == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-12)
    assert 0 < metrics["ms-ssim-rgb"] < 1
    assert eval_model.compute_metrics(a, a)["psnr-rgb"] == 100.0  # capped, so results stay valid JSON


# ----------------------------------------------------------------------------- bench
def test_bench_jpeg_gives_the_registry_codecs_numbers(dataset, capsys):
    bench.main(["jpeg", str(dataset), "-q", "30,60"])
    output = json.loads(capsys.readouterr().out)
    assert output["name"] == "JPEG"
    images = sorted(dataset.rglob("*.png"))
    ours = run_benchmark(make_codec("jpeg420"), images, [30, 60], workers=1, show_progress=False)
    for key in ("bpp", "psnr-rgb", "ms-ssim-rgb"):
        assert output["results"][key] == pytest.approx(ours["results"][key], rel=1e-12)
    assert output["results"]["bpp"][0] < output["results"]["bpp"][1]


def test_bench_metrics_option_limits_the_keys(dataset, capsys):
    bench.main(["webp", str(dataset), "--metrics", "psnr-rgb"])
    results = json.loads(capsys.readouterr().out)["results"]
    assert set(results) == {"bpp", "encoding_time", "decoding_time", "psnr-rgb"}


def test_bench_refuses_a_missing_folder(tmp_path):
    with pytest.raises(OSError, match="No such directory"):
        bench.main(["jpeg", str(tmp_path / "nope")])


@pytest.fixture
def standin_build(tmp_path):
    """A build folder with CompressAI's executable names, running the stand-ins."""
    folder = tmp_path / "build"
    folder.mkdir()
    names = {"bpgenc": "bpgenc", "bpgdec": "bpgdec", "EncoderAppStatic": "EncoderApp",
             "DecoderAppStatic": "DecoderApp", "TAppEncoderStatic": "TAppEncoder",
             "TAppDecoderStatic": "TAppDecoder", "aomenc": "aomenc", "aomdec": "aomdec"}  # fmt: skip
    for name, program in names.items():
        wrapper = folder / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" {program} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    config = tmp_path / "intra.cfg"
    config.write_text("# stand-in configuration\n")
    return folder, config


def test_bpg_takes_compressai_arguments(standin_build):
    folder, _ = standin_build
    args = Namespace(m="420", b="8", c="rgb", e="jctvc", encoder_path=str(folder / "bpgenc"),
                     decoder_path=str(folder / "bpgdec"))  # fmt: skip
    codec = bench_codecs.BPG(args)
    assert codec.name == "BPG 8b 420 jctvc rgb"
    assert codec.bench_codec.name == "bpg420"
    info, rec = codec.run(IMAGES / "kodim19-47x33.png", 30, return_rec=True)
    assert info["bpp"] > 0 and info["psnr-rgb"] > 25 and rec.size == (47, 33)
    with pytest.raises(ValueError, match="Invalid quality"):
        codec.run(IMAGES / "kodim19-47x33.png", 60)


@pytest.mark.parametrize("cls", ["VTM", "HM"])
@pytest.mark.parametrize("rgb", [False, True])
def test_reference_codecs_take_a_build_folder_and_rgb(standin_build, cls, rgb):
    folder, config = standin_build
    codec = getattr(bench_codecs, cls)(Namespace(build_dir=str(folder), config=str(config), rgb=rgb))
    assert codec.name == cls and codec.bench_codec.colorspace == ("rgb" if rgb else "ycbcr")
    info = codec.run(IMAGES / "kodim19-47x33.png", 20, metrics=["psnr-rgb"])
    assert info["bpp"] > 0 and info["psnr-rgb"] > 30


def test_av1_runs_from_a_build_folder(standin_build):
    folder, _ = standin_build
    codec = bench_codecs.AV1(Namespace(build_dir=str(folder)))
    assert Path(codec.bench_codec.encoder) == folder / "aomenc"
    assert codec.run(IMAGES / "kodim19-47x33.png", 20)["psnr-rgb"] > 25


def test_a_missing_executable_is_reported(tmp_path):
    args = Namespace(m="444", b="8", c="ycbcr", e="x265", encoder_path=str(tmp_path / "bpgenc"),
                     decoder_path=str(tmp_path / "bpgdec"))  # fmt: skip
    with pytest.raises(RuntimeError, match="bpgenc"):
        bench_codecs.BPG(args).run(IMAGES / "kodim19-47x33.png", 30)


def test_compute_metrics_of_pillow_images():
    img = Image.open(IMAGES / "kodim05-64x48.png").convert("RGB")
    assert bench_codecs.compute_metrics(img, img) == {"psnr-rgb": 100.0}
    noisy = np.clip(np.asarray(img, dtype=np.int16) + 3, 0, 255).astype(np.uint8)
    values = bench_codecs.compute_metrics(img, noisy, ["psnr-rgb", "ms-ssim-rgb"])
    assert 30 < values["psnr-rgb"] < 45 and 0.9 < values["ms-ssim-rgb"] < 1
    with pytest.raises(KeyError):
        bench_codecs.compute_metrics(img, img, ["vmaf"])


# ------------------------------------------------------------------------ find_close
def test_find_close_bounds_follow_the_registry():
    jpeg = bench_codecs.JPEG(Namespace())
    assert find_close.get_codec_q_bounds(jpeg) == (False, 0, 101)
    with pytest.raises(ValueError):
        find_close.get_codec_q_bounds(object())


def test_find_close_reaches_a_bpp_target():
    jpeg = bench_codecs.JPEG(Namespace())
    image = str(IMAGES / "kodim05-64x48.png")
    low = jpeg.run(image, 20)["bpp"]
    high = jpeg.run(image, 80)["bpp"]
    target = (low + high) / 2
    quality, metrics, rec = find_close.find_closest(jpeg, image, target, "bpp")
    assert 20 < quality < 80 and rec is not None
    # the closest probe is at least as close as the two ends
    assert abs(metrics["bpp"] - target) <= min(abs(low - target), abs(high - target))


# ------------------------------------------------------------------------------ plot
def test_plot_reads_bare_tables_and_converts_ms_ssim_to_db(tmp_path):
    path = tmp_path / "bare.json"
    path.write_text(json.dumps({"bpp": [0.5, 1.0], "psnr-rgb": [30.0, 33.0], "ms-ssim-rgb": [0.9, 0.99]}))
    curve = plot.parse_json_file(path, "ms-ssim")
    assert curve["name"] == "bare" and curve["xs"] == [0.5, 1.0]
    assert curve["ys"] == pytest.approx([10.0, 20.0])
    with pytest.raises(ValueError, match="not available"):
        plot.parse_json_file(path, "vmaf")


def test_plot_writes_the_output_file(tmp_path, dataset, capsys):
    import matplotlib

    matplotlib.use("Agg")
    results = tmp_path / "jpeg.json"
    bench.main(["jpeg", str(dataset), "-q", "20,50"])
    results.write_text(capsys.readouterr().out)
    output = tmp_path / "rd.png"
    plot.main(["-f", str(results), "-o", str(output), "-t", "title"])
    with Image.open(output) as img:
        assert img.size == (2700, 1800)  # 9x6 inches at 300 dpi
    assert os.path.getsize(output) > 0
