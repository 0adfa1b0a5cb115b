#!/usr/bin/env bash
# Installs what relaxvqa needs to build and test on Debian 12 (run as root, or
# with sudo available), then builds relaxvqa's own FFmpeg (ffmpeg/build.sh:
# pinned sources, static, only what relaxvqa opens; once per recipe, cached
# in ~/.cache/relaxvqa). The packages: clang/libclang for ffmpeg-sys-next's
# bindgen step, pkg-config, nasm, meson, ninja, make, xz and bzip2 for the
# FFmpeg build (zig comes from PyPI), the ffmpeg command-line tool that some
# tests use to make bad or unusual input files, Python's venv (the Python
# tests), curl, headless Chromium (the report test takes a screenshot of the
# HTML report; it fails without it), and PostgreSQL's server programs (the
# shared-queue tests start a throwaway server with initdb and pg_ctl;
# Debian's package also starts a cluster of its own, which the tests do not
# use), and debootstrap for the install test (scripts/test_install.sh). No
# libav* development package: nothing links the system's FFmpeg unless built
# with `--features system-ffmpeg`.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(pkg-config clang libclang-dev nasm meson ninja-build make patch xz-utils bzip2
      ffmpeg python3 python3-venv python3-dev curl chromium postgresql debootstrap)
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust (rustup) first" >&2; exit 1; }
bash "$(dirname "$0")/../ffmpeg/build.sh" >/dev/null
