#!/usr/bin/env bash
# entrypoint: what the wlsync image runs (deploy/container/Dockerfile), as the non-root user
# wlsync. The node's config dir is mounted at /etc/wlsync (read-only) and its data volume
# at /var/lib/wlsync.
#
#   entrypoint.sh [wlsyncd] [WLSYNCD_OPTIONS...]
#       runs the node: wlsyncd --config $WLSYNC_CONFIG [--log-format $WLSYNC_LOG_FORMAT]
#   entrypoint.sh health [--live]
#       the probe: asks the node's gRPC health service over TLS on loopback. Exit 0 when it
#       answers SERVING; with --live, when it answers at all (NOT_SERVING included: a node
#       whose peers are away is alive and must not be restarted for it).
#   entrypoint.sh install-keys SRC DEST
#       copies the files of SRC (a mounted Kubernetes Secret) into DEST, keys mode 0600 and
#       certificates 0644, owned by the caller: the node warns about group-readable keys,
#       which a Secret volume with fsGroup gives.
#   entrypoint.sh init-nodes ARGS...
#       deploy/container/init-nodes.sh: configs, keys and certificates of a federation.
#   entrypoint.sh COMMAND ARGS...
#       anything else is run as given, e.g. `wlsync status`.
# Environment: WLSYNC_CONFIG (default /etc/wlsync/wlsyncd.toml), WLSYNC_LOG_FORMAT (text or
# json; default: the config's log.format), WLSYNC_HEALTH_NODE (HOST:PORT the probe dials;
# default: loopback at the port of api.listen).
set -euo pipefail

config=${WLSYNC_CONFIG:-/etc/wlsync/wlsyncd.toml}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "entrypoint: error: $*" >&2; exit 1; }

# Prints the value of KEY in [SECTION] of the config (a string or a bare value), or nothing.
# The config is a `wlsync init` file: one `key = value` per line, comments after `#`.
toml_get() {
  awk -v want="[$1]" -v key="$2" '
    /^[ \t]*\[/ { line = $0; gsub(/[ \t]/, "", line); section = line; next }
    section == want {
      line = $0
      if (line !~ "^[ \t]*" key "[ \t]*=") next
      sub(/^[^=]*=[ \t]*/, "", line)
      if (line ~ /^"/) { sub(/^"/, "", line); sub(/".*$/, "", line) }
      else { sub(/[ \t]*#.*$/, "", line); sub(/[ \t]*$/, "", line) }
      print line
      exit
    }' "$config"
}

# A path of the config, made absolute against the config's folder as wlsyncd does.
config_path() {
  local value
  value=$(toml_get "$1" "$2")
  [ -n "$value" ] || return 0
  case "$value" in
    /*) echo "$value" ;;
    *) echo "$(dirname "$config")/$value" ;;
  esac
}

run_node() {
  local data_dir args=()
  [ -r "$config" ] || die "cannot read the config $config: mount the node's config dir at" \
    "$(dirname "$config") (see deploy/README.md), or set WLSYNC_CONFIG"
  data_dir=$(config_path node data_dir)
  [ -n "$data_dir" ] || die "$config has no node.data_dir"
  mkdir -p "$data_dir" 2>/dev/null || true
  { [ -d "$data_dir" ] && [ -w "$data_dir" ]; } ||
    die "the data dir $data_dir is not writable by uid $(id -u): mount a volume there owned by" \
      "this user (the image's volume is; in Kubernetes set fsGroup)"
  if [ -n "${WLSYNC_LOG_FORMAT:-}" ]; then args+=(--log-format "$WLSYNC_LOG_FORMAT"); fi
  umask 077
  # exec: wlsyncd becomes the container's main process and receives SIGTERM itself.
  exec wlsyncd --config "$config" "${args[@]}" "$@"
}

run_health() {
  local live=0 listen port host node insecure ca out rc=0 tls=()
  [ "${1:-}" = "--live" ] && live=1
  listen=$(toml_get api listen)
  listen=${listen:-127.0.0.1:7401}
  port=${listen##*:}
  host=${listen%:*}
  # A wildcard listener is dialled on loopback, which every node certificate names.
  case "$host" in
    0.0.0.0|::|'[::]'|'') host=127.0.0.1 ;;
  esac
  node=${WLSYNC_HEALTH_NODE:-$host:$port}
  insecure=$(toml_get api insecure)
  if [ "$insecure" = true ]; then
    tls=(--insecure)
  else
    ca=$(config_path tls ca)
    [ -n "$ca" ] || die "$config has no tls.ca"
    tls=(--ca "$ca")
  fi
  # The health service needs no token; a token file named in the environment must not
  # make the probe fail.
  out=$(env -u WLSYNC_TOKEN_FILE -u WLSYNC_NODE -u WLSYNC_CA -u WLSYNC_INSECURE \
    wlsync --node "$node" "${tls[@]}" health) || rc=$?
  if [ -n "$out" ]; then echo "$out"; fi
  case "$out" in
    SERVING) return 0 ;;
    NOT_SERVING) [ "$live" = 1 ] && return 0; return 1 ;;
    *) return "$((rc == 0 ? 1 : rc))" ;;
  esac
}

install_keys() {
  local src=$1 dest=$2 f base n=0
  [ -d "$src" ] || die "install-keys: no folder $src"
  mkdir -p "$dest"
  chmod 0700 "$dest"
  # A Secret volume holds each key as a symbolic link into a hidden ..data folder: copy
  # what the links point at, and skip the hidden entries.
  for f in "$src"/*; do
    [ -f "$f" ] || continue
    base=$(basename "$f")
    case "$base" in
      *.crt|*.pub) install -m 0644 "$f" "$dest/$base" ;;
      *) install -m 0600 "$f" "$dest/$base" ;;
    esac
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || die "install-keys: $src holds no file"
  echo "entrypoint: installed $n files from $src into $dest" >&2
}

case "${1:-wlsyncd}" in
  wlsyncd) if [ $# -gt 0 ]; then shift; fi; run_node "$@" ;;
  -*) run_node "$@" ;;
  health) shift; run_health "$@" ;;
  install-keys) [ $# -eq 3 ] || die "usage: install-keys SRC DEST"; install_keys "$2" "$3" ;;
  init-nodes) shift; exec bash "$here/init-nodes.sh" "$@" ;;
  *) exec "$@" ;;
esac
