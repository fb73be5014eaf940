"""Whole-model compress + decompress against CompressAI with the same weights, in one run.

For each architecture at CompressAI's sizes for ``--quality`` (default 3), builds
CompressAI's model from a fixed seed, loads its state_dict into ours, and times
``compress`` and ``decompress`` of one 768x512 image on the CPU. Ours runs on its
``"compat"`` coding path (``--coding-path`` picks another one where a model has it). The
bench checks that both produce the same strings and the same reconstruction.

Calls alternate (CompressAI, ours, ours, CompressAI, ...) so that load from other processes
hits both sides alike; figures are medians. Random weights give near-zero latents, so the
last layers of ``g_a``, ``h_a`` and the Gaussian-parameter network are rescaled on the image
and the bottleneck density is fitted (see ``calibrate``): 0.3-1.0 bits per pixel on the
Kodak tiles, about what trained models give at middle qualities.

The image: the centre 384x256 of four Kodak images (kodim01, 05, 15, 23 from
``../shared/data/kodak24-crop500``), tiled 2x2 at their native resolution; ``--image``
resizes any other picture to 768x512 instead, and without either a smooth synthetic image
is used. Needs compressai beside neuralcodec (see benches/README.md)::

    python benches/python/bench_models.py --json benches/results/models.json
    python benches/python/bench_models.py --models bmshj2018-hyperprior mbt2018-mean
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

import neuralcodec
from neuralcodec import zoo

HEIGHT, WIDTH = 512, 768
AUTOREGRESSIVE = ("mbt2018", "cheng2020-anchor", "cheng2020-attn")
KODAK = Path(__file__).resolve().parents[3] / "shared" / "data" / "kodak24-crop500"
KODAK_TILES = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")


def load_image(path: Optional[str]) -> tuple[torch.Tensor, str]:
    """``[1, 3, 512, 768]`` float in [0, 1], and a description of where it came from."""
    from PIL import Image

    def to_tensor(img: "Image.Image") -> torch.Tensor:
        return torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1)[None].float() / 255

    if path:
        img = Image.open(path).convert("RGB").resize((WIDTH, HEIGHT), Image.BICUBIC)
        return to_tensor(img), f"{path} resized to {WIDTH}x{HEIGHT} (bicubic)"
    if all((KODAK / name).exists() for name in KODAK_TILES):
        th, tw = HEIGHT // 2, WIDTH // 2
        tiles = []
        for name in KODAK_TILES:
            img = Image.open(KODAK / name)
            left, top = (img.width - tw) // 2, (img.height - th) // 2
            tiles.append(to_tensor(img.crop((left, top, left + tw, top + th))))
        x = torch.cat([torch.cat(tiles[:2], dim=3), torch.cat(tiles[2:], dim=3)], dim=2)
        return x, f"2x2 tiles of the centre {tw}x{th} of {', '.join(KODAK_TILES)} (kodak24-crop500)"
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, HEIGHT // 16, WIDTH // 16, generator=generator)
    x = torch.nn.functional.interpolate(coarse, size=(HEIGHT, WIDTH), mode="bicubic", align_corners=False)
    return (x + 0.03 * torch.randn(x.shape, generator=generator)).clamp(0, 1), "synthetic"


def last_conv(module: torch.nn.Module) -> torch.nn.Conv2d:
    return [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)][-1]


def _stage_output(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen: List[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
    model(x)
    handle.remove()
    return seen[0]


def _set_stats(layer: torch.nn.Conv2d, out: torch.Tensor, rows: slice, std: float, mean: Optional[float]) -> None:
    """Rescales output channels ``rows`` of ``layer`` to ``std`` (and shifts them to ``mean``)."""
    factor = std / float(out[:, rows].std())
    layer.weight[rows].mul_(factor)
    layer.bias[rows].mul_(factor)
    if mean is not None:
        layer.bias[rows].add_(mean - factor * float(out[:, rows].mean()))


def _fit_bottleneck(eb: torch.nn.Module, values: torch.Tensor, steps: int = 150) -> None:
    """A few Adam steps of the bottleneck density on ``values``, then its quantiles."""
    generator = torch.Generator().manual_seed(0)
    flat = values.transpose(0, 1).reshape(values.size(1), 1, -1)
    density = [p for n, p in eb.named_parameters() if n != "quantiles"]
    optimizer = torch.optim.Adam(density, lr=2e-2)
    for _ in range(steps):
        sample = flat[:, :, torch.randint(flat.size(2), (256,), generator=generator)].transpose(0, 1)
        _, likelihoods = eb(sample, training=True)
        loss = -torch.log2(likelihoods).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    aux = torch.optim.Adam([eb.quantiles], lr=1e-1)
    for _ in range(300):
        loss = eb.loss()
        aux.zero_grad()
        loss.backward()
        aux.step()


def calibrate(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Gives a random CompressAI model the latent statistics of a trained one, roughly.

    Random init gives latents near 0 and Gaussian parameters unrelated to them (several
    bits per latent). The last layer of ``g_a`` is rescaled on ``x`` to a standard
    deviation of 0.35 (0.7 for the factorized prior), that of ``h_a`` to 1; the scale
    channels of the Gaussian parameters to mean 0.5 and std 0.2, the mean channels to
    std 0.1; and the bottleneck density is fitted to its input (``y`` or ``z``) for
    150 Adam steps. That gives 0.3-1.0 bits per pixel on the Kodak tiles (``bpp`` in the results).
    """
    model.eval()
    factorized = not hasattr(model, "h_a")
    with torch.no_grad():
        layer = last_conv(model.g_a)
        _set_stats(layer, _stage_output(model, layer, x), slice(None), 0.7 if factorized else 0.35, None)
        if factorized:
            values = model.g_a(x)
        else:
            layer = last_conv(model.h_a)
            _set_stats(layer, _stage_output(model, layer, x), slice(None), 1.0, None)
            params = model.entropy_parameters if hasattr(model, "entropy_parameters") else model.h_s
            layer = last_conv(params)
            out = _stage_output(model, layer, x)
            _set_stats(layer, out, slice(0, model.M), 0.2, 0.5)  # scales: the first M channels
            if out.size(1) > model.M:
                _set_stats(layer, out, slice(model.M, None), 0.1, 0.0)  # means
            y = model.g_a(x)
            values = model.h_a(y.abs() if type(model).__name__ == "ScaleHyperprior" else y)
    with torch.enable_grad():
        _fit_bottleneck(model.entropy_bottleneck, values.detach())


def git_commit() -> str:
    """The commit of the checkout this script sits in (the wheel is built from it)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores, {platform.platform()}"


def interleaved(
    calls: Dict[str, Callable[[], Any]], repeats: int, warmup: bool
) -> tuple[Dict[str, Dict[str, float]], Dict[str, Any]]:
    """Median wall-clock and CPU seconds per call, and each call's last result.

    The order of the calls is reversed every round (A B, B A, A B, ...). CPU time
    (``time.process_time``) is the steadier figure on a loaded machine; with one torch
    thread it is close to the wall time on an idle one. ``warmup`` runs each call once,
    untimed, first.
    """
    names = list(calls)
    last: Dict[str, Any] = {}
    if warmup:
        for name in names:
            last[name] = calls[name]()
    wall: Dict[str, List[float]] = {name: [] for name in names}
    cpu: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            last[name] = calls[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    medians = {name: {"wall": statistics.median(wall[name]), "cpu": statistics.median(cpu[name])} for name in names}
    return medians, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(zoo.image_models))
    parser.add_argument("--quality", type=int, default=3, help="CompressAI's sizes for this quality")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs of the non-AR models")
    parser.add_argument("--ar-repeats", type=int, default=2, help="timed runs of the AR models (no warm-up)")
    parser.add_argument("--image", help="an image to resize to 768x512 (default: Kodak tiles)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--coding-path", default="compat", help='our coding path (default "compat")')
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    import compressai  # type: ignore[import-not-found]
    from compressai import zoo as cai_zoo  # type: ignore[import-not-found]

    torch.set_num_threads(args.threads)
    x, source = load_image(args.image)
    results: Dict[str, Any] = {
        "image": source,
        "size": [HEIGHT, WIDTH],
        "quality": args.quality,
        "threads": args.threads,
        "coding_path": args.coding_path,
        "repeats": {"non_autoregressive": args.repeats, "autoregressive": args.ar_repeats},
        "machine": machine(),
        "versions": {
            "neuralcodec": getattr(neuralcodec, "__version__", "?"),
            "neuralcodec_commit": git_commit(),
            "compressai": compressai.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "models": {},
    }
    print(f"image: {source}; {args.threads} thread(s); torch {torch.__version__}", flush=True)
    for name in args.models:
        torch.manual_seed(0)
        theirs = cai_zoo.image_models[name](quality=args.quality, pretrained=False).eval()
        calibrate(theirs, x)
        theirs.update(force=True)
        ours = zoo.image_models[name](args.quality).eval()
        ours.load_state_dict(theirs.state_dict())
        if hasattr(ours, "coding_path"):
            if args.coding_path not in getattr(ours, "coding_paths", ("compat",)):
                print(f"{name}: no {args.coding_path!r} coding path, skipped")
                continue
            ours.coding_path = args.coding_path
        autoregressive = name in AUTOREGRESSIVE
        repeats = args.ar_repeats if autoregressive else args.repeats
        with torch.no_grad():
            # The AR models take seconds per call: no untimed warm-up for them.
            enc, compressed = interleaved(
                {"compressai": lambda: theirs.compress(x), "neuralcodec": lambda: ours.compress(x)},
                repeats,
                warmup=not autoregressive,
            )
            c_theirs, c_ours = compressed["compressai"], compressed["neuralcodec"]
            same = c_theirs["strings"] == c_ours["strings"]
            strings, shape = c_theirs["strings"], c_theirs["shape"]
            # Both decode CompressAI's strings (the same bytes as ours when same_strings).
            dec, decompressed = interleaved(
                {
                    "compressai": lambda: theirs.decompress(strings, shape),
                    "neuralcodec": lambda: ours.decompress(strings, shape),
                },
                repeats,
                warmup=not autoregressive,
            )
            max_diff = float((decompressed["compressai"]["x_hat"] - decompressed["neuralcodec"]["x_hat"]).abs().max())
        nbytes = sum(len(s) for group in c_ours["strings"] for s in group)
        row: Dict[str, Any] = {
            "config": {"N": getattr(ours, "N", None), "M": getattr(ours, "M", None)},
            "autoregressive": autoregressive,
            "repeats": repeats,
            "bytes": nbytes,
            "bpp": 8 * nbytes / (HEIGHT * WIDTH),
            "same_strings": same,
            "max_x_hat_diff": max_diff,
        }
        for lib in ("compressai", "neuralcodec"):
            row[lib] = {
                "compress_ms": 1e3 * enc[lib]["wall"],
                "decompress_ms": 1e3 * dec[lib]["wall"],
                "compress_cpu_ms": 1e3 * enc[lib]["cpu"],
                "decompress_cpu_ms": 1e3 * dec[lib]["cpu"],
            }
        for clock in ("wall", "cpu"):
            theirs_total = enc["compressai"][clock] + dec["compressai"][clock]
            ours_total = enc["neuralcodec"][clock] + dec["neuralcodec"][clock]
            row["speedup" if clock == "wall" else "speedup_cpu"] = {
                "compress": enc["compressai"][clock] / enc["neuralcodec"][clock],
                "decompress": dec["compressai"][clock] / dec["neuralcodec"][clock],
                "end_to_end": theirs_total / ours_total,
            }
        results["models"][name] = row
        cai, ours_ms, up, up_cpu = row["compressai"], row["neuralcodec"], row["speedup"], row["speedup_cpu"]
        print(
            f"{name:22s} {row['bpp']:.3f} bpp same strings: {same} x_hat diff {max_diff:.1e}  "
            f"compress {cai['compress_ms']:8.1f} -> {ours_ms['compress_ms']:8.1f} ms ({up['compress']:.2f}x)  "
            f"decompress {cai['decompress_ms']:8.1f} -> {ours_ms['decompress_ms']:8.1f} ms "
            f"({up['decompress']:.2f}x)  end to end {up['end_to_end']:.2f}x (cpu time {up_cpu['end_to_end']:.2f}x)",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
