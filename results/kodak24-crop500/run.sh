#!/usr/bin/env bash
# Reproduces the classical-codec results in this folder (see ../README.md).
# Usage: bash results/kodak24-crop500/run.sh [DATASET] [NEURALCODEC]
#   DATASET      the 24 Kodak 500x500 crops (default ../shared/data/kodak24-crop500)
#   NEURALCODEC  the command (default .venv/bin/neuralcodec)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dataset="${1:-$here/../../../shared/data/kodak24-crop500}"
nc="${2:-.venv/bin/neuralcodec}"
workers="${WORKERS:-2}"

bench() { # codec, qualities...
    local codec="$1"; shift
    "$nc" bench "$codec" "$dataset" --workers "$workers" --no-progress -o "$here/$codec.json" --quality "$@"
}

bench jpeg420  3 5 8 10 15 20 25 30 40 50 60 70 80 85 90
bench jpeg444  3 5 8 10 15 20 25 30 40 50 60 70 80 85 90
bench webp     1 5 10 20 30 40 50 60 70 80 85 90
bench jpeg2000 240 200 160 128 100 80 64 48 40 32 24 20 16 12
bench jpegxl   1 5 10 20 30 40 50 60 70 80 85 90
bench avif     10 20 30 40 50 60 70 75 80 85
bench heif     10 15 20 25 30 35 40 45 50 55 60

"$nc" plot "$here"/jpeg420.json "$here"/jpeg444.json "$here"/webp.json "$here"/jpeg2000.json \
    "$here"/jpegxl.json "$here"/avif.json "$here"/heif.json \
    --reference jpeg420 --title "Kodak 24, 500x500 crops: classical codecs" -o "$here/kodak24-crop500-psnr.png"
"$nc" plot "$here"/jpeg420.json "$here"/jpeg444.json "$here"/webp.json "$here"/jpeg2000.json \
    "$here"/jpegxl.json "$here"/avif.json "$here"/heif.json --metric ms-ssim \
    --reference jpeg420 --title "Kodak 24, 500x500 crops: classical codecs" -o "$here/kodak24-crop500-msssim.png"
