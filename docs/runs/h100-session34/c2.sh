#!/usr/bin/env bash
# Call 2 (thirty-fourth session), model-free: every CTest of the standalone CUDA build on the tree after the
# session's CLI, loader and trainer changes (the CUDA tests load tiny models through the changed loaders).
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/c2
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
(cd /tmp/bt && timeout 400 ctest --output-on-failure > $OUT/c2/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c2/ctest.txt) (t=$(el))"
grep -E "Failure|failed" -A6 $OUT/c2/ctest.txt | head -30 | cut -c1-300
echo "total (t=$(el))"
