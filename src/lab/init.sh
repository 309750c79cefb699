#!/bin/busybox sh
# PID 1 of the lab guest (busybox). Loads what the 9p root needs, mounts the host
# root read-only and the results folder writable at its host path, loads and binds
# VFIO when asked, then runs the per-run script (.lab/run.sh, written by the host)
# in a chroot of the host root, and powers off. The per-run script records the exit
# code; if this script never gets there, the host reports a failed boot.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The host tells a guest that died before init (an emulator flake) from one that failed later by this line.
echo "iommutrace-lab: init started" >/dev/console

die() {
  echo "iommutrace-lab: $*" >/dev/console
  sync
  poweroff -f
}

# Each line of a list: file name under /modules, then its parameters.
load_list() {
  [ -f "/modules/$1" ] || return 0
  while read -r ko params; do
    [ -n "$ko" ] || continue
    insmod "/modules/$ko" $params || die "insmod $ko failed"
  done <"/modules/$1"
}

load_list boot.list
p9="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$p9,rw" out /out || die "cannot mount the results folder (9p tag out)"
[ -f /out/.lab/env ] || die "no /out/.lab/env from the host"
. /out/.lab/env
# Read-only for the guest; loose caching spares 9p round trips on the many small reads node makes.
mount -t 9p -o "$p9,ro,cache=loose" host /host || die "cannot mount the host root (9p tag host)"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
# The host's /tmp and /run, kept reachable before tmpfs hides them: a build or a
# cache there (a CI clone under /tmp) is bound back at its path below.
mkdir -p /keep/tmp /keep/run
mount -o bind /host/tmp /keep/tmp
mount -o bind /host/run /keep/run
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
for p in $LAB_KEEP; do
  mkdir -p "/host$p"
  mount -o bind "/keep$p" "/host$p" || die "cannot show $p to the guest"
done
mount -t bpf bpf /host/sys/fs/bpf
mount -t tracefs tracefs /host/sys/kernel/tracing
mount -t debugfs debugfs /host/sys/kernel/debug
# An arm64 guest's own root: the clone and the lab cache come on top, at their host paths.
n=0
for p in $LAB_BINDS; do
  mkdir -p "/host$p" 2>/dev/null
  mount -t 9p -o "$p9,ro,cache=loose" "bind$n" "/host$p" || die "cannot mount $p (9p tag bind$n)"
  n=$((n + 1))
done
# After the tmpfs mounts, so a results folder under /tmp or /run stays visible.
mkdir -p "/host$LAB_OUT"
mount -o move /out "/host$LAB_OUT" || die "cannot mount the results folder at $LAB_OUT"

if [ "$LAB_VFIO" = 1 ]; then
  load_list vfio.list
  dev="/sys/bus/pci/devices/$LAB_BDF"
  [ -e "$dev" ] || die "no PCI device $LAB_BDF"
  [ -e "$dev/driver" ] && echo "$LAB_BDF" >"$dev/driver/unbind"
  echo vfio-pci >"$dev/driver_override"
  echo "$LAB_BDF" >/sys/bus/pci/drivers_probe
  # Checked after the bind: on arm64 (device tree) a device joins its IOMMU group when a driver probes it.
  [ -e "$dev/iommu_group" ] || die "$LAB_BDF has no IOMMU group (is the emulated IOMMU on?)"
  [ "$(basename "$(readlink "$dev/driver")")" = vfio-pci ] || die "$LAB_BDF did not bind to vfio-pci"
elif [ "$LAB_DRIVER" = 1 ]; then
  # The device's own kernel driver, as on a host: it binds and attaches its default domain now.
  load_list driver.list
  [ -e "/sys/bus/pci/devices/$LAB_BDF/driver" ] || die "$LAB_BDF did not bind to its driver"
fi

# The run script gets the serial line as its controlling terminal, so a TUI works
# and Ctrl-C reaches the command.
tty="/dev/${LAB_CONSOLE:-ttyS0}"
setsid -c chroot /host /bin/sh "$LAB_OUT/.lab/run.sh" <"$tty" >"$tty" 2>&1
sync
poweroff -f
sleep 5
echo b >/proc/sysrq-trigger
