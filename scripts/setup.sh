#!/usr/bin/env bash
# Installs what relaxvqa needs to build and test on Debian 12 (run as root, or
# with sudo available): the FFmpeg development libraries that ffmpeg-next links,
# clang/libclang for its bindgen step, pkg-config, the ffmpeg command-line
# tool that some tests use to make bad or unusual input files, Python's venv
# (the Python tests), curl, headless Chromium (the report test takes a
# screenshot of the HTML report; it fails without it), and PostgreSQL's
# server programs (the shared-queue tests start a throwaway server with
# initdb and pg_ctl; Debian's package also starts a cluster of its own,
# which the tests do not use).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(pkg-config clang libclang-dev
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
      libavfilter-dev libavdevice-dev libswresample-dev
      ffmpeg python3 python3-venv python3-dev curl chromium postgresql)
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
