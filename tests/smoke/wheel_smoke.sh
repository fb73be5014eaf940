#!/usr/bin/env bash
# Smoke test of a built neuralcodec wheel, as a user without a Rust toolchain gets it:
#
#   1. the wheel is tagged for the stable ABI (abi3, CPython 3.10+);
#   2. a fresh virtual environment installs it with cargo, rustc and rustup removed from
#      PATH (and CARGO_HOME/RUSTUP_HOME unset), so nothing can be compiled;
#   3. from an empty temporary folder (the source tree cannot shadow the package):
#      neuralcodec imports from the venv, its native module is the abi3 build, the rANS
#      coder round-trips, a tiny model compresses and decompresses an image (the engine
#      path included), and `neuralcodec --help` / `--version` / `python -m neuralcodec` run;
#   4. `maturin sdist` builds a source distribution holding the crate and the package
#      (and, with --build-sdist, pip builds an abi3 wheel from it: compiles the crate).
#
# Usage:
#   bash tests/smoke/wheel_smoke.sh [--keep-venv DIR] [--build-sdist] [--skip-sdist] WHEEL
#
#   --keep-venv DIR  create the venv at DIR and keep it (e.g. to install "[test]" into it
#                    and run pytest next, without installing torch a second time).
#   --build-sdist    also build a wheel from the sdist with pip (needs Rust; slow).
#   --skip-sdist     do not build the sdist (e.g. when maturin is not installed).
#
# Environment: PYTHON (default python3) creates the venv and runs maturin.
# Exit status 0 when every check passed; the failing check is printed otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
keep_venv=""
build_sdist=0
skip_sdist=0
wheel=""
while [ $# -gt 0 ]; do
    case "$1" in
        --keep-venv) keep_venv="$2"; shift 2 ;;
        --build-sdist) build_sdist=1; shift ;;
        --skip-sdist) skip_sdist=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "wheel_smoke: unknown option $1" >&2; exit 2 ;;
        *) wheel="$1"; shift ;;
    esac
done
if [ -z "$wheel" ] || [ ! -f "$wheel" ]; then
    echo "wheel_smoke: give the path of a built wheel (e.g. from 'maturin build --release --out dist')" >&2
    exit 2
fi
wheel="$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step() { printf '\n==> wheel smoke: %s\n' "$*"; }
fail() { printf 'wheel smoke FAILED: %s\n' "$*" >&2; exit 1; }

step "the wheel is an abi3 wheel for CPython 3.10+: $(basename "$wheel")"
case "$(basename "$wheel")" in
    neuralcodec-*-cp310-abi3-*.whl) ;;
    *) fail "expected neuralcodec-<version>-cp310-abi3-<platform>.whl, got $(basename "$wheel")" ;;
esac

step "the wheel is under 40 MB (the shipped rate ladder: four rungs in one weights file)"
wheel_bytes="$(wc -c < "$wheel")"
[ "$wheel_bytes" -lt 40000000 ] || fail "the wheel is $wheel_bytes bytes, over 40 MB"
echo "$wheel_bytes bytes"

# PATH without any folder that holds a Rust tool. The interpreter is resolved first, so
# it still runs when it lives beside cargo (e.g. /usr/bin on a distribution's Rust).
real_python="$("$python" -c 'import sys; print(sys.executable)')"
clean_path=""
IFS=':' read -r -a path_dirs <<< "$PATH"
for dir in "${path_dirs[@]}"; do
    [ -n "$dir" ] || continue
    if [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ] || [ -e "$dir/rustup" ]; then
        continue
    fi
    clean_path="${clean_path:+$clean_path:}$dir"
done
no_rust=(env -u CARGO_HOME -u RUSTUP_HOME -u RUSTC -u CARGO PATH="$clean_path")
if "${no_rust[@]}" bash -c 'command -v cargo || command -v rustc || command -v rustup' >/dev/null 2>&1; then
    fail "could not hide the Rust toolchain from PATH"
fi

venv="${keep_venv:-$work/venv}"
step "a fresh venv at $venv installs the wheel with no Rust toolchain on PATH"
rm -rf "$venv"
"${no_rust[@]}" "$real_python" -m venv "$venv"
venv_python="$venv/bin/python"
no_rust_venv=(env -u CARGO_HOME -u RUSTUP_HOME -u RUSTC -u CARGO PATH="$venv/bin:$clean_path")
"${no_rust_venv[@]}" "$venv_python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"${no_rust_venv[@]}" "$venv_python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$wheel"
if "${no_rust_venv[@]}" bash -c 'command -v cargo || command -v rustc' >/dev/null 2>&1; then
    fail "a Rust tool is on the venv's PATH"
fi

step "import, coder round trip, a tiny model, from an empty folder"
mkdir "$work/elsewhere"
cd "$work/elsewhere"
"${no_rust_venv[@]}" NEURALCODEC_HOME="$work/home" "$venv_python" - "$repo" <<'PY'
import sys
from pathlib import Path

repo = Path(sys.argv[1]).resolve()
import neuralcodec
from neuralcodec import _core

location = Path(neuralcodec.__file__).resolve()
assert repo not in location.parents, f"neuralcodec was imported from the source tree: {location}"
assert Path(sys.prefix) in location.parents, f"neuralcodec is not the venv's: {location}"
native = Path(_core.__file__).name
assert ".abi3." in native or native.endswith(".pyd"), f"the native module is not the abi3 build: {native}"
print("neuralcodec", neuralcodec.__version__, "from", location.parent)

import numpy as np
from neuralcodec.ans import CdfTable, RansDecoder, RansEncoder, pmf_to_quantized_cdf

cdf = pmf_to_quantized_cdf(np.array([0.2, 0.5, 0.3 - 1e-6, 1e-6], np.float32))
table = CdfTable(cdf[None, :], [len(cdf)], [-1])
symbols = [-1, 0, 1, 1, 0, 2_000_000_000, -7]
data = RansEncoder().encode_with_indexes(symbols, [0] * len(symbols), table)
assert RansDecoder().decode_with_indexes(data, [0] * len(symbols), table).tolist() == symbols
print("coder round trip:", len(symbols), "symbols in", len(data), "bytes")

import torch
from neuralcodec.models import FactorizedPrior, MeanScaleHyperprior

torch.manual_seed(0)
x = torch.rand(1, 3, 70, 90)
for model in (FactorizedPrior(8, 12), MeanScaleHyperprior(8, 12)):
    model.update()
    model.eval()
    with torch.no_grad():
        out = model.compress(x)
        again = model.compress(x)
        x_hat = model.decompress(out["strings"], out["shape"], out["x_size"])["x_hat"]
    assert out["strings"] == again["strings"], "compress is not deterministic"
    assert x_hat.shape == x.shape and 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1
    size = sum(len(s[0]) for s in out["strings"])
    print(f"{type(model).__name__} ({model.coding_path} path): {size} bytes, decoded {tuple(x_hat.shape)}")

# For the command-line round trip below: the tiny model's weights and a photo-like image.
from PIL import Image
from neuralcodec.zoo.defaults import save_weights

save_weights(model, "tiny.safetensors", "mbt2018-mean")
Image.fromarray((x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save("image.png")
PY

step "the command line runs"
"${no_rust_venv[@]}" "$venv/bin/neuralcodec" --help > "$work/help.txt"
for command in demo compress decompress train export; do
    grep -Eq "^    $command( |$)" "$work/help.txt" || fail "'neuralcodec --help' does not list '$command'"
done
version="$("${no_rust_venv[@]}" "$venv/bin/neuralcodec" --version)"
wheel_version="$(basename "$wheel" | cut -d- -f2)"
[ "$version" = "neuralcodec $wheel_version" ] || fail "--version says '$version', the wheel is $wheel_version"
"${no_rust_venv[@]}" "$venv_python" -m neuralcodec --version > /dev/null
"${no_rust_venv[@]}" "$venv/bin/neuralcodec" compress --quiet image.png --checkpoint tiny.safetensors -o image.nci \
    || fail "neuralcodec compress failed"
"${no_rust_venv[@]}" "$venv/bin/neuralcodec" decompress --quiet image.nci --checkpoint tiny.safetensors -o decoded.png \
    || fail "neuralcodec decompress failed"
"${no_rust_venv[@]}" "$venv_python" -c "
from PIL import Image
a, b = Image.open('image.png'), Image.open('decoded.png')
assert a.size == b.size == (90, 70) and b.mode == 'RGB', (a.size, b.size, b.mode)
"
echo "$version; --help lists the commands; compress/decompress of a 90x70 image: $(wc -c < image.nci) bytes"
sample="$("${no_rust_venv[@]}" "$venv_python" -c 'from neuralcodec.files import sample_image_path; print(sample_image_path())')"
"${no_rust_venv[@]}" "$venv/bin/neuralcodec" compress --quiet "$sample" --bpp 0.5 -o target.nci \
    || fail "neuralcodec compress --bpp 0.5 with the shipped model failed"
"${no_rust_venv[@]}" "$venv_python" -c "
import os
from PIL import Image
from neuralcodec.files import sample_image_path
width, height = Image.open(sample_image_path()).size
assert 8 * os.path.getsize('target.nci') <= 0.5 * width * height, os.path.getsize('target.nci')
"
echo "the shipped model, offline: the sample within --bpp 0.5 in $(wc -c < target.nci) bytes"

if [ "$skip_sdist" = 0 ]; then
    step "maturin sdist builds a source distribution"
    cd "$repo"
    "$python" -m maturin sdist --out "$work/sdist" > "$work/sdist.log" 2>&1 || fail "maturin sdist: $(cat "$work/sdist.log")"
    sdist="$(ls "$work/sdist"/neuralcodec-*.tar.gz)"
    listing="$(tar -tzf "$sdist")"
    for member in pyproject.toml Cargo.toml Cargo.lock rust/lib.rs python/neuralcodec/__init__.py python/neuralcodec/data/sample.png LICENSE; do
        grep -q "^neuralcodec-[^/]*/$member\$" <<< "$listing" || fail "the sdist lacks $member"
    done
    echo "$(basename "$sdist"): $(wc -l <<< "$listing") files"
    if [ "$build_sdist" = 1 ]; then
        step "pip builds an abi3 wheel from the sdist (compiles the crate)"
        "$python" -m pip wheel --quiet --disable-pip-version-check --no-deps "$sdist" -w "$work/from-sdist"
        ls "$work/from-sdist"/neuralcodec-*-cp310-abi3-*.whl > /dev/null || fail "pip wheel of the sdist gave no abi3 wheel"
        basename "$(ls "$work/from-sdist"/*.whl)"
    fi
fi

step "all checks passed"
