#!/usr/bin/env bash
# Only the Ray tests (python/tests/test_ray.py: a two-node Ray cluster that
# the tests start on loopback and tear down); scripts/test_python.sh sets
# up the environment (Ray included) and builds the package. Extra arguments
# go to pytest.
set -euo pipefail
exec bash "$(dirname "$0")/test_python.sh" tests/test_ray.py "$@"
