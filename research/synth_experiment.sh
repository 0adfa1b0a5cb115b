#!/usr/bin/env bash
# Learnability experiment (issue 6): build the synthetic-distortion dataset,
# extract features with synthetic backbone weights, then run the split
# protocol with source contents held out, timing every stage.
#
# usage: research/synth_experiment.sh [WORK_DIR] [SPLITS] [EPOCHS]
# env:   RELAXVQA (binary, default target/release/relaxvqa), SYNTH_ARGS (extra
#        synth-dataset flags, e.g. "--duration 2 --size 224x224"), THREADS
#        (--threads for every stage, default: all cores), SKIP_SYNTH=1 (reuse
#        an existing WORK_DIR/data), FOLDS (cross-validation folds, default 5)
# The 25-content run of docs/learnability.md: SYNTH_ARGS="--scenes 4 --duration 1"
# THREADS=2 FOLDS=3 research/synth_experiment.sh DIR 21 120
set -euo pipefail
work=${1:-/tmp/relaxvqa-synth}
splits=${2:-21}
epochs=${3:-60}
folds=${FOLDS:-5}
bin=${RELAXVQA:-target/release/relaxvqa}
mkdir -p "$work"
thr=()
if [ -n "${THREADS:-}" ]; then thr=(--threads "$THREADS"); fi
t() { local s=$(date +%s.%N); "$@"; local e=$(date +%s.%N); echo "timing: $(echo "$e - $s" | bc) s (load $(cut -d" " -f1-3 /proc/loadavg)): $*" >&2; }
# shellcheck disable=SC2086
if [ -z "${SKIP_SYNTH:-}" ]; then
  t "$bin" synth-dataset --out "$work/data" ${SYNTH_ARGS:-} "${thr[@]}" --json > "$work/synth.json"
fi
t "$bin" extract --list "$work/data/videos.csv" --out-dir "$work/features" --weights synthetic "${thr[@]}" --quiet --json > "$work/extract.json"
t "$bin" train --features "$work/features" --mos "$work/data/videos.csv" --group-column content \
  --splits "$splits" --folds "$folds" --epochs "$epochs" --seed 0 "${thr[@]}" > "$work/splits.json"
t "$bin" train --features "$work/features" --mos "$work/data/videos.csv" --folds "$folds" --epochs "$epochs" \
  --seed 0 "${thr[@]}" -o "$work/head.safetensors" > "$work/train.json"
t "$bin" eval --features "$work/features" --mos "$work/data/videos.csv" --model "$work/head.safetensors" "${thr[@]}" > "$work/eval.json"
python3 - "$work/splits.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("median over", r["splits"], "splits (held-out contents):", json.dumps(r["median"]))
PY
