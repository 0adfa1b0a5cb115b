#!/usr/bin/env bash
# Runs every test of the project, in one command (the README's and CI's):
#  1. the Rust workspace: unit, integration and doc tests, the CLI end to end
#     (parity with tests/data through tools/compare_features.py), the
#     library, the decode robustness run (the fuzz target's stable twin),
#     the security tests, and the HTTP service (started on 127.0.0.1 by its
#     tests, stopped after);
#  2. schemathesis against the service's own /openapi.json (scripts/test_service.sh);
#  3. the Python package with pytest, the Ray tests included (scripts/test_python.sh;
#     they start a local two-node Ray cluster on 127.0.0.1 and stop it).
# Fails on the first failing part; prints how long each part took
# (docs/testing.md keeps the record).
set -euo pipefail
cd "$(dirname "$0")/.."
timings=()
part() {
  local name=$1 t0=$SECONDS
  shift
  "$@"
  timings+=("$name $((SECONDS - t0)) s")
  echo "test.sh: $name took $((SECONDS - t0)) s"
}
part rust cargo test --workspace
part service bash scripts/test_service.sh
part python bash scripts/test_python.sh
echo "test.sh: all parts passed: ${timings[*]}"
