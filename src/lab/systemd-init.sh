#!/bin/busybox sh
# PID 1 of the initramfs for boots that hand over to Debian's own systemd (the
# deployment test): the host root over 9p read-only under an overlay with a tmpfs on
# top (what systemd.volatile=overlay does; here without a systemd initrd), the
# results folder at its host path, the guest kernel's modules at /usr/lib/modules, the
# npm prefix the host installed into at /usr/local, the units the host wrote in
# .lab/systemd installed, then switch_root to systemd. No VFIO
# module is loaded here: the guest's own script loads them after the service starts.
/bin/busybox --install -s /bin
export PATH=/bin
for fs in proc:/proc sysfs:/sys devtmpfs:/dev; do mount -t "${fs%%:*}" "${fs%%:*}" "${fs#*:}"; done
# The line src/lab/run.ts tells an emulator flake (a guest dead before it) by, as init.sh's.
echo "iommutrace-lab: init started" >/dev/console
# A failure ends the boot at once; the host reports the console's last lines.
die() { echo "iommutrace-lab: $*" >/dev/console; sync; poweroff -f; }

while read -r ko params; do
  [ -n "$ko" ] || continue
  insmod "/modules/$ko" $params || die "insmod $ko failed"
done </modules/boot.list

p9="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$p9,rw" out /out || die "cannot mount the results folder (9p tag out)"
[ -f /out/.lab/env ] || die "no /out/.lab/env from the host"
. /out/.lab/env
mkdir -p /lower /rw /newroot
mount -t 9p -o "$p9,ro,cache=loose" host /lower || die "cannot mount the host root (9p tag host)"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || die "cannot mount the overlay root"

# The guest's own /tmp: systemd-tmpfiles empties /tmp at boot, which over the host's
# would mean reading all of it through 9p (minutes under TCG) to hide it file by file.
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mkdir -p "/newroot$LAB_OUT"
mount -o move /out "/newroot$LAB_OUT" || die "cannot mount the results folder at $LAB_OUT"
# The host's /lib/modules is for the host's kernel: the guest's comes from the lab cache.
mkdir -p "/newroot/usr/lib/modules/$LAB_RELEASE"
mount -o bind "/newroot$LAB_MODULES" "/newroot/usr/lib/modules/$LAB_RELEASE" || die "cannot show the modules of $LAB_RELEASE"
# The package as `npm install -g` put it in a prefix on the host: /usr/local, npm's global prefix on Debian.
if [ -n "$LAB_PREFIX" ]; then
  mount -o bind "/newroot$LAB_PREFIX" /newroot/usr/local || die "cannot show $LAB_PREFIX at /usr/local"
fi
# The host's fstab names its own disks, which this guest does not have.
: >/newroot/etc/fstab
cp "/newroot$LAB_OUT/.lab/systemd/"* /newroot/etc/systemd/system/ || die "no units in .lab/systemd"

for d in dev proc sys; do mount -o move "/$d" "/newroot/$d"; done
# The lab's target instead of default.target: none of the host's own services start.
exec switch_root /newroot /lib/systemd/systemd --unit="$LAB_TARGET"
