#!/usr/bin/env bash
# Import benchmark: `wlsync import` of the sample (10,983 rows) and of a generated file into
# a fresh wlsyncd, against a raw RocksDB batched insert of the same rows measured in the
# same run (wlsync-bench-rawdb). Reports rows/s, the daemon's peak RSS and the ratio.
#
#   bench/import_bench.sh [--runs 3] [--rows 1000000] [--skip-sample] [--skip-big] [--perf FILE]
#
# Each run, per file: a new node is made and started, the CLI import is timed (wall clock
# of the `wlsync import` process), VmHWM of the daemon is read after the import, the node
# is stopped; then wlsync-bench-rawdb writes the same file with --batch-rows 256 (the
# daemon's delta size: one ImportRequest of 256 rows = one delta = one synced WriteBatch)
# and with --batch-rows 2304. Per-run lines go to stderr, the summary to stdout.
# With --perf FILE, the daemon is profiled (perf record, 2 kHz) during the import of the last
# file of run 1 into FILE: self time by thread, by library, by symbol and by thread and symbol.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RUNS=3
ROWS=1000000
SKIP_SAMPLE=0
SKIP_BIG=0
IMPORT_TIMEOUT=280
PERF_OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    --skip-sample) SKIP_SAMPLE=1; shift ;;
    --skip-big) SKIP_BIG=1; shift ;;
    --perf) PERF_OUT="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
require_bins wlsync wlsyncd wlsync-bench-rawdb
[[ -n "$PERF_OUT" ]] && : > "$PERF_OUT"

FILES=()
[[ $SKIP_SAMPLE == 0 ]] && FILES+=("$SAMPLE")
[[ $SKIP_BIG == 0 ]] && FILES+=("$(gen_rows "$ROWS")")

# import_once FILE [PROFILE]: prints "rows_per_s=.. seconds=.. rss_mb=.. imported=.. rejected=.. deltas=..".
import_once() {
  local file="$1" profile="${2:-0}" port dir out start end perf_pid=""
  port=$(free_port)
  dir="$WORK/node-$port"
  make_node "$dir" waihai "$port"
  start_node "$dir" "$port"
  local cpu0; cpu0=$(cpu_seconds "$NODE_PID")
  if [[ "$profile" == 1 ]]; then
    perf record -F 2000 -o "$WORK/perf.data" -p "$NODE_PID" > /dev/null 2>&1 &
    perf_pid=$!
    BENCH_PIDS+=("$perf_pid")
  fi
  start=$(date +%s.%N)
  out=$(timeout "$IMPORT_TIMEOUT" "$BIN/wlsync" --node "127.0.0.1:$port" \
        --token-file "$(node_token "$dir")" import "$file" 2> "$WORK/import.err")
  end=$(date +%s.%N)
  if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid"; wait "$perf_pid"
    { echo "# import of $(basename "$file"): self time by thread, library, symbol, thread and symbol"
      for sort in comm dso dso,sym comm,sym; do
        perf report -i "$WORK/perf.data" --stdio --sort "$sort" --percent-limit 0.5 2> /dev/null |
          grep -v '^#' | grep -v '^$' | head -40
      done; } >> "$PERF_OUT"
    rm -f "$WORK/perf.data"
  fi
  local rss deltas rows cpu
  rss=$(vmhwm_mb "$NODE_PID")
  cpu=$(awk -v a="$cpu0" -v b="$(cpu_seconds "$NODE_PID")" 'BEGIN { printf "%.2f", b - a }')
  deltas=$("$BIN/wlsync" --node "127.0.0.1:$port" --token-file "$(node_token "$dir")" status --json |
           awk -F'"' '/"own_seq"/ { print $4 }')
  stop_node "$NODE_PID"
  rm -rf "$dir"
  rows=$(data_rows "$file")
  awk -v rows="$rows" -v s="$start" -v e="$end" -v rss="$rss" -v d="${deltas:-0}" -v out="$out" \
    -v cpu="$cpu" 'BEGIN { printf "rows_per_s=%.0f seconds=%.3f daemon_cpu_seconds=%s rss_mb=%s deltas=%s %s\n",
             rows / (e - s), e - s, cpu, rss, d, out }' | tr -s ' '
}

# raw_once FILE BATCH: the rawdb output line.
raw_once() {
  "$BIN/wlsync-bench-rawdb" --csv "$1" --db "$WORK/rawdb" --batch-rows "$2" --sync 1
  rm -rf "$WORK/rawdb"
}

machine_line
for file in "${FILES[@]}"; do
  name=$(basename "$file")
  imp=(); rss=(); raw256=(); raw2304=(); dcpu=(); rcpu=()
  for r in $(seq 1 "$RUNS"); do
    profile=0
    [[ -n "$PERF_OUT" && $r == 1 && "$file" == "${FILES[-1]}" ]] && profile=1
    line=$(import_once "$file" "$profile")
    echo "run=$r file=$name daemon: $line" >&2
    imp+=("$(field rows_per_s "$line")"); rss+=("$(field rss_mb "$line")")
    dcpu+=("$(field daemon_cpu_seconds "$line")")
    line=$(raw_once "$file" 256)
    echo "run=$r file=$name rawdb: $line" >&2
    raw256+=("$(field rows_per_s "$line")"); rcpu+=("$(field cpu_seconds "$line")")
    line=$(raw_once "$file" 2304)
    echo "run=$r file=$name rawdb: $line" >&2
    raw2304+=("$(field rows_per_s "$line")")
  done
  m_imp=$(median "${imp[@]}"); m_rss=$(median "${rss[@]}")
  m_256=$(median "${raw256[@]}"); m_2304=$(median "${raw2304[@]}")
  echo "file=$name rows=$(data_rows "$file") runs=$RUNS import_rows_per_s=$m_imp" \
    "daemon_peak_rss_mb=$m_rss daemon_cpu_s=$(median "${dcpu[@]}") rawdb256_cpu_s=$(median "${rcpu[@]}")" \
    "rawdb256_rows_per_s=$m_256 rawdb2304_rows_per_s=$m_2304" \
    "ratio_vs_rawdb256=$(ratio "$m_imp" "$m_256") ratio_vs_rawdb2304=$(ratio "$m_imp" "$m_2304")" \
    "all_import=$(join "${imp[@]}") all_rss=$(join "${rss[@]}")"
done
