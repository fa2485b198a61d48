#!/usr/bin/env bash
# Call 1: the CUDA suite with the sink-excluded selection (gate.cu), memcheck and racecheck of both selection tests.
set -u
t0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
B=/tmp/b
cmake -S tests/cuda -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 || { tail -20 $OUT/configure.log; exit 1; }
ninja -C $B > $OUT/build.log 2>&1 || { grep -E "error" -A3 $OUT/build.log | head -40; exit 1; }
echo "build ok $(( $(date +%s) - t0 )) s"
timeout 240 $B/seer_cuda_tests > $OUT/tests.log 2>&1; echo "all tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests.log | tail -3 | tr '\n' ' ') t=$(( $(date +%s) - t0 ))"
grep -E "^\[  FAILED" $OUT/tests.log | head; grep -E "Failure|error" -A6 $OUT/tests.log | head -30
F='CudaGate.*Selection*'
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter="$F" > $OUT/memcheck.log 2>&1
echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter="$F" > $OUT/racecheck.log 2>&1
echo "racecheck rc=$? $(grep 'SUMMARY' $OUT/racecheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
grep -E "^\[       OK \] CudaGate" $OUT/tests.log
echo "total $(( $(date +%s) - t0 )) s"
