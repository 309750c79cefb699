#!/usr/bin/env bash
# npm pack's prepack step: checks that everything the package ships is built, and puts
# the addon (stripped of symbols only linking needs) where the installed package looks
# for its prebuilt one (src/loader/native.ts PREBUILT). It may need only libbpf.so.1
# beyond what Node itself links: Debian's libbpf.a is not built PIC, so libbpf cannot
# be linked in.
set -euo pipefail
cd "$(dirname "$0")/../.."

for f in dist/src/bin/iommutrace.js oclif.manifest.json build/bpf/iommutrace.bpf.o build/Release/bpf_loader.node; do
  [ -e "$f" ] || { echo "prebuild: $f is missing: run npm run build first" >&2; exit 1; }
done
[ "$(uname -m)" = x86_64 ] || { echo "prebuild: the prebuilt addon is for linux-x64; this is $(uname -m)" >&2; exit 1; }

out=prebuilds/linux-x64-glibc
rm -rf prebuilds
mkdir -p "$out"
objcopy --strip-unneeded build/Release/bpf_loader.node "$out/bpf_loader.node"

allowed='^(libbpf\.so\.1|libstdc\+\+\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libc\.so\.6|ld-linux-x86-64\.so\.2)$'
for lib in $(objdump -p "$out/bpf_loader.node" | awk '$1 == "NEEDED" { print $2 }'); do
  [[ $lib =~ $allowed ]] || { echo "prebuild: the addon needs $lib, which hosts may not have" >&2; exit 1; }
done
node -e "require('./$out/bpf_loader.node')"
