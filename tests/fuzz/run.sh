#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz (ASan + UBSan) and runs each for a
# bounded time from its committed seed corpus in tests/fuzz/corpus/TARGET. Exits non-zero
# when a target crashes, leaks, hangs or breaks an invariant; the input that did it is kept
# in build-fuzz/artifacts/TARGET/ and the report in build-fuzz/fuzz-logs/TARGET.log.
# New inputs go to build-fuzz/fuzz-work/TARGET, never into the committed corpus.
#
# Usage: tests/fuzz/run.sh [--seconds N] [TARGET...]     TARGET: delta csv config (all)
#   --seconds N   fuzz each target for N seconds (default 30); 0 replays the corpora only
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=30
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    delta|csv|config) targets+=("$1"); shift ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "tests/fuzz/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "tests/fuzz/run.sh: --seconds needs a whole number" >&2
  exit 2
fi
[ ${#targets[@]} -gt 0 ] || targets=(delta csv config)

build_dir=${WLSYNC_FUZZ_BUILD_DIR:-build-fuzz}
cxx=${WLSYNC_FUZZ_CXX:-clang++-14}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DWLSYNC_FUZZ=ON >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)" --target "${targets[@]/#/fuzz_}"

symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=$symbolizer
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The targets' scratch stores; a crashed run leaves its store here, not in /tmp.
export TMPDIR=$PWD/$build_dir/fuzz-tmp
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR" "$build_dir/fuzz-logs"

failed=()
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  work=$build_dir/fuzz-work/$t
  artifacts=$build_dir/artifacts/$t
  log=$build_dir/fuzz-logs/$t.log
  mkdir -p "$work" "$artifacts"
  args=(-timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1
        "-artifact_prefix=$artifacts/")
  [ -f "tests/fuzz/$t.dict" ] && args+=("-dict=tests/fuzz/$t.dict")
  # The delta target's store grows the heap on most inputs, and a leak check after each
  # such input costs five times the input itself: leaks are checked once, at exit.
  [ "$t" = delta ] && args+=(-detect_leaks=0)
  if [ "$seconds" -eq 0 ]; then
    args+=(-runs=0 "$corpus")
  else
    args+=("-max_total_time=$seconds" "$work" "$corpus")
  fi

  start=$(date +%s)
  if "$build_dir/bin/fuzz_$t" "${args[@]}" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "fuzz $t: ok, ${runs:-?} inputs in $(($(date +%s) - start)) s"
  else
    echo "fuzz $t: FAILED after $(($(date +%s) - start)) s; report $log, inputs in $artifacts/" >&2
    grep -v '^#[0-9]' "$log" | tail -60 >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "tests/fuzz/run.sh: failed: ${failed[*]}" >&2
  exit 1
fi
