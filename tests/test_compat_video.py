"""CompressAI's video side: ScaleSpaceFlow against CompressAI 1.2.8's own strings, the zoo's
video entry point, and the video tools (eval_model, bench, plot) on a tiny raw clip.

The ScaleSpaceFlow vectors are ``tests/fixtures/compressai/ssf2020.npz``, made by
``make_ssf_vectors.py`` beside it with CompressAI; the model's weights are derived from
their keys by that script's ``fill_weights``, which the tests import (see its docstring).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch

from neuralcodec.models.video import ScaleSpaceFlow
from neuralcodec.zoo import video_models
from neuralcodec.zoo.video import model_architectures, ssf2020

FIXTURES = Path(__file__).parent / "fixtures" / "compressai"


def _fixture_module() -> Any:
    spec = importlib.util.spec_from_file_location("make_ssf_vectors", FIXTURES / "make_ssf_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def vectors() -> Dict[str, np.ndarray]:
    with np.load(FIXTURES / "ssf2020.npz", allow_pickle=False) as archive:
        data = {key: archive[key] for key in archive.files}
    with np.load(FIXTURES / "models.npz", allow_pickle=False) as archive:
        data["shared_gc_cdf"] = archive["gaussian_conditional._quantized_cdf"]
    return data


@pytest.fixture(scope="module")
def reference_model(vectors: Dict[str, np.ndarray]) -> ScaleSpaceFlow:
    """Our ScaleSpaceFlow with the weights CompressAI's was given and its stored tables."""
    model = ScaleSpaceFlow().eval()
    _fixture_module().fill_weights(model)
    state = model.state_dict()
    for key in state:
        if f"state/{key}" in vectors:
            state[key] = torch.from_numpy(vectors[f"state/{key}"].copy())
        elif key.endswith("gaussian_conditional._quantized_cdf"):
            state[key] = torch.from_numpy(vectors["shared_gc_cdf"].copy())
    model.load_state_dict(state)
    return model


def _frames(vectors: Dict[str, np.ndarray]) -> List[torch.Tensor]:
    return [torch.from_numpy(f).float() / 255 for f in vectors["frames"]]


def _recorded_strings(vectors: Dict[str, np.ndarray]) -> Any:
    strings: List[Any] = []
    shapes: List[Any] = []
    for t in range(len(vectors["frames"])):
        latents = ("keyframe",) if t == 0 else ("motion", "residual")
        pairs = {latent: [[vectors[f"strings/{t}/{latent}/{i}"].tobytes()] for i in (0, 1)] for latent in latents}
        sizes = {latent: tuple(int(s) for s in vectors[f"shapes/{t}/{latent}"]) for latent in latents}
        strings.append(pairs["keyframe"] if t == 0 else pairs)
        shapes.append(sizes["keyframe"] if t == 0 else sizes)
    return strings, shapes


def test_state_dict_keys_shapes_and_dtypes_are_compressais(vectors):
    tables = ("._offset", "._quantized_cdf", "._cdf_length", ".scale_table")

    def comparable(line: str) -> str:  # tables are recorded after update(): their sizes are the data's
        key, rest = line.split(" ", 1)
        return f"{key} {rest.rsplit(' ', 1)[-1]}" if key.endswith(tables) else line

    ours = [comparable(f"{k} {tuple(v.shape)} {v.dtype}") for k, v in ScaleSpaceFlow().state_dict().items()]
    recorded = [comparable(str(k)) for k in vectors["keys"]]
    assert len(ours) == 183 and ours == recorded


def test_compress_gives_compressais_strings_byte_for_byte(vectors, reference_model):
    with torch.no_grad():
        strings, shapes = reference_model.compress(_frames(vectors))
    expected_strings, expected_shapes = _recorded_strings(vectors)
    assert len(strings) == len(expected_strings) == 3
    assert strings == expected_strings
    assert [s if isinstance(s, dict) else tuple(s) for s in shapes] == [
        {k: tuple(v) for k, v in s.items()} if isinstance(s, dict) else s for s in expected_shapes
    ]
    assert sum(len(s[0]) for frame in strings[1:] for pair in frame.values() for s in pair) > 1000


def test_decompress_of_compressais_strings_gives_its_frames(vectors, reference_model):
    strings, shapes = _recorded_strings(vectors)
    with torch.no_grad():
        decoded = reference_model.decompress(strings, shapes)
        encoded_side = reference_model.compress(_frames(vectors))  # the encoder's own reconstructions
    assert len(decoded) == 3
    pixels = np.stack([(x.clamp(0, 1) * 255).round().to(torch.uint8).numpy() for x in decoded])
    difference = np.abs(pixels.astype(int) - vectors["decoded"].astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    assert encoded_side[0] == strings


def test_forward_likelihoods_match_compressais_rate(vectors, reference_model):
    with torch.no_grad():
        out = reference_model(_frames(vectors))
    assert [set(d) for d in out["likelihoods"]] == [{"keyframe"}, {"motion", "residual"}, {"motion", "residual"}]
    for t, likelihoods in enumerate(out["likelihoods"]):
        for latent, pair in likelihoods.items():
            for name in ("y", "z"):
                bits = float(-torch.log2(pair[name]).sum())
                assert bits == pytest.approx(float(vectors[f"bits/{t}/{latent}/{name}"]), rel=1e-4)


def test_compressai_style_update_rebuilds_the_recorded_bottleneck_tables(vectors, reference_model):
    model = ScaleSpaceFlow().eval()
    model.load_state_dict(reference_model.state_dict())
    model.update(force=True, method="compressai")
    state = model.state_dict()
    for key in ("img_hyperprior", "motion_hyperprior", "res_hyperprior"):
        for buffer in ("_quantized_cdf", "_offset", "_cdf_length"):
            name = f"{key}.entropy_bottleneck.{buffer}"
            assert np.array_equal(state[name].numpy(), vectors[f"state/{name}"]), name
        assert np.array_equal(state[f"{key}.gaussian_conditional._quantized_cdf"].numpy(), vectors["shared_gc_cdf"])


def test_frames_must_be_a_non_empty_list():
    model = ScaleSpaceFlow()
    with pytest.raises(RuntimeError, match="list"):
        model(torch.zeros(1, 3, 128, 128))
    with pytest.raises(RuntimeError, match="at least one"):
        model.compress([])
    with pytest.raises(ValueError, match="frames"):
        model.decompress([[b""], {}], [(1, 1)])


def test_aux_loss_is_one_term_per_hyperprior_and_the_model_is_registered():
    from neuralcodec.registry import MODELS

    model = ScaleSpaceFlow()
    losses = model.aux_loss()
    assert isinstance(losses, list) and len(losses) == 3
    assert all(loss.requires_grad and loss.dim() == 0 for loss in losses)
    assert MODELS["ssf2020"] is ScaleSpaceFlow


def test_gaussian_volume_keeps_a_flat_frame_flat_and_blurs_an_edge():
    x = torch.full((1, 3, 32, 32), 0.25)
    volume = ScaleSpaceFlow.gaussian_volume(x, 1.5, 5)
    assert volume.shape == (1, 3, 6, 32, 32)
    torch.testing.assert_close(volume, torch.full_like(volume, 0.25))
    edge = torch.zeros(1, 1, 32, 32)
    edge[..., 16:] = 1
    levels = ScaleSpaceFlow.gaussian_volume(edge, 1.5, 3)[0, 0, :, 8]
    steepness = (levels[:, 16] - levels[:, 15]).tolist()
    assert steepness[0] == 1 and steepness[0] > steepness[1] > steepness[2]


def test_zero_flow_at_the_sharpest_scale_predicts_the_reference():
    model = ScaleSpaceFlow()
    x_ref = torch.rand(1, 3, 32, 32)
    motion = torch.zeros(1, 3, 32, 32)
    motion[:, 2] = -1.0  # depth -1: the unblurred level
    torch.testing.assert_close(model.forward_prediction(x_ref, motion), x_ref, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="dimensions"):
        model.warp_volume(x_ref, motion[:, :2], motion[:, 2:])


# ---------------------------------------------------------------------------------- zoo


def test_zoo_video_entry_point_checks_its_arguments_as_compressai():
    assert video_models == {"ssf2020": ssf2020} and model_architectures == {"ssf2020": ScaleSpaceFlow}
    assert isinstance(ssf2020(9), ScaleSpaceFlow)
    with pytest.raises(ValueError, match="metric"):
        ssf2020(1, metric="psnr")
    for quality in (0, 10):
        with pytest.raises(ValueError, match="quality"):
            ssf2020(quality)
    with pytest.raises(RuntimeError, match="not yet available"):
        ssf2020(1, metric="ms-ssim", pretrained=True)


def test_zoo_video_loads_a_local_checkpoint_with_its_tables(tmp_path, reference_model):
    path = tmp_path / "ssf.pth.tar"
    torch.save({"state_dict": reference_model.state_dict()}, path)
    model = ssf2020(3, pretrained=str(path), progress=False)
    assert not model.training
    for key, value in reference_model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    from neuralcodec.zoo.urls import weights_url

    assert weights_url("ssf2020", "mse", 9).endswith("ssf2020-mse-9-e89345c4.pth.tar")


# ---------------------------------------------------------------------------------- tools


def _write_clip(folder: Path, name: str = "clip_64x64_25fps_8bit_420.yuv", frames: int = 2, seed: int = 0) -> Path:
    """A tiny YUV 4:2:0 8-bit clip: a smooth pattern moving by one pixel per frame."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:80, 0:80].astype(np.float64)
    scene = 128 + 60 * np.sin(0.2 * yy + 0.1 * xx) + rng.normal(0, 3, size=(80, 80))
    data = bytearray()
    for t in range(frames):
        y = np.clip(np.rint(scene[t : t + 64, t : t + 64]), 0, 255).astype(np.uint8)
        u = np.full((32, 32), 120 + 5 * t, np.uint8)
        v = np.full((32, 32), 135, np.uint8)
        data += y.tobytes() + u.tobytes() + v.tobytes()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(bytes(data))
    return path


def _eval_module() -> Any:
    return importlib.import_module("neuralcodec.utils.video.eval_model.__main__")


def _small_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "ssf-small.pth.tar"
    torch.save({"state_dict": ScaleSpaceFlow().state_dict()}, path)
    return path


@pytest.mark.parametrize("entropy_estimation", [False, True])
def test_video_eval_model_codes_a_tiny_clip_and_writes_compressais_layout(tmp_path, capsys, entropy_estimation):
    eval_model = _eval_module()
    dataset = tmp_path / "videos"
    _write_clip(dataset / "sub")
    checkpoint = _small_checkpoint(tmp_path)
    argv = ["checkpoint", str(dataset), str(tmp_path / "out"), "-a", "ssf2020", "-p", str(checkpoint),
            "-d", str(tmp_path / "agg"), "-o", "result", "--keep_binaries"]  # fmt: skip
    if entropy_estimation:
        argv.append("--entropy-estimation")
    eval_model.main(argv)
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tmp_path / "agg" / "result.json").read_text())
    assert printed == written
    description = "entropy-estimation" if entropy_estimation else "ans"
    assert written["name"] == "ssf2020-mse" and written["description"] == f"Inference ({description})"
    results = written["results"]
    assert results["q"] == [f"ssf-small-{description}"]
    for key in ("psnr-y", "psnr-u", "psnr-v", "psnr-yuv", "psnr-rgb", "ms-ssim-rgb", "mse-rgb", "bitrate"):
        assert len(results[key]) == 1 and np.isfinite(results[key][0]), key
    assert results["psnr-yuv"][0] == pytest.approx((4 * results["psnr-y"][0] + results["psnr-u"][0] + results["psnr-v"][0]) / 6)
    per_sequence = tmp_path / "out" / "sub" / f"clip_64x64_25fps_8bit_420-ssf-small-{description}.json"
    assert json.loads(per_sequence.read_text())["results"]["bitrate"] == pytest.approx(results["bitrate"][0])
    binary = per_sequence.with_suffix(".bin")
    if entropy_estimation:
        assert not binary.exists() and results["bitrate"][0] > 0
    else:  # kbit/s = bytes * 8 * 25 fps / (2 frames * 1000)
        assert results["bitrate"][0] == pytest.approx(binary.stat().st_size * 8 * 25 / 2000)
        with binary.open("rb") as f:
            assert eval_model.read_uints(f, 2) == (64, 64)
            assert eval_model.read_uchars(f, 1) == (8,)
            assert eval_model.read_uints(f, 1) == (2,)
            keyframe, shape = eval_model.read_body(f)
            assert shape == (1, 1) and len(keyframe) == 2
            for _ in ("motion", "residual"):
                eval_model.read_body(f)
            assert f.read() == b""


def test_video_eval_model_measures_a_perfect_reconstruction_as_lossless_colour_conversion():
    eval_model = _eval_module()
    rng = np.random.RandomState(1)
    frame = (
        rng.randint(16, 235, (32, 32)).astype(np.uint8),
        np.full((16, 16), 128, np.uint8),
        np.full((16, 16), 128, np.uint8),
    )
    rgb = eval_model.convert_yuv420_to_rgb(frame, "cpu", 255).clamp(0, 1)
    metrics = eval_model.compute_metrics_for_frame(frame, rgb, "cpu", 255)
    assert float(metrics["psnr-rgb"]) == float("inf") and float(metrics["mse-rgb"]) == 0
    assert float(metrics["psnr-y"]) > 45 and float(metrics["ms-ssim-rgb"]) == pytest.approx(1.0)


def test_video_eval_model_refuses_bad_command_lines(tmp_path):
    eval_model = _eval_module()
    for argv in (["--help"], [], ["pretrained"], ["pretrained", str(tmp_path), str(tmp_path), "-a", "ssf2020"]):
        with pytest.raises(SystemExit):
            eval_model.main(argv)


def _standin(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


#: A stand-in for ffmpeg: ``-version``; encoding copies the raw input into the "bitstream"
#: with the frame size prepended; decoding writes the frames back, each sample + 2 (a
#: known distortion).
FFMPEG = r"""
import sys
args = sys.argv[1:]
if args == ["-version"]:
    print("ffmpeg version 9.9-standin Copyright (c) the test")
    raise SystemExit(0)
src = args[args.index("-i") + 1]
dst = args[-1]
data = open(src, "rb").read()
if "-c:v" in args:
    open(dst, "wb").write(b"STANDIN" + data)
else:
    payload = data[len(b"STANDIN"):]
    open(dst, "wb").write(bytes(min(255, b + 2) for b in payload))
"""


@pytest.mark.parametrize("codec", ["x264", "x265"])
def test_video_bench_runs_a_codec_through_standin_executables(tmp_path, monkeypatch, capsys, codec):
    bench = importlib.import_module("neuralcodec.utils.video.bench.__main__")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _standin(bin_dir, "ffmpeg", FFMPEG)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    dataset = tmp_path / "videos"
    clip = _write_clip(dataset)
    bench.main([codec, str(dataset), str(tmp_path / "out"), "-q", "27,22"])
    output = json.loads(capsys.readouterr().out)
    assert output["name"] == f"{codec}-medium-tune-psnr-rgb"
    assert "ffmpeg version 9.9-standin" in output["description"]
    results = output["results"]
    assert results["qp"] == [22, 27]
    expected_kbps = (clip.stat().st_size + len(b"STANDIN")) * 8 * 25 / (2 * 1000)
    assert results["bitrate"] == pytest.approx([expected_kbps] * 2)
    # every sample off by 2 (a few clipped at 255): PSNR-Y close to 20 log10(255 / 2)
    assert results["psnr-y"][0] == pytest.approx(20 * np.log10(255 / 2), abs=0.2)
    assert results["psnr-u"][0] == pytest.approx(20 * np.log10(255 / 2), abs=1e-6)
    for key in ("psnr-v", "psnr-yuv", "psnr-rgb", "ms-ssim-rgb"):
        assert len(results[key]) == 2 and np.isfinite(results[key]).all(), key
    assert (tmp_path / "out" / f"{codec}-medium-tune-psnr-rgb.json").is_file()


def test_video_bench_refuses_a_missing_executable_and_bad_command_lines(tmp_path, monkeypatch):
    bench = importlib.import_module("neuralcodec.utils.video.bench.__main__")
    for argv in ([], ["x264"]):
        with pytest.raises(SystemExit):
            bench.main(argv)
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg anywhere
    dataset = tmp_path / "videos"
    _write_clip(dataset)
    with pytest.raises(SystemExit, match="ffmpeg"):
        bench.main(["x264", str(dataset), str(tmp_path / "out")])


def test_video_bench_vtm_builds_its_reference_software_command_lines(tmp_path):
    codecs = importlib.import_module("neuralcodec.utils.video.bench.codecs")
    build = tmp_path / "build"
    build.mkdir()
    _standin(build, "EncoderAppStatic", "print()\nprint('VVCSoftware: VTM Encoder Version 23.4 [Linux]')\nraise SystemExit(1)\n")
    _standin(build, "DecoderAppStatic", "")
    config = tmp_path / "encoder_randomaccess_vtm.cfg"
    config.write_text("")
    clip = _write_clip(tmp_path / "videos")
    vtm = codecs.VTM()
    parser = __import__("argparse").ArgumentParser()
    vtm.add_parser_args(parser)
    vtm.set_args(parser.parse_args(["-b", str(build), "-c", str(config)]))
    assert vtm.name_config() == "VTM-v23.4-randomaccess"
    command = [str(c) for c in vtm.get_encode_cmd(clip, 32, tmp_path / "out.bin")]
    assert command[0] == str(build / "EncoderAppStatic")
    for flag, value in (("-q", "32"), ("-wdt", "64"), ("-hgt", "64"), ("-fr", "25"), ("-f", "2")):
        assert command[command.index(flag) + 1] == value
    decode = [str(c) for c in vtm.get_decode_cmd(tmp_path / "out.bin", tmp_path / "dec.yuv", clip)]
    assert decode == [
        str(build / "DecoderAppStatic"),
        "-b",
        str(tmp_path / "out.bin"),
        "-o",
        str(tmp_path / "dec.yuv"),
        "-d",
        "8",
    ]


def test_video_plot_draws_bitrate_curves(tmp_path):
    plot = importlib.import_module("neuralcodec.utils.video.plot.__main__")
    for name, offset in (("a", 0.0), ("x264-medium", -1.0)):
        results = {"bitrate": [100.0, 200.0, 400.0], "psnr-rgb": [30 + offset, 33 + offset, 36 + offset],
                   "ms-ssim-rgb": [0.9, 0.95, 0.98]}  # fmt: skip
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, "results": results}))
    output = tmp_path / "rd.png"
    plot.main(["-f", str(tmp_path / "a.json"), str(tmp_path / "x264-medium.json"), "-o", str(output)])
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    parsed = plot.parse_json_file(tmp_path / "a.json", "ms-ssim-rgb")
    assert parsed["ys"] == pytest.approx(-10 * np.log10(1 - np.array([0.9, 0.95, 0.98])))
    with pytest.raises(ValueError, match="not available"):
        plot.parse_json_file(tmp_path / "a.json", "psnr-y")
    with pytest.raises(ValueError, match="--show"):
        plot.main(["-f", str(tmp_path / "a.json")])
