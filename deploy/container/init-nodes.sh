#!/usr/bin/env bash
# init-nodes: makes the configuration of a small federation in one go: a local CA and node
# certificates (deploy/make-certs.sh), each node's config dir (deploy/systemd/setup-node.sh
# init), one federation key shared by all, and each node pinned as a peer of every other.
# The compose file's one-shot `init` service runs it; so does tests/deploy/packaging_test.sh.
#
# Usage: init-nodes.sh --out DIR [options] NAME=HOST:PORT ...
#   NAME=HOST:PORT     a node, and the address its peers dial; HOST goes into its certificate
#   --out DIR          DIR/NAME becomes node NAME's config dir
#   --node-config-dir DIR  where each node sees its config dir (default /etc/wlsync, where
#                      the node's container mounts it; "{name}" becomes the node's name)
#   --pki DIR          the local CA (ca.crt, ca.key); default DIR/pki. Mount it on no node.
#   --listen-host H    what each node listens on, at the port of its address (default 0.0.0.0)
#   --data-dir DIR     node.data_dir of every node (default /var/lib/wlsync, each node's own
#                      volume, made where the node runs); "{name}" becomes the node's name
#   --user USER        the user the nodes run as, a name or UID:GID (default wlsync)
#   --metrics-listen H:P   [metrics] listen of every node (default 0.0.0.0:9740, to be
#                      scraped from outside the container; "" turns metrics off)
#   --no-metrics       keep [metrics] as `wlsync init` writes it (loopback only)
#   --grids FILE       the grids (default: the ones installed with wlsync)
#   --wlsync PATH      the CLI (default: wlsync on PATH)
# Idempotent: a node whose config exists is kept as it is, and a node added to the list
# later gets the federation key of the existing ones and is paired with each of them.
# Exit status: 0 on success, 1 on failure, 2 on a usage error.
set -euo pipefail

log() { echo "init-nodes: $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
make_certs=$here/../make-certs.sh
setup_node=$here/../systemd/setup-node.sh

out=""
pki=""
listen_host=0.0.0.0
data_dir=/var/lib/wlsync
node_config_dir=/etc/wlsync
user=wlsync
metrics=(--metrics-listen 0.0.0.0:9740)
common=()
specs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --pki) [ $# -ge 2 ] || usage; pki=$2; shift 2 ;;
    --listen-host) [ $# -ge 2 ] || usage; listen_host=$2; shift 2 ;;
    --data-dir) [ $# -ge 2 ] || usage; data_dir=$2; shift 2 ;;
    --node-config-dir) [ $# -ge 2 ] || usage; node_config_dir=$2; shift 2 ;;
    --user) [ $# -ge 2 ] || usage; user=$2; shift 2 ;;
    --metrics-listen) [ $# -ge 2 ] || usage; metrics=(--metrics-listen "$2"); shift 2 ;;
    --no-metrics) metrics=(); shift ;;
    --grids|--wlsync) [ $# -ge 2 ] || usage; common+=("$1" "$2"); shift 2 ;;
    -h|--help) usage ;;
    -*) log "unknown option: $1"; usage ;;
    *) specs+=("$1"); shift ;;
  esac
done
if [ -z "$out" ] || [ ${#specs[@]} -eq 0 ]; then usage; fi
pki=${pki:-$out/pki}

names=()
addresses=()
for spec in "${specs[@]}"; do
  [[ "$spec" =~ ^([a-z][a-z0-9_-]{0,31})=([A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$ ]] ||
    { log "not NAME=HOST:PORT: $spec"; exit 2; }
  names+=("${BASH_REMATCH[1]}")
  addresses+=("${BASH_REMATCH[2]}:${BASH_REMATCH[3]}")
done

umask 077
# Each node dir is open to its own group only: a folder made here above them lets it through
# (one that exists, such as the init container's mount point, is left as it is).
[ -d "$out" ] || (umask 022 && mkdir -p "$out")
mkdir -p "$pki"

# The nodes still to make, and their certificates (the CA is made once and then reused).
missing=()
cert_specs=()
for i in "${!names[@]}"; do
  n=${names[$i]}
  [ -f "$out/$n/wlsyncd.toml" ] && continue
  missing+=("$i")
  host=${addresses[$i]%:*}
  case "$host" in
    localhost|127.0.0.1|"$n") cert_specs+=("$n") ;;
    *) cert_specs+=("$n=$host") ;;
  esac
done
if [ ${#missing[@]} -eq 0 ]; then
  log "every node is already set up in $out"
else
  bash "$make_certs" --out "$pki" "${cert_specs[@]}"
fi

# The federation key: that of a node already made, else the first new node makes it.
federation=()
for n in "${names[@]}"; do
  if [ -f "$out/$n/keys/federation.key" ]; then
    federation=(--federation-key "$out/$n/keys/federation.key")
    break
  fi
done

for i in "${missing[@]}"; do
  n=${names[$i]}
  bash "$setup_node" init --config-dir "$out/$n" --installed-as "${node_config_dir//\{name\}/$n}" \
    --data-dir "${data_dir//\{name\}/$n}" --no-data-dir --user "$user" --name "$n" \
    --listen "$listen_host:${addresses[$i]##*:}" --ca-cert "$pki/ca.crt" --cert "$pki/$n.crt" \
    --key "$pki/$n.key" "${federation[@]}" "${metrics[@]}" "${common[@]}"
  # The node's own copy (tls/NAME.key) is now the only one.
  rm -f "$pki/$n.key"
  [ ${#federation[@]} -gt 0 ] || federation=(--federation-key "$out/$n/keys/federation.key")
done

for i in "${!names[@]}"; do
  for j in "${!names[@]}"; do
    [ "$i" = "$j" ] && continue
    p=${names[$j]}
    bash "$setup_node" add-peer --config-dir "$out/${names[$i]}" --user "$user" --name "$p" \
      --address "${addresses[$j]}" --public-key "$out/$p/keys/$p.key.pub" \
      --cert "$out/$p/tls/$p.crt"
  done
done
log "done: ${names[*]} in $out; the CA is $pki/ca.crt (its key ca.key signs new nodes)"
