#!/usr/bin/env bash
# Learnability experiment (issue 6): build the synthetic-distortion dataset,
# extract features with synthetic backbone weights, then run the split
# protocol with source contents held out, timing every stage.
#
# usage: scripts/synth_experiment.sh [WORK_DIR] [SPLITS] [EPOCHS]
# env:   RELAXVQA (binary, default target/release/relaxvqa), SYNTH_ARGS (extra
#        synth-dataset flags, e.g. "--duration 2 --size 224x224")
set -euo pipefail
work=${1:-/tmp/relaxvqa-synth}
splits=${2:-21}
epochs=${3:-60}
bin=${RELAXVQA:-target/release/relaxvqa}
mkdir -p "$work"
t() { local s=$(date +%s.%N); "$@"; local e=$(date +%s.%N); echo "timing: $(echo "$e - $s" | bc) s: $*" >&2; }
# shellcheck disable=SC2086
t "$bin" synth-dataset --out "$work/data" ${SYNTH_ARGS:-} --json > "$work/synth.json"
t "$bin" extract --list "$work/data/videos.csv" --out-dir "$work/features" --weights synthetic --quiet --json > "$work/extract.json"
t "$bin" train --features "$work/features" --mos "$work/data/videos.csv" --group-column content \
  --splits "$splits" --folds 5 --epochs "$epochs" --seed 0 > "$work/splits.json"
t "$bin" train --features "$work/features" --mos "$work/data/videos.csv" --folds 5 --epochs "$epochs" \
  --seed 0 -o "$work/head.safetensors" > "$work/train.json"
t "$bin" eval --features "$work/features" --mos "$work/data/videos.csv" --model "$work/head.safetensors" > "$work/eval.json"
python3 - "$work/splits.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("median over", r["splits"], "splits (held-out contents):", json.dumps(r["median"]))
PY
