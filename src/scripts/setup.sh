#!/usr/bin/env bash
# Installs whatever is missing on a fresh Debian machine (as root) and builds
# everything: Debian packages, npm ci, the BPF object, the addon and the TypeScript.
# IOMMUTRACE_LAB=0 skips the QEMU lab's packages; bpftrace is the benchmarks' reference.
# chromium is the browser the HTML report's test opens its page in (headless).
set -euo pipefail
cd "$(dirname "$0")/../.."

pkgs=(clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config bpftool make g++ python3 tmux bpftrace prometheus systemd binutils chromium)
# the arm64 addon and BPF object, cross-built (src/scripts/build-arm64.sh)
pkgs+=(crossbuild-essential-arm64)
if [ "${IOMMUTRACE_LAB:-1}" = 1 ]; then
  pkgs+=(qemu-system-x86 busybox-static kmod xz-utils cpio)
  # the iommufd-6.12 lab kernel, built from Debian's source
  pkgs+=(linux-source-6.12 bc flex bison dwarves libssl-dev)
  # the arm64 lab: qemu-system-aarch64 with SMMUv3 (its kernels and root come from the arm64 index)
  pkgs+=(qemu-system-arm)
fi
# The deployment test: the image built and run (podman and buildah, a base made from
# Debian's packages by mmdebstrap, netavark and iptables for its published port, runc: crun refuses
# hosts whose cgroups are mounted hybrid, v1 and v2, as this build machine's are).
pkgs+=(podman buildah mmdebstrap netavark aardvark-dns iptables catatonit uidmap runc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run this script as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run --silent build
