#!/usr/bin/env bash
# Call 13 (twentieth session): CudaGate.DecodeGraphWithGatesMatchesEager now also under mass:0.5 (graph and eager
# decode steps bit for bit); the CudaGate tests.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
timeout 150 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.*' > $OUT/tests.txt 2>&1
echo "CudaGate tests rc=$? $(grep -cE '^\[       OK' $OUT/tests.txt) ok $(grep -E '^\[  FAILED' $OUT/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -E "Failure|mass:0.5" $OUT/tests.txt | head -10
grep -E "OK \] CudaGate" $OUT/tests.txt | cut -c1-100
