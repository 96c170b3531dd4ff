#!/usr/bin/env bash
# Puts Debian's kernel (the one linux-image-amd64 depends on) into the VM lab's cache,
# WITHOUT installing the package: `apt-get download` + `dpkg-deb` unpacked under
# $SWARMNET_VM_CACHE (default /var/cache/swarmnet/vm)/kernels/<version>/.
#
# Why not `apt-get install linux-image-amd64`: that took ~6 min and ~640 MB here, mostly
# the package's postinst building an initramfs under /boot and registering a kernel the
# host never boots (a bootloader hook may even rewrite its menu). Downloading the one
# .deb (~70 MB) and unpacking it takes seconds, touches nothing outside the cache, and
# the cache is what the lab boots from anyway (its own tiny initramfs, deploy/vm/).
#
# Kept: the kernel image (also decompressed once to `vmlinux`: booting the bare ELF
# through PVH saves ~5 s per boot under TCG) and the modules swarmnet can use (net,
# crypto, fs, lib, virtio); dropped: GPU, sound, media, wireless and other hardware
# drivers a VM never loads (~250 MB). `depmod` writes the modules.dep that modprobe in
# the guest reads. Idempotent: a complete cache entry (marker file) is left alone.
set -euo pipefail

CACHE=${SWARMNET_VM_CACHE:-/var/cache/swarmnet/vm}
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$pkg" ] || { echo "fetch-kernel: Debian has no linux-image-amd64 here" >&2; exit 1; }
version=${pkg#linux-image-}
dest="$CACHE/kernels/$version"
[ -f "$dest/.complete" ] && exit 0

echo "fetching Debian kernel $version for the VM lab into $dest"
work=$(mktemp -d "$CACHE.fetch.XXXXXX" 2>/dev/null || { mkdir -p "$CACHE" && mktemp -d "$CACHE.fetch.XXXXXX"; })
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq "$pkg" 2>/dev/null)
mkdir "$work/root"
m="./lib/modules/$version/kernel"
dpkg-deb --fsys-tarfile "$work"/"$pkg"_*.deb | tar -x -C "$work/root" \
  --exclude="$m/drivers/gpu" --exclude="$m/drivers/media" --exclude="$m/sound" \
  --exclude="$m/drivers/net/wireless" --exclude="$m/drivers/net/ethernet" \
  --exclude="$m/drivers/infiniband" --exclude="$m/drivers/scsi" --exclude="$m/drivers/usb" \
  --exclude="$m/drivers/iio" --exclude="$m/drivers/staging" --exclude="$m/drivers/hwmon" \
  --exclude="$m/drivers/hid" --exclude="$m/drivers/bluetooth" --exclude="$m/drivers/isdn" \
  --exclude="./usr/share/doc"
depmod -b "$work/root" "$version"

vmlinuz="$work/root/boot/vmlinuz-$version"
# The bzImage carries the kernel as one xz stream: cut from its magic and decompress.
offset=$(LC_ALL=C grep -m 1 -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$vmlinuz" | cut -d: -f1)
xz -dc --single-stream < <(tail -c +$((offset + 1)) "$vmlinuz") >"$work/root/boot/vmlinux-$version"

mkdir -p "$CACHE/kernels"
rm -rf "$dest"
mv "$work/root" "$dest"
touch "$dest/.complete"
