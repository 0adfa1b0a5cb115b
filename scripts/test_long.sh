#!/usr/bin/env bash
# The slow, exhaustive runs kept out of scripts/test.sh (docs/testing.md):
# the decode and file-format robustness runs with 20x the cases, and
# schemathesis with 100 examples per operation and phase. CI runs it after
# scripts/test.sh when there is time left. Fails on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export RELAXVQA_ROBUSTNESS_CASES=${RELAXVQA_ROBUSTNESS_CASES:-60000}
export RELAXVQA_ROBUSTNESS_SECONDS=${RELAXVQA_ROBUSTNESS_SECONDS:-600}
cargo test -p relaxvqa-video --test robustness -- --nocapture
cargo test -p relaxvqa-formats --test robustness -- --nocapture
SCHEMATHESIS_EXAMPLES=${SCHEMATHESIS_EXAMPLES:-100} bash scripts/test_service.sh
echo "test_long.sh: all passed"
