#!/usr/bin/env bash
# Installs exactly the Debian 12 packages that wlsync's build and tests need.
# Idempotent: when every package is already present it does nothing and exits 0.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  librocksdb-dev libspdlog-dev libfmt-dev catch2 libsodium-dev
  libtomlplusplus-dev libcli11-dev libabsl-dev libssl-dev
  # Metrics (Prometheus text format over HTTP) and systemd readiness (sd_notify).
  prometheus-cpp-dev libsystemd-dev
  python3 curl openssl
  # The packaging test (tests/deploy/packaging_test.sh): linters for the YAML and shell
  # files, PyYAML for the manifest checks, and systemd's offline tools (systemd-analyze,
  # -sysusers, -tmpfiles) for the unit, and procps for the unit's ExecReload (/bin/kill);
  # none of them starts a service.
  yamllint shellcheck python3-yaml systemd procps
  # The clock-jump fault test runs a node under libfaketime.
  libfaketime
  # The fuzz build (tests/fuzz/run.sh): clang, its libFuzzer and sanitizer runtimes, and
  # llvm-symbolizer for readable crash reports.
  clang-14 libclang-rt-14-dev llvm-14
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
