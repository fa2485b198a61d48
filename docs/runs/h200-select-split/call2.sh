#!/usr/bin/env bash
# Call 2: memcheck and racecheck of the selection tests (and memcheck of the model with device gates) on this tree.
set -u
t0=$(date +%s)
el() { echo "t=$(( $(date +%s) - t0 ))"; }
if [ ! -x /tmp/b/seer_cuda_tests ]; then
  cmake -S tests/cuda -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 && ninja -C /tmp/b seer_cuda_tests > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
  echo "rebuilt $(el)"
fi
timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 /tmp/b/seer_cuda_tests --gtest_filter='CudaGate.*Selection*:CudaGate.ModelForwardWithDeviceGates' > $OUT/memcheck.log 2>&1
echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) $(el)"
grep -E "PASSED|FAILED" $OUT/memcheck.log | tail -2
timeout 360 compute-sanitizer --tool racecheck --error-exitcode 9 /tmp/b/seer_cuda_tests --gtest_filter='CudaGate.*Selection*' > $OUT/racecheck.log 2>&1
echo "racecheck rc=$? $(grep 'RACECHECK SUMMARY\|ERROR SUMMARY' $OUT/racecheck.log | tail -1) $(el)"
grep -E "PASSED|FAILED" $OUT/racecheck.log | tail -2
gzip -f $OUT/memcheck.log $OUT/racecheck.log
echo "total $(el)"
