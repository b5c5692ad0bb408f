# helpers: what tests/deploy/packaging_test.sh uses to count checks, wait for processes
# and stop them. Sourced; it expects $tmp (a scratch folder), $py (python3 with PyYAML),
# $here (this folder), and the arrays `started` and `containers` of process ids.
# shellcheck shell=bash
# shellcheck disable=SC2154  # those variables are set by the script that sources this one

passed=0
failed=0
skipped=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
skip() { echo "SKIP $*"; skipped=$((skipped + 1)); }
note() { echo "     $*"; }
section() { echo "== $1 (at ${SECONDS} s)"; }

# Whether PID runs (a zombie does not: `kill -0` would say it does).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
# The main process under unshare PID (PID 1 of its namespace), or nothing.
ns_init() { awk '{print $1}' "/proc/$1/task/$1/children" 2>/dev/null || true; }
# At exit: SIGTERM to everything still running, SIGKILL 5 s later. A namespace's PID 1
# is signalled itself (unshare does not pass signals on; its --kill-child is lost when
# setpriv changes the user), and SIGKILL to it ends the whole namespace.
cleanup() {
  local pid init
  for pid in "${containers[@]}"; do
    init=$(ns_init "$pid")
    [ -z "$init" ] || kill -TERM "$init" 2>/dev/null || true
  done
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    init=$(ns_init "$pid")
    [ -z "$init" ] || kill -KILL "$init" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}

# check NAME COMMAND...: one check, run in this shell; its output is shown when it fails.
check() {
  local name=$1
  shift
  if "$@" >"$tmp/check.log" 2>&1; then
    pass "$name"
  else
    fail "$name"
    sed 's/^/     | /' "$tmp/check.log" | tail -n 25
  fi
}

# py_checks ARGS...: check_manifests.py ARGS; each of its PASS and FAIL lines is a check.
py_checks() {
  local out rc=0 line fails=0
  out=$("$py" "$here/check_manifests.py" "$@" 2>&1) || rc=$?
  while IFS= read -r line; do
    case "$line" in
      "PASS "*) pass "${line#PASS }" ;;
      "FAIL "*) fail "${line#FAIL }"; fails=$((fails + 1)) ;;
      *) note "$line" ;;
    esac
  done <<<"$out"
  if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then fail "check_manifests.py $1 (exit $rc)"; fi
}

# N loopback ports nothing listens on, distinct, from below the kernel's ephemeral range
# (from which outgoing connections get their local ports, so one could take a port before
# its node binds it).
free_ports() {
  "$py" - "$1" <<'EOF'
import random, socket, sys
want = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
high = min(low, 65536) - 1
picked = []
if high > 10000:
    for _ in range(2000):
        if len(picked) == want:
            break
        port = random.randint(max(high - 12000, 10000), high)
        if port in picked:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            picked.append(port)
        except OSError:
            pass
        finally:
            s.close()
# No room below the ephemeral range: the kernel chooses (bound together, so distinct).
socks = []
while len(picked) + len(socks) < want:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
picked += [s.getsockname()[1] for s in socks]
if len(picked) != want:
    sys.exit("free_ports: could not find %d free ports" % want)
print(" ".join(str(p) for p in picked))
EOF
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# wait_exit PID: waits up to 20 s for the child PID to end; its exit status (124: it runs).
wait_exit() {
  local rc=0
  for _ in $(seq 200); do alive "$1" || break; sleep 0.1; done
  if alive "$1"; then echo "pid $1 still runs after 20 s"; return 124; fi
  wait "$1" || rc=$?
  [ "$rc" -eq 0 ] || echo "exit status $rc"
  return "$rc"
}
# stop PID: SIGTERM to the child PID; its exit status.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait_exit "$1"
}

expect_owner_mode() {
  local got
  got=$(stat -c '%u:%g %a' "$1")
  [ "$got" = "$2" ] || { echo "$1: $got, want $2"; return 1; }
}
no_mode_warning() { ! grep -i 'readable by group or others' "$1"; }
metrics_served() {
  local text
  text=$(curl -fsS --max-time 5 "http://$1/metrics") && grep -q '^# TYPE ' <<<"$text"
}
