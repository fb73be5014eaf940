#!/usr/bin/env bash
# One device call of borrowed GPU time -> better weights for a candidate default, trained
# by the one trainer (`neuralcodec train`). CANDIDATE picks it:
#   msh-gained (default; issue 28): mbt2018-mean-gained, the shipped models' transforms with
#     learned gain units, from results/training/msh-gained/msh-gained.safetensors (until a
#     run commits one, the starting weights that init_from_vbr.py derives); half the
#     crops at the integer qualities (--level-share 0.5), mixed quantization. Writes
#     weights.safetensors (full precision), history.json (the committed history plus this
#     run), log.csv and train.log to $OUT: write the weights into
#     results/training/msh-gained/msh-gained.safetensors with float16 kernels (see its
#     README) and commit.
#   elic-lite-vbr (issue 19): ElicLiteVbr from the committed shards in
#     results/training/elic-lite-vbr/ (or from scratch), crops downscaled 0.5-1x at random;
#     writes the new shards, history.json, log.csv and train.log to $OUT: copy them into
#     results/training/elic-lite-vbr/ and commit.
# Run here first: `python benches/gpu/pack_data.py` (writes the photos to .gpu/data, ignored
# by git); then, with the device tool:
#   run(command="MINUTES=8 bash benches/gpu/train.sh", carry=[".gpu", "python/neuralcodec/_core.abi3.so"])
# Both train for MINUTES of wall time (photos kept on the GPU, a quality per crop, cosine
# over the wall time) and validate on the held-out photos at every integer quality
# (estimated bits); the resumable checkpoint stays in $WORK. Extra arguments go to
# `neuralcodec train` and override the ones below (e.g. --device cpu --steps 2).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${PYTHON:-python3}"
minutes="${MINUTES:-8}"
data="${DATA:-$repo/.gpu/data}"
candidate="${CANDIDATE:-msh-gained}"
out="${OUT:-$(mktemp -d)}"
work="${WORK:-$(mktemp -d)}"
if ! "$python" -c "import neuralcodec" 2>/dev/null; then
    export PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
device="$("$python" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
mkdir -p "$out" "$work"
init=()
case "$candidate" in
    msh-gained)
        committed="${CHECKPOINT:-$repo/results/training/msh-gained/msh-gained.safetensors}"
        history="$repo/results/training/msh-gained/history.json"
        if [ -f "$committed" ]; then
            init=(--init-from "$committed")
        elif [ -z "${CHECKPOINT:-}" ]; then  # none trained better yet: the starting weights, from msh-vbr
            "$python" "$repo/results/training/msh-gained/init_from_vbr.py" \
                "$repo/results/training/msh-vbr/msh-vbr.safetensors" "$work/init.safetensors"
            init=(--init-from "$work/init.safetensors")
        fi
        [ -f "$history" ] && cp "$history" "$work/history.json"
        run=(--out-dir "$work" --model mbt2018-mean-gained --N 96 --M 128 --variable-rate
             --lambdas 0.0018,0.0045,0.012,0.032 --level-share 0.5 --quantization mixed
             --lr 5e-5 --warmup-steps 200 --min-lr-ratio 0.1)
        ;;
    elic-lite-vbr)
        committed="${CHECKPOINT:-$repo/results/training/elic-lite-vbr}"
        compgen -G "$committed/elic-lite-vbr-*.safetensors" >/dev/null && init=(--init-from "$committed")
        [ -f "$committed/history.json" ] && cp "$committed/history.json" "$out/history.json"
        run=(--out-dir "$work" --shards-dir "$out" --model elic-lite-vbr --variable-rate --min-scale 0.5 --vertical-flip
             --lr 2e-4 --warmup-steps 200 --min-lr-ratio 0.05)
        ;;
    *) echo "train.sh: CANDIDATE must be msh-gained or elic-lite-vbr, got $candidate" >&2; exit 2 ;;
esac
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$python" -m neuralcodec train "$data/train" --resume "${run[@]}" --quality-draw per-crop \
    --minutes "$minutes" --steps 1000000000 --batch-size 16 --patch-size 256 --lr-schedule cosine \
    --data-on-device --device "$device" --precision bf16 \
    --val-dir "$data/val" --val-qualities integers --val-bits estimated --val-every 1000000000 \
    --checkpoint-every 2000 --log-every 100 --quiet "${init[@]}" "$@" 2>&1 | tee "$out/train.log"
if [ "$candidate" = msh-gained ]; then
    cp "$work/weights.safetensors" "$work/history.json" "$work/log.csv" "$out/"
fi
ls -la "$out"
