"""Decoding .nci files without PyTorch: the Rust coder and engine for the latents,
onnxruntime for g_s (``neuralcodec.export.ort_decoder``)."""

import importlib.util
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from neuralcodec.codec import Codec, decode_image, encode_image
from neuralcodec.codec.errors import FormatError, ModelMismatchError
from neuralcodec.export import ManifestError, export

HAS_ONNXRUNTIME = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
pytestmark = pytest.mark.skipif(
    not HAS_ONNXRUNTIME, reason="onnx and onnxruntime are not installed (pip install onnx onnxruntime)"
)

ARCHITECTURES = [
    "bmshj2018-factorized",
    "bmshj2018-hyperprior",
    "mbt2018-mean",
    "mbt2018",
    "cheng2020-anchor",
    "cheng2020-attn",
    "cheng2020-anchor-checkerboard",  # the parallel-context models: the coding graph in the manifest
    "elic2022-official",
]


def small_codec(architecture: str, seed: int = 0) -> Codec:
    """A small model with built tables, calibrated on :func:`image` so that its latent
    has a standard deviation near 2 (many non-zero symbols) and its synthesis gives
    values around 0.5 +- 0.15 (so the clamp to [0, 1] hides no difference)."""
    from neuralcodec.layers import AttentionBlock
    from test_export import small_model

    model = small_model(architecture, seed).eval()
    x = torch.from_numpy(image(64, 64, seed)).permute(2, 0, 1)[None].float() / 255
    g_a_last = model.g_a[-2] if isinstance(model.g_a[-1], AttentionBlock) else model.g_a[-1]
    g_s_last = model.g_s[-1][0] if isinstance(model.g_s[-1], torch.nn.Sequential) else model.g_s[-1]
    with torch.no_grad():
        for _ in range(3):
            factor = 2.0 / float(model.g_a(x).std())
            g_a_last.weight.mul_(factor)
            g_a_last.bias.mul_(factor)
        out = model.g_s(torch.round(model.g_a(x)))
        factor = 0.15 / float(out.std())
        g_s_last.weight.mul_(factor)
        g_s_last.bias.copy_(0.5 - factor * (float(out.mean()) - g_s_last.bias))
    model.update(force=True)
    return Codec(model, architecture=architecture)


def image(height: int = 70, width: int = 90, seed: int = 0) -> np.ndarray:
    """A smooth colour image (8-bit RGB) of ``height x width``."""
    rows, cols = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    planes = [np.sin(rows / (7 + 3 * c) + cols / (11 + 2 * c) + rng.uniform(0, 6)) for c in range(3)]
    return np.clip(127.5 + 100 * np.stack(planes, -1) + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)


def capture_g_s_input(model: torch.nn.Module) -> list:
    """Records every input ``g_s`` receives (the decoded latent)."""
    seen: list = []
    model.g_s.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    return seen


DECODE_WITHOUT_TORCH = textwrap.dedent(
    """
    import json, sys
    sys.modules["torch"] = None          # any `import torch` now raises ImportError
    import numpy as np
    from neuralcodec.export.ort_decoder import OrtDecoder

    jobs = json.loads(sys.argv[1])
    for job in jobs:
        decoder = OrtDecoder(job["folder"], threads=2, ort_threads=1)
        data = open(job["file"], "rb").read()
        np.save(job["pixels"], decoder.decode(data))
        from neuralcodec.codec.container import unpack
        header, strings = unpack(data)
        y_hat = decoder.decode_latent([[s] for s in strings], header.latent_shape)
        np.save(job["y_hat"], y_hat)
        np.save(job["x_hat"], decoder.synthesize(y_hat))
    try:
        import torch
    except ImportError:
        pass
    else:
        raise SystemExit("torch could be imported")
    print("decoded", len(jobs), "files without torch;", sorted(m for m in sys.modules if m.startswith("torch") and sys.modules[m] is not None))
    """
)


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    """Every architecture: a file coded by PyTorch, its PyTorch decode, and its decode in a
    subprocess where torch cannot be imported."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ort")
    jobs, expected = [], {}
    try:
        for i, architecture in enumerate(ARCHITECTURES):
            codec = small_codec(architecture)
            folder = root / architecture
            manifest = export(codec.model, folder, formats=("onnx",), transforms=["g_s"], entropy=True)
            assert manifest["entropy"]["coding_path"] == ("compat" if i == 0 else "engine")
            pixels = image(70, 90, seed=i) if i % 2 else image(70, 90, seed=i).mean(-1).astype(np.uint8)
            data = encode_image(pixels, model=codec)
            seen = capture_g_s_input(codec.model)
            reference = decode_image(data, model=codec, output="numpy")
            (y_hat,) = seen
            with torch.no_grad():
                x_hat = codec.model.g_s(y_hat)
            path = folder / "image.nci"
            path.write_bytes(data)
            jobs.append({k: str(folder / f"{k}.npy") for k in ("pixels", "y_hat", "x_hat")})
            jobs[-1].update(folder=str(folder), file=str(path))
            expected[architecture] = (reference, y_hat.numpy(), x_hat.numpy(), jobs[-1])
    finally:
        torch.set_num_threads(threads)
    result = subprocess.run(
        [sys.executable, "-c", DECODE_WITHOUT_TORCH, json.dumps(jobs)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"decoded {len(ARCHITECTURES)} files without torch; []" in result.stdout, result.stdout
    return expected


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_latent_decoded_without_torch_is_pytorchs_bit_for_bit(decoded, architecture):
    _, y_hat, _, job = decoded[architecture]
    ours = np.load(job["y_hat"])
    assert ours.dtype == np.float32 and ours.shape == y_hat.shape
    assert np.array_equal(ours, y_hat)
    assert np.count_nonzero(y_hat) > 0


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_image_decoded_without_torch_matches_pytorchs_decode(decoded, architecture):
    reference, _, x_hat, job = decoded[architecture]
    ours_x = np.load(job["x_hat"])
    assert np.abs(ours_x - x_hat).max() <= 1e-4 * max(1.0, np.abs(x_hat).max())
    assert np.mean((x_hat > 0) & (x_hat < 1)) > 0.2  # the clamp does not hide the comparison
    pixels = np.load(job["pixels"])
    assert pixels.dtype == np.uint8 and pixels.shape == reference.shape
    difference = np.abs(pixels.astype(int) - reference.astype(int))
    assert difference.max() <= 1  # a float ulp can move a value across a rounding boundary
    assert np.mean(difference > 0) < 0.01


def test_a_file_of_other_weights_or_of_the_compat_path_is_refused(tmp_path):
    from neuralcodec.export.ort_decoder import OrtDecoder

    codec = small_codec("mbt2018-mean")
    export(codec.model, tmp_path, formats=("onnx",), transforms=["g_s"])
    decoder = OrtDecoder(tmp_path, ort_threads=1)
    pixels = image(64, 64)
    other = small_codec("mbt2018-mean", seed=1)
    with pytest.raises(ModelMismatchError, match="was made with mbt2018-mean"):
        decoder.decode(encode_image(pixels, model=other))
    with pytest.raises(ModelMismatchError, match="'compat' path"):
        decoder.decode(encode_image(pixels, model=codec, coding_path="compat"))
    data = bytearray(encode_image(pixels, model=codec))
    data[-10] ^= 0xFF
    with pytest.raises(FormatError):
        decoder.decode(bytes(data))


def test_an_export_without_entropy_tables_or_onnx_cannot_decode(tmp_path):
    from neuralcodec.export.ort_decoder import OrtDecoder

    codec = small_codec("bmshj2018-hyperprior")
    export(codec.model, tmp_path / "no-entropy", formats=("onnx",), entropy=False)
    with pytest.raises(ManifestError, match="no entropy tables"):
        OrtDecoder(tmp_path / "no-entropy")
    export(codec.model, tmp_path / "torchscript", formats=("torchscript",))
    with pytest.raises(ManifestError, match="no g_s.onnx"):
        OrtDecoder(tmp_path / "torchscript")


def test_the_manifest_says_why_the_entropy_tables_were_not_exported(tmp_path):
    from neuralcodec.models import CompressionModel, MeanScaleHyperprior

    manifest = export(MeanScaleHyperprior(8, 12), tmp_path / "no-tables", formats=("torchscript",), transforms=["g_s"])
    assert "no CDF tables: call model.update()" in manifest["entropy"]["skipped"]

    class Custom(CompressionModel):
        downsampling_factor = 2

        def __init__(self):
            super().__init__()
            self.g_a = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.g_s = torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)

    custom = Custom()
    manifest = export(custom, tmp_path / "custom", formats=("torchscript",))
    assert "no engine coding path with a described coding graph" in manifest["entropy"]["skipped"]
    with pytest.raises(ValueError, match="no engine coding path with a described coding graph"):
        export(custom, tmp_path / "custom", formats=("torchscript",), entropy=True)
