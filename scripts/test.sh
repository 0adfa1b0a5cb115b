#!/usr/bin/env bash
# Runs every test of the project, in one command (the README's and CI's):
#  1. the Rust workspace: unit, integration and doc tests, the CLI end to end
#     (parity with ../shared/fixtures through compare_features.py), the
#     library, the decode robustness run (the fuzz target's stable twin),
#     and the HTTP service (started on 127.0.0.1 by its tests, stopped after);
#  2. schemathesis against the service's own /openapi.json (scripts/test_service.sh);
#  3. the Python package with pytest, the Ray tests included (scripts/test_python.sh;
#     they start a local two-node Ray cluster on 127.0.0.1 and stop it).
# Fails on the first failing part.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
bash scripts/test_service.sh
bash scripts/test_python.sh
