"""Training the variable-rate candidate default (:class:`~neuralcodec.models.elic_lite.ElicLiteVbr`)
to a wall-time budget: ``python -m neuralcodec.train.vbr``.

Built for borrowed GPU minutes (``benches/gpu/train.sh`` wraps it into one call): the
photos are decoded once and kept on the device, every step draws random crops with a
random downscale (0.5-1x) and flips there, and each crop gets its own quality drawn
uniformly from the model's continuous range with the lambda that belongs to it (one
model for every rate). The learning rate warms up, then follows a cosine over the *wall
time* budget (the number of steps a machine manages is not known beforehand), down to
5% of the peak. A run starts from ``--init`` (a folder of weight shards, e.g. the last
run's) or from scratch, and resumes from ``WORK/checkpoint.pt`` when one is there.

At the end it fits the entropy bottleneck's quantiles, measures every integer quality on
the held-out photos (``--val``: estimated bits from the likelihoods with rounded latents,
PSNR), and writes the weights as float32 safetensors shards of at most 15 MiB
(``--out``), a ``history.json`` entry (steps, minutes, losses, validation) and the log.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from neuralcodec.datasets.image import list_images, read_rgb
from neuralcodec.files import write_atomic
from neuralcodec.losses import RateDistortionLoss
from neuralcodec.models.elic_lite import ElicLiteVbr

__all__ = ["load_shards", "main", "save_shards", "train_vbr"]

#: Largest shard written (the device tool returns files of at most 16 MiB).
SHARD_BYTES = 15 * 2**20
SHARD_PREFIX = "elic-lite-vbr-"
#: State that the weights determine (CDF tables, context-convolution masks): not stored.
_DERIVED = ("_quantized_cdf", "_offset", "_cdf_length", ".mask")


def _images_under(folder: Path) -> List[Path]:
    """Image files in ``folder`` and its subfolders, sorted."""
    found: List[Path] = []
    for directory in sorted({folder, *(p for p in folder.rglob("*") if p.is_dir())}):
        try:
            found.extend(list_images(directory))
        except ValueError:
            continue
    if not found:
        raise ValueError(f"no images under {folder}")
    return found


def _load_uint8(paths: Sequence[Path], device: torch.device) -> List[Tensor]:
    images = []
    for path in paths:
        array = torch.from_numpy(np.array(read_rgb(path))).permute(2, 0, 1)
        images.append(array.contiguous().to(device))
    return images


def random_crops(images: Sequence[Tensor], batch: int, patch: int, rng: random.Random) -> Tensor:
    """``[batch, 3, patch, patch]`` float crops in ``[0, 1]``: a random image, a random
    downscale in ``[0.5, 1]`` (area-averaged), a random position and flips each."""
    crops = []
    for _ in range(batch):
        image = images[rng.randrange(len(images))]
        height, width = image.shape[-2:]
        largest = min(height, width) / patch
        scale = rng.uniform(1.0, max(1.0, min(2.0, largest)))
        side = max(patch, int(round(patch * scale)))
        side_h, side_w = min(side, height), min(side, width)
        top, left = rng.randint(0, height - side_h), rng.randint(0, width - side_w)
        crop = image[:, top : top + side_h, left : left + side_w].unsqueeze(0).float() / 255.0
        if crop.shape[-2:] != (patch, patch):
            crop = F.interpolate(crop, size=(patch, patch), mode="bilinear", antialias=True, align_corners=False)
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        if rng.random() < 0.5:
            crop = crop.flip(-2)
        crops.append(crop)
    return torch.cat(crops).clamp(0, 1)


def save_shards(model: ElicLiteVbr, folder: Path, metadata: Optional[Dict[str, str]] = None) -> List[Path]:
    """Writes ``model``'s state_dict as safetensors shards of at most :data:`SHARD_BYTES`
    (``elic-lite-vbr-00.safetensors``, ...); stale shards are removed.

    Convolution kernels (4-D tensors) are stored as float16 and everything else as
    float32, as the shipped weight files do (``zoo.defaults.save_weights``): half the
    size, so that the committed checkpoint, the photos and the tree fit the 64 MiB a
    device call carries. :func:`load_shards` widens them back."""
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{SHARD_PREFIX}*.safetensors"):
        old.unlink()
    info = {"format": "neuralcodec-weights-shard", "architecture": "elic-lite-vbr", "N": str(model.N),
            "M": str(model.M), "groups": ",".join(map(str, model.groups)), "levels": str(model.levels),
            "context_channels": str(model.context_channels),
            "aggregation_channels": ",".join(map(str, model.aggregation_channels)),
            **(metadata or {})}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
             if not k.endswith(_DERIVED)}
    state = {k: v.half() if v.is_floating_point() and v.dim() == 4 else v.float() if v.is_floating_point() else v
             for k, v in state.items()}
    shards: List[Dict[str, Tensor]] = [{}]
    size = 0
    for key, value in state.items():
        nbytes = value.numel() * value.element_size()
        if size + nbytes > SHARD_BYTES - 2**16 and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][key] = value
        size += nbytes
    paths = []
    for index, tensors in enumerate(shards):
        path = folder / f"{SHARD_PREFIX}{index:02d}.safetensors"
        write_atomic(path, save(tensors, metadata=info), force=True)
        paths.append(path)
    return paths


def load_shards(folder: Path, device: str = "cpu") -> ElicLiteVbr:
    """The model stored by :func:`save_shards` in ``folder``."""
    from safetensors import safe_open

    paths = sorted(Path(folder).glob(f"{SHARD_PREFIX}*.safetensors"))
    if not paths:
        raise FileNotFoundError(f"no {SHARD_PREFIX}*.safetensors in {folder}")
    state: Dict[str, Tensor] = {}
    info: Dict[str, str] = {}
    for path in paths:
        with safe_open(str(path), framework="pt") as handle:
            info = handle.metadata() or {}
            for key in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                tensor = handle.get_tensor(key)
                state[key] = tensor.float() if tensor.is_floating_point() else tensor
    try:
        model = ElicLiteVbr(
            N=int(info["N"]), M=int(info["M"]), groups=[int(g) for g in info["groups"].split(",")],
            levels=int(info["levels"]), context_channels=int(info["context_channels"]),
            aggregation_channels=tuple(int(c) for c in info["aggregation_channels"].split(",")),  # type: ignore[arg-type]
        )
        missing, unexpected = model.load_state_dict(state, strict=False)
    except (KeyError, ValueError, RuntimeError) as error:
        raise ValueError(f"shards in {folder} do not describe an ElicLiteVbr: {error}") from None
    missing = [k for k in missing if not k.endswith(_DERIVED)]
    if missing or unexpected:
        raise ValueError(f"shards in {folder} do not match the model: missing {missing}, unexpected {unexpected}")
    return model.to(device)


def _learning_rate(peak: float, elapsed: float, budget: float, step: int, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    fraction = min(1.0, elapsed / budget)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * fraction)))


def _loss(model: ElicLiteVbr, x: Tensor, quality: Tensor) -> Dict[str, Tensor]:
    """The batch mean of each crop's ``lambda(quality_i) * 255^2 * MSE_i + bpp_i``."""
    terms = cast(Dict[str, Tensor], RateDistortionLoss()(model(x, quality), x, model.lmbda(quality)))
    return {key: terms[key] for key in ("loss", "bpp", "mse")}


@torch.no_grad()
def validate(model: ElicLiteVbr, images: Sequence[Tensor]) -> Dict[str, Dict[str, float]]:
    """Estimated bpp (rounded latents) and PSNR at every integer quality, averaged over
    ``images`` (uint8 ``[3, H, W]``; cropped to multiples of 64)."""
    was_training = model.training
    model.eval()
    results: Dict[str, Dict[str, float]] = {}
    for quality in range(1, model.levels + 1):
        bpps, psnrs = [], []
        for image in images:
            height, width = (s // 64 * 64 for s in image.shape[-2:])
            x = image[:, :height, :width].unsqueeze(0).float() / 255.0
            output = model(x, float(quality))
            bits = sum(-torch.log2(lik).sum() for lik in output["likelihoods"].values())
            bpps.append(float(bits) / (height * width))
            x_hat = (output["x_hat"].clamp(0, 1) * 255).round() / 255
            psnrs.append(float(-10 * torch.log10(((x_hat - x) ** 2).mean())))
        results[str(quality)] = {"bpp": sum(bpps) / len(bpps), "psnr": sum(psnrs) / len(psnrs)}
    model.train(was_training)
    return results


def train_vbr(args: argparse.Namespace) -> Dict[str, Any]:
    device = torch.device(args.device)
    started = time.monotonic()
    budget = args.minutes * 60.0
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    train_paths = [p for folder in args.data for p in _images_under(Path(folder))]
    images = _load_uint8(train_paths, device)
    val_images = _load_uint8(_images_under(Path(args.val)), device) if args.val else []
    print(f"{len(images)} training photos, {len(val_images)} held out, {time.monotonic() - started:.1f} s", flush=True)

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    checkpoint_path = work / "checkpoint.pt"
    model = load_shards(Path(args.init)) if args.init else ElicLiteVbr()
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam([p for n, p in model.named_parameters() if not n.endswith("quantiles")], lr=args.lr)
    # The entropy bottleneck's quantiles follow their own loss (CompressAI's aux loss).
    aux_optimizer = torch.optim.Adam([p for n, p in model.named_parameters() if n.endswith("quantiles")], lr=1e-3)
    step, spent = 0, 0.0
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        step, spent = state["step"], state["spent"]
        print(f"resumed at step {step} ({spent / 60:.1f} min spent)", flush=True)
    low, high = model.qualities()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    log: List[Dict[str, float]] = []
    window: List[Dict[str, Tensor]] = []
    run_start = time.monotonic() - spent
    last_save = time.monotonic()
    model.train()
    while step < args.max_steps:
        elapsed = time.monotonic() - run_start
        if elapsed >= budget:
            break
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(args.lr, elapsed, budget, step, args.warmup)
        x = random_crops(images, args.batch_size, args.patch_size, rng).contiguous(memory_format=torch.channels_last)
        quality = torch.empty(args.batch_size, device=device).uniform_(low, high)
        with autocast:
            terms = _loss(model, x, quality)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        aux_optimizer.zero_grad(set_to_none=True)
        model.aux_loss().backward()
        aux_optimizer.step()
        step += 1
        window.append({k: v.detach() for k, v in terms.items()})  # no device sync per step
        if step % args.log_every == 0:
            row = {k: float(torch.stack([w[k] for w in window]).mean()) for k in window[0]}
            row.update(step=step, minutes=(time.monotonic() - run_start) / 60, lr=optimizer.param_groups[0]["lr"])
            log.append(row)
            window = []
            print(" ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
        if time.monotonic() - last_save > args.checkpoint_minutes * 60:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                        "spent": time.monotonic() - run_start}, checkpoint_path)
            last_save = time.monotonic()
    trained = time.monotonic() - run_start
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "spent": trained},
               checkpoint_path)

    model = model.float().to(memory_format=torch.contiguous_format)
    model.entropy_bottleneck.fit_quantiles()
    validation = validate(model, val_images) if val_images else {}
    entry = {"steps": step, "train_minutes": round(trained / 60, 2), "device": args.device,
             "batch_size": args.batch_size, "patch_size": args.patch_size, "peak_lr": args.lr,
             "init": str(args.init or "scratch"), "photos": len(images),
             "final_loss": log[-1]["loss"] if log else None, "validation": validation}
    print(json.dumps(entry, indent=1), flush=True)
    out = Path(args.out)
    save_shards(model.cpu(), out, metadata={"steps": str(step)})
    write_atomic(out / "train-log.json", json.dumps(log).encode(), force=True)
    history_path = out / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else []
    history.append(entry)
    write_atomic(history_path, json.dumps(history, indent=1).encode(), force=True)
    return entry


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralcodec.train.vbr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="folders of training photos (searched recursively)")
    parser.add_argument("--val", help="folder of held-out photos for the final validation")
    parser.add_argument("--work", required=True, help="folder for the resumable checkpoint")
    parser.add_argument("--out", required=True, help="folder for the weight shards, history.json and the log")
    parser.add_argument("--init", help="folder of weight shards to start from (default: from scratch)")
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-time budget of the training loop")
    parser.add_argument("--max-steps", type=int, default=10**9)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-4, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--checkpoint-minutes", type=float, default=2.0)
    args = parser.parse_args(argv)
    train_vbr(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
