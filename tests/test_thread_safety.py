"""One model, and one Codec, used from several threads at once.

The settings of a call (coding path, tile size, tile progress, 8-bit output, the analysis
memo of rate control) are arguments of that call (``CodingOptions``), never attributes of
the model, so concurrent calls with different settings each get what the same call gives
alone, and a call leaves every attribute of the model as it found it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List

import numpy as np
import pytest
import torch
from torch import nn

from neuralcodec.codec.api import Codec
from neuralcodec.entropy_models import bound_tables
from neuralcodec.models import MeanScaleHyperprior
from neuralcodec.models.base import AnalysisMemo, CodingOptions
from neuralcodec.models.vbr import MeanScaleHyperpriorVbr, ScaleHyperpriorVbr

THREADS = 4


def _hyperprior() -> MeanScaleHyperprior:
    torch.manual_seed(0)
    model = MeanScaleHyperprior(8, 12).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(20)  # latents spanning several symbols
    model.update(force=True)
    return model


def _vbr(cls: Any = ScaleHyperpriorVbr, **kwargs: Any) -> Any:
    torch.manual_seed(1)
    model = cls(8, 12, **kwargs).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(20)
        if model.vr_entbttlnck:  # a step of z that grows with 1 / gain (untrained, it is the 0.5 floor)
            for layer in model.gayn2zqstep:
                if isinstance(layer, nn.Linear):
                    layer.weight.fill_(0.2)
                    layer.bias.zero_()
    model.update(force=True)
    return model


def _image(seed: int, height: int, width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, 3, height, width), dtype=torch.uint8, generator=generator)


def _concurrently(jobs: List[Callable[[], Any]], rounds: int = 2) -> List[Any]:
    """Runs every job from its own thread, all released at once, ``rounds`` times over;
    returns the results of the last round (each round's must agree, checked here)."""
    results: List[Any] = []
    for _ in range(rounds):
        barrier = threading.Barrier(len(jobs))

        def run(job: Callable[[], Any], barrier: threading.Barrier = barrier) -> Any:
            barrier.wait()
            return job()

        with ThreadPoolExecutor(len(jobs)) as pool:
            outcome = list(pool.map(run, jobs))
        if results:
            assert _same(outcome, results)
        results = outcome
    return results


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _state(model: nn.Module) -> Dict[str, Dict[str, Any]]:
    """Every attribute of every module but its parameters, buffers and submodules (by
    identity: a value replaced by an equal one counts as a change)."""
    skip = ("_parameters", "_buffers", "_modules")
    return {name: {k: id(v) for k, v in vars(m).items() if k not in skip} for name, m in model.named_modules()}


def _round_trip(model: nn.Module, x: torch.Tensor, options: CodingOptions, **rate: Any) -> Dict[str, Any]:
    with torch.no_grad():
        out = model.compress(x, options=options, **rate)
        x_hat = model.decompress(out["strings"], out["shape"], x_size=out["x_size"], options=options, **rate)["x_hat"]
    return {"strings": out["strings"], "shape": out["shape"], "x_hat": x_hat}


def test_one_model_codes_from_several_threads_with_different_settings_as_it_does_alone():
    model = _hyperprior()
    progress: Dict[int, List[int]] = {i: [] for i in range(THREADS)}
    calls = [
        (_image(0, 64, 96), CodingOptions(tile_size=None)),
        (_image(1, 150, 200), CodingOptions(tile_size=64, tile_progress=lambda d, t: progress[1].append(t))),
        (_image(2, 130, 90), CodingOptions(tile_size=64, pixels_out=True)),
        (_image(3, 70, 140), CodingOptions(pixels_out=True, tile_progress=lambda d, t: progress[3].append(t))),
    ]
    alone = [_round_trip(model, x, options) for x, options in calls]
    assert progress[1] and not progress[3]  # tiles for one call only (the default tile is larger than image 3)
    assert alone[2]["x_hat"].dtype == torch.uint8 and alone[0]["x_hat"].dtype == torch.float32
    for i in progress:
        progress[i].clear()
    together = _concurrently([lambda x=x, o=o: _round_trip(model, x, o) for x, o in calls])
    assert _same(together, alone)
    assert progress[1] and not progress[3] and not progress[0] and not progress[2]


@pytest.mark.parametrize("coding_path", ["engine", "compat"])
def test_a_variable_rate_model_codes_several_qualities_at_once(coding_path):
    """``vr_entbttlnck``: the tables of z are built for each gain's step; calls at other gains
    from other threads must not code with them."""
    model = _vbr(vr_entbttlnck=True)
    x = _image(4, 64, 64)
    qualities = [1.0, 2.5, 5.25, 8.0]

    def code(quality: float) -> Dict[str, Any]:
        with bound_tables():  # portable tables on either path, as the codec codes (the file names them)
            rate = model.prepare_quality(quality, coding_path=coding_path)
            return _round_trip(model, x, CodingOptions(coding_path=coding_path), **rate)

    steps = {float(model.z_step(model.gain_for_quality(q), portable=True)) for q in qualities}
    assert len(steps) == len(qualities)  # z is coded with a step (and tables) of its own at each quality
    alone = [code(q) for q in qualities]
    together = _concurrently([lambda q=q: code(q) for q in qualities])
    assert _same(together, alone)


def test_one_codec_encodes_and_decodes_from_several_threads():
    codec = Codec(_vbr(MeanScaleHyperpriorVbr, vr_entbttlnck=True))
    jobs = [
        dict(image=_image(5, 80, 100)[0].permute(1, 2, 0).numpy(), quality=1.5, coding_path="engine", tile_size=64,
             output="numpy"),
        dict(image=_image(6, 64, 64)[0].permute(1, 2, 0).numpy(), quality=4.0, coding_path="compat", tile_size=0,
             output="tensor"),
        dict(image=_image(7, 150, 70)[0].permute(1, 2, 0).numpy(), quality=7.75, coding_path="engine", tile_size=None,
             output="pil"),
        dict(image=_image(8, 66, 130)[0].permute(1, 2, 0).numpy(), quality=3.0, coding_path="compat", tile_size=64,
             output="numpy"),
    ]

    def run(job: Dict[str, Any]) -> Any:
        data = codec.encode(job["image"], quality=job["quality"], coding_path=job["coding_path"],
                            tile_size=job["tile_size"])
        decoded = codec.decode(data, output=job["output"], tile_size=job["tile_size"])
        return data, np.asarray(decoded) if job["output"] == "pil" else decoded

    before = _state(codec.model)
    alone = [run(job) for job in jobs]
    together = _concurrently([lambda job=job: run(job) for job in jobs])
    assert _same(together, alone)
    assert alone[1][1].dtype == torch.float32 and alone[0][1].dtype == np.uint8
    # Coding rebuilt z's tables (buffers) for each step, and changed no other attribute.
    after = _state(codec.model)
    assert after.keys() == before.keys()
    assert {k for k in after[""] if after[""][k] != before[""][k]} <= {"_engine_z_step"}


def test_the_analysis_memo_belongs_to_the_caller():
    model = _vbr()
    x = _image(9, 64, 96)
    runs: List[int] = []
    hook = model.g_a[0].register_forward_hook(lambda *args: runs.append(1))
    try:
        memo = AnalysisMemo()
        with torch.no_grad():
            out = [model.compress(x, **model.prepare_quality(q), options=CodingOptions(analysis=memo)) for q in (2, 5)]
            fresh = [model.compress(x, **model.prepare_quality(q)) for q in (2, 5)]
    finally:
        hook.remove()
    assert runs == [1, 1, 1]  # once with the memo, once per call without
    assert _same([o["strings"] for o in out], [f["strings"] for f in fresh])
    assert "_analysis_memo" not in vars(model) and not hasattr(model, "reuse_analysis")


@pytest.mark.parametrize("make", [_hyperprior, lambda: _vbr(MeanScaleHyperpriorVbr)], ids=["mbt2018-mean", "vbr"])
def test_no_attribute_of_the_model_changes_across_a_call(make):
    model = make()
    x = _image(10, 140, 100)
    rate = model.prepare_quality(3.5) if hasattr(model, "prepare_quality") else {}
    _round_trip(model, x, CodingOptions(), **rate)  # first use: caches that are built once
    before = _state(model)
    for options in (
        CodingOptions(tile_size=64, pixels_out=True, tile_progress=lambda d, t: None),
        CodingOptions(coding_path="engine", tile_size=0, analysis=AnalysisMemo()),
        CodingOptions(),
    ):
        _round_trip(model, x, options, **rate)
        assert _state(model) == before
    assert not hasattr(model, "tile_size") and not hasattr(model, "pixels_out") and not hasattr(model, "tile_progress")


def test_per_call_settings_cannot_be_set_on_a_model_and_are_checked():
    model = _hyperprior()
    for name, value in (("tile_size", 64), ("pixels_out", True), ("tile_progress", print)):
        with pytest.raises(AttributeError, match=f"options=CodingOptions\\({name}="):
            setattr(model, name, value)
    with pytest.raises(ValueError, match="disagree"):
        model.compress(_image(0, 64, 64), coding_path="compat", options=CodingOptions(coding_path="engine"))
    with pytest.raises(TypeError, match="CodingOptions"):
        model.compress(_image(0, 64, 64), options={"tile_size": 64})
    with pytest.raises(ValueError, match="tile_size"):
        CodingOptions(tile_size=-1)
    with pytest.raises(TypeError, match="pixels_out"):
        CodingOptions(pixels_out="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tile_progress"):
        CodingOptions(tile_progress=3)  # type: ignore[arg-type]
