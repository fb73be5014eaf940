#!/usr/bin/env bash
# One device call of borrowed GPU time -> better weights for the candidate default
# (ElicLiteVbr, issue 19), trained by the one trainer (`neuralcodec train`). Run here first:
# `python benches/gpu/pack_data.py` (writes the photos to .gpu/data, ignored by git); then,
# with the device tool:
#   run(command="MINUTES=8 bash benches/gpu/train.sh", carry=[".gpu", "python/neuralcodec/_core.abi3.so"])
# It starts from the committed shards in results/training/elic-lite-vbr/ (or from scratch),
# trains for MINUTES of wall time (photos kept on the GPU, crops downscaled 0.5-1x at random,
# a quality per crop, cosine over the wall time), validates on the held-out photos at every
# integer quality (estimated bits), and writes the new shards, history.json (the committed
# history plus this run), log.csv and train.log to $OUT; the resumable checkpoint stays in
# $WORK. Copy $OUT's files into results/training/elic-lite-vbr/ and commit.
# Extra arguments go to `neuralcodec train` and override the ones below
# (e.g. --device cpu --steps 2).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${PYTHON:-python3}"
minutes="${MINUTES:-8}"
data="${DATA:-$repo/.gpu/data}"
committed="${CHECKPOINT:-$repo/results/training/elic-lite-vbr}"
out="${OUT:-$(mktemp -d)}"
work="${WORK:-$(mktemp -d)}"
if ! "$python" -c "import neuralcodec" 2>/dev/null; then
    export PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
device="$("$python" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
init=()
if compgen -G "$committed/elic-lite-vbr-*.safetensors" >/dev/null; then
    init=(--init-from "$committed")
fi
mkdir -p "$out"
if [ -f "$committed/history.json" ]; then
    cp "$committed/history.json" "$out/history.json"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$python" -m neuralcodec train "$data/train" --out-dir "$work" --shards-dir "$out" --resume \
    --model elic-lite-vbr --variable-rate --quality-draw per-crop \
    --minutes "$minutes" --steps 1000000000 --batch-size 16 --patch-size 256 \
    --lr 2e-4 --lr-schedule cosine --warmup-steps 200 --min-lr-ratio 0.05 \
    --min-scale 0.5 --vertical-flip --data-on-device --device "$device" --precision bf16 \
    --val-dir "$data/val" --val-qualities integers --val-bits estimated --val-every 1000000000 \
    --checkpoint-every 2000 --log-every 100 --quiet "${init[@]}" "$@" 2>&1 | tee "$out/train.log"
ls -la "$out"
