#!/usr/bin/env bash
# Call 6 (twenty-second session), model-free: the int8 entry's scale found per warp (shuffles) instead of per
# thread; the decode gate bench with `graph` rows (16 steps or 16 attention calls captured as one CUDA graph,
# timed per call). The CudaGate tests, memcheck of the int8 test, the decode gate rows three times.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g2
timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g2/tests.txt 2>&1
echo "CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g2/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g2/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -B2 -A6 "Failure" /tmp/g2/tests.txt | head -30
timeout 150 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeInt8CacheMatchesCpu:CudaGate.ModelForwardWithDeviceGates' > /tmp/g2/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g2/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 100 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeInt8CacheMatchesCpu' > /tmp/g2/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g2/racecheck.txt) (t=$(( $(date +%s) - t0 )))"
for r in 1 2 3; do /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g2/dgate_$r.txt 2>&1; done
for r in 1 2 3; do echo "run $r"; grep -E "^gate|^decode" /tmp/g2/dgate_$r.txt | cut -c1-112; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g2 && tar czf $OUT/c2.tgz *.txt
