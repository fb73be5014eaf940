#!/usr/bin/env bash
# One device call of borrowed GPU time -> better weights for the candidate default
# (ElicLiteVbr, issue 19). Run here first: `python benches/gpu/pack_data.py` (writes the
# photos to .gpu/data, ignored by git); then, with the device tool:
#   run(command="MINUTES=8 bash benches/gpu/train.sh", carry=[".gpu", "python/neuralcodec/_core.abi3.so"])
# It resumes from the committed shards in results/training/elic-lite-vbr/ (or starts from
# scratch), trains for MINUTES of wall time, validates on the held-out photos, and writes
# the new shards, history.json (the committed history plus this run) and the logs to $OUT.
# Copy them back into results/training/elic-lite-vbr/ and commit.
# Extra arguments go to `python -m neuralcodec.train.vbr` (e.g. --device cpu --max-steps 2).
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
init=()
if compgen -G "$committed/elic-lite-vbr-*.safetensors" >/dev/null; then
    init=(--init "$committed")
fi
mkdir -p "$out"
if [ -f "$committed/history.json" ]; then
    cp "$committed/history.json" "$out/history.json"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$python" -m neuralcodec.train.vbr --data "$data/train" --val "$data/val" --work "$work" --out "$out" \
    --minutes "$minutes" "${init[@]}" "$@" 2>&1 | tee "$out/train.log"
ls -la "$out"
