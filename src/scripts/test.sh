#!/usr/bin/env bash
# The whole suite: unit tests, host tests (real BPF on this kernel), lab tests (real
# kernels under QEMU) and end-to-end tests. Under CI=true a missing prerequisite fails.
# One node --test per suite, in this order: node sorts the files of one run by path,
# and the end-to-end tests replay the captures the lab tests write.
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
for s in unit host lab e2e; do
  [ -d "dist/test/$s" ] || continue
  echo "# suite $s"
  node --expose-gc --test --test-concurrency=1 "dist/test/$s" || status=1
done
exit $status
