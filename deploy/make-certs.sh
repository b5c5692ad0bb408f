#!/usr/bin/env bash
# make-certs: a small local CA and TLS certificates for wlsync nodes, with the openssl
# command (ECDSA P-256, SHA-256), as deploy/quickstart.sh uses them. For real deployments
# use your own PKI, or let `wlsync init` make the node certificate (see docs/operations.md).
#
# Usage: deploy/make-certs.sh --out DIR [--days N] NAME[=HOST,...] ...
#   --out DIR   where to write: DIR/ca.crt and DIR/ca.key (made once, reused when present),
#               and DIR/NAME.crt, DIR/NAME.key for each node
#   --days N    validity of the node certificates (default 825)
#   NAME=HOSTS  the node name, and extra host names or IP addresses that clients dial; every
#               certificate also names localhost, 127.0.0.1, ::1 and NAME
# Keys are written with mode 0600. Then, per node:
#   wlsync init DIR/NAME --name NAME --listen HOST:PORT --ca-cert DIR/ca.crt \
#     --cert DIR/NAME.crt --key DIR/NAME.key
# Exit status: 0 on success, 1 on failure, 2 on a usage error.
set -euo pipefail

log() { echo "make-certs: $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

out=""
days=825
nodes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) log "unknown option: $1"; usage ;;
    *) nodes+=("$1"); shift ;;
  esac
done
[ -n "$out" ] && [ ${#nodes[@]} -gt 0 ] || usage
[[ "$days" =~ ^[0-9]+$ ]] && [ "$days" -ge 1 ] ||
  { log "--days must be a positive number"; exit 2; }
command -v openssl >/dev/null || { log "openssl is needed (bash deploy/install-deps.sh)"; exit 1; }

umask 077
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -f "$out/ca.crt" ] || [ ! -f "$out/ca.key" ]; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -keyout "$out/ca.key" -out "$out/ca.crt" -days 3650 -subj "/O=wlsync/CN=wlsync local CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  chmod 644 "$out/ca.crt"
  log "made CA $out/ca.crt"
fi

for spec in "${nodes[@]}"; do
  name=${spec%%=*}
  extra=""
  [ "$spec" != "$name" ] && extra=${spec#*=}
  [[ "$name" =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || { log "not a node name: $name"; exit 2; }
  san="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:$name"
  IFS=, read -ra hosts <<<"$extra"
  for h in "${hosts[@]}"; do
    [ -z "$h" ] && continue
    if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then
      san+=",IP:$h"
    elif [[ "$h" =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]]; then
      san+=",DNS:$h"
    else
      log "not a host name or IP address: $h"; exit 2
    fi
  done
  cat >"$tmp/$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EXT
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -keyout "$out/$name.key" -out "$tmp/$name.csr" -subj "/O=wlsync/CN=$name" 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; exit 1; }
  openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -sha256 \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -extfile "$tmp/$name.ext" \
    -out "$out/$name.crt" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  chmod 644 "$out/$name.crt"
  log "made $out/$name.crt ($san)"
done
