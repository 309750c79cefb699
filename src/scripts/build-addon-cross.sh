#!/usr/bin/env bash
# Cross-builds the loader addon for linux-arm64 on an x86-64 machine, into
# build/linux-arm64/bpf_loader.node (src/loader/arch.ts crossAddonFile): npm pack
# ships it as prebuilds/linux-arm64-glibc, and the arm64 lab guest loads it from the
# clone. Same binding.gyp as the host's build; the compiler is Debian's
# aarch64-linux-gnu g++ (crossbuild-essential-arm64) and libbpf, libelf and zlib come
# from arm64 .debs unpacked into a sysroot (src/scripts/apt-arm64.sh), never installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

if [ "$(uname -m)" != x86_64 ]; then
  echo "build-addon-cross: cross-builds for arm64 from x86_64 only; this is $(uname -m), skipping" >&2
  exit 0
fi
if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
  [ "${CI:-}" != true ] || { echo "build-addon-cross: aarch64-linux-gnu-g++ is missing (src/scripts/setup.sh installs crossbuild-essential-arm64)" >&2; exit 1; }
  echo "build-addon-cross: skipping the arm64 addon: no aarch64-linux-gnu-g++ (src/scripts/setup.sh installs crossbuild-essential-arm64)" >&2
  exit 0
fi

cache="${IOMMUTRACE_LAB_CACHE:-$HOME/.cache/iommutrace/lab}/arm64"
pkgs=(libbpf-dev libbpf1 libelf-dev libelf1 zlib1g-dev zlib1g)
sysroot="$cache/sysroot"
if [ ! -e "$sysroot/.done" ] || [ "$(cat "$sysroot/.done")" != "${pkgs[*]}" ]; then
  mkdir -p "$cache/debs"
  missing=()
  for p in "${pkgs[@]}"; do
    compgen -G "$cache/debs/${p}_*_arm64.deb" >/dev/null || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || (cd "$cache/debs" && bash "$root/src/scripts/apt-arm64.sh" apt-get download -q "${missing[@]}")
  rm -rf "$sysroot"
  mkdir -p "$sysroot"
  for p in "${pkgs[@]}"; do
    dpkg -x "$(compgen -G "$cache/debs/${p}_*_arm64.deb" | sort | tail -n1)" "$sysroot"
  done
  echo "${pkgs[*]}" >"$sysroot/.done"
fi

# node-gyp builds in ./build of its binding.gyp's directory: a directory of its own, so
# the host's build/Release (and build/bpf) stay untouched.
gyp=build/linux-arm64-gyp
mkdir -p "$gyp"
ln -sfn "$root/binding.gyp" "$gyp/binding.gyp"
ln -sfn "$root/src" "$gyp/src"
lib="$sysroot/usr/lib/aarch64-linux-gnu"
(
  cd "$gyp"
  export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
  export PKG_CONFIG_SYSROOT_DIR="$sysroot" PKG_CONFIG_LIBDIR="$lib/pkgconfig:$sysroot/usr/share/pkgconfig"
  export LDFLAGS="-Wl,-rpath-link=$lib"
  # the headers of the Node that runs this (node-gyp would download them for another arch)
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  [ -e "$nodedir/include/node/node_api.h" ] || { echo "build-addon-cross: no Node headers under $nodedir/include/node" >&2; exit 1; }
  "$root/node_modules/.bin/node-gyp" configure build --silent --arch=arm64 --nodedir="$nodedir"
)
mkdir -p build/linux-arm64
cp "$gyp/build/Release/bpf_loader.node" build/linux-arm64/bpf_loader.node
