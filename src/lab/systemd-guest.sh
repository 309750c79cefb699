#!/bin/sh
# Run by iommutrace-lab.service in a guest whose PID 1 is Debian's systemd. The host
# ran `npm install -g` of the packed tarball into the prefix the guest sees at
# /usr/local (under TCG npm itself takes minutes); this installs the unit as README's
# "Install on a host" says, starts the exporter before any VFIO module is loaded,
# then loads VFIO, runs the vfio workload and writes what the host's test asserts
# into $R: metrics, the process's capabilities, systemd-analyze security, BPF objects
# around a SIGKILL, the stop's result and the journal. Each step's exit code goes to
# $R/<step>.rc; the host judges.
# OUT comes from the unit; BDF and the workload's argv from $OUT/.lab/deploy.env.
set -u
LAB="$OUT/.lab"
. "$LAB/deploy.env"
R="$LAB/deploy"
mkdir -p "$R" "$OUT/ground-truth"
UNIT=iommutrace-export
say() { echo "deploy-guest: $*"; }
step() { name=$1; shift; "$@" >"$R/$name.log" 2>&1; echo $? >"$R/$name.rc"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
mainpid() { systemctl show -p MainPID --value $UNIT; }
metrics() { curl -sf --max-time 20 http://127.0.0.1:9464/metrics; }
# Waits up to $2 seconds for the journal to hold $1 lines saying the exporter is up;
# gives up early once systemd has restarted it more often than expected ($1 - 1).
wait_exporting() {
  i=0
  while [ "$(journalctl -u $UNIT -o cat --no-pager | grep -c '^exporting live')" -lt "$1" ] && [ $i -lt "$2" ]; do
    [ "$(systemctl show -p NRestarts --value $UNIT)" -ge "$1" ] && break
    sleep 1; i=$((i+1))
  done
  metrics >/dev/null
}
# Every BPF program and map in the kernel, as bpftool's JSON (the host picks the agent's).
bpf_objects() { bpftool -j prog show >"$R/progs-$1.json"; bpftool -j map show >"$R/maps-$1.json"; }

echo "$(uname -r)" >"$R/kernel"
cat /proc/1/comm >"$R/pid1"
bpf_objects boot

# The exporter's journal on the console as it comes, for a run that goes wrong.
journalctl -f -n 0 -u $UNIT -o cat | sed -u 's/^/iommutrace-export: /' &
follow=$!
step copy-unit cp "$(npm root -g)/iommutrace/deploy/systemd/$UNIT.service" /etc/systemd/system/
systemctl daemon-reload
t=$(now_ms)
step enable systemctl enable --now $UNIT
lsmod | grep -E '^vfio' >"$R/vfio-modules-at-start" || true
wait_exporting 1 600
echo $(($(now_ms) - t)) >"$R/start.ms"
systemctl is-enabled $UNIT >"$R/is-enabled" 2>&1
metrics >"$R/metrics-start.txt"

say "loading VFIO and binding $BDF"
modprobe vfio_iommu_type1 allow_unsafe_interrupts=1 || say "modprobe vfio_iommu_type1 failed"
modprobe vfio_pci || say "modprobe vfio_pci failed"
dev=/sys/bus/pci/devices/$BDF
[ -e "$dev/driver" ] && echo "$BDF" >"$dev/driver/unbind"
echo vfio-pci >"$dev/driver_override"
echo "$BDF" >/sys/bus/pci/drivers_probe
say "running the vfio workload"
step workload workload
# The exporter reads the kernel's sums every second: wait until they reach the workload's unmaps.
want=$(sed -n 's/.*"unmapped_bytes": *\([0-9]*\).*/\1/p' "$OUT/ground-truth/vfio.json" 2>/dev/null)
i=0
while [ $i -lt 120 ]; do
  got=$(metrics | sed -n "s/^iommutrace_dma_unmapped_bytes_total{device=\"$BDF\"} \([0-9]*\).*/\1/p")
  [ -n "$want" ] && [ -n "$got" ] && [ "$got" -ge "$want" ] && break
  sleep 1; i=$((i+1))
done
sleep 2
metrics >"$R/metrics-vfio.txt"

pid=$(mainpid)
echo "$pid" >"$R/pid-first"
grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' "/proc/$pid/status" >"$R/caps"
tr '\0' ' ' <"/proc/$pid/cmdline" >"$R/cmdline"
systemd-analyze security $UNIT --no-pager >"$R/security.txt" 2>&1
bpf_objects first

say "SIGKILL"
step kill systemctl kill -s KILL $UNIT
i=0
while [ $i -lt 60 ]; do
  p=$(mainpid)
  [ "$p" != 0 ] && [ "$p" != "$pid" ] && break
  sleep 1; i=$((i+1))
done
wait_exporting 2 600
mainpid >"$R/pid-second"
systemctl show -p NRestarts --value $UNIT >"$R/restarts"
bpf_objects second
find /sys/fs/bpf -mindepth 1 >"$R/bpffs" 2>&1

say "stopping"
t=$(now_ms)
step stop systemctl stop $UNIT
echo $(($(now_ms) - t)) >"$R/stop.ms"
systemctl show -p Result -p ExecMainCode -p ExecMainStatus -p ActiveState -p TimeoutStopUSec $UNIT >"$R/stopped"
bpf_objects stopped
journalctl -u $UNIT -o cat --no-pager >"$R/journal.txt"
kill $follow 2>/dev/null
sync
echo 0 >"$LAB/exit-code"
