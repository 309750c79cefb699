#!/usr/bin/env bash
# Compiles bpf/*.bpf.c and links them into one object, build/bpf/iommutrace.bpf.o.
# CO-RE only: kernel types come from bpf/include/kernel.h, never from the build
# machine's kernel; the uapi headers come from Debian's linux-libc-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/bpf
mkdir -p "$out/parts"
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
multiarch=$(gcc -print-multiarch)
parts=()
for src in bpf/*.bpf.c; do
  obj="$out/parts/$(basename "${src%.c}").o"
  clang -target bpf -g -O2 -Wall -Werror -D__TARGET_ARCH_"$arch" \
    -I"/usr/include/$multiarch" -Ibpf/include -c "$src" -o "$obj"
  parts+=("$obj")
done
# One object, one ring buffer and one set of maps: the shared maps are __weak in
# bpf/include/maps.h, so the static linker keeps a single copy of each.
bpftool gen object "$out/iommutrace.bpf.o.tmp" "${parts[@]}"
# Drop DWARF, keep BTF and the CO-RE relocations.
llvm-strip -g "$out/iommutrace.bpf.o.tmp"
mv "$out/iommutrace.bpf.o.tmp" "$out/iommutrace.bpf.o"
