#!/usr/bin/env bash
# Tests relaxvqa.ray (python/relaxvqa/ray) on a two-node Ray cluster that the
# tests start on this machine (loopback only) and tear down. Creates or
# updates the package's virtual environment (python/.venv, or
# $RELAXVQA_VENV), installs Ray from the package index with the test tools,
# builds the command-line binary the tests compare with and the package
# (maturin develop, dev profile, the workspace's shared target/ dir), and
# runs pytest on python/tests/test_ray*.py. Extra arguments go to pytest.
# Needs what scripts/setup.sh installs, plus Debian's python3-venv.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${RELAXVQA_VENV:-$ROOT/python/.venv}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || {
    echo "test_ray: cannot create $VENV (on Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
# The `ray` extra of python/pyproject.toml, and the test tools.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.9.4,<2" pytest numpy "ray[data]>=2.40"

cd "$ROOT"
cargo build -q -p relaxvqa-cli
(
  cd "$ROOT/python"
  VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" "$VENV/bin/maturin" develop --profile dev --quiet
)
cd "$ROOT/python"
RELAXVQA_CLI=${RELAXVQA_CLI:-$ROOT/target/debug/relaxvqa} exec "$VENV/bin/python" -m pytest tests/test_ray*.py "$@"
