#!/usr/bin/env bash
# packaging_test: checks deploy/systemd, deploy/container and deploy/k8s on this machine,
# without Docker or Kubernetes (neither runs here):
#  - lints every YAML and shell file under deploy/ and tests/deploy/, and checks the unit,
#    the Dockerfile, the compose file and the manifests for structure (check_manifests.py);
#  - installs the build as the Dockerfile does (`cmake --install --prefix /usr`, here into a
#    scratch root), checks the unit offline with systemd's own tools, then does what systemd
#    would: makes the user and the directories, a node with setup-node.sh, and runs the
#    unit's ExecStart as that user with a notify socket (READY, WATCHDOG, STOPPING, exit 0);
#  - follows the Dockerfile's runtime stage: every shared library of the installed programs
#    must come from runtime-packages.txt; the compose file's init service runs as root with
#    its capabilities only; both nodes run through the image's entrypoint as the image's
#    user, each as PID 1 of its own PID namespace, answer the HEALTHCHECK, pair up, and
#    exit 0 on SIGTERM;
#  - runs a node as its Kubernetes pod would: the Secret from make-secrets.sh laid out as
#    the kubelet does, the init container's install-keys, the ConfigMap's config, the probes.
# Needs root (setpriv, unshare) for the runs; builds nothing. What cannot run is a SKIP.
# Usage: tests/deploy/packaging_test.sh BUILD_DIR
# Prints a line per check, then "N passed, N failed, N skipped"; exits 1 on any failure.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then echo "usage: $0 BUILD_DIR" >&2; exit 2; fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

# shellcheck source=tests/deploy/helpers.sh
. "$here/helpers.sh"
tmp=$(mktemp -d /tmp/wlsync-packaging.XXXXXX)
chmod 0755 "$tmp"
started=()     # ids of the processes this test started, stopped at exit
containers=()  # those of them that are unshare, PID 1 of a namespace below it
trap cleanup EXIT

# ---- prerequisites ------------------------------------------------------------------------

py=python3
"$py" -c 'import yaml, tomllib' 2>/dev/null || py=/usr/bin/python3
if ! "$py" -c 'import yaml, tomllib' 2>/dev/null; then
  echo "packaging_test: needs python3 with PyYAML: bash deploy/install-deps.sh" >&2
  exit 1
fi
for b in wlsyncd wlsync; do
  [ -x "$build/bin/$b" ] || { echo "packaging_test: no $build/bin/$b: build it first" >&2; exit 1; }
done
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
[ "$is_root" = 1 ] || note "not root: the runs that switch users and namespaces are skipped"

# ---- lint ---------------------------------------------------------------------------------

section "lint"
mapfile -t yaml_files < <(find deploy -type f \( -name '*.yaml' -o -name '*.yml' \
  -o -name .yamllint \) | sort)
if command -v yamllint >/dev/null; then
  for f in "${yaml_files[@]}"; do check "yamllint $f" yamllint -s -c deploy/.yamllint "$f"; done
else
  fail "yamllint is not installed (bash deploy/install-deps.sh)"
fi
mapfile -t shell_files < <(find deploy tests/deploy -type f -name '*.sh' | sort)
if command -v shellcheck >/dev/null; then
  for f in "${shell_files[@]}"; do check "shellcheck $f" shellcheck -x "$f"; done
else
  fail "shellcheck is not installed (bash deploy/install-deps.sh)"
fi

# The house rules: each packaging file opens with a comment that says what it is for, and
# none leaves a to-do marker behind.
house_rules() {
  local f first second bad=0 markers="TO""DO|FIX""ME"
  while IFS= read -r f; do
    first=$(sed -n 1p "$f")
    second=$(sed -n 2p "$f")
    case "$f" in
      *.md) [[ "$first" == "# "* ]] || { echo "$f: no title"; bad=1; } ;;
      *.py) [[ "$second" == '"""'* ]] || { echo "$f: no docstring"; bad=1; } ;;
      *) if [[ "$first" != "#"* || ( "$first" == "#!"* && "$second" != "# "* ) ]]; then
           echo "$f: does not open with a comment"; bad=1
         fi ;;
    esac
    if grep -n -E "\\b($markers)\\b" "$f"; then bad=1; fi
  done < <(find deploy/systemd deploy/container deploy/k8s tests/deploy deploy/.yamllint \
             deploy/.shellcheckrc deploy/README.md -type f 2>/dev/null | sort)
  return "$bad"
}
check "every packaging file opens with a comment and has no to-do marker" house_rules

# ---- the install tree ---------------------------------------------------------------------

section "install tree"
root=$tmp/root
check "cmake --install BUILD_DIR --prefix ROOT/usr --strip (the Dockerfile's install step)" \
  cmake --install "$build" --prefix "$root/usr" --strip
installed_files() {
  local f
  for f in bin/wlsyncd bin/wlsync share/wlsync/grids.csv share/wlsync/example.toml \
    lib/systemd/system/wlsyncd.service lib/sysusers.d/wlsync.conf lib/tmpfiles.d/wlsync.conf; do
    [ -f "$root/usr/$f" ] || { echo "missing: /usr/$f"; return 1; }
  done
}
check "the install tree holds both programs, the grids, the example config, the systemd files" \
  installed_files
export PATH="$root/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin"
wlsync=$root/usr/bin/wlsync
wlsyncd=$root/usr/bin/wlsyncd
if [ ! -x "$wlsync" ] || [ ! -x "$wlsyncd" ]; then
  echo "packaging_test: cmake --install installed no programs" >&2
  exit 1
fi
notify_expected=0
if ldd "$wlsyncd" | grep 'libsystemd\.so' >/dev/null; then notify_expected=1; fi

# Does this build know [metrics]? Asked of wlsyncd itself: a node with metrics turned off
# either starts, or is refused with "metrics: unknown key".
metrics=0
probe=$tmp/probe
read -r probe_port <<<"$(free_ports 1)"
"$wlsync" init "$probe" --name probe --listen "127.0.0.1:$probe_port" >/dev/null 2>&1
if grep -q '^\[metrics\]' "$probe/config.toml"; then
  sed -i '/^\[metrics\]/,/^\[/ s/^listen = .*/listen = ""/' "$probe/config.toml"
else
  printf '\n[metrics]\nlisten = ""\n' >>"$probe/config.toml"
fi
"$wlsyncd" --config "$probe/config.toml" >"$probe/out" 2>"$probe/err" &
probe_pid=$!
started+=("$probe_pid")
if wait_for 15 "$wlsync" --node "127.0.0.1:$probe_port" --ca "$probe/tls/ca.crt" health; then
  metrics=1
  note "this build serves [metrics]: the metrics listeners are checked too"
elif grep -q 'metrics: unknown key' "$probe/err"; then
  note "this build refuses [metrics] (unknown key): the configs made here leave it out"
else
  fail "a node made by plain \`wlsync init\` starts"
  sed 's/^/     | /' "$probe/err" | tail -n 10
fi
stop "$probe_pid" || true

# ---- systemd ------------------------------------------------------------------------------

section "systemd"
unit=deploy/systemd/wlsyncd.service
py_checks unit "$unit"
verify() {
  local out
  out=$(systemd-analyze verify --man=no --root="$root" wlsyncd.service 2>&1) || {
    echo "$out"
    return 1
  }
  [ -z "$out" ] || { echo "$out"; return 1; }
}
exposure() {
  local level
  level=$(systemd-analyze security --offline=true --root="$root" wlsyncd.service 2>&1 |
    sed -n 's/.*Overall exposure level for wlsyncd.service: \([0-9.]*\).*/\1/p')
  echo "exposure level ${level:-unknown}"
  [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'
}
if command -v systemd-analyze >/dev/null; then
  # --root takes the unit and ExecStart's binary from the install tree; the targets the
  # unit names, from this machine's systemd.
  cp -n /usr/lib/systemd/system/*.target /usr/lib/systemd/system/*.slice \
    "$root/usr/lib/systemd/system/" 2>/dev/null || true
  # ExecReload's /bin/kill (procps), as on the machine the unit is installed on.
  if [ -x /usr/bin/kill ] && [ ! -e "$root/bin/kill" ]; then
    mkdir -p "$root/bin" && cp /usr/bin/kill "$root/bin/kill"
  fi
  check "systemd-analyze verify wlsyncd.service: no error or warning" verify
  check "systemd-analyze security (offline): exposure level at most 2.0" exposure
  note "$(cat "$tmp/check.log")"
else
  fail "systemd-analyze is missing (bash deploy/install-deps.sh installs systemd's tools)"
fi

svc_uid=""
svc_gid=""
tmpfiles() {
  systemd-tmpfiles --root="$root" --create &&
    expect_owner_mode "$root/etc/wlsync" "0:$svc_gid 750" &&
    expect_owner_mode "$root/var/lib/wlsync" "$svc_uid:$svc_gid 700"
}
if [ "$is_root" = 1 ] && command -v systemd-sysusers >/dev/null; then
  mkdir -p "$root/etc"
  sysusers() {
    systemd-sysusers --root="$root" &&
      grep '^wlsync:x:[0-9]*:[0-9]*:.*:/var/lib/wlsync:/usr/sbin/nologin$' "$root/etc/passwd"
  }
  check "systemd-sysusers --root makes the system user wlsync (home /var/lib/wlsync)" sysusers
  svc_uid=$(awk -F: '$1 == "wlsync" {print $3}' "$root/etc/passwd")
  svc_gid=$(awk -F: '$1 == "wlsync" {print $4}' "$root/etc/passwd")
  check "systemd-tmpfiles --root: /etc/wlsync root:wlsync 0750, /var/lib/wlsync 0700" tmpfiles
else
  skip "systemd-sysusers and systemd-tmpfiles into the scratch root (needs root)"
fi

if [ -n "$svc_uid" ]; then
  read -r api_port metrics_port peer_port <<<"$(free_ports 3)"
  etc=$root/etc/wlsync
  setup_args=(--config-dir "$etc" --data-dir "$root/var/lib/wlsync" --user "$svc_uid:$svc_gid"
    --wlsync "$wlsync")
  init_args=(--name waihai --listen "127.0.0.1:$api_port"
    --grids "$root/usr/share/wlsync/grids.csv")
  [ "$metrics" = 1 ] && init_args+=(--metrics-listen "127.0.0.1:$metrics_port")
  check "setup-node.sh init makes the node in /etc/wlsync" \
    bash deploy/systemd/setup-node.sh init "${setup_args[@]}" "${init_args[@]}"
  modes() {
    expect_owner_mode "$etc/wlsyncd.toml" "0:$svc_gid 640" &&
      expect_owner_mode "$etc/keys/waihai.key" "$svc_uid:$svc_gid 600" &&
      expect_owner_mode "$etc/keys/federation.key" "$svc_uid:$svc_gid 600" &&
      expect_owner_mode "$etc/keys/data.key" "$svc_uid:$svc_gid 600" &&
      expect_owner_mode "$etc/tls/waihai.key" "$svc_uid:$svc_gid 600" &&
      expect_owner_mode "$etc/tls/ca.key" "0:0 600" &&
      expect_owner_mode "$etc/admin.token" "0:0 600" &&
      expect_owner_mode "$etc" "0:$svc_gid 750" &&
      grep -qxF "data_dir = \"$root/var/lib/wlsync\"" "$etc/wlsyncd.toml" &&
      grep -qxF "export WLSYNC_CA=$etc/tls/ca.crt" "$etc/cli.env" &&
      [ ! -e "$etc/data" ] && [ ! -e "$etc/config.toml" ]
  }
  check "setup-node.sh: key files 0600 of the service user, the rest root's; data_dir set" modes
  sha256sum "$etc"/keys/* "$etc"/tls/* "$etc/wlsyncd.toml" >"$tmp/etc.sum"
  setup_again() {
    bash deploy/systemd/setup-node.sh init "${setup_args[@]}" "${init_args[@]}" &&
      sha256sum -c --quiet "$tmp/etc.sum"
  }
  check "setup-node.sh init run again: exit 0, nothing rewritten" setup_again

  # A peer made apart by plain `wlsync init`; it never runs (nobody serves its address).
  "$wlsync" init "$tmp/guzhen-init" --name guzhen --listen "127.0.0.1:$peer_port" >/dev/null
  add_peer() {
    bash deploy/systemd/setup-node.sh add-peer "${setup_args[@]}" --name guzhen \
      --address "127.0.0.1:$peer_port" --cert "$tmp/guzhen-init/tls/guzhen.crt" \
      --public-key "$1"
  }
  one_peer_block() { [ "$(grep -c '^\[\[peers\]\]' "$etc/wlsyncd.toml")" = 1 ]; }
  peer_added() {
    add_peer "$tmp/guzhen-init/keys/guzhen.key.pub" && one_peer_block &&
      expect_owner_mode "$etc/peers/guzhen.crt" "0:$svc_gid 644"
  }
  peer_refused() { ! add_peer "$(printf '%064d' 7)" && one_peer_block; }
  check "setup-node.sh add-peer pins the peer's certificate and appends its block" peer_added
  check "setup-node.sh add-peer run again: exit 0, nothing added" peer_added
  check "setup-node.sh add-peer with another key for the same name is refused" peer_refused

  # What systemd does at start: ExecStart as User=, no capability, no new privileges,
  # UMask=0077, a notify socket, and WATCHDOG_USEC (WatchdogSec=) asking for pings.
  read -ra exec_argv <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
  for i in "${!exec_argv[@]}"; do
    case "${exec_argv[$i]}" in /usr/*|/etc/*) exec_argv[i]=$root${exec_argv[$i]} ;; esac
  done
  mkdir -p "$tmp/notify"
  cat >"$tmp/notify.py" <<'EOF'
# Receives sd_notify datagrams as systemd does, and logs "SENDER_PID MESSAGE" lines.
import os, socket, struct, sys, time
path, log, stop = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.settimeout(0.2)
deadline = time.time() + 60
with open(log, "a", buffering=1) as out:
    while time.time() < deadline and not os.path.exists(stop):
        try:
            data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            continue
        pid = next((struct.unpack("iII", d[:12])[0] for level, kind, d in anc
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS), 0)
        for line in data.decode(errors="replace").splitlines():
            out.write(f"{pid} {line}\n")
EOF
  touch "$tmp/notify.log"
  "$py" "$tmp/notify.py" "$tmp/notify/sock" "$tmp/notify.log" "$tmp/notify.stop" &
  started+=("$!")
  wait_for 5 test -S "$tmp/notify/sock" || true
  (
    umask 0077
    exec env -i PATH="$PATH" NOTIFY_SOCKET="$tmp/notify/sock" WATCHDOG_USEC=1000000 \
      setpriv --reuid="$svc_uid" --regid="$svc_gid" --clear-groups --no-new-privs \
      --inh-caps=-all --bounding-set=-all "${exec_argv[@]}"
  ) >"$tmp/systemd.out" 2>"$tmp/systemd.log" &
  svc_pid=$!
  started+=("$svc_pid")
  check "the unit's ExecStart as the service user serves: \`wlsync health\` says SERVING" \
    wait_for 20 "$wlsync" --node "127.0.0.1:$api_port" --ca "$etc/tls/ca.crt" health
  if [ "$notify_expected" = 1 ]; then
    check "sd_notify: READY=1 from the main process (Type=notify, NotifyAccess=main)" \
      wait_for 10 grep -qx "$svc_pid READY=1" "$tmp/notify.log"
    pinged() { [ "$(grep -c " WATCHDOG=1$" "$tmp/notify.log")" -ge 2 ]; }
    check "sd_notify: WATCHDOG=1 pings, every WATCHDOG_USEC/2" wait_for 5 pinged
  else
    skip "sd_notify: this build does not link libsystemd, so it sends no READY=1 yet"
  fi
  if [ "$metrics" = 1 ]; then
    check "the node serves Prometheus text at [metrics] listen /metrics" \
      metrics_served "127.0.0.1:$metrics_port"
  fi
  check "the service user reads its keys without a warning about their mode" \
    no_mode_warning "$tmp/systemd.log"
  check "SIGTERM: the service exits 0 (a clean stop, no Restart=on-failure)" stop "$svc_pid"
  if [ "$notify_expected" = 1 ]; then
    check "sd_notify: STOPPING=1 on SIGTERM" grep -qx "$svc_pid STOPPING=1" "$tmp/notify.log"
  fi
  touch "$tmp/notify.stop"
else
  skip "setup-node.sh and the unit's ExecStart as its user (needs root and systemd-sysusers)"
fi

# ---- the container image ------------------------------------------------------------------

section "container image (its runtime stage, followed on this machine)"
py_checks dockerfile "$repo" --facts "$tmp/docker.json"
facts() { "$py" -c "import json, sys; d = json.load(open(sys.argv[1])); $2" "$1"; }
img_uid=$(facts "$tmp/docker.json" 'print(d["uid"])')
img_gid=$(facts "$tmp/docker.json" 'print(d["gid"])')
mapfile -t img_env < <(facts "$tmp/docker.json" \
  'print("\n".join(f"{k}={v}" for k, v in d["env"].items()))')
mapfile -t img_cmd < <(facts "$tmp/docker.json" 'print("\n".join(d["cmd"]))')
mapfile -t img_health < <(facts "$tmp/docker.json" 'print("\n".join(d["healthcheck"]))')
entry=$root$(facts "$tmp/docker.json" 'print(d["entrypoint"][0])')

# The runtime packages against what the installed programs load.
mapfile -t runtime_packages < <(sed 's/#.*//' deploy/container/runtime-packages.txt |
  tr -s ' \t' '\n' | grep -v '^$')
declare -A is_listed=()
for p in "${runtime_packages[@]}"; do is_listed[$p]=1; done
listed() { [ -n "${is_listed[$1]:-}" ]; }
# Prints "FILE PACKAGE" for each FILE given that a Debian package installed. dpkg knows a
# file under the name its package gives it, /lib/... or /usr/lib/... (merged /usr), so the
# other name and the resolved link are tried too, in one dpkg call for all.
packages_of() {
  local f c real candidates=()
  declare -A wanted=()
  for f in "$@"; do
    real=$(readlink -f "$f")
    for c in "$f" "${f/#\/usr\//\/}" "/usr$f" "$real" "${real/#\/usr\//\/}"; do
      candidates+=("$c")
      wanted[$c]=$f
    done
  done
  dpkg -S "${candidates[@]}" 2>/dev/null | while IFS= read -r line; do
    f=${line#*: }
    [ -n "${wanted[$f]:-}" ] && echo "${wanted[$f]} ${line%%:*}"
  done | sort -u -k1,1
}
declare -A loaded=()
libs_listed() {
  local lib pkg libs missing=()
  if ldd "$1" | grep 'not found'; then return 1; fi
  mapfile -t libs < <(ldd "$1" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
  declare -A owner=()
  while read -r lib pkg; do owner[$lib]=$pkg; done < <(packages_of "${libs[@]}")
  for lib in "${libs[@]}"; do
    pkg=${owner[$lib]:-}
    if [ -z "$pkg" ]; then missing+=("$lib (no package)"); continue; fi
    loaded[$pkg]=1
    listed "$pkg" || missing+=("$lib ($pkg)")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  printf 'not from runtime-packages.txt: %s\n' "${missing[@]}"
  return 1
}
files_listed() {
  local f pkg bad=0
  while read -r f pkg; do
    listed "$pkg" || { echo "$f: $pkg is not listed"; bad=1; }
  done < <(packages_of /usr/share/zoneinfo/Asia/Shanghai /usr/bin/openssl)
  [ "$(packages_of /usr/share/zoneinfo/Asia/Shanghai /usr/bin/openssl | wc -l)" = 2 ] ||
    { echo "time zones or openssl are not installed here"; bad=1; }
  return "$bad"
}
apt_knows() {
  local p known bad=0
  known=$(apt-cache show --no-all-versions "${runtime_packages[@]}" 2>&1 || true)
  for p in "${runtime_packages[@]}"; do
    grep -qxF "Package: $p" <<<"$known" || { echo "apt does not know $p"; bad=1; }
  done
  return "$bad"
}
if command -v dpkg >/dev/null; then
  for b in wlsyncd wlsync; do
    check "every shared library /usr/bin/$b loads (ldd) comes from runtime-packages.txt" \
      libs_listed "$root/usr/bin/$b"
  done
  check "runtime-packages.txt has the time zones and the openssl command (tzdata, openssl)" \
    files_listed
  check "every runtime package is a Debian package apt knows" apt_knows
  unused=()
  for p in "${runtime_packages[@]}"; do
    case "$p" in tzdata|openssl) ;; *) [ -n "${loaded[$p]:-}" ] || unused+=("$p") ;; esac
  done
  [ ${#unused[@]} -eq 0 ] || note "listed but not loaded by this build: ${unused[*]}"
else
  skip "runtime packages against ldd (no dpkg here)"
fi

# The image's files: the runtime stage's own COPY lines, done into the scratch root (its
# COPY --from=build of the staged /usr is the cmake --install above).
copy_like_image() {
  local n i src dest target
  n=$(facts "$tmp/docker.json" 'print(len(d["copies"]))')
  for ((i = 0; i < n; i++)); do
    dest=$(facts "$tmp/docker.json" "print(d['copies'][$i]['dest'])")
    while read -r src; do
      target=$root$dest
      [[ "$dest" == */ ]] && target=$root$dest$(basename "$src")
      mkdir -p "$(dirname "$target")"
      cp "$src" "$target"
      [[ "$src" != *.sh ]] || chmod 0755 "$target"
    done < <(facts "$tmp/docker.json" "print('\n'.join(d['copies'][$i]['sources']))")
  done
  [ -x "$entry" ]
}
check "the runtime stage's COPY lines, done into the scratch root" copy_like_image

py_checks compose "$repo" "$tmp/docker.json" --facts "$tmp/compose.json"

# image_user COMMAND...: as the image's USER with the image's environment only, no
# capability and no new privileges (the compose nodes: cap_drop ALL, no-new-privileges).
image_user() {
  setpriv --reuid="$img_uid" --regid="$img_gid" --clear-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all env -i PATH="$PATH" HOME=/ "${img_env[@]}" "$@"
}
# container COMMAND...: image_user COMMAND as PID 1 of a new PID namespace, like a container.
pid_ns=(unshare --pid --fork --kill-child)
if [ "$is_root" = 1 ] && ! unshare --pid --fork true 2>/dev/null; then
  pid_ns=()
  note "unshare --pid does not work here: the nodes run without a PID namespace"
fi
# start_container LOG VAR=VALUE... COMMAND...: image_user COMMAND in the background as PID 1
# of a new PID namespace, as a container runs; its id (unshare's) in $container_pid.
start_container() {
  local log=$1
  shift
  (
    exec "${pid_ns[@]}" setpriv --reuid="$img_uid" --regid="$img_gid" --clear-groups \
      --no-new-privs --inh-caps=-all --bounding-set=-all env -i PATH="$PATH" HOME=/ \
      "${img_env[@]}" "$@"
  ) >"$log.out" 2>"$log" &
  container_pid=$!
  started+=("$container_pid")
  [ ${#pid_ns[@]} -eq 0 ] || containers+=("$container_pid")
}
# The container's main process: the only child of unshare, or the process itself.
main_pid() {
  if [ ${#pid_ns[@]} -gt 0 ]; then ns_init "$1"; else echo "$1"; fi
}
is_pid1_of() {
  local p
  p=$(main_pid "$1")
  grep -q '^wlsyncd$' "/proc/$p/comm" &&
    [ "$(awk '/^Uid:/ {print $2}' "/proc/$p/status")" = "$img_uid" ] &&
    { [ ${#pid_ns[@]} -eq 0 ] || [ "$(awk '/^NSpid:/ {print $NF}' "/proc/$p/status")" = 1 ]; }
}
# docker stop: SIGTERM to the container's main process (not to unshare, which would kill
# it); the container's exit status.
docker_stop() {
  kill -TERM "$(main_pid "$1")"
  wait_exit "$1"
}

init=$tmp/init
compose_nodes=()
if [ "$is_root" = 1 ]; then
  # The compose file's init service: its command through the image's entrypoint, as root
  # with its cap_add capabilities only. Its volumes are folders here, and each node dials
  # 127.0.0.1 at a port of its own instead of its service name.
  mapfile -t compose_nodes < <(facts "$tmp/compose.json" \
    'print("\n".join(n["name"] for n in d["nodes"]))')
  mapfile -t init_cmd < <(facts "$tmp/compose.json" 'print("\n".join(d["command"]))')
  declare -A api=()
  read -r -a compose_ports <<<"$(free_ports "${#compose_nodes[@]}")"
  for i in "${!compose_nodes[@]}"; do api[${compose_nodes[$i]}]=${compose_ports[$i]}; done
  init_service_args=()
  for ((i = 0; i < ${#init_cmd[@]}; i++)); do
    a=${init_cmd[$i]}
    case "$a" in
      --out) init_service_args+=("$a" "$init"); i=$((i + 1)) ;;
      --pki) init_service_args+=("$a" "$init/pki"); i=$((i + 1)) ;;
      *=*:*) n=${a%%=*}; init_service_args+=("$n=127.0.0.1:${api[$n]}") ;;
      *) init_service_args+=("$a") ;;
    esac
  done
  # Containers have a network each; here the nodes share one: their metrics stay off.
  if [ "$metrics" = 1 ]; then
    init_service_args+=(--metrics-listen "")
  else
    init_service_args+=(--no-metrics)
  fi
  init_service_args+=(--listen-host 127.0.0.1 --data-dir "$tmp/volumes/{name}"
    --node-config-dir "$init/{name}" --user "$img_uid:$img_gid"
    --grids "$root/usr/share/wlsync/grids.csv")
  init_service() {
    setpriv --bounding-set=-all,+chown,+dac_override,+fowner --inh-caps=-all --no-new-privs \
      env -i PATH="$PATH" HOME=/root "${img_env[@]}" "$entry" "${init_service_args[@]}"
  }
  check "compose init service: makes the CA, keys, certificates and paired configs" init_service
  init_result() {
    local n p bad=0
    for n in "${compose_nodes[@]}"; do
      [ -f "$init/$n/wlsyncd.toml" ] || { echo "$n: no config"; bad=1; continue; }
      for p in "${compose_nodes[@]}"; do
        [ "$p" != "$n" ] || continue
        grep -qxF "name = \"$p\"" "$init/$n/wlsyncd.toml" || { echo "$n: no peer $p"; bad=1; }
        cmp -s "$init/$n/peers/$p.crt" "$init/$p/tls/$p.crt" || { echo "$n: pin of $p"; bad=1; }
      done
      cmp -s "$init/$n/keys/federation.key" "$init/${compose_nodes[0]}/keys/federation.key" ||
        { echo "$n: another federation key"; bad=1; }
      if [ -e "$init/$n/tls/ca.key" ] || [ -e "$init/pki/$n.key" ]; then
        echo "$n: a CA key in its dir, or a copy of its key in the pki"; bad=1
      fi
      expect_owner_mode "$init/$n/keys/$n.key" "$img_uid:$img_gid 600" || bad=1
      [ ! -e "$tmp/volumes/$n" ] || { echo "$n: init made the node's volume"; bad=1; }
      grep -qxF "export WLSYNC_CA=$init/$n/tls/ca.crt" "$init/$n/cli.env" || {
        echo "$n: cli.env"; bad=1; }
    done
    return "$bad"
  }
  check "compose init service: one federation key, each node pins the other, no CA key on a node" \
    init_result
  find "$init" -type f ! -path "$init/pki/*" -exec sha256sum {} + >"$tmp/init.sum"
  init_again() { init_service && sha256sum -c --quiet "$tmp/init.sum"; }
  check "compose init service run again (\`up\` twice): exit 0, nothing rewritten" init_again
  unreadable_config() {
    local out rc=0
    out=$(setpriv --reuid=$((img_uid + 1)) --regid=$((img_gid + 1)) --clear-groups \
      env -i PATH="$PATH" WLSYNC_CONFIG="$init/${compose_nodes[0]}/wlsyncd.toml" "$entry" 2>&1) ||
      rc=$?
    echo "$out"
    [ "$rc" -ne 0 ] && grep -q '^entrypoint: error: cannot read the config' <<<"$out"
  }
  check "entrypoint: a config the user cannot read stops the start with a message" \
    unreadable_config

  # Both nodes as their containers run them: ENTRYPOINT and CMD, as USER, PID 1. Each data
  # volume starts as Docker makes it, a copy of the image's /var/lib/wlsync (0700, USER's).
  declare -A ctr=()
  for n in "${compose_nodes[@]}"; do
    install -d -o "$img_uid" -g "$img_gid" -m 0700 "$tmp/volumes/$n"
    start_container "$tmp/$n.log" WLSYNC_CONFIG="$init/$n/wlsyncd.toml" "$entry" "${img_cmd[@]}"
    ctr[$n]=$container_pid
  done
  healthcheck() {
    image_user WLSYNC_CONFIG="$init/$1/wlsyncd.toml" "$root${img_health[0]}" "${img_health[@]:1}"
  }
  json_logs() { head -n 1 "$1" | "$py" -c 'import json, sys; json.loads(sys.stdin.readline())'; }
  for n in "${compose_nodes[@]}"; do
    check "container $n: its HEALTHCHECK says SERVING" wait_for 20 healthcheck "$n"
    check "container $n: wlsyncd runs as the image's user, PID 1 of its namespace" \
      is_pid1_of "${ctr[$n]}"
    check "container $n: JSON log lines (the image's WLSYNC_LOG_FORMAT)" json_logs "$tmp/$n.log"
  done
  connected() {
    local cli=("$wlsync" --node "127.0.0.1:${api[$1]}" --ca "$init/$1/tls/ca.crt"
      --token-file "$init/$1/admin.token")
    "${cli[@]}" status --json >"$tmp/$1.status" 2>/dev/null ||
      "${cli[@]}" status >"$tmp/$1.status" 2>/dev/null
    "$py" "$here/check_manifests.py" peers-connected "$tmp/$1.status"
  }
  for n in "${compose_nodes[@]}"; do
    check "container $n: connected to its peer (mutual TLS, pinned, one federation key)" \
      wait_for 20 connected "$n"
  done
  check "container ${compose_nodes[0]}: \`entrypoint.sh health --live\` passes" \
    image_user WLSYNC_CONFIG="$init/${compose_nodes[0]}/wlsyncd.toml" "$entry" health --live
  for n in "${compose_nodes[@]}"; do
    check "container $n: docker stop (SIGTERM to PID 1): exit 0" docker_stop "${ctr[$n]}"
    [ "$(tail -n 1 "$tmp/check.log")" = "" ] || sed 's/^/     | /' "$tmp/$n.log" | tail -n 5
  done
else
  skip "the compose init service and both node containers (needs root: setpriv, unshare)"
fi

# ---- Kubernetes ---------------------------------------------------------------------------

section "kubernetes"
py_checks k8s "$repo" "$tmp/docker.json"
rendered() {
  kubectl kustomize deploy/k8s >"$tmp/rendered.yaml" &&
    [ "$(grep -c '^kind: ' "$tmp/rendered.yaml")" -ge 7 ]
}
if command -v kubectl >/dev/null; then
  check "kubectl kustomize deploy/k8s renders (offline; no cluster)" rendered
else
  skip "kubectl kustomize deploy/k8s (kubectl is not installed; no Debian package has it)"
fi

if [ "$is_root" = 1 ] && [ ${#compose_nodes[@]} -ge 2 ]; then
  # One pod of the first jurisdiction, as the kubelet would run it; each volume a folder.
  pod=$tmp/pod
  node=${compose_nodes[0]}
  peer=${compose_nodes[1]}
  mkdir -p "$pod/secret" "$pod/keys" "$pod/config" "$pod/data" "$pod/tmp"
  chmod 0777 "$pod/keys" "$pod/tmp"                           # emptyDir
  chown "0:$img_gid" "$pod/data" && chmod 2770 "$pod/data"    # a new claim, with fsGroup
  secret_of() { bash deploy/k8s/make-secrets.sh "$1" >"$2" 2>"$3"; }
  check "make-secrets.sh: the Secret of a node dir made by init-nodes.sh" \
    secret_of "$init/$node" "$pod/secret.yaml" "$pod/secret.err"
  plain_secret() {
    secret_of "$probe" "$pod/plain.yaml" /dev/null &&
      [ "$(grep -c '^  [a-z.-]*\.\(key\|crt\): ' "$pod/plain.yaml")" = 6 ]
  }
  check "make-secrets.sh: the Secret of a node dir made by plain \`wlsync init\` (6 files)" \
    plain_secret
  secret_of "$init/$peer" /dev/null "$pod/peer.err" || true
  py_checks secret "$pod/secret.yaml" "$pod/secret"
  chown -R -h "0:$img_gid" "$pod/secret"                      # fsGroup, as the kubelet does
  py_checks k8s-config "$repo" "$node" --facts "$pod/config.json"

  # The init container: install-keys, as the pod's user.
  install_keys() {
    image_user "$entry" install-keys "$pod/secret" "$pod/keys/keys" &&
      expect_owner_mode "$pod/keys/keys/signing.key" "$img_uid:$img_gid 600" &&
      expect_owner_mode "$pod/keys/keys/tls.key" "$img_uid:$img_gid 600" &&
      expect_owner_mode "$pod/keys/keys/tls.crt" "$img_uid:$img_gid 644" &&
      [ ! -e "$pod/keys/keys/..data" ]
  }
  check "pod: the init container installs the Secret's files, keys 0600 of the pod's user" \
    install_keys

  # The ConfigMap's config with each volume where it is here, loopback ports, and the two
  # values an operator copies from make-secrets.sh's output.
  read -r pod_port pod_metrics pod_peer <<<"$(free_ports 3)"
  admin_hash=$(sed -n 's/.*admin_token_sha256 = "\([0-9a-f]*\)".*/\1/p' "$pod/secret.err")
  peer_key=$(sed -n 's/.*public_key = "\([0-9a-f]*\)".*/\1/p' "$pod/peer.err")
  check "pod: make-secrets.sh printed the admin token hash and the peer's public key" \
    test "${#admin_hash}" = 64 -a "${#peer_key}" = 64
  "$py" - "$pod/config.json" "$pod/config/wlsyncd.toml" "$pod" "$root" "$pod_port" \
    "$pod_metrics" "$pod_peer" "$admin_hash" "$peer_key" "$metrics" <<'EOF'
import json, re, sys
facts, out, pod, root, port, mport, pport, admin, peer_key, metrics = sys.argv[1:]
text = json.load(open(facts))["text"]
for mount, folder in (("/run/wlsync/", f"{pod}/keys/"), ("/var/lib/wlsync", f"{pod}/data"),
                      ("/etc/wlsync/", f"{pod}/config/"), ("/usr/share/", f"{root}/usr/share/")):
    text = text.replace(mount, folder)
text = re.sub(r'(\[api\][^\[]*listen = )"[^"]*"', f'\\1"127.0.0.1:{port}"', text)
if metrics == "1":
    text = re.sub(r'(\[metrics\][^\[]*listen = )"[^"]*"', f'\\1"127.0.0.1:{mport}"', text)
else:
    text = re.sub(r'\[metrics\][^\[]*', "", text)
text = re.sub(r'admin_token_sha256 = "<[^>]*>"', f'admin_token_sha256 = "{admin}"', text)
text = re.sub(r'public_key = "<[^>]*>"', f'public_key = "{peer_key}"', text)
text = re.sub(r'address = "[^"]*"', f'address = "127.0.0.1:{pport}"', text)
open(out, "w").write(text)
EOF
  chmod 0644 "$pod/config/wlsyncd.toml"
  start_container "$pod/log" WLSYNC_CONFIG="$pod/config/wlsyncd.toml" "$entry" wlsyncd
  pod_pid=$container_pid
  probe_cmd() { image_user WLSYNC_CONFIG="$pod/config/wlsyncd.toml" "$entry" "$@"; }
  check "pod: the readiness probe (entrypoint.sh health) says SERVING" wait_for 20 probe_cmd health
  check "pod: the liveness probe (entrypoint.sh health --live) passes" probe_cmd health --live
  if [ "$metrics" = 1 ]; then
    check "pod: Prometheus text on the metrics port" metrics_served "127.0.0.1:$pod_metrics"
  fi
  check "pod: no warning about the keys' mode" no_mode_warning "$pod/log"
  check "pod: deletion (SIGTERM to PID 1): exit 0" docker_stop "$pod_pid"
else
  skip "a pod from the ConfigMap and make-secrets.sh's Secret (needs root and the compose run)"
fi

echo "packaging_test: ${SECONDS} s; Docker and Kubernetes themselves did not run (none here)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
