#!/usr/bin/env bash
# mass:P out of the 64-register select tier: the CUDA suite, memcheck of the selection test, the gate bench.
set -u
t0=$(date +%s)
B=/tmp/b
cmake -S tests/cuda -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 && ninja -C $B > $OUT/build.log 2>&1 || { grep -E "error" -A3 $OUT/build.log | head -30; exit 1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
echo "build ok $(( $(date +%s) - t0 )) s"
timeout 40 $B/bench_cuda_attention --gates > $OUT/gates.txt 2>&1; echo "bench rc=$? t=$(( $(date +%s) - t0 ))"
grep -E "select|gate\+rope" $OUT/gates.txt
timeout 200 $B/seer_cuda_tests > $OUT/tests.log 2>&1; echo "all tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests.log | tail -3 | tr '\n' ' ') t=$(( $(date +%s) - t0 ))"
grep -E "^\[  FAILED" $OUT/tests.log | head; grep -E "Failure" -A8 $OUT/tests.log | head -30
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter='CudaGate.PrefillSelection*' > $OUT/memcheck.log 2>&1
echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
tar czf $OUT/logs.tgz -C $OUT tests.log memcheck.log; rm -f $OUT/configure.log $OUT/build.log $OUT/tests.log $OUT/memcheck.log
