"""Training: the loss falls, resume is exact, DDP keeps ranks identical, the CLI works."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodec.train import RateDistortionLoss, TrainConfig, train
from neuralcodec.train.data import CropSampler, step_generator
from neuralcodec.zoo.defaults import load_weights_file, read_weights


def _write_images(folder: Path, count: int = 3, size: tuple = (80, 72)) -> Path:
    """Smooth colour images with a little texture (learnable in a few steps)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
        base = np.stack([np.sin(xx / (7 + i)), np.cos(yy / (5 + 2 * i)), np.sin((xx + yy) / 11)], axis=-1)
        pixels = (127.5 + 90 * base + rng.normal(0, 4, base.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.png")
    return folder


def _config(tmp_path: Path, **overrides) -> TrainConfig:
    values = dict(
        train_dir=str(_write_images(tmp_path / "train")),
        out_dir=str(tmp_path / "run"),
        architecture="mbt2018-mean",
        N=8,
        M=8,
        steps=6,
        batch_size=2,
        patch_size=64,
        lr=1e-3,
        lr_schedule="cosine",
        log_every=1,
        val_every=3,
        checkpoint_every=3,
        val_count=1,
        progress=False,
        threads=1,
    )
    values.update(overrides)
    return TrainConfig(**values)


def _train_rows(log: Path) -> list:
    with log.open() as f:
        return [r for r in csv.DictReader(f) if r["split"] == "train"]


def test_crops_are_a_function_of_seed_rank_and_step(tmp_path):
    images = CropSampler(_write_images(tmp_path / "imgs"), patch_size=64)
    first = images.batch(4, step_generator(0, 0, 5))
    assert first.shape == (4, 3, 64, 64) and first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, images.batch(4, step_generator(0, 0, 5)))
    assert not torch.equal(first, images.batch(4, step_generator(0, 1, 5)))
    assert not torch.equal(first, images.batch(4, step_generator(0, 0, 6)))


def test_small_images_are_padded_to_the_patch(tmp_path):
    images = CropSampler(_write_images(tmp_path / "small", count=1, size=(20, 30)), patch_size=64)
    assert images.batch(2, step_generator(0, 0, 0)).shape == (2, 3, 64, 64)


def test_rate_distortion_loss_terms():
    criterion = RateDistortionLoss(lmbda=0.01)
    x = torch.full((1, 3, 4, 4), 0.5)
    output = {"x_hat": x + 0.1, "likelihoods": {"y": torch.full((1, 2, 2, 2), 0.5)}}
    terms = criterion(output, x)
    assert float(terms["bpp"]) == pytest.approx(8 / 16)  # 8 symbols of 1 bit over 16 pixels
    assert float(terms["mse"]) == pytest.approx(0.01)
    assert float(terms["psnr"]) == pytest.approx(20.0)
    assert float(terms["loss"]) == pytest.approx(0.01 * 255**2 * 0.01 + 0.5)
    with pytest.raises(ValueError, match="lambda"):
        RateDistortionLoss(lmbda=-1)
    with pytest.raises(ValueError, match="metric"):
        RateDistortionLoss(metric="psnr")


def test_a_few_steps_reduce_the_loss(tmp_path):
    config = _config(tmp_path, steps=40, lr=2e-3, lr_schedule="constant", val_every=40, checkpoint_every=40, val_count=0)
    result = train(config)
    losses = [float(r["loss"]) for r in _train_rows(Path(config.out_dir) / "log.csv")]
    assert len(losses) == 40
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    assert result.weights_path.is_file()


def test_bfloat16_autocast_steps_reduce_the_loss_and_keep_float32_weights(tmp_path):
    config = _config(tmp_path, steps=40, lr=2e-3, lr_schedule="constant", val_every=40, checkpoint_every=40,
                     val_count=0, precision="bf16")
    result = train(config)
    losses = [float(r["loss"]) for r in _train_rows(Path(config.out_dir) / "log.csv")]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    assert all(p.dtype == torch.float32 for p in result.model.parameters())


def test_resume_may_switch_precision(tmp_path):
    config = _config(tmp_path, steps=4, precision="bf16")
    train(config, stop_at=2)
    resumed = train(_config(tmp_path, steps=4, precision="fp32"), resume=True)
    assert resumed.step == 4 and resumed.weights_path.is_file()


def test_mixed_quantization_trains_and_may_be_switched_on_when_resumed(tmp_path):
    config = _config(tmp_path / "mixed", steps=40, lr=2e-3, lr_schedule="constant", val_every=40,
                     checkpoint_every=40, val_count=0, quantization="mixed")
    train(config)
    losses = [float(r["loss"]) for r in _train_rows(Path(config.out_dir) / "log.csv")]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    switched = _config(tmp_path / "switch", steps=4)
    train(switched, stop_at=2)
    noise_rows = _train_rows(Path(switched.out_dir) / "log.csv")
    resumed = train(_config(tmp_path / "switch", steps=4, quantization="mixed"), resume=True)
    assert resumed.step == 4 and len(_train_rows(Path(switched.out_dir) / "log.csv")) == 4
    assert _train_rows(Path(switched.out_dir) / "log.csv")[:2] == noise_rows
    assert resumed.model.gaussian_conditional.training_outputs == "ste"
    with pytest.raises(ValueError, match="quantization"):
        train(_config(tmp_path / "bad", quantization="round"))


def test_resume_continues_the_same_trajectory_bit_for_bit(tmp_path):
    straight = _config(tmp_path / "a", steps=6)
    whole = train(straight)
    interrupted = _config(tmp_path / "b", steps=6)
    train(interrupted, stop_at=4)  # not a checkpoint step: the checkpoint is written on stopping
    assert not (Path(interrupted.out_dir) / "weights.safetensors").exists()
    with pytest.raises(FileExistsError, match="--resume"):
        train(interrupted)
    resumed = train(interrupted, resume=True)
    rows_a = _train_rows(Path(straight.out_dir) / "log.csv")
    rows_b = _train_rows(Path(interrupted.out_dir) / "log.csv")
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]
    assert len(rows_b) == 6
    state_a, state_b = whole.model.state_dict(), resumed.model.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path):
    config = _config(tmp_path, steps=2)
    train(config, stop_at=1)
    changed = _config(tmp_path, steps=2, lmbda=0.05)
    with pytest.raises(ValueError, match="lmbda"):
        train(changed, resume=True)


def test_trained_weights_file_codes_an_image(tmp_path):
    config = _config(tmp_path, steps=3)
    result = train(config)
    _state, metadata = read_weights(result.weights_path)
    assert metadata["architecture"] == "mbt2018-mean" and metadata["N"] == "8" and metadata["M"] == "8"
    assert metadata["lambda"] == repr(config.lmbda)
    model = load_weights_file(result.weights_path)
    x = torch.rand(1, 3, 40, 70)
    coded = model.compress(x)
    x_hat = model.decompress(coded["strings"], coded["shape"], x_size=coded["x_size"])["x_hat"]
    assert x_hat.shape == x.shape


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"architecture": "nope"}, "architecture"),
        ({"patch_size": 100}, "multiple of 64"),
        ({"steps": 0}, "steps"),
        ({"lmbda": 0.0}, "lambda"),
        ({"quantile_fit": "magic"}, "quantile_fit"),
        ({"precision": "fp16"}, "precision"),
    ],
)
def test_invalid_configs_are_refused(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(_config(tmp_path, **overrides))


def test_variable_rate_training_draws_a_level_and_its_lambda_each_step(tmp_path, monkeypatch):
    """Two CPU steps of one model for every rate, through the command line: each step draws
    a gain level (and trains at its lambda), validation codes at the middle quality, and the
    weights file codes at any quality."""
    from neuralcodec.cli import main
    from neuralcodec.models.vbr import VBR_LAMBDAS, MeanScaleHyperpriorVbr

    drawn = []
    original = MeanScaleHyperpriorVbr.draw_training_rate

    def spy(self, generator):
        rate, lmbda = original(self, generator)
        drawn.append((rate["s"], lmbda))
        return rate, lmbda

    monkeypatch.setattr(MeanScaleHyperpriorVbr, "draw_training_rate", spy)
    images = _write_images(tmp_path / "train")
    out = tmp_path / "run"
    code = main(["train", str(images), "-o", str(out), "--model", "mbt2018-mean-vbr", "--variable-rate",
                 "--N", "8", "--M", "8", "--steps", "2", "--batch-size", "1", "--patch-size", "64",
                 "--val-count", "1", "--val-every", "2", "--quiet", "--threads", "1"])
    assert code == 0
    assert len(drawn) == 2 and all(lmbda == VBR_LAMBDAS[s] for s, lmbda in drawn)
    with (out / "log.csv").open() as f:
        assert [row["split"] for row in csv.DictReader(f)].count("val") == 1
    _state, metadata = read_weights(out / "weights.safetensors")
    assert metadata["architecture"] == "mbt2018-mean-vbr" and metadata["lambda"] == "variable"
    model = load_weights_file(out / "weights.safetensors")
    x = torch.rand(1, 3, 40, 70)
    rate = model.prepare_quality(2.5)
    with torch.no_grad():
        coded = model.compress(x, **rate)
        assert model.decompress(coded["strings"], coded["shape"], x_size=coded["x_size"], **rate)["x_hat"].shape == x.shape


def test_variable_rate_training_needs_a_variable_rate_model(tmp_path):
    with pytest.raises(ValueError, match="variable-rate architecture"):
        train(_config(tmp_path, variable_rate=True))


def test_aux_adam_quantile_training_runs(tmp_path):
    result = train(_config(tmp_path, steps=3, quantile_fit="aux-adam"))
    assert result.weights_path.is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_on_cpu_keeps_ranks_identical(tmp_path):
    config = _config(tmp_path, steps=2, val_count=0, checkpoint_every=2)
    script = tmp_path / "ddp_job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import hashlib, os, torch
            from neuralcodec.train import TrainConfig, train
            config = TrainConfig(**{config.__dict__!r})
            result = train(config)
            digest = hashlib.sha256()
            for name, tensor in sorted(result.model.state_dict().items()):
                if not name.endswith(("_quantized_cdf", "_offset", "_cdf_length", "quantiles")):
                    digest.update(tensor.detach().contiguous().numpy().tobytes())
            rank = os.environ["RANK"]
            open(os.path.join({str(tmp_path)!r}, "rank" + rank + ".txt"), "w").write(digest.hexdigest())
            """
        )
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0, rank1 = (tmp_path / "rank0.txt").read_text(), (tmp_path / "rank1.txt").read_text()
    assert rank0 == rank1
    assert (Path(config.out_dir) / "weights.safetensors").is_file()


def test_cli_trains_refuses_to_clobber_and_resumes(tmp_path, capsys):
    from cli_runs import run_cli, run_in_process

    images = _write_images(tmp_path / "train")
    out = tmp_path / "run"
    args = ["train", str(images), "-o", str(out), "--N", "8", "--M", "8",
            "--batch-size", "1", "--patch-size", "64", "--no-progress", "--threads", "1"]
    first = run_cli(*args, "--steps", "2")
    assert first.returncode == 0, first.stderr
    assert "weights:" in first.stdout and (out / "weights.safetensors").is_file()

    def run(*more):  # the same command in this process; the subprocess above is the end-to-end run
        code, _, err = run_in_process(capsys, *args, *more)
        return code, err

    code, err = run("--steps", "2")
    assert code == 2 and "--resume" in err
    code, err = run("--steps", "3", "--resume")
    assert code == 0, err
    code, err = run("--steps", "2", "--overwrite", "--patch-size", "50")
    assert code == 2 and "multiple of 64" in err


def test_recipe_runs_every_stage_and_resumes_as_a_no_op(tmp_path, monkeypatch):
    """The shipped weights' recipe, with one or two steps a stage: base, fine-tune, polish
    and the bfloat16 stage all run, each from the weights of the one before."""
    from neuralcodec.train import recipe

    # The stages' wiring does not depend on the model's size: a model of 8 channels keeps
    # the stages' own crops (16 x 256 pixels in "large" and "finish") affordable on a CPU,
    # where the shipped size (N=96, M=128) took minutes a step.
    monkeypatch.setattr(recipe, "N", 8)
    monkeypatch.setattr(recipe, "M", 8)
    data = _write_images(tmp_path / "train", count=6, size=(64, 64))
    work = tmp_path / "work"
    argv = ["--data", str(data), "--work", str(work), "--qualities", "1", "3", "--base-steps", "2",
            "--finetune-steps", "1", "--polish-steps", "1", "--long-steps", "1", "--settle-steps", "1",
            "--extend-steps", "1", "--refine-steps", "1", "--large-steps", "1", "--finish-steps", "1"]
    assert recipe.main(argv) == 0
    for folder in ("q3", "q1", "q1-polish", "q3-polish", "q1-long", "q3-long", "q1-settle", "q3-settle",
                   "q1-extend", "q3-extend", "q1-refine", "q3-refine", "q1-large", "q3-large", "q1-finish", "q3-finish"):
        assert (work / folder / "weights.safetensors").is_file(), folder
    long_run = torch.load(work / "q1-long" / "checkpoint.pt", weights_only=True)["config"]
    assert long_run["precision"] == "bf16" and long_run["init_from"] == str(work / "q1-polish" / "weights.safetensors")
    extend_run = torch.load(work / "q3-extend" / "checkpoint.pt", weights_only=True)["config"]
    assert extend_run["init_from"] == str(work / "q3-settle" / "weights.safetensors")
    assert extend_run["lr"] == 2e-4 and extend_run["seed"] == 403 and extend_run["quantization"] == "mixed"
    refine_run = torch.load(work / "q1-refine" / "checkpoint.pt", weights_only=True)["config"]
    assert refine_run["init_from"] == str(work / "q1-extend" / "weights.safetensors")
    assert refine_run["lr"] == 1.5e-4 and refine_run["seed"] == 501 and refine_run["quantization"] == "mixed"
    assert refine_run["precision"] == "bf16"
    large_run = torch.load(work / "q3-large" / "checkpoint.pt", weights_only=True)["config"]
    assert (large_run["N"], large_run["M"]) == (8, 8)
    assert large_run["init_from"] == str(work / "q3-refine" / "weights.safetensors")
    assert (large_run["batch_size"], large_run["patch_size"], large_run["lr"], large_run["seed"]) == (16, 256, 1e-4, 603)
    assert large_run["quantization"] == "mixed" and large_run["device"] == "cpu"
    finish_run = torch.load(work / "q1-finish" / "checkpoint.pt", weights_only=True)["config"]
    assert finish_run["init_from"] == str(work / "q1-large" / "weights.safetensors")
    assert (finish_run["batch_size"], finish_run["patch_size"], finish_run["lr"], finish_run["seed"]) == (16, 256, 5e-5, 701)
    stamp = (work / "q3-finish" / "weights.safetensors").stat().st_mtime_ns
    assert recipe.main(argv) == 0  # finished stages are skipped
    assert (work / "q3-finish" / "weights.safetensors").stat().st_mtime_ns == stamp


def test_recipe_start_at_continues_the_installed_rungs_and_writes_a_ladder(tmp_path, monkeypatch):
    """``--start-at STAGE`` skips the earlier stages and trains STAGE from the shipped
    ladder's rungs (written out as fixed-rate weights files), leaving the package's files
    alone; ``--ladder FILE`` writes the trained rate points as a new ladder's rungs."""
    import dataclasses

    from neuralcodec.codec import weights_sha256
    from neuralcodec.models import MeanScaleLadder
    from neuralcodec.train import recipe
    from neuralcodec.zoo.defaults import default_model, default_weights_path, load_weights_file

    # The installed models have the shipped size, so the stage's crops are made small (its
    # own, 16 x 256 pixels, are checked by the test above): a step of those took minutes.
    monkeypatch.setitem(recipe.STAGES, "large", dataclasses.replace(recipe.STAGES["large"], batch_size=2, patch_size=64))
    installed = default_weights_path()
    before = installed.read_bytes()
    data = _write_images(tmp_path / "train", count=5, size=(64, 64))
    work = tmp_path / "work"
    ladder_file = tmp_path / "ladder.safetensors"
    argv = ["--data", str(data), "--work", str(work), "--start-at", "large", "--large-steps", "1",
            "--finish-steps", "0", "--ladder", str(ladder_file)]
    assert recipe.main(argv) == 0
    assert sorted(p.name for p in work.iterdir() if p.is_dir()) == ["q1-large", "q2-large", "q3-large", "q4-large"]
    run = torch.load(work / "q2-large" / "checkpoint.pt", weights_only=True)["config"]
    start = work / "installed-q2.safetensors"
    assert run["init_from"] == str(start) and (run["batch_size"], run["patch_size"]) == (2, 64)
    assert (run["N"], run["M"], run["lr"], run["seed"]) == (recipe.N, recipe.M, 1e-4, 602)
    shipped = default_model()
    assert weights_sha256(load_weights_file(start)) == weights_sha256(shipped.fixed_rate_model(1))  # rung 2 as shipped
    assert installed.read_bytes() == before
    ladder = load_weights_file(ladder_file)
    assert isinstance(ladder, MeanScaleLadder) and ladder.lmbda == shipped.lmbda
    trained = load_weights_file(work / "q2-large" / "weights.safetensors").state_dict()
    for key, value in ladder.fixed_rate_state_dict(1).items():
        if key.endswith("weight") and value.dim() == 4:
            assert torch.equal(value, trained[key].half().float()), key  # float16 kernels in the ladder's file


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on machines without CUDA")
def test_recipe_refuses_cuda_without_a_gpu(tmp_path, capsys):
    from neuralcodec.train import recipe

    with pytest.raises(SystemExit) as exit_info:
        recipe.main(["--data", str(tmp_path), "--work", str(tmp_path / "w"), "--device", "cuda"])
    assert exit_info.value.code == 2 and "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_recipe_refuses_an_unknown_quality(tmp_path, capsys):
    from neuralcodec.train import recipe

    with pytest.raises(SystemExit) as exit_info:
        recipe.main(["--data", str(tmp_path), "--work", str(tmp_path / "w"), "--qualities", "2", "7"])
    assert exit_info.value.code == 2 and "invalid choice: 7" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_a_wall_time_budget_stops_the_run_with_the_cosine_over_the_wall_time(tmp_path, monkeypatch):
    """A 1-minute budget on a clock that advances 1 s each time it is read: the run stops
    long before its step count, the learning rate decays with the time spent, and the
    checkpoint keeps the time so that a resumed run with a larger budget goes on."""
    from neuralcodec.train import trainer

    ticks = iter(range(10**6))
    monkeypatch.setattr(trainer._Clock, "now", staticmethod(lambda: float(next(ticks))))
    result = train(_config(tmp_path, steps=10_000, minutes=1.0, val_every=10_000, checkpoint_every=10_000))
    assert 5 < result.step < 60
    rows = _train_rows(tmp_path / "run" / "log.csv")
    assert len(rows) == result.step
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] > 0.9e-3 and lrs[-1] < 0.15e-3 and lrs == sorted(lrs, reverse=True)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["step"] == result.step and state["elapsed_seconds"] >= 60
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [entry["steps"] for entry in history] == [result.step] and history[0]["train_minutes"] >= 1
    assert result.weights_path.is_file()

    again = train(_config(tmp_path, steps=10_000, minutes=2.0, val_every=10_000, checkpoint_every=10_000), resume=True)
    assert result.step < again.step < 10_000
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [entry["steps"] for entry in history] == [result.step, again.step]
    assert history[1]["resumed_from_step"] == result.step


def _small_elic(config):
    from neuralcodec.models.elic_lite import ElicLiteVbr

    return ElicLiteVbr(N=8, M=16, groups=[8, 8], levels=3, context_channels=8, aggregation_channels=(8, 8))


def test_per_crop_qualities_weigh_each_crop_by_its_own_lambda_and_validation_covers_every_quality(tmp_path, monkeypatch):
    """The variable-rate candidate through the one trainer: each crop gets its own quality
    (passed to forward as one per image) and the loss its lambda; validation measures
    every integer quality with estimated bits; the weights come out as shards."""
    from neuralcodec.losses import RateDistortionLoss as Loss
    from neuralcodec.models.elic_lite import ElicLiteVbr
    from neuralcodec.train import trainer
    from neuralcodec.train.shards import load_shards

    monkeypatch.setattr(trainer, "new_model", _small_elic)
    seen = []
    original = Loss.forward

    def spy(self, output, target, lmbda=None):
        seen.append(lmbda)
        return original(self, output, target, lmbda)

    monkeypatch.setattr(Loss, "forward", spy)
    qualities = []
    forward = ElicLiteVbr.forward

    def spy_forward(self, x, quality=3.0):
        qualities.append(quality)
        return forward(self, x, quality)

    monkeypatch.setattr(ElicLiteVbr, "forward", spy_forward)
    shards = tmp_path / "shards"
    result = train(_config(tmp_path, architecture="elic-lite-vbr", variable_rate=True, quality_draw="per-crop",
                           batch_size=3, steps=2, val_every=2, val_qualities="integers", val_bits="estimated",
                           shards_dir=str(shards), min_scale=0.5, vertical_flip=True))
    drawn = [q for q in qualities if isinstance(q, torch.Tensor) and q.dim() == 1]
    assert len(drawn) == 2 and all(q.shape == (3,) and bool(((q >= 1) & (q <= 3)).all()) for q in drawn)
    assert len(set(drawn[0].tolist())) == 3  # three crops, three qualities
    lambdas = [lmbda for lmbda in seen if isinstance(lmbda, torch.Tensor)]
    assert len(lambdas) == 2
    for q, lmbda in zip(drawn, lambdas):
        assert torch.allclose(lmbda, ElicLiteVbr.lmbda(q))
    assert set(result.validation) == {"1", "2", "3"}
    assert [q for q in qualities if not isinstance(q, torch.Tensor)] == [1.0, 2.0, 3.0]  # one image, each quality
    with (tmp_path / "run" / "log.csv").open() as f:
        splits = [row["split"] for row in csv.DictReader(f)]
    assert splits.count("val@1") == splits.count("val@3") == splits.count("val") == 1
    history = json.loads((shards / "history.json").read_text())
    assert history[0]["validation"] == result.validation and history[0]["quality_draw"] == "per-crop"
    # elic-lite-vbr is a registered model: its weights file too (it needed shards while it was unlisted)
    assert result.weights_path == tmp_path / "run" / "weights.safetensors" and result.weights_path.is_file()
    loaded = load_shards(shards)
    assert torch.equal(loaded.y_gain, result.model.y_gain.detach().cpu())


def test_per_crop_qualities_need_a_model_that_takes_one_per_image(tmp_path):
    with pytest.raises(ValueError, match="per-crop"):
        train(_config(tmp_path, architecture="mbt2018-mean-vbr", variable_rate=True, quality_draw="per-crop"))
    with pytest.raises(ValueError, match="variable_rate"):
        train(_config(tmp_path, quality_draw="per-crop"))
    with pytest.raises(ValueError, match="takes no lambdas"):  # its own lambda per quality
        train(_config(tmp_path, architecture="elic-lite-vbr", variable_rate=True, lambdas=[0.001, 0.01]))
    with pytest.raises(ValueError, match="minutes"):
        train(_config(tmp_path, minutes=0.0))
    with pytest.raises(ValueError, match="min_scale"):
        train(_config(tmp_path, min_scale=0.0))


def test_fixed_rate_validation_with_estimated_bits_is_close_to_the_actual_bits(tmp_path):
    from neuralcodec.train.trainer import prepare_for_coding, validate

    result = train(_config(tmp_path, steps=3))
    images = CropSampler(_write_images(tmp_path / "val", count=2, size=(128, 128)), patch_size=64)
    model = result.model
    prepare_for_coding(model)
    criterion = RateDistortionLoss(0.0067)
    actual = validate(model, images, criterion)
    estimated = validate(model, images, criterion, bits="estimated")
    assert abs(estimated["psnr"] - actual["psnr"]) < 0.5
    assert 0.5 * actual["bpp"] < estimated["bpp"] < 1.5 * actual["bpp"] + 0.05
    with pytest.raises(ValueError, match="bits"):
        validate(model, images, criterion, bits="guessed")


def test_downscaled_crops_mix_pixels_and_plain_crops_are_blocks_of_the_image(tmp_path):
    folder = tmp_path / "checker"
    folder.mkdir()
    pixels = ((np.indices((160, 160)).sum(0) % 2) * 255).astype(np.uint8)
    Image.fromarray(np.stack([pixels] * 3, -1)).save(folder / "c.png")
    plain = CropSampler(folder, patch_size=64).batch(8, step_generator(0, 0, 0))
    assert set(plain.unique().tolist()) == {0.0, 1.0}  # cut, never resampled
    scaled = CropSampler(folder, patch_size=64, min_scale=0.5, vertical_flip=True).batch(8, step_generator(0, 0, 0))
    assert scaled.shape == plain.shape and float(scaled.min()) >= 0 and float(scaled.max()) <= 1
    blurred = [bool(((crop > 0.05) & (crop < 0.95)).float().mean() > 0.5) for crop in scaled]
    assert sum(blurred) >= 6  # all but crops drawn at a factor very close to 1


def test_a_failed_save_leaves_the_last_checkpoint_whole(tmp_path, monkeypatch):
    from neuralcodec.train import trainer

    train(_config(tmp_path, steps=6), stop_at=3)
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    names = sorted(p.name for p in (tmp_path / "run").iterdir())

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(trainer.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        train(_config(tmp_path, steps=6), resume=True)
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == names  # no partial or temporary file


def test_the_gained_mean_scale_model_trains_one_quality_per_crop_from_its_lambda_table(tmp_path):
    from neuralcodec.models import MeanScaleHyperpriorGained
    from neuralcodec.zoo.loader import load

    start = MeanScaleHyperpriorGained(8, 8, lambdas=[0.002, 0.02])
    result = train(_config(tmp_path, architecture="mbt2018-mean-gained", variable_rate=True, lambdas=[0.002, 0.02],
                           quality_draw="per-crop", steps=3, val_every=3, val_qualities="integers"))
    assert set(result.validation) == {"1", "2"}
    assert not torch.equal(result.model.y_gain.detach().cpu(), start.y_gain.detach())  # the gains trained
    loaded = load(checkpoint=result.weights_path)
    assert isinstance(loaded.model, MeanScaleHyperpriorGained) and loaded.model.lmbda == [0.002, 0.02]
    assert loaded.lambda_at(1.5) == pytest.approx((0.002 * 0.02) ** 0.5)


def test_a_share_of_the_crops_is_drawn_at_the_integer_qualities(tmp_path):
    from neuralcodec.models import MeanScaleHyperpriorGained
    from neuralcodec.train.trainer import _rate_per_crop

    model = MeanScaleHyperpriorGained(8, 8)
    generator = torch.Generator().manual_seed(3)
    rate, lambdas = _rate_per_crop(model, 4000, generator, torch.device("cpu"), level_share=0.5)
    qualities = rate["quality"]
    integer = qualities == qualities.round()
    assert 0.45 < float(integer.float().mean()) < 0.55  # half at the levels (the rest: a measure-zero chance)
    assert set(qualities[integer].tolist()) == {1.0, 2.0, 3.0, 4.0}
    assert bool(((qualities >= 1) & (qualities <= 4)).all())
    assert torch.allclose(lambdas[integer], torch.tensor([model.lmbda[int(q) - 1] for q in qualities[integer]]))
    unchanged = _rate_per_crop(model, 8, torch.Generator().manual_seed(5), torch.device("cpu"))[0]["quality"]
    first = 1 + 3 * torch.rand(8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.equal(unchanged, first.float())  # without a share: the draw of before
    with pytest.raises(ValueError, match="level_share"):
        _config(tmp_path, variable_rate=True, architecture="mbt2018-mean-gained", level_share=0.5).validate()
    with pytest.raises(ValueError, match="level_share"):
        _config(tmp_path, variable_rate=True, architecture="mbt2018-mean-gained", quality_draw="per-crop",
                level_share=1.5).validate()


def test_train_only_freezes_every_other_parameter_and_trains_a_ladders_gains(tmp_path):
    from neuralcodec.models import MeanScaleHyperprior, MeanScaleLadder
    from neuralcodec.zoo.defaults import save_weights

    torch.manual_seed(0)
    rungs = [MeanScaleHyperprior(8, 8).eval() for _ in range(2)]
    start = MeanScaleLadder.from_fixed_rate(rungs, [0.002, 0.02])
    start.update(force=True)
    init = tmp_path / "init.safetensors"
    save_weights(start, init, "mbt2018-mean-ladder", metadata={"lambdas": "[0.002, 0.02]"})
    result = train(_config(tmp_path, architecture="mbt2018-mean-ladder", variable_rate=True, lambdas=[0.002, 0.02],
                           quality_draw="per-crop", steps=3, val_every=3, init_from=str(init), N=8, M=8,
                           train_only=("*gain*",)))
    trained = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    before = start.state_dict()
    moved = {k for k in before if k in trained and not torch.equal(trained[k], before[k])}
    assert any(k.endswith("y_gain") for k in moved)
    # Nothing but the gains trained (the quantiles and tables are re-fitted, not trained).
    assert {k for k in moved if not k.endswith(("quantiles", "_quantized_cdf", "_offset", "_cdf_length"))} <= {
        f"rungs.{r}.{name}" for r in range(2) for name in ("y_gain", "y_gain_inv", "z_gain", "z_gain_inv")}
    for k in moved:
        if "gain" in k:
            middle = start.middle_level
            assert torch.equal(trained[k][middle], torch.ones_like(trained[k][middle]))
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[-1]["train_only"] == ["*gain*"]
    with pytest.raises(ValueError, match="train_only"):
        _config(tmp_path, train_only=("",)).validate()
    assert TrainConfig.from_dict({**_config(tmp_path).__dict__, "train_only": ["*gain*"]}).train_only == ("*gain*",)
