#!/usr/bin/env bash
# Propagation latency benchmark: two nodes on loopback, each a peer of the other;
# wlsync-bench-latency registers people one per Register call at A at a fixed rate and
# times each from the call returning at A to a Get finding it at B.
#
#   bench/latency_bench.sh [--runs 3] [--rate 500] [--seconds 20]
#
# Fresh nodes every run; people come from a generated file (one new person per call).
# Per-run lines go to stderr, the summary to stdout.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RUNS=3
RATE=500
SECONDS_=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --seconds) SECONDS_="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
require_bins wlsync wlsyncd wlsync-gen wlsync-bench-latency
FILE=$(gen_rows 111112)
NEED=$(awk -v r="$RATE" -v s="$SECONDS_" 'BEGIN { printf "%d", r * s }')
(( NEED <= 111112 )) || die "rate * seconds must be at most 111112"

latency_once() {
  local a_port b_port a_dir b_dir a_pid b_pid out
  a_port=$(free_port); b_port=$(free_port)
  a_dir="$WORK/a-$a_port"; b_dir="$WORK/b-$b_port"
  make_node "$a_dir" waihai "$a_port"
  make_node "$b_dir" guzhen "$b_port" "$a_dir/keys/federation.key"
  add_peer "$a_dir" guzhen "$b_dir" "$b_port"
  add_peer "$b_dir" waihai "$a_dir" "$a_port"
  start_node "$a_dir" "$a_port"; a_pid=$NODE_PID
  start_node "$b_dir" "$b_port"; b_pid=$NODE_PID
  sleep 0.5  # let the pullers connect
  out=$("$BIN/wlsync-bench-latency" --a "127.0.0.1:$a_port" --b "127.0.0.1:$b_port" \
          --a-token-file "$(node_token "$a_dir")" --b-token-file "$(node_token "$b_dir")" \
          --csv "$FILE" --rate "$RATE" --seconds "$SECONDS_")
  stop_node "$b_pid"; stop_node "$a_pid"
  rm -rf "$a_dir" "$b_dir"
  echo "$out"
}

machine_line
p50=(); p99=(); reg99=()
for r in $(seq 1 "$RUNS"); do
  line=$(latency_once); echo "run=$r $line" >&2
  p50+=("$(field p50_ms "$line")"); p99+=("$(field p99_ms "$line")")
  reg99+=("$(field register_p99_ms "$line")")
done
echo "runs=$RUNS rate=$RATE seconds=$SECONDS_ p50_ms=$(median "${p50[@]}")" \
  "p99_ms=$(median "${p99[@]}") register_p99_ms=$(median "${reg99[@]}")" \
  "all_p50=$(join "${p50[@]}") all_p99=$(join "${p99[@]}")"
