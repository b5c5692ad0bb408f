#!/usr/bin/env bash
# Replication benchmark: two nodes on loopback; ~1,000,000 events written at node A (an
# import of 111,112 new people = 9 events each = 1,000,008 events), timed until node B
# holds all of them; against a raw RocksDB batched insert of the same rows in the same run.
#
#   bench/replication_bench.sh [--runs 3] [--rows 111112] [--perf FILE]
#
# Two measurements per run:
#   catch-up  A imports with B stopped; then B starts and pulls A's whole stream. Time from
#             launching B's wlsyncd (its start-up included) to B holding every record with
#             its cursor on A's stream at A's own_seq (wlsync-bench-replwait). Pure
#             replication.
#   live      A and B both running; the import at A and the wait at B start together.
#             Time from the import start to B holding everything.
# Baseline: wlsync-bench-rawdb over the same file with --batch-rows 256 (A's delta size)
# and --sync 0 (B commits remote deltas without a WAL sync) and --sync 1. A third run,
# --sync 0 --index 1, also writes the node's seven index keys a person: a diagnostic, to
# show how much of the gap the index is (catchup_ratio_vs_index_nosync).
# With --perf FILE, B is profiled (perf record, 2 kHz) during the catch-up of run 1 into
# FILE: self time by thread, by library and by symbol.
# Per-run lines go to stderr, the summary to stdout.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RUNS=3
ROWS=111112
EVENTS_PER_ROW=9  # a new person: 8 field groups + STATUS
PERF_OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    --perf) PERF_OUT="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
require_bins wlsync wlsyncd wlsync-gen wlsync-bench-rawdb wlsync-bench-replwait
[[ -n "$PERF_OUT" ]] && : > "$PERF_OUT"
FILE=$(gen_rows "$ROWS")
EVENTS=$((ROWS * EVENTS_PER_ROW))

# make_pair: two nodes with one federation key, each a peer of the other. Sets A_DIR, B_DIR,
# A_PORT, B_PORT.
make_pair() {
  A_PORT=$(free_port); B_PORT=$(free_port)
  A_DIR="$WORK/a-$A_PORT"; B_DIR="$WORK/b-$B_PORT"
  make_node "$A_DIR" waihai "$A_PORT"
  make_node "$B_DIR" guzhen "$B_PORT" "$A_DIR/keys/federation.key"
  add_peer "$A_DIR" guzhen "$B_DIR" "$B_PORT"
  add_peer "$B_DIR" waihai "$A_DIR" "$A_PORT"
}

# catchup_once [PROFILE]: prints "events_per_s=.. seconds=.. b_rss_mb=.. import_seconds=.."
catchup_once() {
  local profile="${1:-0}" perf_pid=""
  make_pair
  start_node "$A_DIR" "$A_PORT"; local a_pid=$NODE_PID
  local t0 t1 out
  t0=$(date +%s.%N)
  "$BIN/wlsync" --node "127.0.0.1:$A_PORT" --token-file "$(node_token "$A_DIR")" import "$FILE" \
    > "$WORK/import.out" 2> "$WORK/import.err"
  t1=$(date +%s.%N)
  local a_cpu_before; a_cpu_before=$(cpu_seconds "$a_pid")
  local b_pid
  if [[ "$profile" == 1 ]]; then
    # B runs under perf from its first instruction, so that the threads it starts are
    # followed too (perf record -p sees only the threads that exist when it attaches).
    perf record -F 2000 -o "$WORK/perf.data" -- "$BIN/wlsyncd" --config "$B_DIR/config.toml" \
      > "$B_DIR/wlsyncd.out" 2> "$B_DIR/wlsyncd.log" &
    perf_pid=$!
    BENCH_PIDS+=("$perf_pid")
    for _ in $(seq 100); do
      b_pid=$(pgrep -P "$perf_pid" -x wlsyncd) && break
      sleep 0.01
    done
    [[ -n "$b_pid" ]] || die "wlsyncd did not start under perf"
  else
    "$BIN/wlsyncd" --config "$B_DIR/config.toml" > "$B_DIR/wlsyncd.out" 2> "$B_DIR/wlsyncd.log" &
    b_pid=$!
  fi
  BENCH_PIDS+=("$b_pid")
  # B is launched here, not by start_node, so it has no operator token yet: poll its
  # Status with the admin token of `wlsync init` (no rate limit on bench nodes).
  out=$("$BIN/wlsync-bench-replwait" --source "127.0.0.1:$A_PORT" --target "127.0.0.1:$B_PORT" \
          --source-token-file "$(node_token "$A_DIR")" --target-token-file "$B_DIR/admin.token" \
          --records "$ROWS" 2> "$WORK/replwait.err")
  local rss; rss=$(vmhwm_mb "$b_pid")
  # Where the catch-up's CPU went: B by thread (start-up included), A as a whole (its import
  # included; catchup_a_cpu_s is what A spent serving the catch-up).
  local b_threads; b_threads=$(thread_cpu "$b_pid")
  local a_cpu_after; a_cpu_after=$(cpu_seconds "$a_pid")
  if [[ -n "$perf_pid" ]]; then
    stop_node "$b_pid"; wait "$perf_pid"
    { echo "# catch-up at B: self time by thread, library, symbol"
      for sort in comm dso dso,sym; do
        perf report -i "$WORK/perf.data" --stdio --sort "$sort" --percent-limit 0.5 2> /dev/null |
          grep -v '^#' | grep -v '^$' | head -40
      done; } >> "$PERF_OUT"
    rm -f "$WORK/perf.data"
  fi
  stop_node "$b_pid"; stop_node "$a_pid"
  rm -rf "$A_DIR" "$B_DIR"
  local s; s=$(field seconds "$out")
  [[ -n "$s" ]] || { cat "$WORK/replwait.err" >&2; die "catch-up did not finish"; }
  awk -v ev="$EVENTS" -v s="$s" -v rss="$rss" -v t0="$t0" -v t1="$t1" -v out="$out" \
      -v a0="$a_cpu_before" -v a1="$a_cpu_after" -v bt="$b_threads" \
    'BEGIN { printf "events_per_s=%.0f seconds=%.3f b_rss_mb=%s import_seconds=%.3f %s catchup_a_cpu_s=%.2f b_thread_cpu_s=%s\n",
             ev / s, s, rss, t1 - t0, out, a1 - a0, bt }'
}

# live_once: prints "events_per_s=.. seconds=.. import_seconds=.."
live_once() {
  make_pair
  start_node "$A_DIR" "$A_PORT"; local a_pid=$NODE_PID
  start_node "$B_DIR" "$B_PORT"; local b_pid=$NODE_PID
  sleep 0.5  # let B's puller connect
  local t0 t1 out
  "$BIN/wlsync-bench-replwait" --source "127.0.0.1:$A_PORT" --target "127.0.0.1:$B_PORT" \
    --source-token-file "$(node_token "$A_DIR")" --target-token-file "$(node_token "$B_DIR")" \
    --records "$ROWS" > "$WORK/replwait.out" 2> "$WORK/replwait.err" &
  local w_pid=$!
  BENCH_PIDS+=("$w_pid")
  t0=$(date +%s.%N)
  "$BIN/wlsync" --node "127.0.0.1:$A_PORT" --token-file "$(node_token "$A_DIR")" import "$FILE" \
    > "$WORK/import.out" 2> "$WORK/import.err"
  t1=$(date +%s.%N)
  wait "$w_pid"
  out=$(cat "$WORK/replwait.out")
  stop_node "$b_pid"; stop_node "$a_pid"
  rm -rf "$A_DIR" "$B_DIR"
  local s; s=$(field seconds "$out")
  [[ -n "$s" ]] || { cat "$WORK/replwait.err" >&2; die "live replication did not finish"; }
  awk -v ev="$EVENTS" -v s="$s" -v t0="$t0" -v t1="$t1" \
    'BEGIN { printf "events_per_s=%.0f seconds=%.3f import_seconds=%.3f\n", ev / s, s, t1 - t0 }'
}

# raw_once SYNC [INDEX]
raw_once() {
  "$BIN/wlsync-bench-rawdb" --csv "$FILE" --db "$WORK/rawdb" --batch-rows 256 --sync "$1" \
    --index "${2:-0}"
  rm -rf "$WORK/rawdb"
}

machine_line
echo "file=$(basename "$FILE") rows=$ROWS events=$EVENTS (9 per new person)"
catchup=(); live=(); raw0=(); raw1=(); rawi=(); rss=()
for r in $(seq 1 "$RUNS"); do
  line=$(catchup_once "$([[ -n "$PERF_OUT" && $r == 1 ]] && echo 1)"); echo "run=$r catch-up: $line" >&2
  catchup+=("$(field events_per_s "$line")"); rss+=("$(field b_rss_mb "$line")")
  line=$(live_once); echo "run=$r live: $line" >&2
  live+=("$(field events_per_s "$line")")
  line=$(raw_once 0); echo "run=$r rawdb: $line" >&2
  raw0+=("$(field events_per_s "$line")")
  line=$(raw_once 1); echo "run=$r rawdb: $line" >&2
  raw1+=("$(field events_per_s "$line")")
  line=$(raw_once 0 1); echo "run=$r rawdb: $line" >&2
  rawi+=("$(field events_per_s "$line")")
done
m_c=$(median "${catchup[@]}"); m_l=$(median "${live[@]}")
m_0=$(median "${raw0[@]}"); m_1=$(median "${raw1[@]}"); m_i=$(median "${rawi[@]}")
echo "runs=$RUNS catchup_events_per_s=$m_c live_events_per_s=$m_l b_peak_rss_mb=$(median "${rss[@]}")" \
  "rawdb_nosync_events_per_s=$m_0 rawdb_sync_events_per_s=$m_1" \
  "catchup_ratio_vs_nosync=$(ratio "$m_c" "$m_0") catchup_ratio_vs_sync=$(ratio "$m_c" "$m_1")" \
  "live_ratio_vs_nosync=$(ratio "$m_l" "$m_0") live_ratio_vs_sync=$(ratio "$m_l" "$m_1")" \
  "rawdb_index_nosync_events_per_s=$m_i catchup_ratio_vs_index_nosync=$(ratio "$m_c" "$m_i")" \
  "all_catchup=$(join "${catchup[@]}") all_live=$(join "${live[@]}")"
