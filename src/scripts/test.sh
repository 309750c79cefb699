#!/usr/bin/env bash
# The whole suite: unit tests, host tests (real BPF on this kernel), lab tests (real
# kernels under QEMU) and end-to-end tests. Under CI=true a missing prerequisite fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
suites=()
for s in unit host lab e2e; do
  [ -d "dist/test/$s" ] && suites+=("dist/test/$s")
done
exec node --expose-gc --test --test-concurrency=1 "${suites[@]}"
