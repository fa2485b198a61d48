#!/usr/bin/env bash
# Call 7 (twenty-third session), model-free: HEAD 89e5c74 as committed (the decode step kernel of call 6). The
# whole CUDA suite, then the decode gate rows once.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g7
timeout 300 /tmp/bt/seer_cuda_tests > /tmp/g7/tests.txt 2>&1
echo "all CUDA tests rc=$? $(grep -cE '^\[       OK' /tmp/g7/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g7/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -B2 -A8 "Failure" /tmp/g7/tests.txt | head -30
/tmp/bt/bench_cuda_attention --gates 0 > /tmp/g7/dgate.txt 2>&1
grep -E "graph" /tmp/g7/dgate.txt | cut -c1-112
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g7 && tar czf $OUT/c7.tgz *.txt
