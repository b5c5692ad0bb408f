#!/usr/bin/env bash
# setup-node: makes the configuration of a wlsync node run by systemd (wlsyncd.service), or
# adds a peer to it. Run as root on the server once the binaries are installed.
#
#   setup-node.sh init --name NAME --listen HOST:PORT [options]
#     `wlsync init` into CONFIG_DIR: the config becomes CONFIG_DIR/wlsyncd.toml with its data
#     dir at DATA_DIR; the key files belong to the service user (mode 0600), the rest to
#     root, readable by the service user's group. Options passed on to `wlsync init`:
#     --grids F, --federation-key F, --ca-cert F, --ca-key F, --cert F, --key F, --san HOST
#     (see docs/operations.md). Also:
#       --data-dir DIR          node.data_dir (default /var/lib/wlsync), made here for the
#                               service user
#       --no-data-dir           do not make it here: the node runs in a container or a
#                               pod, whose volume it is
#       --metrics-listen H:P    [metrics] listen = "H:P" ("" turns metrics off; default:
#                               what `wlsync init` writes)
#       --installed-as DIR      where the node will see CONFIG_DIR, when it is mounted
#                               elsewhere (a container's /etc/wlsync): cli.env names it
#   setup-node.sh add-peer --name PEER --address HOST:PORT --public-key HEX|FILE --cert FILE
#     pins the peer's certificate (CONFIG_DIR/peers/PEER.crt) and appends its [[peers]]
#     block; restart the node afterwards.
#   Both take --config-dir DIR (default /etc/wlsync), --user USER or UID:GID (the service
#   user, default wlsync) and --wlsync PATH (the CLI, default: wlsync on PATH).
#
# Idempotent: a node already set up is left as it is (only owners and modes are put back),
# and a peer already present with the same certificate is not added twice. Existing keys
# are never overwritten. Exit status: 0 on success, 1 on failure, 2 on a usage error.
set -euo pipefail

log() { echo "setup-node: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
command=$1
shift
case "$command" in
  init|add-peer) ;;
  -h|--help) usage ;;
  *) log "unknown command: $command"; usage ;;
esac

config_dir=/etc/wlsync
data_dir=/var/lib/wlsync
user=wlsync
wlsync=wlsync
name=""
listen=""
address=""
public_key=""
peer_cert=""
metrics_listen=""
metrics_set=0
installed_as=""
make_data=1
init_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = --no-data-dir ]; then make_data=0; shift; continue; fi
  [ $# -ge 2 ] || { log "$1 needs a value"; usage; }
  case "$1" in
    --config-dir) config_dir=$2 ;;
    --data-dir) data_dir=$2 ;;
    --user) user=$2 ;;
    --wlsync) wlsync=$2 ;;
    --name) name=$2 ;;
    --listen) listen=$2 ;;
    --address) address=$2 ;;
    --public-key) public_key=$2 ;;
    --cert) if [ "$command" = add-peer ]; then peer_cert=$2; else init_args+=("$1" "$2"); fi ;;
    --metrics-listen) metrics_listen=$2; metrics_set=1 ;;
    --installed-as) installed_as=$2 ;;
    --grids|--federation-key|--ca-cert|--ca-key|--key|--san) init_args+=("$1" "$2") ;;
    *) log "unknown option: $1"; usage ;;
  esac
  shift 2
done

[[ "$name" =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || { log "--name: not a node name: '$name'"; exit 2; }
is_host_port() { [[ "$1" =~ ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):[0-9]{1,5}$ ]]; }
[[ "$config_dir" == /* ]] || config_dir=$PWD/$config_dir
[[ "$data_dir" == /* ]] || data_dir=$PWD/$data_dir

# Root owns what the service only reads; the service user owns its secret keys. The user
# may be given as UID:GID, for a container whose user exists only in its image. A non-root
# caller may only set up a node for itself (tests, a personal try-out).
if [[ "$user" =~ ^([0-9]+):([0-9]+)$ ]]; then
  group=${BASH_REMATCH[2]}
else
  id -u "$user" >/dev/null 2>&1 ||
    die "no user $user: run systemd-sysusers (sysusers.d/wlsync.conf makes it) or give --user"
  group=$(id -gn "$user")
fi
if [ "$(id -u)" -eq 0 ]; then
  admin=root
  admin_group=root
else
  case "$user" in
    "$(id -un)"|"$(id -u):$(id -g)") ;;
    *) die "run as root (or give --user $(id -un) to set up a node for yourself)" ;;
  esac
  admin=$(id -u)
  admin_group=$(id -g)
fi
user=${user%%:*}

# Puts back the owner and mode of every file of the node's config dir.
fix_modes() {
  local f
  chown "$admin:$group" "$config_dir"
  chmod 0750 "$config_dir"
  for f in "$config_dir/wlsyncd.toml" "$config_dir/grids.csv"; do
    [ -e "$f" ] || continue
    chown "$admin:$group" "$f"
    chmod 0640 "$f"
  done
  for f in "$config_dir/tls" "$config_dir/peers"; do
    [ -d "$f" ] || continue
    chown "$admin:$group" "$f"
    chmod 0750 "$f"
  done
  # keys/ is the node's: `wlsync key rotate` writes the new signing key and history there.
  if [ -d "$config_dir/keys" ]; then
    chown "$user:$group" "$config_dir/keys"
    chmod 0750 "$config_dir/keys"
  fi
  for f in "$config_dir"/keys/* "$config_dir"/tls/* "$config_dir"/peers/*; do
    [ -f "$f" ] || continue
    case "$f" in
      # The CA's key signs certificates, which the node never does: root's alone.
      "$config_dir/tls/ca.key") chown "$admin:$admin_group" "$f"; chmod 0600 "$f" ;;
      *.pub|*.crt) chown "$admin:$group" "$f"; chmod 0644 "$f" ;;
      *) chown "$user:$group" "$f"; chmod 0600 "$f" ;;
    esac
  done
  # The operator's: the admin token, and the CLI settings that point at it.
  if [ -f "$config_dir/admin.token" ]; then
    chown "$admin:$admin_group" "$config_dir/admin.token"
    chmod 0600 "$config_dir/admin.token"
  fi
  if [ -f "$config_dir/cli.env" ]; then
    chown "$admin:$admin_group" "$config_dir/cli.env"
    chmod 0644 "$config_dir/cli.env"
  fi
}

# Makes DIR's missing parents, open to all (the service user must pass through them).
make_parents() { (umask 022 && mkdir -p "$(dirname "$1")"); }

make_data_dir() {
  make_parents "$data_dir"
  mkdir -p "$data_dir"
  chown "$user:$group" "$data_dir"
  chmod 0700 "$data_dir"
}

# Sets listen in the [metrics] section of the config FILE, adding the section when the
# config `wlsync init` wrote has none.
set_metrics_listen() {
  awk -v line="listen = \"$metrics_listen\"" '
    /^\[/ { inside = ($0 == "[metrics]"); if (inside) seen = 1 }
    inside && /^listen[ \t]*=/ { print line; next }
    { print }
    END {
      if (!seen) {
        print ""; print "[metrics]"
        print "# Prometheus text format over HTTP at /metrics; \"\" turns it off."; print line
      }
    }' "$1" >"$1.new"
  mv "$1.new" "$1"
  grep -qxF "listen = \"$metrics_listen\"" "$1" || die "cannot set metrics.listen in $1"
}

# Removed on exit: the folder `wlsync init` writes into, the config being rewritten.
stage=""
tmp=""
trap 'rm -rf "${stage:-}" "${tmp:-}"' EXIT

run_init() {
  local config=$config_dir/wlsyncd.toml out item
  is_host_port "$listen" || { log "--listen must be HOST:PORT"; exit 2; }
  if [ -f "$config" ]; then
    log "$config exists: node already set up; putting back owners and modes only"
    [ "$make_data" = 0 ] || make_data_dir
    fix_modes
    return 0
  fi
  for item in config.toml keys tls admin.token; do
    [ -e "$config_dir/$item" ] &&
      die "$config_dir/$item exists but $config does not (an earlier, unfinished set-up?):" \
        "move it away first; keys are never overwritten"
  done
  command -v "$wlsync" >/dev/null || die "no wlsync CLI ($wlsync): give --wlsync PATH"

  # `wlsync init` writes into a private folder beside the final one, so that a failure leaves
  # nothing half-made in CONFIG_DIR; then each piece is moved into place.
  make_parents "$config_dir"
  mkdir -p "$config_dir"
  stage=$(mktemp -d "$config_dir/.setup-node.XXXXXX")
  out=$("$wlsync" init "$stage/node" --name "$name" --listen "$listen" "${init_args[@]}") ||
    die "wlsync init failed (its message is above)"

  sed -i "s|^data_dir = \"data\"$|data_dir = \"$data_dir\"|" "$stage/node/config.toml"
  grep -qxF "data_dir = \"$data_dir\"" "$stage/node/config.toml" ||
    die "cannot set data_dir in the config wlsync init wrote"
  if [ "$metrics_set" = 1 ]; then
    set_metrics_listen "$stage/node/config.toml"
  fi
  sed -i "s|$stage/node|${installed_as:-$config_dir}|g" "$stage/node/cli.env"
  rmdir "$stage/node/data"
  mv "$stage/node/config.toml" "$stage/node/wlsyncd.toml"
  for item in "$stage"/node/*; do
    mv "$item" "$config_dir/"
  done

  [ "$make_data" = 0 ] || make_data_dir
  fix_modes
  log "node $name set up in $config_dir (config $config, data $data_dir)"
  echo "$out" | sed "s|$stage/node|$config_dir|g" |
    grep -e '^public key' -e '^tls certificate' -e '^CA' >&2
  [ -f "$config_dir/tls/ca.key" ] &&
    log "the CA key made for this node is $config_dir/tls/ca.key: move it offline once no" \
      "other certificate is to be signed with it"
  log "next: add each peer (setup-node.sh add-peer ...), then: systemctl enable --now wlsyncd;" \
    "the CLI as admin: . $config_dir/cli.env"
}

# Prints the name = "..." values of the config FILE's blocks whose header matches REGEX.
names_in() {
  awk -v header="$2" '
    /^\[/ { inside = ($0 ~ header); next }
    inside && /^name *= *"/ { v = $0; sub(/^name *= *"/, "", v); sub(/".*/, "", v); print v }' "$1"
}

run_add_peer() {
  local config=$config_dir/wlsyncd.toml key pin=$config_dir/peers/$name.crt
  [ -f "$config" ] || die "no $config: run setup-node.sh init first"
  is_host_port "$address" || { log "--address must be HOST:PORT"; exit 2; }
  [ -n "$public_key" ] || { log "--public-key is needed"; usage; }
  [ -f "$peer_cert" ] || { log "--cert: no such file: '$peer_cert'"; exit 2; }
  grep -q -- '-----BEGIN CERTIFICATE-----' "$peer_cert" || die "--cert $peer_cert: no certificate"
  key=$public_key
  [ -f "$public_key" ] && key=$(tr -d ' \r\n' <"$public_key")
  [[ "$key" =~ ^[0-9a-f]{64}$ ]] ||
    die "--public-key: not 64 lowercase hex characters (the peer's keys/$name.key.pub)"
  if names_in "$config" '^\[node\]' | grep -xF "$name" >/dev/null; then
    die "$name is this node's own name"
  fi

  if names_in "$config" '^\[\[(peers|trusted)\]\]' | grep -xF "$name" >/dev/null; then
    if [ -f "$pin" ] && cmp -s "$pin" "$peer_cert" &&
      grep -qF "public_key = \"$key\"" "$config"; then
      grep -qF "address = \"$address\"" "$config" ||
        die "peer $name is already in $config with another address: edit its [[peers]]" \
          "address by hand and restart the node"
      log "peer $name is already in $config; nothing to do"
      fix_modes
      return 0
    fi
    die "$config already has a peer or trusted node named $name, with another key or" \
      "certificate: edit it by hand (docs/operations.md, Rotating a certificate)"
  fi
  [ ! -e "$pin" ] || cmp -s "$pin" "$peer_cert" || die "$pin exists with another certificate"

  mkdir -p "$config_dir/peers"
  cp "$peer_cert" "$pin"
  # Written beside the config and renamed over it, so that a reader never sees half a block.
  tmp=$(mktemp "$config_dir/.wlsyncd.toml.XXXXXX")
  cat "$config" >"$tmp"
  printf '\n[[peers]]\nname = "%s"\naddress = "%s"\npublic_key = "%s"\n%s\n' \
    "$name" "$address" "$key" "cert = \"peers/$name.crt\"  # its certificate, pinned" >>"$tmp"
  mv "$tmp" "$config"
  fix_modes
  log "peer $name ($address) added to $config; restart the node: systemctl restart wlsyncd"
}

umask 077
if [ "$command" = init ]; then run_init; else run_add_peer; fi
