#!/usr/bin/env bash
# Query benchmark: Query.Search by phone and by residence grid from 16 concurrent clients at
# a node holding N generated people, against the same lookups done straight in the node's
# RocksDB (opened read-only) in the same run. Reports QPS, p50 and p99 per query kind,
# medians over the runs, and the ratios.
#
#   bench/query_bench.sh [--records 1000000] [--runs 3] [--seconds 20] [--warmup 3]
#                        [--threads 16] [--limit 100] [--perf FILE] [--node-dir DIR] [--stat]
#
# Once: a node is made (no rate limits, see make_node in bench/lib.sh), started, and filled
# by `wlsync import` of the generated CSV of N rows (wlsync-gen --seed 1: realistic phones
# and grids); it then holds N records and their index entries, all written by the real
# write path; `wlsync-bench-query settle` then lets RocksDB finish the compactions the
# import left (otherwise they run during the first measurements and take up to 40% of the
# daemon's CPU). Each run: the node is started, `wlsync-bench-query rpc` runs phone queries,
# then grid queries (--threads clients each, --warmup s unmeasured, then --seconds s),
# the node is stopped, and `wlsync-bench-query raw` runs the same lookups with as many
# threads in the stopped node's data dir. Every query asks for --limit people (grid pages
# are full; a phone finds one person). Every Search appends a synced audit entry at the
# node: that is part of what is measured. With --perf FILE, the daemon is profiled during
# the phone and the grid queries of run 1 into FILE: self time by thread, library and
# symbol, sampled at 20 kHz (this VM has only the cpu-clock event, which at perf's default
# rates misses most samples of threads that run less than one period at a time).
# With --stat, each load also counts the daemon's context switches and CPU time (perf stat,
# over the warm-up and the window) and prints them per call of the window.
# With --node-dir DIR the filled node is kept in DIR, and a later run with the same DIR and
# --records reuses it instead of importing again (e.g. copied to a tmpfs for a run
# without disk syncs). Without it, the node lives in the scratch dir.
# Per-run lines go to stderr, the summary to stdout. Scratch data is removed at exit.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RECORDS=1000000
RUNS=3
SECONDS_=20
WARMUP=3
THREADS=16
LIMIT=100
PERF_OUT=""
NODE_DIR=""
STAT=0
IMPORT_TIMEOUT=400
while [[ $# -gt 0 ]]; do
  case "$1" in
    --records) RECORDS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --seconds) SECONDS_="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --perf) PERF_OUT="$2"; shift 2 ;;
    --node-dir) NODE_DIR="$2"; shift 2 ;;
    --stat) STAT=1; shift ;;
    *) die "unknown argument $1" ;;
  esac
done
require_bins wlsync wlsyncd wlsync-gen wlsync-bench-query
QUERY="$BIN/wlsync-bench-query"
[[ -n "$PERF_OUT" ]] && : > "$PERF_OUT"
FILE=$(gen_rows "$RECORDS")
LOAD=(--threads "$THREADS" --seconds "$SECONDS_" --warmup "$WARMUP" --limit "$LIMIT")

PORT=$(free_port)
DIR="${NODE_DIR:-$WORK/waihai}"
FILLED="records=$RECORDS file=$(basename "$FILE")"

machine_line
if [[ -n "$NODE_DIR" && -s "$DIR/filled" ]]; then
  [[ "$(cat "$DIR/filled")" == "$FILLED" ]] || die "$DIR holds another fill: $(cat "$DIR/filled")"
  set_listen "$DIR/config.toml" "$PORT"
  export WLSYNC_CA="$DIR/tls/ca.crt"  # the kept node's own CA, not this run's
  echo "reusing node-dir=$DIR $FILLED data_dir_mb=$(du -sm "$DIR/data" | cut -f1)"
else
  [[ -e "$DIR" ]] && die "$DIR exists but holds no finished fill"
  make_node "$DIR" waihai "$PORT"
  printf '\n[reconcile]\nenabled = false\n' >> "$DIR/config.toml"
  start_node "$DIR" "$PORT"
  t0=$(date +%s.%N)
  imp=$(timeout "$IMPORT_TIMEOUT" "$BIN/wlsync" --node "127.0.0.1:$PORT" \
          --token-file "$(node_token "$DIR")" import "$FILE" 2> "$WORK/import.err") ||
    { tail -3 "$WORK/import.err" >&2; die "import failed"; }
  t1=$(date +%s.%N)
  stop_node "$NODE_PID"
  [[ "$(field rejected "$imp")" == 0 && "$(field imported "$imp")" == "$RECORDS" ]] ||
    die "import: expected $RECORDS imported and none rejected, got: $imp"
  echo "$FILLED" > "$DIR/filled"
  echo "records=$RECORDS import_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" \
    "data_dir_mb=$(du -sm "$DIR/data" | cut -f1) $imp"
fi

settled=$("$QUERY" settle --node-dir "$DIR") || die "settle: $settled"
echo "settle: $settled"

# rpc_once KIND RUN: the wlsync-bench-query rpc line, with the daemon's CPU seconds and the
# load average appended.
rpc_once() {
  local kind="$1" run="$2" cpu0 out perf_pid=""
  cpu0=$(cpu_seconds "$NODE_PID")
  if [[ -n "$PERF_OUT" && $run == 1 ]]; then
    perf record -F 20000 -o "$WORK/perf.data" -p "$NODE_PID" > /dev/null 2>&1 &
    perf_pid=$!
    BENCH_PIDS+=("$perf_pid")
  fi
  local stat_pid=""
  if (( STAT )); then
    perf stat -x, -e context-switches,task-clock -p "$NODE_PID" -o "$WORK/stat.txt" &
    stat_pid=$!
    BENCH_PIDS+=("$stat_pid")
  fi
  out=$("$QUERY" rpc --node "127.0.0.1:$PORT" --token-file "$(node_token "$DIR")" \
          --csv "$FILE" --kind "$kind" "${LOAD[@]}") || echo "run=$run rpc $kind failed" >&2
  if [[ -n "$stat_pid" ]]; then
    kill -INT "$stat_pid"; wait "$stat_pid"
    # Over the warm-up and the window: per call of the window, an upper bound.
    local calls switches clock
    calls=$(field calls "$out")
    switches=$(awk -F, '$3 == "context-switches" { print $1 }' "$WORK/stat.txt")
    clock=$(awk -F, '$3 == "task-clock" { print $1 }' "$WORK/stat.txt")
    out+=" daemon_switches_per_call=$(ratio "$switches" "$calls")"
    out+=" daemon_cpu_ms_per_call=$(awk -v c="$clock" -v n="$calls" 'BEGIN { printf "%.3f", c / n }')"
  fi
  if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid"; wait "$perf_pid"
    { echo "# wlsyncd pid=$NODE_PID, $kind queries of run 1 ($THREADS clients): by thread"
      perf report -i "$WORK/perf.data" --stdio --sort comm 2> /dev/null | grep -v '^#' |
        grep -v '^$' | head -12
      echo "# $kind: by library"
      perf report -i "$WORK/perf.data" --stdio --sort dso 2> /dev/null | grep -v '^#' |
        grep -v '^$' | head -16
      echo "# $kind: by symbol"
      perf report -i "$WORK/perf.data" --stdio --sort dso,sym --percent-limit 0.3 2> /dev/null |
        grep -v '^#' | grep -v '^$' | head -60; } >> "$PERF_OUT"
    rm -f "$WORK/perf.data"
  fi
  echo "$out daemon_cpu_s=$(awk -v a="$cpu0" -v b="$(cpu_seconds "$NODE_PID")" \
    'BEGIN { printf "%.1f", b - a }') load1=$(cut -d' ' -f1 /proc/loadavg)"
}

raw_once() {
  "$QUERY" raw --node-dir "$DIR" --csv "$FILE" --kind "$1" "${LOAD[@]}" 2> "$WORK/raw.err" ||
    { cat "$WORK/raw.err" >&2; echo "run=$2 raw $1 failed" >&2; }
}

declare -A qps p50 p99
for r in $(seq 1 "$RUNS"); do
  start_node "$DIR" "$PORT"
  for kind in phone grid; do
    line=$(rpc_once "$kind" "$r"); echo "run=$r rpc: $line" >&2
    qps[rpc_$kind]+=" $(field qps "$line")"; p50[rpc_$kind]+=" $(field p50_ms "$line")"
    p99[rpc_$kind]+=" $(field p99_ms "$line")"
  done
  stop_node "$NODE_PID"
  for kind in phone grid; do
    line=$(raw_once "$kind" "$r"); echo "run=$r raw: $line load1=$(cut -d' ' -f1 /proc/loadavg)" >&2
    qps[raw_$kind]+=" $(field qps "$line")"; p50[raw_$kind]+=" $(field p50_ms "$line")"
    p99[raw_$kind]+=" $(field p99_ms "$line")"
  done
done

# shellcheck disable=SC2086  # the lists are space-separated numbers
for kind in phone grid; do
  m_qps=$(median ${qps[rpc_$kind]}); m_p50=$(median ${p50[rpc_$kind]}); m_p99=$(median ${p99[rpc_$kind]})
  r_qps=$(median ${qps[raw_$kind]}); r_p50=$(median ${p50[raw_$kind]}); r_p99=$(median ${p99[raw_$kind]})
  echo "kind=$kind records=$RECORDS threads=$THREADS limit=$LIMIT runs=$RUNS" \
    "qps=$m_qps p50_ms=$m_p50 p99_ms=$m_p99 raw_qps=$r_qps raw_p50_ms=$r_p50 raw_p99_ms=$r_p99" \
    "qps_ratio=$(ratio "$m_qps" "$r_qps") p50_ratio=$(ratio "$m_p50" "$r_p50")" \
    "p99_ratio=$(ratio "$m_p99" "$r_p99") all_qps=$(join ${qps[rpc_$kind]})" \
    "all_p99=$(join ${p99[rpc_$kind]}) all_raw_qps=$(join ${qps[raw_$kind]})"
done
