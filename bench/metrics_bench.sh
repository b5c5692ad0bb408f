#!/usr/bin/env bash
# metrics_bench: what one scrape of GET /metrics costs on a node holding N records: the
# median and p99 of 300 sequential scrapes (curl's time_total), against a baseline of 300
# requests to a path the listener does not serve (404: the HTTP round trip alone), in the
# same run; and the size of the exposition.
# Usage: bench/metrics_bench.sh [ROWS]   (default 100000; WLSYNC_BIN as in bench/lib.sh)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
rows="${1:-100000}"
require_bins wlsync wlsyncd wlsync-gen
command -v curl >/dev/null || die "needs curl"

port=$(free_port)
metrics=$(free_port)
dir="$WORK/waihai"
make_node "$dir" waihai "$port"
sed -i "s/^listen = \"127.0.0.1:$((port + 1000))\"$/listen = \"127.0.0.1:$metrics\"/" \
  "$dir/config.toml"
grep -q "^listen = \"127.0.0.1:$metrics\"" "$dir/config.toml" || die "could not set metrics.listen"
start_node "$dir" "$port"
"$BIN/wlsync" --node "127.0.0.1:$port" --token-file "$(node_token "$dir")" \
  import "$(gen_rows "$rows")" > /dev/null

# times PATH: 300 request times in ms, one per line.
times() {
  local _
  for _ in $(seq 1 300); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$metrics$1"
  done | awk '{ printf "%.3f\n", $1 * 1000 }'
}
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "median %.3f ms, p99 %.3f ms", v[int(NR / 2) + 1], v[int(NR * 0.99)] }'; }

scrape=$(times /metrics | stats)
baseline=$(times /not-served | stats)
body=$(curl -s "http://127.0.0.1:$metrics/metrics")
held=$(printf '%s\n' "$body" | awk '/^wlsync_records\{/ { n += $2 } END { print n }')
echo "records=$held scrape: $scrape; baseline (404): $baseline;" \
  "exposition $(printf '%s' "$body" | wc -c) bytes, $(printf '%s\n' "$body" | grep -vc '^#') samples"
