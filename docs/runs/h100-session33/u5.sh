#!/usr/bin/env bash
# Call 5 (thirty-third session): the first model upload (part 0 and the corpus to /tmp/m) and, meanwhile, every CTest
# on the tree as committed (the fused step of calls 1-4 reverted: HEAD's CudaForward::prepare and the rest).
set -u
t0=$(date +%s)
mkdir -p $OUT/g5
bash docs/runs/h200-session22/up.sh
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
(cd /tmp/bt && timeout 320 ctest --output-on-failure > $OUT/g5/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/g5/ctest.txt) (t=$(( $(date +%s) - t0 )))"
grep -E "Failure|failed" -A6 $OUT/g5/ctest.txt | head -20 | cut -c1-300
