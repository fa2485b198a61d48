#!/usr/bin/env bash
# Call 1 (twenty-seventh session), model-free: the tree after the twenty-sixth session's CPU changes (huge pages,
# matmul_shared_input, decode attention; no CUDA kernel change): the standalone CUDA build and every CTest.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p $OUT/c1
(cd /tmp/bt && timeout 300 ctest --output-on-failure > $OUT/c1/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c1/ctest.txt)"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
echo "total (t=$(( $(date +%s) - t0 )))"
