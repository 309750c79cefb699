#!/usr/bin/env bash
# npm pack's prepack step: checks that everything the package ships is built, and puts
# each addon (stripped of symbols only linking needs) where the installed package looks
# for its prebuilt one (src/loader/arch.ts prebuiltAddonFile): linux-x64 from the host's
# build, linux-arm64 cross-built (build-addon-cross.sh). Each may need only libbpf.so.1
# beyond what Node itself links: Debian's libbpf.a is not built PIC, so libbpf cannot
# be linked in.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ "$(uname -m)" = x86_64 ] || { echo "prebuild: packs on x86_64 (it cross-builds arm64); this is $(uname -m)" >&2; exit 1; }
# addon built here, BPF object, allowed libraries (the loader's own name differs per arch)
declare -A addon=([x64]=build/Release/bpf_loader.node [arm64]=build/linux-arm64/bpf_loader.node)
declare -A loader=([x64]='ld-linux-x86-64\.so\.2' [arm64]='ld-linux-aarch64\.so\.1')
for f in dist/src/bin/iommutrace.js oclif.manifest.json build/bpf/x64/iommutrace.bpf.o build/bpf/arm64/iommutrace.bpf.o "${addon[@]}"; do
  [ -e "$f" ] || { echo "prebuild: $f is missing: run npm run build first (src/scripts/setup.sh installs the arm64 cross tools)" >&2; exit 1; }
done

rm -rf prebuilds
for arch in x64 arm64; do
  out=prebuilds/linux-$arch-glibc
  mkdir -p "$out"
  # llvm-objcopy strips either architecture
  llvm-objcopy --strip-unneeded "${addon[$arch]}" "$out/bpf_loader.node"
  allowed="^(libbpf\.so\.1|libstdc\+\+\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libc\.so\.6|${loader[$arch]})$"
  for lib in $(llvm-objdump -p "$out/bpf_loader.node" | awk '$1 == "NEEDED" { print $2 }'); do
    [[ $lib =~ $allowed ]] || { echo "prebuild: the $arch addon needs $lib, which hosts may not have" >&2; exit 1; }
  done
done
node -e "require('./prebuilds/linux-x64-glibc/bpf_loader.node')"
