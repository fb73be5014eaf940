#!/usr/bin/env bash
# Reproduces the classical-codec results in this folder (see ../README.md).
# Usage: bash results/kodak24-crop500/run.sh [DATASET] [NEURALCODEC]
#   DATASET      the 24 Kodak 500x500 crops (default ../shared/data/kodak24-crop500,
#                relative to the repository root, where the script runs)
#   NEURALCODEC  the command (default .venv/bin/neuralcodec)
# WORKERS=N sets the worker processes (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=results/kodak24-crop500
dataset="${1:-../shared/data/kodak24-crop500}"
nc="${2:-.venv/bin/neuralcodec}"
workers="${WORKERS:-2}"

bench() { # codec, qualities...
    local codec="$1"; shift
    "$nc" bench "$codec" "$dataset" --workers "$workers" --no-progress --force -o "$here/$codec.json" --quality "$@"
}
optional() { # codecs whose library may be missing: say so and go on
    bench "$@" || echo "note: $1 was not run (see the message above)" >&2
}

bench jpeg420     3 5 8 10 15 20 25 30 40 50 60 70 80 85 90
bench jpeg444     3 5 8 10 15 20 25 30 40 50 60 70 80 85 90
bench webp        1 5 10 20 30 40 50 60 70 80 85 90
bench jpeg2000    240 200 160 128 100 80 64 48 40 32 24 20 16 12
optional jpegxl   1 5 10 20 30 40 50 60 70 80 85 90
optional avif     10 20 30 40 50 60 70 75 80 85
optional heif     10 15 20 25 30 35 40 45 50 55 60

curves=()
for codec in jpeg420 jpeg444 webp jpeg2000 jpegxl avif heif neuralcodec-shipped neuralcodec-shipped-effort1; do
    [ -f "$here/$codec.json" ] && curves+=("$here/$codec.json")
done
title="Kodak 24, 500x500 crops"
"$nc" plot "${curves[@]}" --reference jpeg420 --title "$title" --force -o "$here/kodak24-crop500-psnr.png"
"$nc" plot "${curves[@]}" --reference jpeg420 --title "$title" --metric ms-ssim --force -o "$here/kodak24-crop500-msssim.png"
