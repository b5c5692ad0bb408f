#!/usr/bin/env bash
# make-secrets: prints the Kubernetes Secret of one wlsync node (its keys and certificates)
# as YAML, from a node dir made by `wlsync init` (config.toml) or by setup-node.sh /
# init-nodes.sh (wlsyncd.toml). Pipe it to kubectl; never commit it: it holds private keys.
#
# Usage: deploy/k8s/make-secrets.sh [--namespace NS] NODE_DIR > /dev/stdout
#   e.g. deploy/k8s/make-secrets.sh /secure/waihai | kubectl apply -f -
# The Secret is wlsync-NAME-keys, with the keys the StatefulSet's init container installs
# and the ConfigMap's config names (see secret.template.yaml): signing.key, federation.key,
# data.key, tls.crt, tls.key, ca.crt, and peer-PEER.crt for each [[peers]] block. On stderr
# it prints what the ConfigMaps need: this node's admin token hash and public key.
# Exit status: 0 on success, 1 on failure, 2 on a usage error.
set -euo pipefail

log() { echo "make-secrets: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

namespace=wlsync
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) [ $# -ge 2 ] || usage; namespace=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) log "unknown option: $1"; usage ;;
    *) [ -z "$dir" ] || usage; dir=$1; shift ;;
  esac
done
[ -n "$dir" ] || usage
[ -d "$dir" ] || die "no such folder: $dir"
command -v base64 >/dev/null || die "the base64 command is needed (coreutils)"

config=""
for f in "$dir/wlsyncd.toml" "$dir/config.toml"; do
  if [ -f "$f" ]; then config=$f; break; fi
done
[ -n "$config" ] || die "$dir holds no wlsyncd.toml or config.toml"

# Prints the string value of KEY in the first block whose header is HEADER.
toml_get() {
  awk -v want="$1" -v key="$2" '
    /^\[/ { section = $0; sub(/[ \t]*#.*$/, "", section); next }
    section == want && $0 ~ "^" key "[ \t]*=" {
      v = $0; sub(/^[^=]*=[ \t]*"/, "", v); sub(/".*$/, "", v); print v; exit
    }' "$config"
}

# A path of the config, resolved against the config's folder as wlsyncd does.
resolve() {
  [ -n "$1" ] || return 0
  case "$1" in /*) echo "$1" ;; *) echo "$(dirname "$config")/$1" ;; esac
}

name=$(toml_get '[node]' name)
[[ "$name" =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || die "$config: no valid node.name"

# Secret key, then file: the node's own files.
entries=(
  signing.key "$(resolve "$(toml_get '[node]' signing_key)")"
  federation.key "$(resolve "$(toml_get '[node]' federation_key)")"
  data.key "$(resolve "$(toml_get '[node]' data_key)")"
  tls.crt "$(resolve "$(toml_get '[tls]' cert)")"
  tls.key "$(resolve "$(toml_get '[tls]' key)")"
  ca.crt "$(resolve "$(toml_get '[tls]' ca)")"
)
# Each peer's pinned certificate.
while read -r peer cert; do
  entries+=("peer-$peer.crt" "$(resolve "$cert")")
done < <(awk '
  /^\[/ { inside = ($0 ~ /^\[\[peers\]\]/); if (n != "") print n, c; n = ""; c = ""; next }
  inside && /^name[ \t]*=/ { n = $0; sub(/^[^"]*"/, "", n); sub(/".*$/, "", n) }
  inside && /^cert[ \t]*=/ { c = $0; sub(/^[^"]*"/, "", c); sub(/".*$/, "", c) }
  END { if (n != "") print n, c }' "$config")

echo "# Secret of wlsync node $name, made by deploy/k8s/make-secrets.sh from $(basename "$dir")."
echo "# It holds private keys: apply it (kubectl apply -f -), never commit it."
echo "apiVersion: v1"
echo "kind: Secret"
echo "metadata:"
echo "  name: wlsync-$name-keys"
echo "  namespace: $namespace"
echo "  labels:"
echo "    app.kubernetes.io/name: wlsync"
echo "    app.kubernetes.io/instance: $name"
echo "type: Opaque"
echo "data:"
for ((i = 0; i < ${#entries[@]}; i += 2)); do
  key=${entries[$i]}
  file=${entries[$((i + 1))]}
  [ -n "$file" ] || die "$config names no file for $key"
  [ -f "$file" ] || die "$file ($key) does not exist"
  [[ "$key" =~ ^[-._a-zA-Z0-9]+$ ]] || die "not a valid Secret key: $key"
  echo "  $key: $(base64 -w0 <"$file")"
done

log "Secret wlsync-$name-keys written ($((${#entries[@]} / 2)) files). For the ConfigMaps:"
hash=$(toml_get '[auth]' admin_token_sha256)
log "  wlsync-$name-config, [auth]: admin_token_sha256 = \"$hash\""
pub=$(resolve "$(toml_get '[node]' signing_key)").pub
if [ -f "$pub" ]; then
  log "  every peer's config, [[peers]] name = \"$name\": public_key = \"$(tr -d ' \r\n' <"$pub")\""
fi
