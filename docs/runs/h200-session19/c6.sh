#!/usr/bin/env bash
# Call 6 (nineteenth session): the kept form of call 5's tiles (kScoreTile = 128 from 256 query blocks on, the
# bands gone; a new 313-block chunk-after-chunk case in CudaGate.PrefillScoresMatchCpuGate): the CudaGate tests,
# memcheck of the prefill-score test, and the gate bench.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g
timeout 80 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g/tests.txt 2>&1
echo "CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g/tests.txt | head -3 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
timeout 70 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.PrefillScores*' > /tmp/g/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
for L in 32768 131072 32768 8192; do /tmp/bt/bench_cuda_attention --gates $L > /tmp/g/g_${L}_$RANDOM.txt 2>&1; done
grep -hE "gate\+rope - rope|top-k -> CSR" /tmp/g/g_*.txt | cut -c1-110
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g && tar czf $OUT/c6.tgz *.txt
