#!/usr/bin/env bash
# Tests the Python package (python/): creates or updates a virtual
# environment (python/.venv, or $RELAXVQA_VENV), installs maturin, pytest and
# numpy into it, builds the command-line binary the tests compare with, builds
# and installs the package from this checkout (maturin develop, into the
# workspace's target dir, dev profile like `cargo test`), and runs
# pytest on tests/ (the Ray cluster tests included), or on the arguments
# given (files, -k EXPR, ...) (e.g. -k cancel). Exits non-zero on
# any failure.
#
# Needs what scripts/setup.sh installs, plus Debian's python3-venv.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${RELAXVQA_VENV:-$ROOT/python/.venv}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || {
    echo "test_python: cannot create $VENV (on Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
# Ray (the package's `ray` extra) for the cluster tests in python/tests/test_ray.py.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.9.4,<2" pytest numpy "ray[data]>=2.40"

cd "$ROOT"
source "$ROOT/scripts/target_dir.sh"
# The binary and the example exactly as the Rust tests built them: a plain
# `cargo build -p relaxvqa-cli` resolves other features (the tests' dev
# dependencies turn on `relaxvqa/testing`) and would compile the library
# and everything above it a second time; after `cargo test` this is a no-op.
cargo test -q --workspace --no-run
(
  cd "$ROOT/python"
  VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" "$VENV/bin/maturin" develop --profile dev --quiet
)
cd "$ROOT/python"
RELAXVQA_SYNTHETIC_HEAD=${RELAXVQA_SYNTHETIC_HEAD:-$TARGET/debug/synthetic_head} \
  RELAXVQA_CLI=${RELAXVQA_CLI:-$TARGET/debug/relaxvqa} exec "$VENV/bin/python" -m pytest --durations=10 "${@:-tests}"
