#!/usr/bin/env bash
# Installs everything swarmnet needs on a fresh Debian 12 machine with Node 20 and npm,
# then builds. Idempotent and quick when everything is already there. Run as root.
#   --test   also what only the tests and benchmarks use: Debian's chromium, the real
#            browser the live-page test and bench/observe drive through playwright-core
#            (about 300 MB with its libraries: not for a node that only runs swarmnet)
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(iproute2 nftables etcd-server etcd-client iputils-ping iperf3 curl tcpdump conntrack procps
  dnsmasq-base bind9-dnsutils python3)
case "${1:-}" in
  --test) DEBIAN_PACKAGES+=(chromium) ;;
  "") ;;
  *) echo "install.sh: unknown argument '$1' (only --test)" >&2; exit 1 ;;
esac

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts etcd as a service on install; the lab runs its own members instead.
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl disable --now etcd >/dev/null 2>&1 || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
