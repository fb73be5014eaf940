"""neuralcodec's shipped weights and the safetensors weight files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodec.codec import Codec
from neuralcodec.codec.api import decode_image
from neuralcodec.models import MeanScaleHyperprior
from neuralcodec.settings import PREVIOUS_DEFAULTS
from neuralcodec.train.install_default import SAMPLE_QUALITIES, SAMPLE_RECORD
from neuralcodec.zoo.defaults import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_LAMBDAS,
    default_model,
    default_weights_path,
    load_weights_file,
    previous_default_model,
    read_weights,
    save_weights,
)


def _small_model() -> MeanScaleHyperprior:
    torch.manual_seed(0)
    model = MeanScaleHyperprior(8, 12)
    model.update(force=True)
    return model.eval()


def test_weight_files_round_trip_exactly(tmp_path):
    model = _small_model()
    path = tmp_path / "w.safetensors"
    save_weights(model, path, "mbt2018-mean", metadata={"lambda": "0.01"})
    state, metadata = read_weights(path)
    assert metadata["architecture"] == "mbt2018-mean" and metadata["N"] == "8" and metadata["M"] == "12"
    assert metadata["lambda"] == "0.01"
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key
    loaded = load_weights_file(path)
    x = torch.rand(1, 3, 64, 64)
    assert model.compress(x)["strings"] == loaded.compress(x)["strings"]


def test_half_precision_kernels_keep_everything_else_exact(tmp_path):
    model = _small_model()
    path = tmp_path / "half.safetensors"
    save_weights(model, path, "mbt2018-mean", half_precision_kernels=True)
    full = tmp_path / "full.safetensors"
    save_weights(model, full, "mbt2018-mean")
    assert path.stat().st_size < full.stat().st_size
    state, _ = read_weights(path)
    for key, value in model.state_dict().items():
        assert state[key].dtype == value.dtype, key
        if value.is_floating_point() and value.dim() == 4:
            assert torch.equal(state[key], value.half().float()), key
        else:
            assert torch.equal(state[key], value), key


def test_cdf_tables_are_stored_packed_and_read_back_padded(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    model = _small_model()
    path = tmp_path / "packed.safetensors"
    save_weights(model, path, "mbt2018-mean")
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        packed = f.get_tensor("gaussian_conditional._quantized_cdf.packed")
    assert "gaussian_conditional._quantized_cdf" not in keys and "entropy_bottleneck._quantized_cdf.packed" in keys
    lengths = model.gaussian_conditional._cdf_length
    assert packed.shape == (int(lengths.sum()),)
    state, _ = read_weights(path)
    for name in ("gaussian_conditional._quantized_cdf", "entropy_bottleneck._quantized_cdf"):
        assert torch.equal(state[name], model.state_dict()[name]), name
    # A table with values past a row's length cannot be packed: it is stored as it is.
    model.gaussian_conditional._quantized_cdf[0, -1] = 7
    save_weights(model, path, "mbt2018-mean")
    with safe_open(str(path), framework="pt") as f:
        assert "gaussian_conditional._quantized_cdf" in set(f.keys())
    assert torch.equal(read_weights(path)[0]["gaussian_conditional._quantized_cdf"],
                       model.gaussian_conditional._quantized_cdf)
    # A packed table that does not add up to its lengths is refused, naming the file.
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    tensors["gaussian_conditional._quantized_cdf.packed"] = packed[:-1].clone()
    del tensors["gaussian_conditional._quantized_cdf"]
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, str(broken))
    with pytest.raises(ValueError, match="broken.safetensors.*add up to"):
        read_weights(broken)


def test_bad_weight_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_weights(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}" + bytes(10))
    with pytest.raises(ValueError, match="not a readable safetensors"):
        read_weights(garbage)
    with pytest.raises(ValueError, match="architecture"):
        save_weights(_small_model(), tmp_path / "x.safetensors", "no-such-architecture")
    with pytest.raises(ValueError, match="never shipped mbt2018-mean at quality 9"):
        previous_default_model("mbt2018-mean", 9)
    with pytest.raises(ValueError, match="never shipped cheng2020-anchor"):
        previous_default_model("cheng2020-anchor", 1)


def _sample_rgb() -> np.ndarray:
    with Image.open(Path(str(resources.files("neuralcodec") / "data" / "sample.png"))) as img:
        return np.asarray(img.convert("RGB"))


def test_the_shipped_model_reaches_its_recorded_figures_on_the_sample():
    """Every installation codes the sample photo to the bytes recorded when the model was
    installed (``python -m neuralcodec.train.install_default``; the engine path is
    deterministic), at the integer qualities and between them."""
    record = json.loads((default_weights_path().parent / SAMPLE_RECORD).read_text())
    assert [float(q) for q in record] == list(SAMPLE_QUALITIES)
    rgb = _sample_rgb()
    model = default_model()
    assert type(model).__name__ == "MeanScaleLadder" and model.lmbda == [DEFAULT_LAMBDAS[q] for q in (1, 2, 3, 4)]
    codec = Codec.default()
    assert codec.identity.architecture == DEFAULT_ARCHITECTURE == "mbt2018-mean-ladder"
    rates = []
    for quality in SAMPLE_QUALITIES:
        expected = record[f"{quality:g}"]
        assert codec.identity.weights_sha256.hex() == expected["weights_sha256"]
        data = codec.encode(rgb, quality=quality)
        assert len(data) == expected["bytes"]
        decoded = np.asarray(codec.decode(data).convert("RGB"), dtype=np.float64)
        psnr = 10 * np.log10(255.0**2 / np.mean((decoded - rgb) ** 2))
        assert psnr == pytest.approx(expected["psnr"], abs=0.01)
        rates.append(expected["bpp"])
    assert rates == sorted(rates) and rates[0] < rates[-1]  # the rate grows with the quality


FIXTURES = Path(__file__).parent / "fixtures" / "codec"


@pytest.mark.parametrize("quality", sorted(PREVIOUS_DEFAULTS["mbt2018-mean"]))
def test_files_of_the_fixed_rate_models_shipped_before_decode_with_the_ladders_rungs(quality):
    """The four fixed-rate models shipped until issue 28 are the shipped ladder's rungs:
    files they wrote (committed when their weight files were replaced by the ladder, at
    a6d8c9a) decode to the pixels they decoded to then (to one level: the synthesis runs in
    floats), and at an integer quality the ladder writes the very bytes the rung writes
    alone, naming the rung, so readers of those files read these too."""
    data = (FIXTURES / f"shipped-msh-q{quality}-kodim05-64x48.ncz").read_bytes()
    expected = np.load(FIXTURES / f"shipped-msh-q{quality}-kodim05-64x48.decoded.npy").astype(np.int16)
    decoded = decode_image(data, output="numpy").astype(np.int16)  # the file names its model
    assert decoded.shape == expected.shape and np.abs(decoded - expected).max() <= 1
    assert np.mean(decoded != expected) < 0.01
    ladder_codec = Codec.default(quality)
    assert np.abs(ladder_codec.decode(data, output="numpy").astype(np.int16) - decoded).max() == 0
    rung = previous_default_model("mbt2018-mean", quality)
    assert type(rung).__name__ == "MeanScaleHyperprior"
    rung_codec = Codec.load("mbt2018-mean", quality, source="shipped")
    assert rung_codec.identity == read_header_model(data)  # the same weights hash as then
    pixels = _sample_rgb()[:96, :128]
    assert ladder_codec.encode(pixels) == rung_codec.encode(pixels)


def read_header_model(data: bytes):
    from neuralcodec.codec.container import read_header

    return read_header(data).model


def test_saved_weights_get_the_usual_file_permissions(tmp_path):
    """A weight file is created like any other file (the umask decides), not owner-only."""
    import os
    import stat

    save_weights(_small_model(), tmp_path / "w.safetensors", "mbt2018-mean")
    (tmp_path / "plain.txt").write_text("x")
    mode = stat.S_IMODE(os.stat(tmp_path / "w.safetensors").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode)
    read_weights(tmp_path / "w.safetensors")  # still a readable weight file


def test_one_reader_loads_every_kind_of_weights_file_to_the_same_model(tmp_path):
    from neuralcodec.codec import weights_sha256
    from neuralcodec.zoo.defaults import load_model_file, read_state_dict

    model = _small_model()
    state_dict = model.state_dict()
    save_weights(model, tmp_path / "w.safetensors", "mbt2018-mean")
    torch.save(state_dict, tmp_path / "plain.pt")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state_dict.items()}}, tmp_path / "compressai.pth.tar")
    torch.save({"format": "neuralcodec-train-checkpoint", "model": state_dict, "step": 3}, tmp_path / "checkpoint.pt")
    expected = weights_sha256(model)
    assert weights_sha256(load_model_file(tmp_path / "w.safetensors")) == expected
    for name in ("plain.pt", "compressai.pth.tar", "checkpoint.pt"):
        assert weights_sha256(read_state_dict(tmp_path / name)[0]) == expected, name
        assert weights_sha256(load_model_file(tmp_path / name, "mbt2018-mean")) == expected, name
    with pytest.raises(ValueError, match="does not name its architecture"):
        load_model_file(tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="holds a mbt2018-mean model, not mbt2018"):
        load_model_file(tmp_path / "w.safetensors", "mbt2018")
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / "missing.pt")


def test_install_default_takes_the_gains_of_a_checkpoint_and_keeps_the_installed_rungs(tmp_path):
    """``install_default CKPT --out FILE``: the candidate holds the checkpoint's gain tables
    over the installed rungs, byte for byte; a checkpoint whose middle gain level moved is
    refused (a rung's own rate must stay the fixed-rate model's)."""
    from neuralcodec.codec import weights_sha256
    from neuralcodec.train.install_default import install

    shipped = default_model()
    trained = default_model()
    with torch.no_grad():
        trained.rungs[1].y_gain[0].mul_(0.9)
        trained.rungs[1].entropy_bottleneck.quantiles.add_(0.25)  # (a trainer re-fits these: not taken)
    checkpoint = tmp_path / "trained.safetensors"
    save_weights(trained, checkpoint, DEFAULT_ARCHITECTURE, metadata={"lambdas": json.dumps(trained.lmbda)})
    candidate = load_weights_file(install(checkpoint, out=tmp_path / "candidate.safetensors"))
    assert torch.equal(candidate.rungs[1].y_gain, trained.rungs[1].y_gain)
    for k in range(len(shipped.rungs)):
        assert weights_sha256(candidate.fixed_rate_state_dict(k)) == weights_sha256(shipped.fixed_rate_state_dict(k))
    with torch.no_grad():
        trained.rungs[0].z_gain[trained.middle_level].fill_(1.5)
    save_weights(trained, checkpoint, DEFAULT_ARCHITECTURE, metadata={"lambdas": json.dumps(trained.lmbda)})
    with pytest.raises(ValueError, match="rung 0's z_gain is not 1"):
        install(checkpoint, out=tmp_path / "refused.safetensors")
