#!/usr/bin/env bash
# apt-get on Debian's arm64 index without touching the host's architectures: a private
# APT_CONFIG (APT::Architecture "arm64") with its own lists, cache and empty dpkg status,
# so `apt-get download` fetches arm64 .debs and nothing is ever installed from it.
# Usage: apt-arm64.sh apt-get|apt-cache ARGS... (the index is fetched on first use;
# `apt-arm64.sh apt-get update` refreshes it).
set -euo pipefail
dir="${IOMMUTRACE_LAB_CACHE:-$HOME/.cache/iommutrace/lab}/arm64/apt"
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
touch "$dir/status"
cat >"$dir/apt.conf" <<CONF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Sandbox::User "root";
Dir::State::Lists "$dir/lists";
Dir::State::status "$dir/status";
Dir::Cache "$dir/cache";
CONF
export APT_CONFIG="$dir/apt.conf"
cmd=${1:?usage: apt-arm64.sh apt-get|apt-cache ARGS...}; shift
case "$cmd" in
  apt-get | apt-cache) ;;
  *) echo "apt-arm64.sh: runs apt-get or apt-cache, not $cmd" >&2; exit 2 ;;
esac
ls "$dir/lists/"*_Packages >/dev/null 2>&1 || [ "$*" = update ] || apt-get update -qq
exec "$cmd" "$@"
