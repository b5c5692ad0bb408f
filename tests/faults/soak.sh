#!/usr/bin/env bash
# soak: runs the fault suite over and over, for hours if asked: the kill -9 test with many
# rounds per run, and the network test, each run with a new random seed (printed, so that a
# failure can be replayed with WLSYNC_FAULT_SEED=N). Stops at the first failure.
# Usage: tests/faults/soak.sh [--build DIR] [--minutes M] [--rounds N]
#   --build DIR   the build dir with tests/faults_test (default: build)
#   --minutes M   how long to go on (default 60)
#   --rounds N    kill -9 rounds per run (default 200)
set -euo pipefail

build=build
minutes=60
rounds=200
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
  esac
done
test_bin="$build/tests/faults_test"
[ -x "$test_bin" ] || { echo "soak: no $test_bin: build first" >&2; exit 1; }

deadline=$((SECONDS + minutes * 60))
runs=0
while [ "$SECONDS" -lt "$deadline" ]; do
  seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
  runs=$((runs + 1))
  echo "soak: run $runs seed $seed rounds $rounds" >&2
  if ! WLSYNC_FAULT_SEED=$seed WLSYNC_CRASH_ROUNDS=$rounds "$test_bin" >"/tmp/wlsync-soak-$seed.log" 2>&1; then
    echo "soak: FAILED in run $runs: replay with WLSYNC_FAULT_SEED=$seed WLSYNC_CRASH_ROUNDS=$rounds $test_bin" >&2
    echo "soak: output in /tmp/wlsync-soak-$seed.log" >&2
    exit 1
  fi
  rm -f "/tmp/wlsync-soak-$seed.log"
done
echo "soak: $runs runs passed in $minutes minutes" >&2
