#!/usr/bin/env bash
# Fuzzes `relaxvqa serve` from its own /openapi.json with schemathesis: no
# request may get a 5xx. The server runs on 127.0.0.1 (a free port) with
# synthetic weights, a token and a media root, and is stopped at the end.
# Bounded by examples, not by time, so every run does the same work:
# SCHEMATHESIS_EXAMPLES examples per operation and phase (default 50, about
# 700 requests; scripts/test_long.sh runs 200). No --max-time: with it, schemathesis
# repeats fuzzing and stateful runs until the time is spent.
# SCHEMATHESIS_MAX_TIME (default 600 s) only stops a run that hangs.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-50}
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-600}
source scripts/target_dir.sh
VENV=${SCHEMATHESIS_VENV:-$TARGET/schemathesis-venv}

# The binary and the example exactly as the Rust tests built them: a plain
# `cargo build -p relaxvqa-cli` resolves other features (the tests' dev
# dependencies turn on `relaxvqa/testing`) and would compile the library
# and everything above it a second time; after `cargo test` this is a no-op.
cargo test -q --workspace --no-run
BIN=$TARGET/debug/relaxvqa
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis>=4,<5'
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$TARGET/debug/synthetic_head" "$work/head.safetensors"
mkdir -p "$work/media"
cp tests/data/videos/testsrc2_static.mp4 "$work/media/static.mp4"
token="schemathesis-$(date +%s%N)"
echo "$token" > "$work/token"

RELAXVQA_LOG=${RELAXVQA_LOG:-warn} "$BIN" --threads 2 serve --listen 127.0.0.1:0 --data-dir "$work/data" \
  --weights synthetic --model "$work/head.safetensors" --media-root "$work/media" --token-file "$work/token" \
  --max-queue 8 --max-upload-bytes 1000000 --request-timeout 20s --job-timeout 60s \
  > "$work/stdout" 2> "$work/stderr" &
server_pid=$!
for _ in $(seq 1 200); do
  grep -q "listening on" "$work/stdout" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr"; exit 1; }
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/stdout" | head -n1)
[ -n "$base" ] || { echo "test_service: the server did not start" >&2; cat "$work/stderr"; exit 1; }
for _ in $(seq 1 600); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "test_service: fuzzing $base/openapi.json ($EXAMPLES examples per operation and phase)"

status=0
timeout $((MAX_TIME + 60)) "$VENV/bin/schemathesis" run "$base/openapi.json" \
  --checks not_a_server_error -H "Authorization: Bearer $token" \
  --max-examples "$EXAMPLES" --request-timeout 30 \
  --seed 1 --suppress-health-check all || status=$?
if grep -q "panicked" "$work/stderr"; then
  echo "test_service: the server panicked" >&2; cat "$work/stderr" >&2; status=1
fi
exit $status
