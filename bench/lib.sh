# Shared helpers of the bench/*.sh scripts: binaries, a scratch directory, nodes on loopback
# ports made with `wlsync init`, peak RSS and medians. Sourced, never run.
#
# Environment:
#   WLSYNC_BIN          directory of wlsync, wlsyncd, wlsync-gen and wlsync-bench-* 
#                       (default: build-bench/bin of this tree)
#   WLSYNC_BENCH_DATA   where generated CSV files are cached (default: /tmp/wlsync-bench-data)
#   TMPDIR              scratch space for node data dirs (removed at exit)

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${WLSYNC_BIN:-$BENCH_ROOT/build-bench/bin}"
DATA="${WLSYNC_BENCH_DATA:-/tmp/wlsync-bench-data}"
SAMPLE="$BENCH_ROOT/deploy/sample/commuters.csv"
GRIDS="$BENCH_ROOT/deploy/sample/grids.csv"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wlsync-bench.XXXXXX")"
BENCH_PIDS=()

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

require_bins() {
  local b
  for b in "$@"; do [[ -x "$BIN/$b" ]] || die "$BIN/$b missing: build it (see docs/benchmarks.md)"; done
}

# A loopback TCP port that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# gen_rows N: prints the path of a cached generated commuters CSV of N rows (seed 1).
gen_rows() {
  local n="$1" out="$DATA/commuters-$1.csv"
  mkdir -p "$DATA"
  if [[ ! -s "$out" ]]; then
    require_bins wlsync-gen
    "$BIN/wlsync-gen" --rows "$n" --seed 1 --out "$out.tmp" --grids "$GRIDS" >&2 ||
      die "wlsync-gen failed"
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

# data_rows FILE: data rows of a CSV (lines minus the header; the files have no quoted newlines).
data_rows() { echo $(( $(wc -l < "$1") - 1 )); }

# Nodes run TLS as `wlsync init` makes them: the first make_node's CA (kept in $BENCH_CA)
# signs every later node's certificate, and the CLI and bench tools trust it.
BENCH_CA="$WORK/ca"
export WLSYNC_CA="$BENCH_CA/ca.crt"

# The roles whose rate limits make_node lifts.
BENCH_ROLES=(operator tracer auditor admin)

# make_node DIR NAME PORT [FEDERATION_KEY]: `wlsync init` a node in DIR. A benchmark
# measures the node, not its rate limits: every role's requests_per_minute and
# records_per_hour are set to 0 (no limit) in the node's [auth] section.
make_node() {
  local dir="$1" name="$2" port="$3" fed="${4:-}" role
  local args=(init "$dir" --name "$name" --listen "127.0.0.1:$port" --grids "$GRIDS")
  [[ -n "$fed" ]] && args+=(--federation-key "$fed")
  if [[ -f "$BENCH_CA/ca.key" ]]; then
    args+=(--ca-cert "$BENCH_CA/ca.crt" --ca-key "$BENCH_CA/ca.key")
  fi
  "$BIN/wlsync" "${args[@]}" > "$WORK/init-$name.log" 2>&1 || {
    cat "$WORK/init-$name.log" >&2
    die "wlsync init $name failed"
  }
  if [[ ! -f "$BENCH_CA/ca.key" ]]; then
    mkdir -p "$BENCH_CA" && cp "$dir/tls/ca.crt" "$dir/tls/ca.key" "$BENCH_CA/"
  fi
  local block="# Benchmark node: no rate limits (bench/lib.sh make_node)."
  for role in "${BENCH_ROLES[@]}"; do
    block+=$'\n'"${role}_requests_per_minute = 0"$'\n'"${role}_records_per_hour = 0"
  done
  BLOCK="$block" awk '{ print } /^admin_token_sha256 = / { print ENVIRON["BLOCK"] }' \
    "$dir/config.toml" > "$dir/config.toml.tmp" && mv "$dir/config.toml.tmp" "$dir/config.toml"
  grep -q '^operator_requests_per_minute = 0$' "$dir/config.toml" ||
    die "make_node: could not lift the rate limits in $dir/config.toml"
}

# node_token DIR: the operator token file of the node in DIR (made by start_node).
node_token() { echo "$1/operator.token"; }

# add_peer DIR PEER_NAME PEER_DIR PEER_PORT: appends a [[peers]] block to DIR/config.toml,
# pinning the peer's certificate.
add_peer() {
  local dir="$1" name="$2" peer_dir="$3" port="$4"
  printf '\n[[peers]]\nname = "%s"\naddress = "127.0.0.1:%s"\npublic_key = "%s"\ncert = "%s"\n' \
    "$name" "$port" "$(tr -d '\r\n' < "$peer_dir/keys/$name.key.pub")" \
    "$peer_dir/tls/$name.crt" >> "$dir/config.toml"
}

# start_node DIR PORT: starts wlsyncd, waits until it answers status (with the admin token
# `wlsync init` wrote), sets NODE_PID. On the first start it creates the operator token
# `node_token DIR` (tokens live in the node's store, so later starts reuse it).
start_node() {
  local dir="$1" port="$2" i
  "$BIN/wlsyncd" --config "$dir/config.toml" > "$dir/wlsyncd.out" 2> "$dir/wlsyncd.log" &
  NODE_PID=$!
  BENCH_PIDS+=("$NODE_PID")
  for i in $(seq 1 200); do
    if "$BIN/wlsync" --node "127.0.0.1:$port" --token-file "$dir/admin.token" status \
         > /dev/null 2>&1; then
      make_operator_token "$dir" "$port"
      return 0
    fi
    kill -0 "$NODE_PID" 2>/dev/null || { tail -5 "$dir/wlsyncd.log" >&2; die "wlsyncd exited"; }
    sleep 0.05
  done
  die "wlsyncd in $dir did not answer"
}

# make_operator_token DIR PORT: creates the token `node_token DIR` (role operator) unless
# it exists.
make_operator_token() {
  local dir="$1" port="$2" token
  token=$(node_token "$dir")
  [[ -s "$token" ]] && return 0
  "$BIN/wlsync" --node "127.0.0.1:$port" --token-file "$dir/admin.token" \
    token create bench --role operator --out "$token" > /dev/null 2> "$WORK/token.err" || {
    cat "$WORK/token.err" >&2
    die "could not create an operator token in $dir"
  }
}

# stop_node PID: SIGTERM and wait.
stop_node() {
  kill -TERM "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  return 0
}

# vmhwm_mb PID: peak resident set size of a live process in MiB.
vmhwm_mb() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# cpu_seconds PID: user + system CPU time of a live process (all its threads) in seconds.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# thread_cpu PID: CPU seconds (user + system) of a live process's threads, summed by thread
# name, as "name=seconds,name=seconds" (the busiest first; spaces in names become '_').
thread_cpu() {
  local hz; hz=$(getconf CLK_TCK)
  for t in /proc/"$1"/task/*/stat; do cat "$t" 2>/dev/null; echo; done |
    awk -v hz="$hz" 'NF {
      lp = index($0, "("); rp = match($0, /\) [A-Z] /)
      name = substr($0, lp + 1, rp - lp - 1); gsub(/ /, "_", name)
      split(substr($0, rp + 2), f, " ")
      cpu[name] += (f[12] + f[13]) / hz }
    END { for (n in cpu) printf "%s %.2f\n", n, cpu[n] }' |
    sort -k2 -rn | awk '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $1, $2 }'
}

# field KEY LINE: the value of KEY=value in a line of key=value pairs.
field() { tr ' ' '\n' <<< "$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# median V...: the median of numbers (mean of the middle two for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }

machine_line() {
  echo "machine: nproc=$(nproc) ram=$(free -g | awk '/^Mem:/ { print $2 }')GiB" \
    "cpu=\"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)\"" \
    "date=$(date -u +%Y-%m-%dT%H:%MZ)"
}

# join V...: the values separated by commas.
join() { local IFS=,; echo "$*"; }

# set_listen CONFIG API_PORT [PEER_PORT]: points a kept node's config at new ports: the
# [api] listen address, the [metrics] listener on another free port, and (when given) the
# address of its one [[peers]] entry.
set_listen() {
  local config="$1" api="$2" peer="${3:-}" metrics
  metrics=$(free_port)
  awk -v api="$api" -v metrics="$metrics" -v peer="$peer" '
    /^\[/ { section = $0 }
    section == "[api]" && /^listen = "127\.0\.0\.1:[0-9]*"$/ { $0 = "listen = \"127.0.0.1:" api "\"" }
    section == "[metrics]" && /^listen = "127\.0\.0\.1:[0-9]*"$/ { $0 = "listen = \"127.0.0.1:" metrics "\"" }
    section == "[[peers]]" && peer != "" && /^address = "127\.0\.0\.1:[0-9]*"$/ { $0 = "address = \"127.0.0.1:" peer "\"" }
    { print }' "$config" > "$config.tmp" && mv "$config.tmp" "$config"
}

