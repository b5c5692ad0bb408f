#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds and runs every test, then
# runs the fuzz targets (tests/fuzz/run.sh).
# Exits non-zero on any failure. Usage: tests/run.sh [ctest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

build_dir=${WLSYNC_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir" --parallel "$(nproc)"

(cd "$build_dir" && ctest --output-on-failure --timeout 900 "$@")

# Each fuzz target for a bounded time from its committed corpus, in its own clang build
# (build-fuzz). WLSYNC_FUZZ_SECONDS=0 only replays the corpora.
bash tests/fuzz/run.sh --seconds "${WLSYNC_FUZZ_SECONDS:-30}"
