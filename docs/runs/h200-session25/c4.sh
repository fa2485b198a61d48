#!/usr/bin/env bash
# Call 4 (twenty-fifth session), model-free: the final tree (CLI and loader hardening since call 3; no CUDA kernel
# change): the standalone CUDA build and every CTest of it.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p $OUT/c4
(cd /tmp/bt && timeout 300 ctest --output-on-failure > $OUT/c4/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c4/ctest.txt)"
echo "total (t=$(( $(date +%s) - t0 )))"
