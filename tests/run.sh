#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds and runs every test.
# Exits non-zero on any failure. Usage: tests/run.sh [ctest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

build_dir=${WLSYNC_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir" --parallel "$(nproc)"

cd "$build_dir"
ctest --output-on-failure --timeout 900 "$@"
