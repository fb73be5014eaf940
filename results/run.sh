#!/usr/bin/env bash
# Reproduces the classical-codec curves and the plots of one results folder (see README.md).
# Usage: bash results/run.sh FOLDER [DATASET] [NEURALCODEC]
#   FOLDER       kodak24-crop500 (the 24 Kodak 500x500 crops) or kodak24 (the 768x512
#                originals): where the curves go, results/FOLDER/
#   DATASET      the images (default ../shared/data/FOLDER, relative to the repository
#                root, where the script runs)
#   NEURALCODEC  the command (default .venv/bin/neuralcodec)
# WORKERS=N sets the worker processes (default 2); CODECS="jpeg420 webp avif" runs only
# those (default: all seven).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
folder="${1:?give the results folder: kodak24-crop500 or kodak24}"
here="results/$folder"
dataset="${2:-../shared/data/$folder}"
nc="${3:-.venv/bin/neuralcodec}"
workers="${WORKERS:-2}"
codecs=" ${CODECS:-jpeg420 jpeg444 webp jpeg2000 jpegxl avif heif} "
case "$folder" in
    kodak24-crop500) title="Kodak 24, 500x500 crops" ;;
    kodak24) title="Kodak 24 (768x512)" ;;
    *) title="$folder" ;;
esac
mkdir -p "$here"

bench() { # codec, qualities... (skipped unless in CODECS)
    local codec="$1"; shift
    [[ "$codecs" == *" $codec "* ]] || return 0
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
"$nc" plot "${curves[@]}" --reference jpeg420 --title "$title" --force -o "$here/$folder-psnr.png"
"$nc" plot "${curves[@]}" --reference jpeg420 --title "$title" --metric ms-ssim --force -o "$here/$folder-msssim.png"
