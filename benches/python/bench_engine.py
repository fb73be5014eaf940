"""The Rust engine end to end against CompressAI 1.2.8, same weights, same run.

For each model at CompressAI's sizes for one quality (default 3: N = M = 192 for
mbt2018 and cheng2020-anchor), builds CompressAI's model with a fixed seed, rescales a
few layers so the random weights give realistic latents and scales (below), loads the
same state_dict into neuralcodec's model, and times on one 768x512 image on the CPU:

* ``compress`` and ``decompress`` of neuralcodec (engine path, the default) and of
  CompressAI, with the ratios;
* a breakdown of neuralcodec's time: ``g_a``, side information (``h_a`` + z coding),
  the engine (``h_s`` and, for the autoregressive models, the whole coding loop), the
  part of that loop spent in the rANS coder (timed separately on the same symbols), and
  ``g_s``;
* the peak memory (resident set high-water mark above the level before the call) of
  each call;
* the size of the y string on the engine path and on CompressAI's (the engine path's
  rate should be within 0.5%);
* the ceiling: CompressAI's time over our ``g_a`` (compress) or ``g_s`` (decompress)
  alone, the ratio an engine that took no time would reach while those transforms stay
  in PyTorch.

With ``--device cuda`` the models and the image live on the GPU (CompressAI's whole
model, and our ``g_a``, ``h_a`` and ``g_s``; the engine runs on the CPU as always), every
timed call ends with a CUDA synchronisation, and the peak memory is the GPU's (the
allocator's high-water mark above its level before the call).

Needs compressai and neuralcodec in one environment::

    maturin build --release -o /tmp/wheels
    /tmp/cai-venv/bin/pip install --no-deps --force-reinstall /tmp/wheels/neuralcodec-*.whl
    /tmp/cai-venv/bin/python benches/python/bench_engine.py --json benches/results/engine.json

Random weights: the last convolution of ``g_a`` is scaled so ``y`` has a standard
deviation of 3, the last of ``h_a`` so ``z`` has 2, and the last layer that makes the
scales so they have 2: the coder then codes about 1-3 bits per latent, as a trained
model does at this quality. The compute is that of the real networks either way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch

KODAK = Path(__file__).resolve().parents[3] / "shared" / "data" / "kodak24-crop500"
TILES = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")
HEIGHT, WIDTH = 512, 768
AUTOREGRESSIVE = ("mbt2018", "cheng2020-anchor")
HYPERPRIOR = ("bmshj2018-hyperprior", "mbt2018-mean")


def load_image(folder: Path = KODAK) -> Tuple[torch.Tensor, str]:
    """2x2 tiles of four Kodak crops (768x512) from ``folder``, or a smooth synthetic image."""
    if all((folder / name).exists() for name in TILES):
        from PIL import Image

        th, tw = HEIGHT // 2, WIDTH // 2
        tiles = []
        for name in TILES:
            img = Image.open(folder / name).convert("RGB")
            left, top = (img.width - tw) // 2, (img.height - th) // 2
            array = np.asarray(img.crop((left, top, left + tw, top + th))).copy()
            tiles.append(torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255)
        top_row, bottom_row = torch.cat(tiles[:2], 3), torch.cat(tiles[2:], 3)
        return torch.cat([top_row, bottom_row], 2), "2x2 Kodak tiles (" + ", ".join(TILES) + ")"
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, HEIGHT // 16, WIDTH // 16, generator=generator)
    x = torch.nn.functional.interpolate(coarse, size=(HEIGHT, WIDTH), mode="bicubic", align_corners=False)
    return (x + 0.03 * torch.randn(x.shape, generator=generator)).clamp(0, 1), "synthetic"


def peak_rss_reset() -> int:
    """Returns freed heap memory to the system (so earlier calls do not lend their pages
    to the next one), resets the resident-set high-water mark, and returns the current
    RSS in bytes."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status("VmRSS")


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


#: Set by ``--device cuda``: timed calls then end with a synchronisation and the peak
#: memory is the GPU allocator's.
ON_CUDA = False


def _synchronize() -> None:
    if ON_CUDA:
        torch.cuda.synchronize()


def measure(fn: Callable[[], Any], repeats: int) -> Tuple[float, int, Any]:
    """(median seconds, peak extra bytes of the first call, result)."""
    _synchronize()
    if ON_CUDA:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = peak_rss_reset()
    start = time.perf_counter()
    result = fn()
    _synchronize()
    times = [time.perf_counter() - start]
    peak = (torch.cuda.max_memory_allocated() if ON_CUDA else _status("VmHWM")) - before
    for _ in range(repeats - 1):
        start = time.perf_counter()
        result = fn()
        _synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), peak, result


def last_conv(module: torch.nn.Module) -> torch.nn.Conv2d:
    return [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)][-1]


def calibrate(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Rescales random layers so latents and scales have realistic magnitudes."""
    stages = [(last_conv(model.g_a), 3.0, None), (last_conv(model.h_a), 2.0, None)]
    params = model.entropy_parameters if hasattr(model, "entropy_parameters") else model.h_s
    stages.append((last_conv(params), 2.0, model.M))
    with torch.no_grad():
        for layer, target, channels in stages:
            seen: List[torch.Tensor] = []
            handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
            model(x)
            handle.remove()
            factor = target / float(seen[0][:, :channels].std())
            layer.weight.mul_(factor)
            if layer.bias is not None:
                layer.bias.mul_(factor)


def bench_model(name: str, quality: int, x: torch.Tensor, args: argparse.Namespace) -> Dict[str, Any]:
    from compressai import zoo as cai_zoo  # type: ignore[import-not-found]

    from neuralcodec import engine
    from neuralcodec import zoo as nc_zoo
    from neuralcodec.ans import RansDecoder, RansEncoder

    torch.manual_seed(0)
    cai = getattr(cai_zoo, name.replace("-", "_"))(quality=quality, pretrained=False).eval().to(x.device)
    calibrate(cai, x)
    architecture = type(nc_zoo.load_model(name, quality=quality, pretrained=False))
    ours = architecture.from_state_dict(cai.state_dict()).eval().to(x.device)
    cai.update(force=True)
    ours.update(force=True)
    assert ours.coding_path == "engine"
    autoregressive = name in AUTOREGRESSIVE
    repeats = args.ar_repeats if autoregressive else args.repeats
    cai_repeats = 1 if autoregressive else args.repeats
    out: Dict[str, Any] = {"N": ours.N, "M": ours.M}

    with torch.no_grad():
        t_oc, m_oc, ours_c = measure(lambda: ours.compress(x), repeats)
        t_od, m_od, ours_d = measure(lambda: ours.decompress(ours_c["strings"], ours_c["shape"]), repeats)
        t_cc, m_cc, cai_c = measure(lambda: cai.compress(x), cai_repeats)
        t_cd, m_cd, cai_d = measure(lambda: cai.decompress(cai_c["strings"], cai_c["shape"]), cai_repeats)
        assert ours_d["x_hat"].shape == cai_d["x_hat"].shape == x.shape
        # The engine path computes g_a channels-last: y, hence z, may differ from
        # CompressAI's in the last float bits (a value on a rounding boundary moves).
        z_identical = ours_c["strings"][1] == cai_c["strings"][1]
        compat_identical = None
        if not autoregressive:
            # CompressAI's float tables (ours are portable by default).
            ours.update(force=True, method="compressai")
            compat_identical = ours.compress(x, coding_path="compat")["strings"] == cai_c["strings"]
            ours.update(force=True)
            # On the CPU both run the same kernels: the compat path must equal CompressAI.
            assert compat_identical or ON_CUDA, "compat path must equal CompressAI"

        # Breakdown of neuralcodec's engine path, stage by stage.
        def stage(fn: Callable[[], Any]) -> Tuple[float, Any]:
            t, _, r = measure(fn, repeats)
            return t, r

        t_ga, y = stage(lambda: ours._analyze(x, use_engine=True))
        t_side, side = stage(lambda: ours._side_information(y))
        z_hat = side[2]
        t_hs, params = stage(lambda: engine.hyper_parameters(ours, z_hat))
        table = ours.gaussian_conditional.cdf_table()
        # The whole latent in one engine call each way (h_s, any context loop, rANS).
        t_enc, (strings, y_hat) = stage(lambda: engine.compress_graph(ours, y, z_hat))
        t_dec, _ = stage(lambda: engine.decompress_graph(ours, strings, z_hat))
        # The rANS share: the same symbols with the rows PyTorch's parameters pick (the
        # context of the autoregressive models over the whole decoded latent at once).
        if autoregressive:
            ctx = ours.context_prediction(y_hat)
            scales, means = ours.entropy_parameters(torch.cat((params, ctx), 1)).chunk(2, 1)
        elif params.size(1) == 2 * ours.M:
            scales, means = params.chunk(2, 1)
        else:
            scales, means = params, torch.zeros_like(params)
        symbols = torch.round(y_hat - means).to(torch.int32).reshape(-1).cpu().numpy()
        indexes = ours.gaussian_conditional.build_indexes(scales).reshape(-1).cpu().numpy()
        t_rans_enc, data = stage(lambda: RansEncoder().encode_with_indexes(symbols, indexes, table))
        t_rans_dec, _ = stage(lambda: RansDecoder().decode_with_indexes(data, indexes, table))
        t_gs, _ = stage(lambda: ours._synthesize(y_hat))

    y_bytes = sum(len(s) for s in ours_c["strings"][0])
    cai_y_bytes = sum(len(s) for s in cai_c["strings"][0])
    out.update(
        {
            "neuralcodec": {"compress_s": t_oc, "decompress_s": t_od, "compress_peak_mb": m_oc / 2**20, "decompress_peak_mb": m_od / 2**20},
            "compressai": {"compress_s": t_cc, "decompress_s": t_cd, "compress_peak_mb": m_cc / 2**20, "decompress_peak_mb": m_cd / 2**20},
            "speedup": {"compress": t_cc / t_oc, "decompress": t_cd / t_od},
            # The ratio an engine taking no time at all would reach: g_a / g_s stay PyTorch.
            "ceiling": {"compress": t_cc / t_ga, "decompress": t_cd / t_gs},
            "breakdown_s": {
                "g_a": t_ga,
                "side_information (h_a + z coding)": t_side,
                "engine h_s": t_hs,
                "engine whole latent, encode (incl. h_s and coder)": t_enc,
                "engine whole latent, decode (incl. h_s and coder)": t_dec,
                "rANS encode of the same symbols": t_rans_enc,
                "rANS decode of the same symbols": t_rans_dec,
                "g_s": t_gs,
            },
            "y_bytes": {"engine": y_bytes, "compressai": cai_y_bytes, "ratio": y_bytes / cai_y_bytes},
            "z_strings_identical": z_identical,
            "compat_strings_equal_compressai": compat_identical,
            "latent": list(y.shape[1:]),
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(AUTOREGRESSIVE + HYPERPRIOR))
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs, hyperprior models")
    parser.add_argument("--ar-repeats", type=int, default=3, help="timed runs of neuralcodec, AR models (CompressAI: 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads and engine threads")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the models run")
    parser.add_argument("--images", type=Path, default=KODAK, help=f"folder holding {', '.join(TILES)}")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    global ON_CUDA
    ON_CUDA = args.device == "cuda"

    import compressai  # type: ignore[import-not-found]

    import neuralcodec
    from neuralcodec import engine

    torch.set_num_threads(args.threads)
    engine.set_num_threads(args.threads)
    x, source = load_image(args.images)
    x = x.to(args.device)
    results: Dict[str, Any] = {
        "image": source,
        "size": [HEIGHT, WIDTH],
        "quality": args.quality,
        "threads": args.threads,
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs"
        + (f", {torch.cuda.get_device_name()}" if ON_CUDA else ""),
        "device": args.device,
        "peak_memory": "CUDA allocator peak above the level before the call" if ON_CUDA else "resident set (VmHWM) above the level before the call",
        "versions": {"neuralcodec": neuralcodec.__version__, "compressai": compressai.__version__, "torch": torch.__version__},
        "models": {},
    }
    for name in args.models:
        r = bench_model(name, args.quality, x, args)
        results["models"][name] = r
        print(f"\n{name} (N={r['N']}, M={r['M']}, latent {r['latent']}):")
        for side in ("neuralcodec", "compressai"):
            s = r[side]
            print(
                f"  {side:12s} compress {s['compress_s']:7.3f} s (peak +{s['compress_peak_mb']:6.1f} MB)"
                f"  decompress {s['decompress_s']:7.3f} s (peak +{s['decompress_peak_mb']:6.1f} MB)"
            )
        print(f"  speed-up     compress {r['speedup']['compress']:6.1f}x   decompress {r['speedup']['decompress']:6.1f}x")
        print(f"  ceiling      compress {r['ceiling']['compress']:6.1f}x   decompress {r['ceiling']['decompress']:6.1f}x"
              "   (CompressAI's time over our g_a / g_s alone)")
        print("  breakdown: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r["breakdown_s"].items() if v))
        print(f"  y bytes: engine {r['y_bytes']['engine']}, CompressAI {r['y_bytes']['compressai']} (ratio {r['y_bytes']['ratio']:.4f});"
              f" z strings {'identical' if r['z_strings_identical'] else 'differ (channels-last g_a)'}")
        if args.json:  # after every model, so a long run that is stopped keeps its results
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
