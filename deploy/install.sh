#!/usr/bin/env bash
# Installs everything swarmnet needs on a fresh Debian 12 machine with Node 20 and npm,
# then builds. Idempotent and quick when everything is already there. Run as root.
#   --test   also what only the tests and benchmarks use: Debian's chromium, the real
#            browser the live-page test and bench/observe drive through playwright-core
#            (about 300 MB with its libraries: not for a node that only runs swarmnet),
#            and the VM lab's qemu, busybox-static, kmod, ipvsadm, xz-utils and Debian's kernel
#            (`lab up --vm`, the VM test group; ~300 MB, a node never needs them), and
#            ruby and shellcheck, which check deploy/vagrant's Vagrantfile and scripts
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(iproute2 nftables etcd-server etcd-client iputils-ping iperf3 curl tcpdump conntrack procps
  dnsmasq-base bind9-dnsutils python3)
# The VM lab (`lab up --vm` and the VM test group): qemu, the guest's init and modprobe,
# ipvsadm for the IPVS mesh (~35 s, ~100 MB), plus Debian's kernel fetched below (kmod's
# depmod and xz-utils' xz unpack it; xz-utils is not in every minimal Debian image).
VM_PACKAGES=(qemu-system-x86 busybox-static kmod ipvsadm xz-utils)
vm=no
case "${1:-}" in
  --test) DEBIAN_PACKAGES+=(chromium "${VM_PACKAGES[@]}" ruby shellcheck) vm=yes ;;
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
# Debian's kernel for VM nodes, unpacked into a cache, not installed (see the script for
# why): ~20 s and ~190 MB the first time, nothing afterwards.
# The VM test group runs in the suite by default and needs it: a failed fetch fails the
# install; with SWARMNET_VM=0 (the suite without the VM group) it is only a warning.
if [ "$vm" = yes ]; then
  if [ "${SWARMNET_VM:-}" != 0 ]; then
    bash deploy/vm/fetch-kernel.sh
  elif ! bash deploy/vm/fetch-kernel.sh; then
    echo "install.sh: warning: Debian's kernel for VM nodes was not fetched; 'lab up --vm' needs it" >&2
  fi
fi
# Debian starts etcd as a service on install; the lab runs its own members instead.
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl disable --now etcd >/dev/null 2>&1 || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
