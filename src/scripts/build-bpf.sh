#!/usr/bin/env bash
# Compiles bpf/*.bpf.c and links them into one object per architecture,
# build/bpf/<arch>/iommutrace.bpf.o with Node's names for them (x64, arm64): the
# runtime loads the one for process.arch (src/loader/arch.ts). One source: only the
# registers kprobes read differ (bpf/include/kernel.h, by __TARGET_ARCH_*).
# CO-RE only: kernel types come from bpf/include/kernel.h, never from the build
# machine's kernel; the uapi headers come from Debian's linux-libc-dev (x64) and
# linux-libc-dev-arm64-cross (arm64, from crossbuild-essential-arm64).
set -euo pipefail
cd "$(dirname "$0")/../.."

# node arch, __TARGET_ARCH_ suffix, uapi include directory
targets=(
  "x64 x86 /usr/include/x86_64-linux-gnu"
  "arm64 arm64 /usr/aarch64-linux-gnu/include"
)
for t in "${targets[@]}"; do
  read -r node_arch bpf_arch uapi <<<"$t"
  if [ ! -e "$uapi/asm/types.h" ]; then
    # Outside CI a machine without the other architecture's headers still builds its own.
    [ "${CI:-}" != true ] || { echo "build-bpf: $uapi is missing (src/scripts/setup.sh installs it)" >&2; exit 1; }
    echo "build-bpf: skipping the $node_arch object: no uapi headers in $uapi (src/scripts/setup.sh installs them)" >&2
    continue
  fi
  out=build/bpf/$node_arch
  mkdir -p "$out/parts"
  parts=()
  for src in bpf/*.bpf.c; do
    obj="$out/parts/$(basename "${src%.c}").o"
    clang -target bpf -g -O2 -Wall -Werror -D__TARGET_ARCH_"$bpf_arch" \
      -I"$uapi" -Ibpf/include -c "$src" -o "$obj"
    parts+=("$obj")
  done
  # One object, one ring buffer and one set of maps: the shared maps are __weak in
  # bpf/include/maps.h, so the static linker keeps a single copy of each.
  bpftool gen object "$out/iommutrace.bpf.o.tmp" "${parts[@]}"
  # Drop DWARF, keep BTF and the CO-RE relocations.
  llvm-strip -g "$out/iommutrace.bpf.o.tmp"
  mv "$out/iommutrace.bpf.o.tmp" "$out/iommutrace.bpf.o"
done
