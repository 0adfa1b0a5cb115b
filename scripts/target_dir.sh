# Sourced by the scripts: TARGET is cargo's target directory for this
# checkout, honouring CARGO_TARGET_DIR and .cargo/config (never assumed to be
# target/ under the checkout).
TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export TARGET
