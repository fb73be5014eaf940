"""neuralcodec.settings: the one owner of rate points, image suffixes and thread counts,
and the helpers that used to have several copies."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from neuralcodec import settings


def test_quality_ranges_are_checked_in_one_place_and_the_help_is_generated_from_them():
    assert settings.check_rate_point(3, "mbt2018-mean") == 3
    assert settings.check_rate_point(8, "mbt2018") == 8
    for quality, architecture, message in [
        (9, "mbt2018-mean", "mbt2018-mean has qualities 1..8, got 9"),
        (7, "cheng2020-anchor", "cheng2020-anchor has qualities 1..6, got 7"),
        (True, "mbt2018", "got True"),
        (1, "nope", "unknown architecture"),
        (2.5, "mbt2018", r"qualities 1..8 \(discrete rate points: a fractional quality needs a variable-rate model"),
    ]:
        with pytest.raises(ValueError, match=message):
            settings.check_rate_point(quality, architecture)
    assert settings.check_rate_point(3.0, "mbt2018") == 3 and type(settings.check_rate_point(3.0, "mbt2018")) is int
    assert list(settings.qualities_of()) == [1, 2, 3, 4]  # the shipped model's integer qualities
    assert settings.quality_help() == (
        "quality: any number within 1..4 for the shipped model (default 3); "
        "rate point: 1..8 (1..6 for cheng2020-anchor, cheng2020-attn, cheng2020-anchor-checkerboard) for CompressAI's; "
        "any number within the range of a variable-rate model (bmshj2018-hyperprior-vbr, mbt2018-mean-vbr, "
        "mbt2018-vbr, elic-lite-vbr, mbt2018-mean-gained, mbt2018-mean-ladder), e.g. 2.5"
    )


def test_a_quality_argument_reads_as_an_integer_or_a_continuous_quality():
    assert settings.parse_quality("3") == 3 and type(settings.parse_quality("3")) is int
    assert settings.parse_quality("2.5") == 2.5
    for text in ("nan", "inf", "three"):
        with pytest.raises(ValueError):
            settings.parse_quality(text)
    from neuralcodec.zoo import VBR_ARCHITECTURES

    assert VBR_ARCHITECTURES is settings.VARIABLE_RATE_ARCHITECTURES  # one owner


def test_the_zoo_and_the_shipped_defaults_use_the_same_rate_points():
    from neuralcodec.zoo import CONFIGS, defaults, load_model

    assert {name: sorted(qualities) for name, qualities in CONFIGS.items()} == {
        name: list(qualities) for name, qualities in settings.COMPRESSAI_QUALITIES.items()
    }
    assert defaults.DEFAULT_LAMBDAS is settings.DEFAULT_LAMBDAS
    # The shipped model's range is its integer qualities' span, the one the model checks.
    assert defaults.default_model().qualities() == settings.shipped_quality_range() == (1.0, 4.0)
    assert settings.check_shipped_quality(2.5) == 2.5 and settings.check_shipped_quality(4) == 4.0
    for bad in (0.5, 4.5, float("nan"), "x", True):
        with pytest.raises(ValueError, match="shipped model takes any quality within 1..4"):
            settings.check_shipped_quality(bad)
    with pytest.raises(ValueError, match="never shipped mbt2018-mean at quality 9"):
        defaults.previous_default_model("mbt2018-mean", 9)
    with pytest.raises(ValueError, match="cheng2020-attn has qualities 1..6"):
        load_model("cheng2020-attn", 7)


def test_every_image_reader_takes_the_same_suffixes():
    from neuralcodec.codec.images import IMAGE_SUFFIXES
    from neuralcodec.eval.images import IMAGE_EXTENSIONS

    assert IMAGE_SUFFIXES is IMAGE_EXTENSIONS is settings.IMAGE_SUFFIXES
    assert ".ppm" in settings.IMAGE_SUFFIXES


def test_a_bad_thread_count_in_the_environment_is_a_clear_error_when_used_not_at_import():
    code = (
        "import neuralcodec.models, neuralcodec.engine as e\n"
        "try:\n    e.get_num_threads()\nexcept ValueError as error:\n    print(error)\n"
    )
    env = dict(os.environ, NEURALCODEC_ENGINE_THREADS="many")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "NEURALCODEC_ENGINE_THREADS must be a positive integer, got 'many'" in result.stdout


def test_the_thread_count_is_read_when_used_and_respects_the_cpu_affinity(monkeypatch):
    from neuralcodec import engine

    engine.set_num_threads(None)  # whatever an earlier test set
    monkeypatch.setenv("NEURALCODEC_ENGINE_THREADS", "3")
    assert engine.get_num_threads() == 3
    monkeypatch.setenv("NEURALCODEC_ENGINE_THREADS", "0")
    with pytest.raises(ValueError, match="positive integer, got 0"):
        engine.get_num_threads()
    monkeypatch.delenv("NEURALCODEC_ENGINE_THREADS")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5}, raising=False)
    assert settings.available_cpus() == 2 == engine.get_num_threads()
    engine.set_num_threads(5)
    try:
        assert engine.get_num_threads() == 5
    finally:
        engine.set_num_threads(None)
    assert engine.get_num_threads() == 2


def test_psnr_of_8_bit_images_has_one_definition():
    from neuralcodec.codec.api import psnr
    from neuralcodec.eval.measure import distortion
    from neuralcodec.eval.results import PSNR_CAP
    from neuralcodec.metrics import psnr_8bit

    a = (np.arange(16 * 16 * 3) % 251).astype(np.uint8).reshape(16, 16, 3)
    b = a.copy()
    b[0, 0, 0] += 4
    expected = 10 * np.log10(255.0**2 / (16 / a.size))
    assert psnr is psnr_8bit
    assert psnr_8bit(a, b) == pytest.approx(expected)
    assert psnr_8bit(a, a) == float("inf") and psnr_8bit(a, a, cap=PSNR_CAP) == PSNR_CAP
    assert distortion(a, b)["psnr-rgb"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="uint8"):
        psnr_8bit(a.astype(np.float32), b)


def test_tensor_versions_change_with_in_place_edits_and_replacements():
    from neuralcodec.ops import tensor_versions

    layer = torch.nn.Conv2d(2, 2, 1)
    before = tensor_versions(layer.parameters())
    assert tensor_versions(layer.parameters()) == before
    assert tensor_versions(layer.state_dict().values()) == before, "detached views keep the key"
    with torch.no_grad():
        layer.weight.add_(1)
    changed = tensor_versions(layer.parameters())
    assert changed != before
    layer.bias = torch.nn.Parameter(torch.zeros(3))
    assert tensor_versions(layer.parameters()) != changed


def test_models_import_the_key_conversion_without_the_zoo():
    from neuralcodec.state_dicts import convert_compressai_keys
    from neuralcodec.zoo import convert_compressai_keys as from_zoo

    assert from_zoo is convert_compressai_keys
    converted = convert_compressai_keys({"module.entropy_bottleneck._biases.0": torch.zeros(1)})
    assert list(converted) == ["entropy_bottleneck.biases.0"]
