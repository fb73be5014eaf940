"""encode_image / decode_image: round trips through files, input conversions, model identity."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from codec_models import ARCHITECTURES, AUTOREGRESSIVE, fresh_model, pixels, small_model, small_shipped_architecture
from neuralcodec.codec import (
    Codec,
    FormatError,
    ImageConversionWarning,
    ImageError,
    ModelMismatchError,
    ModelNotFoundError,
    Origin,
    decode_file,
    decode_image,
    encode_file,
    encode_image,
    identity_of,
    read_header,
    weights_sha256,
)
from neuralcodec.models import MeanScaleHyperprior


def model_reference(model, image: np.ndarray) -> torch.Tensor:
    """What the model itself decodes for these pixels (the file must give exactly this)."""
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        out = model.compress(x)
        return model.decompress(out["strings"], out["shape"], out["x_size"])["x_hat"]


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_each_architecture_round_trips_through_a_file_as_the_model_decodes(tmp_path, name):
    model = small_model(name)
    image = pixels(37, 53)
    Image.fromarray(image).save(tmp_path / "in.png")
    data = encode_file(tmp_path / "in.png", tmp_path / "out.nci", model)
    assert (tmp_path / "out.nci").read_bytes() == data
    header = read_header(data)
    assert header.model.architecture == name and header.model.origin == Origin.CHECKPOINT
    assert (header.height, header.width, header.channels) == (37, 53, 3)
    x_hat = decode_image(data, model, output="tensor")
    assert torch.equal(x_hat, model_reference(model, image))
    decoded = decode_file(tmp_path / "out.nci", tmp_path / "back.png", model)
    assert decoded.size == (53, 37) and decoded.mode == "RGB"
    with Image.open(tmp_path / "back.png") as back:
        assert np.array_equal(np.asarray(back), np.asarray(decoded))


SIZES = [
    (name, size)
    for name in ("bmshj2018-factorized", "mbt2018-mean", "mbt2018")
    for size in [(1, 1), (1, 500), (500, 1), (67, 93), (64, 128)]
    if name not in AUTOREGRESSIVE or size in [(1, 1), (1, 500)]
]


@pytest.mark.parametrize("name, size", SIZES)
def test_any_size_round_trips_including_single_pixels_and_thin_strips(name, size):
    model = small_model(name)
    image = pixels(*size, seed=sum(size))
    data = encode_image(image, model)
    reference = model_reference(model, image)
    assert torch.equal(decode_image(data, model, output="tensor"), reference)
    if name not in AUTOREGRESSIVE:  # (slow to decode twice)
        decoded = decode_image(data, model, output="numpy")
        assert decoded.shape == (*size, 3) and decoded.dtype == np.uint8
        expected = reference[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.array_equal(decoded, expected)


def test_grayscale_is_coded_as_rgb_and_decoded_back_to_grayscale(tmp_path):
    model = small_model()
    gray = pixels(21, 34, channels=1)
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    with pytest.warns(ImageConversionWarning, match="grayscale"):
        data = encode_image(tmp_path / "gray.png", model)
    assert read_header(data).channels == 1
    decoded = decode_image(data, model)
    assert decoded.mode == "L" and decoded.size == (34, 21)
    assert decode_image(data, model, output="numpy").shape == (21, 34)
    assert decode_image(data, model, output="tensor").shape == (1, 3, 21, 34)


def test_transparency_is_refused_unless_dropped_and_opaque_alpha_is_dropped_with_a_notice(tmp_path):
    model = small_model()
    rgba = np.dstack([pixels(19, 23), np.full((19, 23), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    with pytest.warns(ImageConversionWarning, match="opaque alpha"):
        opaque = encode_image(tmp_path / "opaque.png", model)
    assert opaque == encode_image(rgba[..., :3], model)

    rgba[5, 5, 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "transparent.png")
    with pytest.raises(ImageError, match="transparency.*--drop-alpha"):
        encode_image(tmp_path / "transparent.png", model)
    with pytest.warns(ImageConversionWarning, match="transparency dropped"):
        dropped = encode_image(tmp_path / "transparent.png", model, drop_alpha=True)
    assert dropped == opaque, "the colours are coded as stored"

    la = Image.fromarray(rgba[..., 0], "L").convert("LA")
    la.putalpha(Image.fromarray(rgba[..., 3], "L"))
    with pytest.raises(ImageError, match="transparency"):
        encode_image(la, model)
    with pytest.warns(ImageConversionWarning) as record:
        assert read_header(encode_image(la, model, drop_alpha=True)).channels == 1
    assert any("transparency dropped" in str(w.message) for w in record)


def test_palette_and_cmyk_images_are_converted_with_a_notice():
    model = small_model()
    rgb = Image.fromarray(pixels(16, 16))
    for img, note in [(rgb.convert("P"), "palette"), (rgb.convert("CMYK"), "CMYK")]:
        with pytest.warns(ImageConversionWarning, match=note):
            data = encode_image(img, model)
        assert decode_image(data, model).size == (16, 16)


def test_sixteen_bit_images_are_refused_with_a_clear_message(tmp_path):
    model = small_model()
    deep = Image.fromarray((np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) * 100))
    deep.save(tmp_path / "deep.png")
    with pytest.raises(ImageError, match="16-bit.*8 bits"):
        encode_image(tmp_path / "deep.png", model)


def test_unreadable_and_oversized_inputs_are_image_errors(tmp_path):
    model = small_model()
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="cannot read"):
        encode_image(tmp_path / "junk.png", model)
    with pytest.raises(ImageError, match="no such file"):
        encode_image(tmp_path / "missing.png", model)
    with pytest.raises(ImageError, match="max_pixels"):
        encode_image(pixels(40, 40), model, max_pixels=1000)
    with pytest.raises(ImageError, match="NaN"):
        encode_image(torch.full((3, 4, 4), float("nan")), model)
    with pytest.raises(ImageError, match="float"):
        encode_image(torch.zeros(2, 3, 4, 4), model)
    with pytest.raises(TypeError):
        encode_image(12345, model)


def test_the_exif_orientation_is_applied(tmp_path):
    model = small_model()
    img = Image.fromarray(pixels(10, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise
    img.save(tmp_path / "rotated.jpg", exif=exif)
    with pytest.warns(ImageConversionWarning, match="EXIF orientation"):
        data = encode_image(tmp_path / "rotated.jpg", model)
    header = read_header(data)
    assert (header.height, header.width) == (30, 10)


def test_tensor_inputs_code_as_given():
    model = small_model()
    x = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(3))
    data = encode_image(x, model)
    with torch.no_grad():
        out = model.compress(x[None])
        reference = model.decompress(out["strings"], out["shape"], out["x_size"])["x_hat"]
    assert torch.equal(decode_image(data, model, output="tensor"), reference)
    with pytest.raises(ValueError, match="output"):
        decode_image(data, model, output="jpeg")


def test_float_tensors_outside_0_1_are_refused_not_clamped():
    model = small_model()
    x = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(3))
    for bad in (x * 255, x - 0.5):
        with pytest.raises(ImageError, match=r"values in \[0, 1\], this one spans \[") as refused:
            encode_image(bad, model)
        assert f"{float(bad.max()):g}]" in str(refused.value)
    with pytest.raises(ImageError, match="NaN"):
        encode_image(torch.full((3, 4, 4), float("nan")), model)
    edges = torch.zeros(3, 8, 8)
    edges[:, :4] = 1.0
    assert decode_image(encode_image(edges, model), model, output="tensor").shape == (1, 3, 8, 8), "0 and 1 are in range"


def test_decode_image_takes_a_path_as_encode_image_does(tmp_path):
    model = small_model()
    source = tmp_path / "photo.png"
    Image.fromarray(pixels(20, 24)).save(source)
    data = encode_image(source, model)
    (tmp_path / "photo.nci").write_bytes(data)
    expected = decode_image(data, model, output="numpy")
    for path in (tmp_path / "photo.nci", str(tmp_path / "photo.nci")):
        assert np.array_equal(decode_image(path, model, output="numpy"), expected)
    codec = Codec(model)
    assert np.array_equal(codec.decode(tmp_path / "photo.nci", output="numpy"), expected)
    with pytest.raises(FileNotFoundError):
        decode_image(tmp_path / "missing.nci", model)


def test_other_weights_are_refused_naming_both_models():
    data = encode_image(pixels(16, 16), small_model("mbt2018-mean", seed=0))
    other = small_model("mbt2018-mean", seed=1)
    with pytest.raises(ModelMismatchError) as info:
        decode_image(data, other)
    message = str(info.value)
    assert read_header(data).model.weights_sha256.hex()[:16] in message
    assert weights_sha256(other).hex()[:16] in message
    factorized = small_model("bmshj2018-factorized")
    with pytest.raises(ModelMismatchError, match="bmshj2018-factorized"):
        decode_image(data, factorized)


def test_a_file_from_a_user_model_needs_that_model_to_decode():
    data = encode_image(pixels(8, 8), small_model())
    with pytest.raises(ModelNotFoundError, match="user checkpoint.*--checkpoint"):
        decode_image(data)


def test_the_weights_hash_covers_every_tensor_in_sorted_key_order():
    model = fresh_model("mbt2018-mean", seed=5)
    digest = weights_sha256(model)
    assert len(digest) == 32
    assert digest == weights_sha256(fresh_model("mbt2018-mean", seed=5))
    state_dict = model.state_dict()
    assert weights_sha256(dict(reversed(list(state_dict.items())))) == digest
    with torch.no_grad():
        model.g_s[0].bias[0] += 1e-3  # in place: the cached hash must notice
    assert weights_sha256(model) != digest
    model.entropy_bottleneck._quantized_cdf[0, 1] += 1  # the tables count too
    assert weights_sha256(model) != weights_sha256(fresh_model("mbt2018-mean", seed=5))


def test_checkpoint_files_give_the_same_identity_as_the_model_in_memory(tmp_path):
    from neuralcodec.zoo.defaults import save_weights

    model = small_model("mbt2018-mean")
    save_weights(model, tmp_path / "mine.safetensors", "mbt2018-mean", {"metric": "mse"})
    torch.save(model.state_dict(), tmp_path / "mine.pth")
    from_safetensors = Codec.from_checkpoint(tmp_path / "mine.safetensors")
    from_torch = Codec.from_checkpoint(tmp_path / "mine.pth", architecture="mbt2018-mean")
    assert from_safetensors.identity.weights_sha256 == weights_sha256(model)
    assert from_torch.identity.weights_sha256 == weights_sha256(model)
    assert from_safetensors.identity.metric == "mse"

    data = encode_image(pixels(12, 40), tmp_path / "mine.safetensors")
    assert decode_image(data, tmp_path / "mine.pth").size == (40, 12)
    assert decode_image(data, model).size == (40, 12)
    with pytest.raises(ValueError, match="architecture"):
        Codec.from_checkpoint(tmp_path / "mine.pth")
    with pytest.raises(ModelNotFoundError, match="does not hold a cheng2020-anchor"):
        Codec.from_checkpoint(tmp_path / "mine.pth", architecture="cheng2020-anchor")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Codec.from_checkpoint(tmp_path / "nothing.safetensors")


def test_without_a_model_the_shipped_weights_are_used_and_found_again(monkeypatch):
    from neuralcodec.zoo import defaults

    calls = []

    def fake_default_model(device="cpu"):
        calls.append(device)
        return small_shipped_architecture(seed=2)

    monkeypatch.setattr(defaults, "default_model", fake_default_model)
    data = encode_image(pixels(30, 30), quality=2.5)
    header = read_header(data)
    named = header.model
    assert (named.architecture, named.metric, named.origin) == ("mbt2018-mean-ladder", "mse", Origin.NEURALCODEC)
    assert header.coded_quality == 2.5
    assert decode_image(data).size == (30, 30)
    assert len(calls) == 2  # the encoder's model, then the one the decoder found from the file
    # At an integer quality the file is the rung's own, naming the fixed-rate model at that rate point.
    rung_file = read_header(encode_image(pixels(8, 8)))
    assert rung_file.coded_quality is None
    assert (rung_file.model.architecture, rung_file.model.quality) == ("mbt2018-mean", defaults.DEFAULT_QUALITY)

    monkeypatch.setattr(defaults, "default_model", lambda device="cpu": small_shipped_architecture(seed=99))
    with pytest.raises(ModelMismatchError):
        decode_image(data)


def test_missing_shipped_weights_are_a_model_not_found_error(monkeypatch):
    from neuralcodec.zoo import defaults

    def missing(device="cpu"):
        raise FileNotFoundError("the shipped weights neuralcodec-msh-ladder.safetensors are missing")

    monkeypatch.setattr(defaults, "default_model", missing)
    with pytest.raises(ModelNotFoundError, match="missing"):
        encode_image(pixels(8, 8))
    with pytest.raises(ValueError, match="mse"):
        encode_image(pixels(8, 8), metric="ms-ssim")


def test_compressai_weights_are_named_by_architecture_quality_and_metric(monkeypatch):
    import neuralcodec.zoo as zoo

    requests = []

    def fake_load_model(architecture, quality, metric="mse", pretrained=False, progress=True):
        requests.append((architecture, quality, metric, pretrained))
        return small_model(architecture, seed=quality)

    monkeypatch.setattr(zoo, "load_model", fake_load_model)
    data = encode_image(pixels(20, 20), architecture="bmshj2018-factorized", quality=4, metric="ms-ssim")
    named = read_header(data).model
    assert (named.architecture, named.quality, named.metric, named.origin) == (
        "bmshj2018-factorized", 4, "ms-ssim", Origin.COMPRESSAI,
    )
    assert decode_image(data).size == (20, 20)
    assert requests == [("bmshj2018-factorized", 4, "ms-ssim", True)] * 2

    def offline(*args, **kwargs):
        raise zoo.WeightsError("cannot download: offline")

    monkeypatch.setattr(zoo, "load_model", offline)
    with pytest.raises(ModelNotFoundError, match="offline"):
        decode_image(data)


class TwoPathModel(MeanScaleHyperprior):
    """Offers both coding paths, defaults to compat, and records which path each call ran."""

    coding_path = "compat"
    coding_paths = ("compat", "engine")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.paths_seen = []

    def compress(self, x, coding_path=None):
        self.paths_seen.append(coding_path or self.coding_path)
        return super().compress(x, coding_path=coding_path)

    def decompress(self, strings, shape, x_size=None, coding_path=None):
        self.paths_seen.append(coding_path or self.coding_path)
        return super().decompress(strings, shape, x_size, coding_path=coding_path)


class CompatOnlyModel(MeanScaleHyperprior):
    coding_path = "compat"
    coding_paths = ("compat",)


def same_weights(cls, base):
    model = cls(8, 8).eval()
    model.load_state_dict(base.state_dict())
    assert weights_sha256(model) == weights_sha256(base)
    return model


def test_the_coding_path_is_recorded_and_passed_to_the_decoding_model():
    base = small_model("mbt2018-mean")
    model = same_weights(TwoPathModel, base)

    data = encode_image(pixels(16, 16), model, coding_path="engine")
    assert read_header(data).coding_path == "engine"
    assert decode_image(data, model).size == (16, 16)
    assert model.paths_seen == ["engine", "engine"]
    assert model.coding_path == "compat", "the path is an argument of each call, the attribute stays"
    with pytest.raises(ModelMismatchError, match="'engine' path"):
        decode_image(data, same_weights(CompatOnlyModel, base))

    compat = encode_image(pixels(16, 16), model)
    assert read_header(compat).coding_path == "compat"
    assert torch.equal(decode_image(compat, base, output="tensor"), decode_image(compat, model, output="tensor"))
    assert model.paths_seen[-1] == "compat"
    with pytest.raises(ValueError, match="offers compat"):
        encode_image(pixels(16, 16), same_weights(CompatOnlyModel, base), coding_path="engine")


def test_files_record_the_models_default_coding_path():
    model = small_model("mbt2018-mean")
    data = encode_image(pixels(16, 16), model)
    assert read_header(data).coding_path == getattr(model, "coding_path", "compat")


def test_identity_of_reports_what_a_file_would_record():
    model = small_model("mbt2018")
    named = identity_of(model)
    assert named.architecture == "mbt2018" and named.weights_sha256 == weights_sha256(model)
    assert Codec(model, quality=5, metric="mse").identity.describe().startswith("mbt2018 quality 5 (mse")


def test_file_outputs_are_never_overwritten_without_force_and_leave_no_partial_files(tmp_path, monkeypatch):
    model = small_model()
    target = tmp_path / "out.nci"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--force"):
        encode_file(pixels(8, 8), target, model)
    assert target.read_bytes() == b"precious"
    data = encode_file(pixels(8, 8), target, model, force=True)
    assert target.read_bytes() == data

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        encode_file(pixels(9, 9), target, model, force=True)
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nci"], "no temporary file is left"


def test_decoded_images_are_saved_in_the_format_of_their_suffix(tmp_path):
    model = small_model()
    data = encode_image(pixels(12, 12), model)
    (tmp_path / "in.nci").write_bytes(data)
    expected = decode_image(data, model, output="numpy")
    for suffix in (".png", ".bmp", ".tiff", ".webp"):
        decode_file(tmp_path / "in.nci", tmp_path / f"out{suffix}", model)
        with Image.open(tmp_path / f"out{suffix}") as img:
            assert np.array_equal(np.asarray(img.convert("RGB")), expected), suffix


def test_a_damaged_file_is_a_format_error_not_garbage():
    model = small_model()
    data = bytearray(encode_image(pixels(16, 16), model))
    data[-7] ^= 0x10
    with pytest.raises(FormatError, match="checksum"):
        decode_image(bytes(data), model)


def test_encode_image_reports_conversions_as_warnings_only_when_there_are_some():
    model = small_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode_image(Image.fromarray(pixels(8, 8)), model)


def test_codec_objects_compute_the_hash_once_and_accept_a_device():
    codec = Codec(small_model(), device="cpu")
    assert codec.device == torch.device("cpu")
    assert "mbt2018-mean" in repr(codec)
    first = codec.encode(pixels(8, 8))
    assert codec.decode(first, output="numpy").shape == (8, 8, 3)
    assert Path(__file__).exists()


def test_the_committed_example_file_is_reproduced_byte_for_byte():
    """Guards the compat bytes: the fixture script's model and image give the committed file."""
    fixture = Path(__file__).parent / "fixtures" / "codec" / "mbt2018-mean-60x40.nci"
    data = fixture.read_bytes()
    torch.manual_seed(0)
    model = MeanScaleHyperprior(8, 8).eval()
    model.update(force=True)
    if weights_sha256(model) != read_header(data).model.weights_sha256:
        pytest.skip("this torch initialises MeanScaleHyperprior(8, 8) differently from the fixture's")
    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert encode_image(image, model, coding_path="compat") == data
    assert decode_image(data, model).size == (60, 40)


def test_a_file_named_after_float_tables_is_refused_with_a_hint_and_decodes_once_they_are_rebuilt(tmp_path):
    # An earlier neuralcodec built the tables of a checkpoint saved without them with
    # CompressAI's float construction; today's update() builds portable ones.
    torch.manual_seed(0)
    path = tmp_path / "no-tables.pth"
    torch.save(MeanScaleHyperprior(8, 8).state_dict(), path)  # empty table buffers
    earlier = Codec.from_checkpoint(path, architecture="mbt2018-mean")
    earlier.model.update(force=True, method="compressai")
    data = Codec(earlier.model, architecture="mbt2018-mean").encode(pixels(8, 8))
    codec = Codec.from_checkpoint(path, architecture="mbt2018-mean")
    with pytest.raises(ModelMismatchError, match=r'model.update\(force=True, method="compressai"\)'):
        codec.decode(data)
    codec.model.update(force=True, method="compressai")
    assert Codec(codec.model, architecture="mbt2018-mean").decode(data, output="numpy").shape == (8, 8, 3)
