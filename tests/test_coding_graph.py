"""The coding graph is made once per model (issue 29): the engine describes a model and
builds its native graph on first use, rebuilds it when the weights or tables change, and
the export reads the transforms from the description, wherever a composition holds them."""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from torch import nn

from neuralcodec import engine
from neuralcodec import latent_codecs as lc
from neuralcodec.entropy_models import EntropyBottleneck
from neuralcodec.export import export_torchscript
from neuralcodec.export.exporter import exportable_transforms
from neuralcodec.models import SimpleVAECompressionModel

ROOT = Path(__file__).resolve().parents[1] / "python" / "neuralcodec"


class TinyComposition(SimpleVAECompressionModel):
    """A user's composition: a hyperprior whose ``h_a``/``h_s`` live inside the latent
    codec (``latent_codec.hyper.h_a``), channel groups of Gaussians as ``y``."""

    downsampling_factor = 8

    def __init__(self) -> None:
        super().__init__()
        self.M = 6
        self.g_a = nn.Sequential(nn.Conv2d(3, 6, 5, stride=2, padding=2), nn.ReLU(), nn.Conv2d(6, 6, 5, stride=2, padding=2))
        self.g_s = nn.Sequential(
            nn.ConvTranspose2d(6, 6, 5, stride=2, padding=2, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(6, 3, 5, stride=2, padding=2, output_padding=1),
        )
        hyper = lc.HyperLatentCodec(
            entropy_bottleneck=EntropyBottleneck(4),
            h_a=nn.Conv2d(6, 4, 3, stride=2, padding=1),
            h_s=nn.ConvTranspose2d(4, 8, 4, stride=2, padding=1),
        )
        groups = lc.ChannelGroupsLatentCodec(
            groups=[2, 4],
            channel_context={"y1": nn.Conv2d(2, 4, 3, padding=1)},
            latent_codec={
                "y0": lc.GaussianConditionalLatentCodec(entropy_parameters=nn.Conv2d(8, 4, 1), chunks=("scales", "means")),
                "y1": lc.GaussianConditionalLatentCodec(entropy_parameters=nn.Conv2d(12, 8, 1), chunks=("scales", "means")),
            },
        )
        self.latent_codec = lc.HyperpriorLatentCodec({"y": groups, "hyper": hyper})


def tiny(seed: int = 0) -> TinyComposition:
    torch.manual_seed(seed)
    model = TinyComposition().eval()
    model.update(force=True)
    return model


def image(seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def describe_calls(monkeypatch) -> List[Any]:
    """Counts the calls of TinyComposition.describe."""
    calls: List[Any] = []
    original = TinyComposition.describe

    def counted(self):
        calls.append(self)
        return original(self)

    monkeypatch.setattr(TinyComposition, "describe", counted)
    return calls


def test_compress_and_decompress_describe_the_model_once(describe_calls):
    model = tiny()
    x = image()
    with torch.no_grad():
        outputs = [model.compress(x) for _ in range(3)]
        decoded = [model.decompress(out["strings"], out["shape"])["x_hat"] for out in outputs]
    assert all(out["strings"] == outputs[0]["strings"] for out in outputs)
    assert all(torch.equal(d, decoded[0]) for d in decoded)
    assert len(describe_calls) == 1
    assert engine.latent_graph(model) is engine.latent_graph(model)
    assert len(describe_calls) == 1


def test_a_training_step_then_update_rebuilds_the_graph_without_describing_again(describe_calls):
    model = tiny()
    x = image()
    with torch.no_grad():
        before = model.compress(x)
    first = engine.latent_graph(model)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    out = model(x)
    loss = sum(-torch.log2(likelihoods).sum() for likelihoods in out["likelihoods"].values()) + out["x_hat"].sum()
    loss.backward()
    optimizer.step()
    model.eval()
    model.update(force=True)
    second = engine.latent_graph(model)
    assert second is not first
    with torch.no_grad():
        after = model.compress(x)
        back = model.decompress(after["strings"], after["shape"])["x_hat"]
    assert after["strings"] != before["strings"]
    # the rebuilt graph is the one a fresh model with the new weights builds: same bytes
    fresh = TinyComposition().eval()
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert fresh.compress(x)["strings"] == after["strings"]
        assert torch.equal(fresh.decompress(after["strings"], after["shape"])["x_hat"], back)
    assert describe_calls.count(model) == 1


def test_load_state_dict_rebuilds_the_graph():
    model, other = tiny(0), tiny(1)
    x = image()
    first = engine.latent_graph(model)
    model.load_state_dict(other.state_dict())
    assert engine.latent_graph(model) is not first
    with torch.no_grad():
        assert model.compress(x)["strings"] == other.compress(x)["strings"]


def test_a_replaced_module_is_described_and_built_again(describe_calls):
    model = tiny()
    first = engine.latent_graph(model)
    model.latent_codec.y.channel_context["y1"] = nn.Conv2d(2, 4, 3, padding=1)
    assert engine.latent_graph(model) is not first
    assert describe_calls.count(model) == 2
    model.latent_codec.y.channel_context["y1"] = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Sigmoid())
    with pytest.raises(engine.EngineUnsupportedError, match="Sigmoid"):
        engine.latent_graph(model)


def test_threads_sharing_a_fresh_model_get_one_graph(describe_calls):
    model = tiny()
    graphs: List[Any] = []
    barrier = threading.Barrier(6)

    def run() -> None:
        barrier.wait()
        graphs.append(engine.latent_graph(model))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(graphs) == 6 and all(g is graphs[0] for g in graphs)
    assert len(describe_calls) == 1


def test_a_composition_exports_the_h_a_and_h_s_its_description_names(tmp_path):
    model = tiny()
    modules = exportable_transforms(model)
    assert sorted(modules) == ["g_a", "g_s", "h_a", "h_s"]
    assert model.describe().transforms() == {
        "g_a": "g_a", "g_s": "g_s", "h_a": "latent_codec.hyper.h_a", "h_s": "latent_codec.hyper.h_s",
    }  # fmt: skip
    manifest = export_torchscript(model, tmp_path)
    assert sorted(manifest["transforms"]) == ["g_a", "g_s", "h_a", "h_s"]
    y = torch.randn(1, 6, 8, 8)
    h_a = torch.jit.load(str(tmp_path / "h_a.pt"))
    assert torch.equal(h_a(y), model.latent_codec.hyper.h_a(y).detach())
    assert manifest["entropy"]["kind"] == "graph"
    assert manifest["transforms"]["h_s"]["output"]["name"] == "hyper_params"


def test_the_export_and_the_engine_read_the_same_graph():
    model = tiny()
    spec, arrays = engine.graph_spec(model)
    assert spec["coder"]["op"] == "channel_groups" and [c["op"] for c in spec["coder"]["coders"]] == ["gaussian"] * 2
    assert engine.latent_graph(model).channels == 6
    assert set(arrays) >= {"h_s.0.weight", "y.context1.0.weight", "y.y0.table.quantized_cdf"}


def _node_class_names() -> List[str]:
    from neuralcodec.latent_codecs import description

    return [name for name in description.__all__ if name.endswith("Node") and name != "Node"]


@pytest.mark.parametrize(
    "module", ["engine.py", "graph_spec.py", "export/exporter.py", "export/entropy.py"]
)
def test_only_the_description_module_knows_the_node_kinds(module):
    """The engine, the spec reader and the exporter ask the nodes, never which kind they are."""
    tree = ast.parse((ROOT / module).read_text())
    named = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    named |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    kinds: Dict[str, None] = dict.fromkeys(_node_class_names())
    assert len(kinds) >= 7
    assert [k for k in kinds if k in named | imported] == []
