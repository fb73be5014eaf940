"""Library codecs, the benchmark runner, and the ``bench`` command."""

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runs import run_cli, run_in_process

from neuralcodec.bench.codecs import JPEG, BenchError
from neuralcodec.bench.runner import ALIASES, CODECS, make_codec, run_benchmark
from neuralcodec.eval.images import DatasetError, collect_images, read_rgb
from neuralcodec.eval.results import RESULT_KEYS, load_results

IMAGES = Path(__file__).parent / "fixtures" / "images"
LIBRARY_CODECS = ("jpeg420", "jpeg444", "webp", "jpeg2000", "avif", "jpegxl", "heif")


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 10 * np.log10(255**2 / mse) if mse else np.inf


def test_the_registry_is_built_from_the_codec_classes():
    assert tuple(CODECS) == (
        "jpeg420", "jpeg444", "webp", "jpeg2000", "avif", "jpegxl", "heif", "bpg", "bpg420", "vtm", "hm", "av1", "tfci",
    )
    for name, entry in CODECS.items():
        codec = make_codec(name)
        assert codec.name == name, "a codec reports the name it is run under"
        assert entry.summary == codec.summary and entry.takes_executables == codec.takes_executables
    assert ALIASES == {"jpeg": "jpeg420"}


def test_jpeg_is_jpeg_420():
    codec = make_codec("jpeg")
    assert isinstance(codec, JPEG) and codec.name == "jpeg420" and codec.subsampling == "4:2:0"


@pytest.mark.parametrize("name", LIBRARY_CODECS)
def test_every_library_codec_round_trips_and_its_sweep_rises_in_rate(name):
    codec = make_codec(name)
    reason = codec.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    rgb = read_rgb(IMAGES / "kodim05-64x48.png")
    low, high = codec.default_qualities[0], codec.default_qualities[-1]
    small, large = codec.encode(rgb, low), codec.encode(rgb, high)
    assert 0 < len(small) < len(large)
    for data in (small, large):
        decoded = codec.decode(data, *rgb.shape[:2])
        assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
    # (a 64x48 image: headers are a large share of the bits, so the bar is low)
    assert _psnr(rgb, codec.decode(large, *rgb.shape[:2])) > 25
    assert codec.description().startswith(codec.summary)


@pytest.mark.parametrize("name", ["jpeg420", "webp", "jpeg2000"])
def test_odd_sizes_and_grayscale_sources_round_trip(name):
    codec = make_codec(name)
    for image in ("kodim19-47x33.png", "kodim08-40x40-gray.png"):
        rgb = read_rgb(IMAGES / image)
        decoded = codec.decode(codec.encode(rgb, codec.default_qualities[-1]), *rgb.shape[:2])
        assert decoded.shape == rgb.shape


def test_jpeg_444_spends_more_bits_than_420_at_the_same_quality():
    rgb = read_rgb(IMAGES / "kodim05-64x48.png")
    assert len(JPEG("4:4:4").encode(rgb, 75)) > len(JPEG("4:2:0").encode(rgb, 75))


def test_jpeg2000_quality_is_a_compression_ratio():
    rgb = read_rgb(IMAGES / "kodim05-64x48.png")
    codec = make_codec("jpeg2000")
    bits = 8 * len(codec.encode(rgb, 8)) / (64 * 48)
    assert 2.0 < bits < 3.5  # 24 / 8 = 3 bpp target, plus headers


@pytest.mark.parametrize(
    "name, quality, message",
    [
        ("jpeg420", 0, "outside 1..100"),
        ("jpeg420", 50.5, "integer"),
        ("webp", 101, "outside"),
        ("jpeg2000", 0.5, "outside"),
    ],
)
def test_bad_qualities_raise_a_codec_error(name, quality, message):
    with pytest.raises(BenchError, match=message):
        make_codec(name).encode(np.zeros((16, 16, 3), np.uint8), quality)


def test_corrupt_data_raises_a_codec_error():
    with pytest.raises(BenchError, match="cannot decode"):
        make_codec("webp").decode(b"RIFF garbage", 16, 16)


def test_make_codec_refuses_unknown_names_and_executable_options_for_libraries():
    with pytest.raises(ValueError, match="unknown codec"):
        make_codec("gif")
    with pytest.raises(ValueError, match="runs in-process"):
        make_codec("webp", encoder="/usr/bin/cwebp")


# ------------------------------------------------------------------------------ runner
@pytest.fixture(scope="module")
def webp_results():
    images = collect_images(IMAGES)
    return images, run_benchmark(make_codec("webp"), images, [20, 80], workers=1, show_progress=False, dataset=IMAGES)


def test_results_have_compressai_layout_and_per_image_detail(webp_results):
    images, results = webp_results
    assert results["name"] == "webp" and "libwebp" in results["description"]
    assert set(RESULT_KEYS) <= set(results["results"])
    assert all(len(v) == 2 for v in results["results"].values())
    assert results["qualities"] == [20, 80]
    detail = results["per_image"]
    assert detail["images"] == [p.name for p in images]
    for key in RESULT_KEYS:
        assert len(detail[key]) == 2 and all(len(row) == len(images) for row in detail[key])
        assert results["results"][key] == pytest.approx([np.mean(row) for row in detail[key]])
    assert results["results"]["bpp"][0] < results["results"]["bpp"][1]
    assert results["results"]["psnr-rgb"][0] < results["results"]["psnr-rgb"][1]
    assert 0 < results["results"]["ms-ssim-rgb"][0] < results["results"]["ms-ssim-rgb"][1] <= 1
    assert results["dataset"]["images"] == len(images)
    assert "Pillow" in results["environment"]


def test_per_image_bpp_is_the_file_size(webp_results):
    images, results = webp_results
    codec = make_codec("webp")
    rgb = read_rgb(images[0])
    expected = 8 * len(codec.encode(rgb, 20)) / (rgb.shape[0] * rgb.shape[1])
    assert results["per_image"]["bpp"][0][0] == expected


def test_parallel_workers_give_the_same_results_in_the_same_order(webp_results):
    images, serial = webp_results
    parallel = run_benchmark(make_codec("webp"), images, [20, 80], workers=2, show_progress=False, dataset=IMAGES)
    for key in ("bpp", "psnr-rgb", "ms-ssim-rgb"):
        assert parallel["per_image"][key] == serial["per_image"][key]
    assert parallel["per_image"]["images"] == serial["per_image"]["images"]


def test_one_worker_codes_in_this_process_on_one_torch_thread(monkeypatch):
    import torch

    from neuralcodec.bench import runner

    threads = []

    def measure(task):
        threads.append(torch.get_num_threads())
        return {"bpp": 1.0, "psnr-rgb": 30.0, "ms-ssim-rgb": 0.9, "encoding_time": 0.0, "decoding_time": 0.0}

    monkeypatch.setattr(runner, "measure", measure)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_benchmark(make_codec("webp"), collect_images(IMAGES), [20, 80], workers=1, show_progress=False)
        assert threads == [1] * 6  # 3 images x 2 qualities, as --workers 1 promises: one core
        assert torch.get_num_threads() == 2  # and the caller's setting is back
    finally:
        torch.set_num_threads(previous)


def test_an_unavailable_codec_is_refused_before_running(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BenchError, match="no encoder found"):
        run_benchmark(make_codec("bpg"), collect_images(IMAGES), [30], workers=1, show_progress=False)


def test_datasets_are_collected_in_name_order_and_bad_ones_are_refused(tmp_path):
    names = [p.name for p in collect_images(IMAGES)]
    assert names == sorted(names) and len(names) == 3
    assert collect_images(IMAGES / names[0]) == [IMAGES / names[0]]
    with pytest.raises(DatasetError, match="does not exist"):
        collect_images(tmp_path / "missing")
    with pytest.raises(DatasetError, match="holds no image files"):
        collect_images(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="not an image file"):
        collect_images(tmp_path / "notes.txt")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot read"):
        read_rgb(tmp_path / "broken.png")


# ------------------------------------------------------------------------- command line
def test_bench_command_writes_a_results_file(tmp_path, capsys):
    output = tmp_path / "jpeg.json"
    result = run_cli("bench", "jpeg420", IMAGES, "--quality", "30", "70", "-o", output, "--workers", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "PSNR-RGB" in result.stdout
    data = load_results(output)
    assert data["name"] == "jpeg420" and data["qualities"] == [30, 70]
    assert json.loads(output.read_text())["results"]["bpp"] == data["results"]["bpp"]
    # The refusal and --force in-process: the subprocess above is the end-to-end run.
    code, _, err = run_in_process(capsys, "bench", "jpeg420", IMAGES, "--quality", "50", "-o", output, "--workers", "1", "--no-progress")
    assert code == 2 and "--force" in err  # refused before any coding
    assert load_results(output)["qualities"] == [30, 70]
    code, _, err = run_in_process(capsys, "bench", "jpeg", IMAGES, "-q", "50", "-o", output, "--workers", "1", "--quiet", "--force")
    assert code == 0, err
    assert load_results(output)["qualities"] == [50] and load_results(output)["name"] == "jpeg420"


def test_bench_command_without_output_prints_json(capsys):
    code, out, err = run_in_process(capsys, "bench", "jpeg2000", IMAGES / "kodim05-64x48.png", "-q", "20", "--workers", "1", "--no-progress")
    assert code == 0, err
    assert json.loads(out)["qualities"] == [20]


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "gif", IMAGES], "unknown codec 'gif'"),
        (["bench", "webp", "/nonexistent/folder", "-q", "50"], "does not exist"),
        (["bench", "webp", IMAGES, "-q", "500"], "outside 0..100"),
        (["bench", "webp", IMAGES, "-q", "high"], "quality must be a number"),
        (["bench", "webp", IMAGES, "-q", "50", "--encoder", "cwebp"], "runs in-process"),
        (["bench", "vtm", IMAGES, "-q", "30"], "vtm: no encoder found"),
        (["bench", "webp"], "give CODEC and DATASET"),
    ],
)
def test_bench_command_bad_input_exits_2_with_a_clear_message(args, message, capsys):
    # In-process: an exception escaping the command would fail the test, as a traceback would.
    code, _, err = run_in_process(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_bench_list_shows_every_codec(capsys):
    code, out, _ = run_in_process(capsys, "bench", "--list")
    assert code == 0
    for name in CODECS:
        assert name in out
    assert "(also: jpeg)" in out
