#!/usr/bin/env bash
# Builds the lab workloads for the host; the guest runs them from the host root
# it mounts, so they link dynamically against the host's libc. CC and
# WORKLOAD_LDFLAGS cross-build them (the arm64 lab: aarch64-linux-gnu-gcc, -static).
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
cd "$(dirname "$0")"
mkdir -p "$out"
for w in vfio gup dirty leak netdev cdev qemu mapfail fault; do
  ${CC:-gcc} -O2 -g -Wall -Wextra -Werror ${WORKLOAD_LDFLAGS:-} -o "$out/$w" "$w.c"
done
