#!/usr/bin/env bash
# Call 10 (twenty-fourth session), model-free: HEAD as committed (3ccf753's kernels). The whole CUDA suite,
# racecheck of the decode selection test, then the decode gate rows three times.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g10
for r in 1 2 3; do /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g10/dgate_$r.txt 2>&1; done
grep -hE 'graph' /tmp/g10/dgate_*.txt | grep -E 'mid, (int8, )?graph|end, int8|sel, graph' | cut -c1-80 | sort
timeout 60 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu' > /tmp/g10/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g10/racecheck.txt | tail -1) (t=$(( $(date +%s) - t0 )))"
timeout 300 /tmp/bt/seer_cuda_tests > /tmp/g10/tests.txt 2>&1
echo "all CUDA tests rc=$? $(grep -cE '^\[       OK' /tmp/g10/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g10/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
cd /tmp/g10 && tar czf $OUT/c10.tgz *.txt
