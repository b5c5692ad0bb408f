#!/usr/bin/env bash
# Reconciliation benchmark: two nodes on loopback holding the same N records (node A filled
# through its Writer, node B given A's signed deltas through its own Writer::ApplyRemote, by
# wlsync-bench-reconcile-fill); then `wlsync reconcile --peer waihai` at B.
#
#   bench/reconcile_bench.sh [--records 1000000] [--diffs 10000] [--runs 3]
#                            [--timeout 900] [--perf FILE] [--node-dir DIR]
#
# Measurements:
#   equal  identical nodes: --runs reconciliations, median duration and bytes.
#   diff   per run: B is stopped, --diffs random records of B's data dir get another phone
#          and list under the same stamps (repairable from the deltas B holds), B restarts,
#          and one reconciliation must find and repair all of them and end equal. Each run
#          damages other records (seed = run number).
# Bytes are counted twice: as the report counts them (protobuf message sizes) and on the
# wire, by a byte-counting TCP relay on loopback that B's peer address for A points to
# (HTTP/2 frames and headers included, TCP/IP headers not). The constant is wire bytes /
# bytes of the differing records as stored (their serialized Record). Peak RSS is VmHWM.
# With --perf FILE, the first diff run is profiled at both nodes (perf record) into FILE.
# With --node-dir DIR both filled nodes are kept in DIR (DIR/waihai, DIR/guzhen), and a later
# run with the same DIR and --records reuses them instead of filling again (a 10M fill takes
# most of an hour here). Every diff run ends with the nodes equal again, so a kept pair stays
# a pair of identical nodes. Without it, the nodes live in the scratch dir.
# Per-run lines go to stderr, the summary to stdout. Scratch data is removed at exit.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RECORDS=1000000
DIFFS=10000
RUNS=3
TIMEOUT=900
PERF_OUT=""
NODE_DIR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --records) RECORDS="$2"; shift 2 ;;
    --diffs) DIFFS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --perf) PERF_OUT="$2"; shift 2 ;;
    --node-dir) NODE_DIR="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
require_bins wlsync wlsyncd wlsync-bench-reconcile-fill
FILL="$BIN/wlsync-bench-reconcile-fill"

# Both nodes hold records and log: about 2.5 KB per record together, measured at 1M and 3M
# records (compaction needs headroom on top).
NODES="${NODE_DIR:-$WORK}"
FILLED="records=$RECORDS"
REUSE=0
if [[ -n "$NODE_DIR" && -s "$NODE_DIR/filled" ]]; then
  [[ "$(cat "$NODE_DIR/filled")" == "$FILLED" ]] ||
    die "$NODE_DIR holds another fill: $(cat "$NODE_DIR/filled")"
  REUSE=1
elif [[ -n "$NODE_DIR" && -e "$NODE_DIR/waihai" ]]; then
  die "$NODE_DIR exists but holds no finished fill"
fi
need_kb=$((RECORDS * 4))
mkdir -p "$NODES"
free_kb=$(df -Pk "$NODES" | awk 'NR == 2 { print $4 }')
(( REUSE || free_kb > need_kb )) ||
  die "needs ~$((need_kb / 1048576)) GiB free in $NODES, has $((free_kb / 1048576))"

# The relay: counts the bytes of every connection and logs them when it closes.
cat > "$WORK/relay.py" <<'EOF'
import asyncio, sys
listen, target, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
next_id = 0

def note(line):
    with open(log, "a") as f:
        f.write(line + "\n")

async def pipe(reader, writer, counts, key):
    try:
        while data := await reader.read(1 << 16):
            counts[key] += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()

async def handle(client_r, client_w):
    global next_id
    next_id += 1
    conn = next_id
    note(f"open conn={conn}")
    counts = {"up": 0, "down": 0}
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(client_r, server_w, counts, "up"),
                             pipe(server_r, client_w, counts, "down"))
    except OSError:
        client_w.close()
    note(f"close conn={conn} up={counts['up']} down={counts['down']}")

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()

asyncio.run(main())
EOF

A_PORT=$(free_port); B_PORT=$(free_port); RELAY_PORT=$(free_port)
A_DIR="$NODES/waihai"; B_DIR="$NODES/guzhen"; RELAY_LOG="$WORK/relay.log"
machine_line
t0=$(date +%s.%N)
if (( REUSE )); then
  # New ports for this run: each node's listeners and its one peer's address.
  set_listen "$A_DIR/config.toml" "$A_PORT" "$B_PORT"
  set_listen "$B_DIR/config.toml" "$B_PORT" "$RELAY_PORT"
  export WLSYNC_CA="$A_DIR/tls/ca.crt"  # the kept nodes' own CA, not this run's
  echo "reusing node-dir=$NODE_DIR $FILLED disk_a_mb=$(du -sm "$A_DIR/data" | cut -f1)" \
    "disk_b_mb=$(du -sm "$B_DIR/data" | cut -f1) $(cat "$NODE_DIR/fill-line")"
else
  make_node "$A_DIR" waihai "$A_PORT"
  make_node "$B_DIR" guzhen "$B_PORT" "$A_DIR/keys/federation.key"
  add_peer "$A_DIR" guzhen "$B_DIR" "$B_PORT"
  add_peer "$B_DIR" waihai "$A_DIR" "$RELAY_PORT"
  # No nightly run may start during the benchmark.
  for d in "$A_DIR" "$B_DIR"; do printf '\n[reconcile]\nenabled = false\n' >> "$d/config.toml"; done
  fill=$(timeout "$TIMEOUT" "$FILL" fill --node "$A_DIR" --records "$RECORDS") || die "fill failed"
  echo "fill: $fill" >&2
  copy=$(timeout "$TIMEOUT" "$FILL" copy --from "$A_DIR" --to "$B_DIR") || die "copy failed"
  echo "copy: $copy" >&2
  disk_a=$(du -sm "$A_DIR/data" | cut -f1); disk_b=$(du -sm "$B_DIR/data" | cut -f1)
  line="records=$RECORDS deltas=$(field deltas "$fill") fill_s=$(field seconds "$fill")"
  line+=" copy_s=$(field seconds "$copy") disk_a_mb=$disk_a disk_b_mb=$disk_b"
  echo "$line"
  if [[ -n "$NODE_DIR" ]]; then echo "$line" > "$NODE_DIR/fill-line"; echo "$FILLED" > "$NODE_DIR/filled"; fi
fi

python3 "$WORK/relay.py" "$RELAY_PORT" "$A_PORT" "$RELAY_LOG" &
BENCH_PIDS+=("$!")
start_node "$A_DIR" "$A_PORT"; A_PID=$NODE_PID
start_node "$B_DIR" "$B_PORT"; B_PID=$NODE_PID

# json_field KEY FILE: a top-level number of the pretty-printed report.
json_field() { sed -n "s/^ \"$1\": \"\{0,1\}\([0-9a-z]*\)\"\{0,1\},\{0,1\}$/\1/p" "$2" | head -1; }

# reconcile_once TAG: one reconciliation at B; prints key=value pairs of the report, the
# relay's bytes of the connections opened meanwhile, and the phases from B's log.
reconcile_once() {
  local tag="$1" out="$WORK/reconcile-$1.json" mark log_mark i
  mark=$(grep -c '^open' "$RELAY_LOG" 2>/dev/null); mark=${mark:-0}
  log_mark=$(wc -l < "$B_DIR/wlsyncd.log")
  local t0 t1 code a_cpu0 b_cpu0 a_cpu b_cpu
  a_cpu0=$(cpu_seconds "$A_PID"); b_cpu0=$(cpu_seconds "$B_PID")
  t0=$(date +%s.%N)
  timeout "$TIMEOUT" "$BIN/wlsync" --node "127.0.0.1:$B_PORT" \
    --token-file "$(node_token "$B_DIR")" reconcile --peer waihai > "$out" 2> "$WORK/reconcile.err"
  code=$?
  t1=$(date +%s.%N)
  a_cpu=$(awk -v a="$a_cpu0" -v b="$(cpu_seconds "$A_PID")" 'BEGIN { printf "%.2f", b - a }')
  b_cpu=$(awk -v a="$b_cpu0" -v b="$(cpu_seconds "$B_PID")" 'BEGIN { printf "%.2f", b - a }')
  [[ -n "$(json_field equal "$out")" ]] || { cat "$WORK/reconcile.err" >&2; die "reconcile $tag failed"; }
  # The reconciliation's channel closes with its session; wait for the relay to log it.
  local wire=""
  for i in $(seq 1 100); do
    wire=$(awk -v m="$mark" '/^open/ { n++; if (n > m) want[$2] = 1 }
      /^close/ { if ($2 in want) { split($3, u, "="); split($4, d, "="); up += u[2]; down += d[2]; done[$2] = 1 } }
      END { for (c in want) if (!(c in done)) exit 1; if (length(want) == 0) exit 1; print up, down }' "$RELAY_LOG") && break
    wire=""; sleep 0.05
  done
  local wire_up=0 wire_down=0
  [[ -n "$wire" ]] && read -r wire_up wire_down <<< "$wire"
  local repairs first_repair last_repair start_ms end_ms
  start_ms=$(json_field start_unix_ms "$out"); end_ms=$(json_field end_unix_ms "$out")
  read -r repairs first_repair last_repair < <(tail -n +"$((log_mark + 1))" "$B_DIR/wlsyncd.log" |
    python3 -c '
import re, sys, datetime
# "to_repair=N deltas=D" ends the find phase; one line per repair batch follows:
# "repaired records=R deltas=D".
found, ts, deltas = 0, [], 0
stamp = lambda l: datetime.datetime.fromisoformat(l.split()[0]).timestamp() * 1000
for l in sys.stdin:
    if not found and re.search(r"to_repair=\d+ deltas=", l):
        found = stamp(l)
    m = re.search(r"repaired records=\d+ deltas=(\d+)", l)
    if m:
        ts.append(stamp(l))
        deltas += int(m.group(1))
print(deltas, int(found or (ts[0] if ts else 0)), int(ts[-1]) if ts else 0)')
  local find_ms=0 repair_ms=0 repair_delta_ms=0
  if (( repairs > 0 )); then
    find_ms=$((first_repair - start_ms)); repair_ms=$((last_repair - first_repair))
    repair_delta_ms=$(ratio "$repair_ms" "$repairs")
  fi
  echo "exit=$code wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
    "duration_ms=$(json_field duration_ms "$out") equal=$(json_field equal "$out")" \
    "compared=$(json_field records_compared "$out") differing=$(json_field differing "$out")" \
    "repaired=$(json_field repaired "$out") report_bytes=$(( $(json_field bytes_sent "$out") + $(json_field bytes_received "$out") ))" \
    "wire_up=$wire_up wire_down=$wire_down wire_bytes=$((wire_up + wire_down))" \
    "repair_deltas=$repairs find_ms=$find_ms repair_ms=$repair_ms repair_ms_per_delta=$repair_delta_ms" \
    "a_cpu_s=$a_cpu b_cpu_s=$b_cpu load1=$(cut -d' ' -f1 /proc/loadavg)"
}

eq_ms=(); eq_wire=(); eq_report=()
for r in $(seq 1 "$RUNS"); do
  line=$(reconcile_once "equal-$r"); echo "run=$r equal: $line" >&2
  [[ "$(field equal "$line")" == true && "$(field differing "$line")" == 0 ]] ||
    die "equal run $r: nodes did not compare equal"
  eq_ms+=("$(field duration_ms "$line")"); eq_wire+=("$(field wire_bytes "$line")")
  eq_report+=("$(field report_bytes "$line")")
done

d_ms=(); d_wire=(); d_report=(); d_const=(); d_rss=(); d_find=(); d_repair=(); d_per=()
d_acpu=(); d_bcpu=()
for r in $(seq 1 "$RUNS"); do
  stop_node "$B_PID"
  dmg=$(timeout "$TIMEOUT" "$FILL" damage --node "$B_DIR" --count "$DIFFS" --seed "$r") ||
    die "damage failed"
  echo "run=$r damage: $dmg" >&2
  start_node "$B_DIR" "$B_PORT"; B_PID=$NODE_PID
  sleep 1  # B's puller connects to A before the clock starts
  perf_pid=""
  if [[ -n "$PERF_OUT" && $r == 1 ]]; then
    perf record -o "$WORK/perf.data" -p "$A_PID,$B_PID" > /dev/null 2>&1 &
    perf_pid=$!
    BENCH_PIDS+=("$perf_pid")
    sleep 0.5
  fi
  line=$(reconcile_once "diff-$r")
  if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid"; wait "$perf_pid"
    { echo "# A pid=$A_PID (serves), B pid=$B_PID (reconciles; its writer thread is named wlsyncd)"
      perf report -i "$WORK/perf.data" --stdio --sort pid,comm 2> /dev/null | grep -v '^#'
      perf report -i "$WORK/perf.data" --stdio --sort pid,comm,dso,sym --percent-limit 0.4 \
        2> /dev/null | grep -v '^#'; } > "$PERF_OUT"
  fi
  rss=$(vmhwm_mb "$B_PID")
  wire=$(field wire_bytes "$line")
  const=$(ratio "$wire" "$(field record_bytes "$dmg")")
  echo "run=$r diff: $line b_vmhwm_mb=$rss record_bytes=$(field record_bytes "$dmg") wire_over_records=$const" >&2
  [[ "$(field equal "$line")" == true && "$(field repaired "$line")" == "$DIFFS" ]] ||
    die "diff run $r: not all $DIFFS differences were repaired"
  d_ms+=("$(field duration_ms "$line")"); d_wire+=("$wire"); d_report+=("$(field report_bytes "$line")")
  d_const+=("$const"); d_rss+=("$rss"); d_find+=("$(field find_ms "$line")")
  d_repair+=("$(field repair_ms "$line")"); d_per+=("$(field repair_ms_per_delta "$line")")
  d_acpu+=("$(field a_cpu_s "$line")"); d_bcpu+=("$(field b_cpu_s "$line")")
done
a_rss=$(vmhwm_mb "$A_PID")
stop_node "$B_PID"; stop_node "$A_PID"

echo "equal: runs=$RUNS median_ms=$(median "${eq_ms[@]}") median_wire_bytes=$(median "${eq_wire[@]}")" \
  "median_report_bytes=$(median "${eq_report[@]}") all_ms=$(join "${eq_ms[@]}")"
echo "diff: runs=$RUNS diffs=$DIFFS median_ms=$(median "${d_ms[@]}")" \
  "median_wire_bytes=$(median "${d_wire[@]}") median_report_bytes=$(median "${d_report[@]}")" \
  "median_wire_over_records=$(median "${d_const[@]}") median_find_ms=$(median "${d_find[@]}")" \
  "median_repair_ms=$(median "${d_repair[@]}") median_repair_ms_per_delta=$(median "${d_per[@]}")" \
  "median_a_cpu_s=$(median "${d_acpu[@]}") median_b_cpu_s=$(median "${d_bcpu[@]}")" \
  "all_ms=$(join "${d_ms[@]}")"
echo "memory: a_vmhwm_mb=$a_rss b_vmhwm_mb_max=$(printf '%s\n' "${d_rss[@]}" | sort -n | tail -1)" \
  "total_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')"
