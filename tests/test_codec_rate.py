"""Variable rate in the codec: a continuous quality recorded in the file, and rate control.

* the ``QUAL`` extension: exact fixed point, refused when malformed or out of the model's range;
* ``Codec``/``encode_image`` at a continuous quality: the file alone tells the decoder the rate;
  models with discrete rate points refuse a fractional quality and a target;
* the search (:func:`neuralcodec.codec.rate.search_quality`) on synthetic size curves and on a
  small random variable-rate model: the file is never over the target, within 5% of it when
  the range allows, in a few encodes; out-of-range targets say the reachable range;
* sizes grow with the quality on average over a set of images (one image need not be monotone).

The models are tiny and untrained (``MeanScaleHyperpriorVbr(8, 12)`` with a widened analysis
output, and a small ``ElicLiteVbr``), so everything runs in seconds on a CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import struct
import zlib
from typing import List

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from codec_models import image, small_model
from neuralcodec.codec import Codec, FormatError, decode_image, encode_image, read_header
from neuralcodec.codec.container import (
    EXTENSION_QUALITY,
    QUALITY_SCALE,
    decode_quality,
    encode_quality,
    pack,
    quantize_quality,
    unpack,
)
from neuralcodec.codec.errors import TargetOutOfRangeError
from neuralcodec.codec.rate import DEFAULT_TOLERANCE, parse_size, search_quality, target_bytes
from neuralcodec.entropy_models import bound_tables
from neuralcodec.models.elic_lite import ElicLiteVbr
from neuralcodec.models.vbr import (
    JointAutoregressiveHierarchicalPriorsVbr,
    MeanScaleHyperpriorVbr,
    ScaleHyperpriorVbr,
    is_variable_rate,
)

#: Fewer examples than the profile's for the tests that encode with a model.
MODEL_EXAMPLES = max(8, settings.default.max_examples // 4)


def _vbr(vr_entbttlnck: bool = False, seed: int = 0) -> MeanScaleHyperpriorVbr:
    torch.manual_seed(seed)
    model = MeanScaleHyperpriorVbr(8, 12, vr_entbttlnck=vr_entbttlnck).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(20)  # latents spanning several steps at every gain
    model.update(force=True)
    return model


@functools.cache
def vbr_codec() -> Codec:
    """A small variable-rate codec (engine path), shared: do not modify it."""
    return Codec(_vbr(), architecture="mbt2018-mean-vbr")


def _elic() -> ElicLiteVbr:
    torch.manual_seed(0)
    model = ElicLiteVbr(N=16, M=24, groups=[4, 4, 8, 8], levels=3, context_channels=8, aggregation_channels=(16, 12))
    with torch.no_grad():
        model.y_gain.copy_(torch.tensor([[0.5], [1.0], [4.0]]).repeat(1, model.M))
        model.g_a[-1].weight.mul_(30)
    return model.eval()


# ------------------------------------------------------------------ the QUAL extension
def test_a_stored_quality_is_exact_fixed_point():
    assert encode_quality(2.5) == struct.pack("<I", 5 * QUALITY_SCALE // 2)
    assert decode_quality(encode_quality(2.5)) == 2.5
    q = quantize_quality(math.pi)
    assert q * QUALITY_SCALE == round(math.pi * QUALITY_SCALE)
    assert float(np.float32(q)) == q  # the same number in float32, where the gains are computed
    assert decode_quality(encode_quality(q)) == q
    for bad in (0, -1.0, float("nan"), 1e9):
        with pytest.raises(ValueError):
            encode_quality(bad)
    for data in (b"\x00\x00\x00\x00", b"\x01\x00\x00"):
        with pytest.raises(FormatError, match="QUAL"):
            decode_quality(data)


def _replace_extension(data: bytes, tag: str, payload: bytes) -> bytes:
    """``data`` with ``tag``'s bytes replaced by ``payload`` (lengths and header CRC fixed up),
    as a writer that got it wrong would write it."""
    header, strings = unpack(data)
    body_start = 14
    (header_length,) = struct.unpack_from("<I", data, 10)
    body = data[body_start : body_start + header_length]
    old = tag.encode() + struct.pack("<I", len(header.extension(tag))) + header.extension(tag)
    new = tag.encode() + struct.pack("<I", len(payload)) + payload
    assert body.count(old) == 1
    body = body.replace(old, new)
    head = data[:8] + struct.pack("<HI", header.version, len(body)) + body
    payload_bytes = b"".join(strings)
    return head + struct.pack("<I", zlib.crc32(head)) + payload_bytes + struct.pack("<I", zlib.crc32(payload_bytes))


def test_a_corrupted_or_out_of_range_quality_is_refused_with_a_clear_error():
    codec = vbr_codec()
    data = codec.encode(image(40, 56), quality=2.5)
    assert read_header(data).coded_quality == 2.5
    with pytest.raises(FormatError, match="QUAL extension records quality 0"):
        read_header(_replace_extension(data, EXTENSION_QUALITY, b"\x00" * 4))
    with pytest.raises(FormatError, match="QUAL extension holds 2 bytes"):
        read_header(_replace_extension(data, EXTENSION_QUALITY, b"\x01\x00"))
    outside = _replace_extension(data, EXTENSION_QUALITY, encode_quality(9.5))
    with pytest.raises(FormatError, match=r"quality 9.5, outside mbt2018-mean-vbr's range 1..8"):
        decode_image(outside, codec)
    # A file of a discrete model that claims a quality is malformed too.
    plain = Codec(small_model("mbt2018-mean"), architecture="mbt2018-mean")
    header, strings = unpack(plain.encode(image(40, 56)))
    claimed = dataclasses.replace(header, extensions=((EXTENSION_QUALITY, encode_quality(2.0)),), version=2)
    with pytest.raises(FormatError, match="discrete rate points"):
        decode_image(pack(claimed, strings), plain)


def test_files_of_discrete_models_are_unchanged_and_a_vbr_file_without_a_quality_still_decodes():
    plain = Codec(small_model("mbt2018-mean"), architecture="mbt2018-mean", quality=3)
    header = read_header(plain.encode(image(40, 56)))
    assert header.version == 1 and header.extensions == () and header.coded_quality is None
    # A variable-rate file written before the QUAL extension (the model's defaults): still decodes.
    codec = vbr_codec()
    x = image(40, 56)
    with torch.no_grad():
        out = codec.model.compress(x)
        expected = codec.model.decompress(out["strings"], out["shape"], x_size=(40, 56))["x_hat"]
    data = codec.encode(x, quality=2.0)  # default s=1 codes at level 2, i.e. quality 2
    header, strings = unpack(data)
    old = dataclasses.replace(header, extensions=(), version=1)
    decoded = decode_image(pack(old, strings), codec, output="tensor")
    torch.testing.assert_close(decoded, expected)


# ------------------------------------------------------------------ a continuous quality
@pytest.mark.parametrize("quality", [1, 2.5, 4.75, 8])
def test_the_file_records_the_continuous_quality_and_the_decoder_needs_nothing_else(quality):
    codec = vbr_codec()
    x = image(48, 72)
    data = codec.encode(x, quality=quality)
    assert read_header(data).coded_quality == quality
    assert read_header(data).model.quality == 0  # the weights are the same at every rate
    # A fresh codec of the same weights at another default quality decodes it exactly.
    other = Codec(codec.model, architecture="mbt2018-mean-vbr", quality=7)
    decoded = decode_image(data, other, output="tensor")
    rate = codec.model.prepare_quality(quality)
    with torch.no_grad():
        out = codec.model.compress(x, **rate)
        expected = codec.model.decompress(out["strings"], out["shape"], x_size=(48, 72), **rate)["x_hat"]
    torch.testing.assert_close(decoded, expected)


def test_codec_quality_and_encode_image_quality_agree():
    model = vbr_codec().model
    x = image(40, 40)
    a = Codec(model, architecture="mbt2018-mean-vbr", quality=2.5).encode(x)
    b = encode_image(x, model, quality=2.5, architecture="mbt2018-mean-vbr")
    c = vbr_codec().encode(x, quality=2.5)
    assert a == b == c
    assert repr(Codec(model, architecture="mbt2018-mean-vbr", quality=2.5)).endswith("at quality 2.5)")


def test_a_quality_outside_the_range_is_refused_by_the_model_that_owns_it():
    with pytest.raises(ValueError, match=r"within 1..8 .*got 8.5"):
        Codec(vbr_codec().model, architecture="mbt2018-mean-vbr", quality=8.5)
    with pytest.raises(ValueError, match="within 1..8"):
        vbr_codec().encode(image(16, 16), quality=0.5)
    with pytest.raises(ValueError, match="within 1..3"):
        Codec(_elic(), architecture="elic-lite-vbr", quality=3.5)


def test_models_with_discrete_rate_points_refuse_a_fractional_quality_and_a_target():
    model = small_model("mbt2018-mean")
    with pytest.raises(ValueError, match="discrete rate points .*fractional quality"):
        Codec(model, architecture="mbt2018-mean", quality=2.5)
    codec = Codec(model, architecture="mbt2018-mean", quality=2.0)  # an integer value is that rate point
    assert codec.identity.quality == 2 and codec.quality is None and codec.quality_range is None
    with pytest.raises(ValueError, match="discrete rate points"):
        codec.encode(image(16, 16), quality=3)
    with pytest.raises(ValueError, match="a target size needs a variable-rate model"):
        codec.encode(image(16, 16), bpp=0.5)
    from neuralcodec.codec import ModelNotFoundError

    assert Codec.default(2.5).quality == 2.5  # the shipped model codes at any quality in its range
    with pytest.raises(ModelNotFoundError, match=r"shipped model takes any quality within 1..4"):
        Codec.default(4.5)
    with pytest.raises(ValueError, match=r"cheng2020-anchor has qualities 1..6 \(discrete"):
        Codec.zoo("cheng2020-anchor", 1.5)


def test_the_compat_path_with_a_variable_step_for_z_builds_its_tables_per_gain():
    model = _vbr(vr_entbttlnck=True)
    codec = Codec(model, architecture="mbt2018-mean-vbr")
    x = image(48, 48)
    for path in ("compat", "engine"):
        for quality in (1.5, 6.25, 1.5):
            data = codec.encode(x, quality=quality, coding_path=path)
            decoded = decode_image(data, Codec(model, architecture="mbt2018-mean-vbr"), output="tensor")
            assert decoded.shape == (1, 3, 48, 48)


def test_the_autoregressive_variable_rate_model_codes_at_a_continuous_quality():
    torch.manual_seed(0)
    model = JointAutoregressiveHierarchicalPriorsVbr(8, 12).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(20)
    model.update(force=True)
    codec = Codec(model, architecture="mbt2018-vbr", quality=3.25)
    x = image(40, 40)
    rate = model.prepare_quality(3.25)
    for path in ("engine", "compat"):
        data = codec.encode(x, coding_path=path)
        assert read_header(data).coded_quality == 3.25 and read_header(data).coding_path == path
        decoded = decode_image(data, Codec(model, architecture="mbt2018-vbr"), output="tensor")
        with torch.no_grad(), bound_tables():  # the compat path on the engine's portable tables, as the codec does
            out = model.compress(x, coding_path=path, **rate)
            expected = model.decompress(out["strings"], out["shape"], x_size=(40, 40), coding_path=path, **rate)
        torch.testing.assert_close(decoded, expected["x_hat"])
    assert model.coding_path == "engine"  # the codec passes the path, it does not set it


def test_elic_lite_codes_through_the_container_at_a_continuous_quality():
    model = _elic()
    model.update(force=True)
    assert is_variable_rate(model) and model.qualities() == (1.0, 3.0)
    codec = Codec(model, architecture="elic-lite-vbr", quality=2.25)
    x = image(70, 45)
    data = codec.encode(x)
    header = read_header(data)
    assert header.coded_quality == 2.25 and len(header.string_lengths) == 2  # engine path: [y, z]
    decoded = decode_image(data, model, output="tensor")  # a model outside the zoo takes the file's name
    with torch.no_grad():
        out = model.compress(x, quality=2.25)
        expected = model.decompress(out["strings"], out["shape"], x_size=(70, 45), quality=2.25)["x_hat"]
    assert torch.equal(decoded, expected)  # the engine: the same bits
    search = codec.encode_target(x, size=len(codec.encode(x, quality=2.6)))
    assert len(search.data) <= search.target and read_header(search.data).coded_quality == search.quality


# ------------------------------------------------------------------ sizes and targets
@pytest.mark.parametrize(
    "text, expected",
    [("30000", 30000), ("30000B", 30000), ("30KB", 30000), ("30kb", 30000), ("29.3KiB", 30003),
     ("1.5MB", 1_500_000), ("2MiB", 2 * 2**20), ("1 GB", 10**9), ("1GiB", 2**30), (".5KB", 500), (512, 512)],
)
def test_sizes_read_decimal_and_binary_units(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "KB", "30 kilobytes", "-5KB", "0", "0.5", "1e3", True])
def test_a_size_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_a_bpp_target_counts_the_whole_file():
    assert target_bytes(512 * 768, bpp=0.5) == 24576
    assert target_bytes(100, size="1KB") == 1000
    for kwargs in ({}, {"bpp": 1.0, "size": 10}, {"bpp": -1.0}, {"bpp": 0.01}):
        with pytest.raises(ValueError):
            target_bytes(100, **kwargs)


# ------------------------------------------------------------------ the search, on synthetic curves
def _curve(base: float, slope: float, wiggle: float = 0.0, seed: int = 0):
    """``encode(q)``: ``base * exp(slope * (q - 1))`` bytes, times a deterministic wiggle
    (non-monotone when ``wiggle`` is large)."""
    calls: List[float] = []

    def encode(q: float) -> bytes:
        calls.append(q)
        factor = 1 + wiggle * math.sin(37.0 * q + seed)
        return b"x" * max(1, int(base * math.exp(slope * (q - 1)) * factor))

    return encode, calls


@given(
    base=st.floats(100, 20_000),
    slope=st.floats(0.1, 1.2),
    fraction=st.floats(0, 1),
    wiggle=st.sampled_from([0.0, 0.0, 0.02, 0.1]),
    start=st.one_of(st.none(), st.floats(1, 8)),
)
def test_the_search_never_exceeds_the_target_and_lands_within_5_percent_when_smooth(base, slope, fraction, wiggle, start):
    encode, calls = _curve(base, slope, wiggle)
    smallest, largest = len(encode(1.0)), len(encode(8.0))
    calls.clear()
    target = int(smallest + fraction * (largest - smallest))
    try:
        found = search_quality(encode, 1.0, 8.0, target, start=start)
    except TargetOutOfRangeError as error:
        assert error.reachable[0] > target or error.reachable[1] < target * (1 - DEFAULT_TOLERANCE)
        return
    assert len(found.data) <= target
    assert found.encodes == len(calls) and found.quality * QUALITY_SCALE == int(found.quality * QUALITY_SCALE)
    if wiggle == 0.0 and base >= 1000:  # smooth, fine-grained sizes: within the window, quickly
        assert len(found.data) >= target * (1 - DEFAULT_TOLERANCE)
        assert found.encodes <= 6


def test_the_search_takes_few_encodes_on_average():
    counts = []
    for slope in (0.25, 0.4, 0.6):
        for fraction in np.linspace(0.05, 0.95, 7):
            encode, _ = _curve(5000, slope)
            target = int(5000 + fraction * (5000 * math.exp(slope * 7) - 5000))
            counts.append(search_quality(encode, 1.0, 8.0, target).encodes)
    assert np.mean(counts) <= 4, counts


def test_a_target_out_of_range_says_the_reachable_range():
    encode, _ = _curve(1000, 0.5)
    with pytest.raises(TargetOutOfRangeError, match=r"below the smallest file .* reaches 1,000 bytes at quality 1 to") as below:
        search_quality(encode, 1.0, 8.0, 900)
    assert below.value.reachable == (1000, len(encode(8.0)))
    with pytest.raises(TargetOutOfRangeError, match=r"1,000,000 bytes \(0.5 bpp\) is above the largest file"):
        search_quality(encode, 1.0, 8.0, 10**6, pixels=16 * 10**6)


# ------------------------------------------------------------------ the search, on a model
@functools.cache
def _range_of(height: int, width: int, seed: int):
    codec = vbr_codec()
    x = image(height, width, seed=seed)
    return len(codec.encode(x, quality=1)), len(codec.encode(x, quality=8))


@settings(max_examples=MODEL_EXAMPLES)
@given(height=st.integers(8, 96), width=st.integers(8, 96), seed=st.integers(0, 3), fraction=st.floats(-0.2, 1.2))
def test_a_target_size_is_never_exceeded_on_random_images(height, width, seed, fraction):
    codec = vbr_codec()
    smallest, largest = _range_of(height, width, seed)
    target = max(1, int(smallest + fraction * (largest - smallest)))
    x = image(height, width, seed=seed)
    try:
        search = codec.encode_target(x, size=target)
    except TargetOutOfRangeError as error:
        assert error.reachable == (smallest, largest)
        assert target < smallest or target * (1 - DEFAULT_TOLERANCE) > largest
        return
    assert len(search.data) <= target
    header = read_header(search.data)
    assert header.coded_quality == search.quality
    assert decode_image(search.data, codec, output="tensor").shape == (1, 3, height, width)


def test_a_bpp_target_lands_within_5_percent_in_a_few_encodes_and_runs_the_analysis_once():
    codec = vbr_codec()
    analyses = []
    hook = codec.model.g_a[0].register_forward_hook(lambda *args: analyses.append(1))
    try:
        counts = []
        for seed in range(4):
            x = image(96, 128, seed=seed)
            search = codec.encode_target(x, bpp=0.45)
            assert search.target == int(0.45 * 96 * 128 / 8)
            assert search.target * (1 - DEFAULT_TOLERANCE) <= len(search.data) <= search.target
            counts.append(search.encodes)
    finally:
        hook.remove()
    assert len(analyses) == 4  # once per image, however many encodes
    assert np.mean(counts) <= 4, counts
    # Reusing the analysis gives the same bytes as encoding afresh.
    assert codec.encode(x, quality=search.quality) == search.data


def test_encode_image_takes_bpp_and_size_and_refuses_them_with_a_quality():
    model = vbr_codec().model
    x = image(64, 64)
    data = encode_image(x, model, architecture="mbt2018-mean-vbr", size="0.4KB")
    assert 380 <= len(data) <= 400
    assert len(encode_image(x, model, architecture="mbt2018-mean-vbr", bpp=0.6)) <= 0.6 * 64 * 64 / 8
    with pytest.raises(ValueError, match="not both"):
        encode_image(x, model, architecture="mbt2018-mean-vbr", quality=2, bpp=1.0)


# ------------------------------------------------------------------ sizes grow with the quality
@settings(max_examples=MODEL_EXAMPLES)
@given(
    sizes=st.lists(st.tuples(st.integers(16, 80), st.integers(16, 80)), min_size=4, max_size=4),
    low=st.floats(1, 7),
    gap=st.floats(1, 7),
)
def test_sizes_grow_with_the_quality_on_average_over_a_set_of_images(sizes, low, gap):
    """Summed over a set of images, a quality at least one level higher never gives fewer
    bytes. (One image alone need not be monotone: ``docs/format.md``.)"""
    codec = vbr_codec()
    high = min(8.0, low + gap)
    images = [image(h, w, seed=i) for i, (h, w) in enumerate(sizes)]
    total_low = sum(len(codec.encode(x, quality=low)) for x in images)
    total_high = sum(len(codec.encode(x, quality=high)) for x in images)
    assert total_low <= total_high


def test_the_gain_of_the_quality_is_shared_with_the_model():
    model = vbr_codec().model
    assert isinstance(model, ScaleHyperpriorVbr)
    assert model.prepare_quality(2.5)["inputscale"] == model.gain_for_quality(2.5)
    assert model.qualities() == (1.0, 8.0)
