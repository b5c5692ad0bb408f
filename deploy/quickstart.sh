#!/usr/bin/env bash
# quickstart: builds wlsync, makes a local CA and node certificates (deploy/make-certs.sh),
# runs a two-node federation (waihai, guzhen) on loopback over mutual TLS with each peer's
# certificate pinned, loads
# the sample registry, applies each side's changes, waits for the nodes to agree and prints
# what each holds. The last line of output is JSON with the same figures:
#   {"waihai": {"records":N,"white":N,"grey":N,"deregistered":N}, "guzhen": {...},
#    "identical": true, "converge_s": 1.2}
#
# Usage: deploy/quickstart.sh [--workdir DIR] [--port-base N] [--data DIR] [--timeout S]
#                             [--keep-running]
#        deploy/quickstart.sh --stop [--workdir DIR]
#   --workdir DIR   where the nodes live (default ./quickstart)
#   --port-base N   waihai listens on 127.0.0.1:N+1, guzhen on N+2 (default 7400)
#   --data DIR      commuters.csv, changes-waihai.csv, changes-guzhen.csv and grids.csv
#                   (default: ../shared/data beside the repo if present, else deploy/sample)
#   --timeout S     seconds to wait for each convergence (default 120)
#   --keep-running  leave both nodes up; writes DIR/waihai.env and DIR/guzhen.env (source
#                   one to point `wlsync` at that node: WLSYNC_NODE and WLSYNC_CA) next to
#                   DIR/waihai.pid, DIR/guzhen.pid
#   --stop          stop the nodes of DIR (via the pid files) and exit
# Environment: WLSYNC_BUILD_DIR (default: the repo's build/), WLSYNC_BUILD_JOBS (ninja -j).
#
# Running it again is safe: nodes still running from an earlier run of the same DIR are
# stopped first, then DIR/waihai, DIR/guzhen, DIR/pki (the CA and certificates) and DIR/split
# are wiped and made afresh (each run starts from an empty registry). Nothing else in DIR is
# touched.
# Exit status: 0 when both exports are identical, 1 on any failure (nodes are stopped),
# 2 on a usage error.
set -euo pipefail

readonly kNodes=(waihai guzhen)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

workdir=./quickstart
port_base=7400
data=""
timeout_s=120
keep_running=0
stop_only=0

log() { echo "quickstart: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) [ $# -ge 2 ] || usage; workdir=$2; shift 2 ;;
    --port-base) [ $# -ge 2 ] || usage; port_base=$2; shift 2 ;;
    --data) [ $# -ge 2 ] || usage; data=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    --keep-running) keep_running=1; shift ;;
    --stop) stop_only=1; shift ;;
    -h|--help) usage ;;
    *) log "unknown option: $1"; usage ;;
  esac
done

[[ "$port_base" =~ ^[0-9]+$ ]] && [ "$port_base" -ge 1 ] && [ "$port_base" -le 65533 ] ||
  { log "--port-base must be a number from 1 to 65533"; exit 2; }
[[ "$timeout_s" =~ ^[0-9]+$ ]] && [ "$timeout_s" -ge 1 ] ||
  { log "--timeout must be a whole number of seconds"; exit 2; }
mkdir -p "$workdir" || die "cannot create work dir $workdir"
workdir=$(cd "$workdir" && pwd)

port_of() { if [ "$1" = waihai ]; then echo $((port_base + 1)); else echo $((port_base + 2)); fi; }
addr_of() { echo "127.0.0.1:$(port_of "$1")"; }

# ---- stopping nodes ---------------------------------------------------------------------

# True when PID is a wlsyncd serving the config in WORKDIR/NAME (guards against a reused pid).
is_our_node() {
  local pid=$1 name=$2
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "wlsyncd --config $workdir/$name/config.toml"
}

# Stops the node NAME recorded in WORKDIR/NAME.pid: SIGTERM, then SIGKILL after 20 s.
stop_node() {
  local name=$1 pidfile="$workdir/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [[ "$pid" =~ ^[0-9]+$ ]] && is_our_node "$pid" "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do
      is_our_node "$pid" "$name" || break
      sleep 0.1
    done
    if is_our_node "$pid" "$name"; then
      log "warning: $name (pid $pid) did not stop on SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$pidfile" "$workdir/$name.env"
}

stop_all() { for n in "${kNodes[@]}"; do stop_node "$n"; done; }

if [ "$stop_only" = 1 ]; then
  stop_all
  exit 0
fi

# From here on, any failure stops whatever this run started.
finished=0
on_exit() {
  local rc=$?
  if [ "$finished" != 1 ] || [ "$keep_running" != 1 ] || [ "$rc" != 0 ]; then stop_all; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ---- inputs -----------------------------------------------------------------------------

if [ -z "$data" ]; then
  if [ -f "$repo/../shared/data/commuters.csv" ]; then data="$repo/../shared/data"; else data="$repo/deploy/sample"; fi
fi
[ -d "$data" ] || die "data dir $data does not exist"
data=$(cd "$data" && pwd)
for f in commuters.csv changes-waihai.csv changes-guzhen.csv grids.csv; do
  [ -f "$data/$f" ] || die "data dir $data lacks $f"
done
command -v python3 >/dev/null || die "python3 is needed (bash deploy/install-deps.sh installs it)"

# ---- dependencies and build ---------------------------------------------------------------

log "checking dependencies"
bash "$repo/deploy/install-deps.sh" || die "installing dependencies failed (deploy/install-deps.sh)"

build_dir=${WLSYNC_BUILD_DIR:-$repo/build}
jobs=()
[ -n "${WLSYNC_BUILD_JOBS:-}" ] && jobs=(-j "$WLSYNC_BUILD_JOBS")
log "building wlsync and wlsyncd in $build_dir"
cmake -S "$repo" -B "$build_dir" -G Ninja >"$workdir/build.log" 2>&1 ||
  die "cmake failed; see $workdir/build.log"
ninja -C "$build_dir" "${jobs[@]}" wlsync wlsyncd >>"$workdir/build.log" 2>&1 ||
  die "build failed; see $workdir/build.log"
wlsync=$build_dir/bin/wlsync
wlsyncd=$build_dir/bin/wlsyncd
[ -x "$wlsync" ] && [ -x "$wlsyncd" ] || die "build did not produce $wlsync and $wlsyncd"

# ---- node directories ---------------------------------------------------------------------

stop_all  # leftovers of an earlier run of this work dir
for n in "${kNodes[@]}"; do
  port=$(port_of "$n")
  python3 - "$port" <<'EOF' || die "port $port on 127.0.0.1 is in use (choose another --port-base)"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as wlsyncd binds
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
  rm -rf "${workdir:?}/$n"
done
rm -rf "${workdir:?}/split" "${workdir:?}/pki"

log "making a local CA and TLS certificates in $workdir/pki"
pki=$workdir/pki
bash "$repo/deploy/make-certs.sh" --out "$pki" "${kNodes[@]}" 2>"$workdir/make-certs.log" ||
  { cat "$workdir/make-certs.log" >&2; die "deploy/make-certs.sh failed"; }

log "making keys and configs under $workdir"
fed_args=()
for n in "${kNodes[@]}"; do
  "$wlsync" init "$workdir/$n" --name "$n" --listen "$(addr_of "$n")" --grids "$data/grids.csv" \
    --ca-cert "$pki/ca.crt" --cert "$pki/$n.crt" --key "$pki/$n.key" "${fed_args[@]}" \
    >/dev/null || die "wlsync init $n failed"
  fed_args=(--federation-key "$workdir/${kNodes[0]}/keys/federation.key")
done
# Each node pins its peer's certificate: a copy of the peer's tls/NAME.crt.
for n in "${kNodes[@]}"; do
  for peer in "${kNodes[@]}"; do
    [ "$peer" = "$n" ] && continue
    mkdir -p "$workdir/$n/peers"
    cp "$workdir/$peer/tls/$peer.crt" "$workdir/$n/peers/$peer.crt"
    printf '\n[[peers]]\nname = "%s"\naddress = "%s"\npublic_key = "%s"\ncert = "peers/%s.crt"\n' \
      "$peer" "$(addr_of "$peer")" "$(tr -d '\r\n' <"$workdir/$peer/keys/$peer.key.pub")" \
      "$peer" >>"$workdir/$n/config.toml"
  done
done

# ---- start ------------------------------------------------------------------------------

# The CLI as NAME's operator once start_node made the token, as its admin before that.
token_of() {
  if [ -f "$workdir/$1/operator.token" ]; then echo "$workdir/$1/operator.token"
  else echo "$workdir/$1/admin.token"; fi
}
cli() {
  local n=$1; shift
  "$wlsync" --node "$(addr_of "$n")" --ca "$pki/ca.crt" --token-file "$(token_of "$n")" "$@"
}

start_node() {
  local n=$1 pid
  nohup "$wlsyncd" --config "$workdir/$n/config.toml" \
    >"$workdir/$n/wlsyncd.out" 2>"$workdir/$n/wlsyncd.log" </dev/null &
  pid=$!
  echo "$pid" >"$workdir/$n.pid"
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || die "$n exited at start; see $workdir/$n/wlsyncd.log"
    if cli "$n" status >/dev/null 2>&1; then
      log "started $n on $(addr_of "$n") (pid $pid)"
      cli "$n" token create quickstart-operator --role operator \
        --out "$workdir/$n/operator.token" 2>/dev/null ||
        die "cannot create the operator token of $n"
      return 0
    fi
    sleep 0.1
  done
  die "$n does not answer on $(addr_of "$n") after 20 s; see $workdir/$n/wlsyncd.log"
}

for n in "${kNodes[@]}"; do start_node "$n"; done

# ---- load -------------------------------------------------------------------------------

# Each node imports its own jurisdiction's rows, split by the home column (header kept).
mkdir -p "$workdir/split"
python3 - "$data/commuters.csv" "$workdir/split" "${kNodes[@]}" <<'EOF' ||
import csv, sys
src, out_dir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(src, newline="", encoding="utf-8-sig") as f:
    rows = csv.reader(f)
    header = next(rows)
    home = [h.strip() for h in header].index("home")
    outs = {n: open(f"{out_dir}/{n}.csv", "w", newline="", encoding="utf-8") for n in names}
    writers = {n: csv.writer(o, lineterminator="\n") for n, o in outs.items()}
    for w in writers.values():
        w.writerow(header)
    other = 0
    for row in rows:
        if not row:
            continue
        n = row[home].strip().lower() if home < len(row) else ""
        if n in writers:
            writers[n].writerow(row)
        else:
            other += 1
    if other:
        print(f"quickstart: warning: {other} rows with another home were not imported",
              file=sys.stderr)
EOF
  die "cannot split $data/commuters.csv by home"

# Runs `wlsync import|apply FILE` at NAME; refused rows are a warning, anything else fatal.
load() {
  local n=$1 what=$2 file=$3 rc=0 out
  out=$(cli "$n" "$what" "$file" 2>"$workdir/$n/$what.err") || rc=$?
  case "$rc" in
    0) log "$n: $what $(basename "$file"): $out" ;;
    3) log "warning: $n: $what $(basename "$file"): $out; refused rows in $workdir/$n/$what.err" ;;
    *) cat "$workdir/$n/$what.err" >&2; die "$n: $what $file failed (exit $rc)" ;;
  esac
}

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# Waits until both nodes export the same records; returns 1 after the timeout.
wait_identical() {
  local deadline=$((SECONDS + timeout_s))
  while :; do
    if cli waihai export >"$workdir/waihai.export" 2>/dev/null &&
       cli guzhen export >"$workdir/guzhen.export" 2>/dev/null &&
       [ -s "$workdir/waihai.export" ] && cmp -s "$workdir/waihai.export" "$workdir/guzhen.export"; then
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}

for n in "${kNodes[@]}"; do load "$n" import "$workdir/split/$n.csv"; done
# Waihai's changes touch people registered at Guzhen: both must hold every import first.
t0=$(now)
wait_identical || die "the nodes do not agree ${timeout_s} s after the imports"
log "both nodes hold both imports after $(elapsed "$t0" "$(now)") s"

load waihai apply "$data/changes-waihai.csv"
t0=$(now)
identical=true
if wait_identical; then
  log "guzhen has waihai's changes after $(elapsed "$t0" "$(now)") s"
else
  identical=false
  log "error: guzhen does not have waihai's changes after ${timeout_s} s"
fi

converge_s=null
if [ "$identical" = true ]; then
  load guzhen apply "$data/changes-guzhen.csv"
  t0=$(now)
  if wait_identical; then
    converge_s=$(elapsed "$t0" "$(now)")
  else
    identical=false
    log "error: the nodes do not agree ${timeout_s} s after guzhen's changes"
  fi
fi

# ---- report -----------------------------------------------------------------------------

for n in "${kNodes[@]}"; do
  cli "$n" status --json >"$workdir/$n.status" || die "status of $n failed"
done
python3 - "$workdir" "$identical" "$converge_s" "${kNodes[@]}" <<'EOF' || die "cannot read status"
import json, sys
workdir, identical, converge, names = sys.argv[1], sys.argv[2] == "true", sys.argv[3], sys.argv[4:]
figures = {}
for n in names:
    c = json.load(open(f"{workdir}/{n}.status")).get("counts", {})
    figures[n] = {"records": int(c.get("records", 0)), "white": int(c.get("registered_white", 0)),
                  "grey": int(c.get("registered_grey", 0)),
                  "deregistered": int(c.get("deregistered", 0))}
for n, f in figures.items():
    print(f"{n:8} records={f['records']} white={f['white']} grey={f['grey']} "
          f"deregistered={f['deregistered']}")
print(f"converged {converge} s after the last change" if converge != "null" else "not converged")
print("exports identical: " + ("yes" if identical else "NO"))
out = dict(figures)
out["identical"] = identical
out["converge_s"] = None if converge == "null" else float(converge)
print(json.dumps(out))
EOF

[ "$identical" = true ] || exit 1

if [ "$keep_running" = 1 ]; then
  for n in "${kNodes[@]}"; do
    # WLSYNC_NODE and WLSYNC_CA from wlsync init, with the operator token instead of admin's.
    grep -v '^export WLSYNC_TOKEN_FILE=' "$workdir/$n/cli.env" >"$workdir/$n.env"
    echo "export WLSYNC_TOKEN_FILE=$workdir/$n/operator.token" >>"$workdir/$n.env"
  done
  log "nodes left running; e.g. source $workdir/waihai.env && $wlsync status;" \
    "metrics at http://127.0.0.1:$(( $(port_of waihai) + 1000 ))/metrics (waihai) and" \
    "http://127.0.0.1:$(( $(port_of guzhen) + 1000 ))/metrics (guzhen);" \
    "stop them with: $0 --stop --workdir $workdir"
fi
finished=1
