"""Export of the transforms to TorchScript and ONNX (``neuralcodec.export``)."""

import importlib.util
import json
import subprocess
import sys

import pytest
import torch
from codec_models import ARCHITECTURES, build_small
from neuralcodec.cli import main
from neuralcodec.export import (
    FrozenGDN,
    ManifestError,
    export,
    export_onnx,
    export_torchscript,
    freeze,
    read_manifest,
    verify_files,
)
from neuralcodec.export.check import check_export, check_inputs, reference_output
from neuralcodec.layers import GDN, GDN1

HAS_ONNXRUNTIME = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
needs_onnxruntime = pytest.mark.skipif(
    not HAS_ONNXRUNTIME, reason="onnx and onnxruntime are not installed (pip install onnx onnxruntime)"
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The models are tiny; on a shared machine, torch's thread pool costs more than it gives."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_model(architecture: str, seed: int = 0) -> torch.nn.Module:
    """A small model whose GDN parameters are far from their initial values (so a
    frozen GDN that mixed up beta, gamma or the inverse would show)."""
    torch.manual_seed(seed)
    model = build_small(architecture).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, GDN):
                module.beta.add_(0.3 * torch.rand_like(module.beta))
                module.gamma.add_(0.2 * torch.rand_like(module.gamma))
    return model


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_torchscript_export_gives_the_pytorch_outputs_bit_for_bit(tmp_path, architecture):
    model = small_model(architecture)
    manifest = export_torchscript(model, tmp_path)
    expected = ["g_a", "g_s"] if architecture.startswith("bmshj2018-factorized") else ["g_a", "g_s", "h_a", "h_s"]
    assert list(manifest["transforms"]) == expected
    assert manifest["model"]["architecture"] == architecture
    results = check_export(model, tmp_path)
    assert [r.transform for r in results] == expected
    for result in results:
        assert result.format == "torchscript" and result.max_abs_error == 0.0 and result.ok, result


@needs_onnxruntime
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_onnx_export_runs_in_onnxruntime_within_float_tolerance(tmp_path, architecture):
    model = small_model(architecture)
    export_onnx(model, tmp_path)
    results = check_export(model, tmp_path)  # batch 3 at 1x2 strides: not the shape of the export
    assert results and all(r.format == "onnx" and not r.skipped for r in results)
    for result in results:
        assert result.ok, result
        assert result.max_abs_error <= 1e-4 * max(1.0, result.max_abs_reference), result


@needs_onnxruntime
def test_onnx_graph_has_dynamic_batch_height_and_width_and_the_stated_opset(tmp_path):
    import onnx

    manifest = export_onnx(small_model("mbt2018-mean"), tmp_path, transforms=["g_s"])
    entry = manifest["transforms"]["g_s"]
    assert entry["files"]["onnx"]["opset"] == 17
    graph = onnx.load(str(tmp_path / "g_s.onnx"))
    assert max(op.version for op in graph.opset_import if op.domain in ("", "ai.onnx")) == 17
    (graph_input,) = graph.graph.input
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert graph_input.name == "y_hat" and dims == ["batch", 12, "height", "width"]
    assert graph.graph.output[0].name == "x_hat"


@needs_onnxruntime
@pytest.mark.skipif(importlib.util.find_spec("onnxscript") is None, reason="the dynamo exporter needs onnxscript")
def test_the_torch_export_based_onnx_exporter_works_too(tmp_path):
    model = small_model("bmshj2018-factorized")
    manifest = export_onnx(model, tmp_path, transforms=["g_s"], exporter="dynamo")
    assert manifest["transforms"]["g_s"]["files"]["onnx"] == {
        "path": "g_s.onnx",
        "sha256": manifest["transforms"]["g_s"]["files"]["onnx"]["sha256"],
        "opset": 18,
        "exporter": "dynamo",
    }
    (result,) = check_export(model, tmp_path)
    assert result.ok, result


@pytest.mark.parametrize("layer", [GDN(6), GDN(6, inverse=True), GDN1(6), GDN1(6, inverse=True)], ids=repr)
def test_a_frozen_gdn_computes_exactly_what_the_gdn_computes(layer):
    torch.manual_seed(1)
    with torch.no_grad():
        layer.gamma.add_(0.3 * torch.rand_like(layer.gamma))
    x = torch.randn(2, 6, 5, 7)
    frozen = freeze(layer)
    assert isinstance(frozen, FrozenGDN)
    scripted = torch.jit.script(frozen)
    with torch.no_grad():
        assert torch.equal(frozen(x), layer(x))
        assert torch.equal(scripted(x), layer(x))


def test_freezing_leaves_the_model_unchanged_and_trainable():
    model = small_model("mbt2018-mean")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = freeze(model.g_a)
    assert not any(isinstance(m, GDN) for m in frozen.modules())
    assert all(isinstance(m, GDN) for m in (model.g_a[1], model.g_a[3]))
    assert all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_the_manifest_describes_shapes_names_and_the_model(tmp_path):
    from neuralcodec.codec.identity import weights_sha256

    model = small_model("bmshj2018-hyperprior")
    manifest = export(model, tmp_path, metadata={"quality": 2})
    assert manifest == read_manifest(tmp_path) == json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["model"] == {
        "class": "neuralcodec.models.hyperprior.ScaleHyperprior",
        "architecture": "bmshj2018-hyperprior",
        "N": 8,
        "M": 12,
        "downsampling_factor": 64,
        "weights_sha256": weights_sha256(model).hex(),
        "coding_paths": list(model.coding_paths),
        "metadata": {"quality": "2"},
    }
    t = manifest["transforms"]
    assert (t["g_a"]["input"], t["g_a"]["output"]) == (
        {"name": "x", "shape": ["batch", 3, "height", "width"]},
        {"name": "y", "shape": ["batch", 12, "height/16", "width/16"]},
    )
    assert t["g_s"]["output"] == {"name": "x_hat", "shape": ["batch", 3, "height*16", "width*16"]}
    assert t["h_a"]["output"] == {"name": "z", "shape": ["batch", 8, "height/4", "width/4"]}
    assert t["h_s"]["output"] == {"name": "scales", "shape": ["batch", 12, "height*4", "width*4"]}
    assert "|y|" in t["h_a"]["role"]
    assert set(t["g_a"]["files"]) == {"torchscript", "onnx"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["manifest.json"] + [f"{n}.{s}" for n in t for s in ("pt", "onnx")]
    )


def test_the_exported_h_a_of_the_scale_hyperprior_takes_y_and_applies_the_absolute_value(tmp_path):
    model = small_model("bmshj2018-hyperprior")
    export_torchscript(model, tmp_path, transforms=["h_a"])
    y = check_inputs(model)["h_a"]
    assert (y < 0).any()
    h_a = torch.jit.load(str(tmp_path / "h_a.pt"))
    assert torch.equal(h_a(y), model.h_a(y.abs()))
    assert torch.equal(reference_output(model, "h_a", y), model.h_a(y.abs()))


def test_exporting_again_updates_the_manifest_of_the_same_weights_and_refuses_other_weights(tmp_path):
    model = small_model("mbt2018-mean")
    export_torchscript(model, tmp_path, transforms=["g_s"])
    manifest = export_onnx(model, tmp_path, transforms=["g_s", "h_s"])
    assert set(manifest["transforms"]["g_s"]["files"]) == {"torchscript", "onnx"}
    assert set(manifest["transforms"]["h_s"]["files"]) == {"onnx"}
    other = small_model("mbt2018-mean", seed=1)
    with pytest.raises(FileExistsError, match="another model"):
        export_torchscript(other, tmp_path, transforms=["g_s"])
    manifest = export_torchscript(other, tmp_path, transforms=["g_s"], overwrite=True)
    assert list(manifest["transforms"]) == ["g_s"]


def test_verify_files_detects_a_missing_or_altered_file(tmp_path):
    export_torchscript(small_model("bmshj2018-factorized"), tmp_path)
    verify_files(tmp_path)
    with open(tmp_path / "g_s.pt", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match="g_s.pt: SHA-256 differs"):
        verify_files(tmp_path)
    (tmp_path / "g_a.pt").unlink()
    with pytest.raises(ManifestError, match="g_a.pt: listed in the manifest"):
        verify_files(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ManifestError, match="not a neuralcodec export manifest"):
        read_manifest(tmp_path)


def test_bad_arguments_are_refused_with_a_reason(tmp_path):
    model = small_model("bmshj2018-factorized")
    with pytest.raises(ValueError, match="has no h_s"):
        export(model, tmp_path, transforms=["h_s"])
    with pytest.raises(ValueError, match="unknown format"):
        export(model, tmp_path, formats=["tflite"])
    with pytest.raises(ValueError, match="multiple of 16"):
        export(model, tmp_path, example_size=24)
    with pytest.raises(ManifestError, match="no export manifest"):
        read_manifest(tmp_path / "nothing")


def test_the_export_command_exports_and_checks_a_model(tmp_path, capsys):
    out = tmp_path / "export"
    args = ["--architecture", "bmshj2018-factorized", "--random", "--format", "torchscript", "--check"]
    code = main(["export", str(out), *args])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "g_a: g_a.pt" in text and "check g_s torchscript: max |error| 0" in text
    assert read_manifest(out)["model"]["metadata"]["origin"] == "random initialisation"


def test_the_export_command_reads_a_weights_file_from_training(tmp_path, capsys):
    from neuralcodec.zoo.defaults import save_weights

    model = small_model("mbt2018-mean")
    model.update()
    save_weights(model, tmp_path / "w.safetensors", "mbt2018-mean", {"lambda": "0.01"})
    args = ["--checkpoint", str(tmp_path / "w.safetensors"), "--transform", "g_s", "--format", "torchscript"]
    assert main(["export", str(tmp_path / "out"), *args]) == 0
    manifest = read_manifest(tmp_path / "out")
    assert manifest["model"]["metadata"] == {
        "architecture": "mbt2018-mean",
        "origin": "user checkpoint",
        "source": "w.safetensors",
    }
    assert list(manifest["transforms"]) == ["g_s"]


def test_the_export_command_reports_bad_usage_with_exit_code_2(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--random"]) == 2
    assert "needs --model" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--checkpoint", str(tmp_path / "missing.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_registering_the_command_and_reading_manifests_do_not_import_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import neuralcodec.export, neuralcodec.export.commands, neuralcodec.export.manifest\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
