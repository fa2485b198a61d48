#!/usr/bin/env bash
# Call 1 (twenty-second session), model-free: the tree with the int8 K-compression cache
# (PolicyOptions::gate_cache_int8). The whole CUDA suite; memcheck and racecheck of the new int8 test;
# the decode gate rows (--gates 0: bf16 and int8 steps in the same run) three times.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g1
timeout 300 /tmp/bt/seer_cuda_tests > /tmp/g1/tests.txt 2>&1
echo "all CUDA tests rc=$? $(grep -cE '^\[       OK' /tmp/g1/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g1/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -E "DecodeInt8|DecodeScoresMatch" /tmp/g1/tests.txt | head
grep -B2 -A6 "Failure" /tmp/g1/tests.txt | head -40
timeout 150 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeInt8CacheMatchesCpu' > /tmp/g1/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g1/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 150 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeInt8CacheMatchesCpu' > /tmp/g1/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g1/racecheck.txt) (t=$(( $(date +%s) - t0 )))"
for r in 1 2 3; do /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g1/dgate_$r.txt 2>&1; done
for r in 1 2 3; do echo "run $r"; grep -E "^gate|gate's sel" /tmp/g1/dgate_$r.txt | cut -c1-110; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g1 && tar czf $OUT/c1.tgz *.txt
