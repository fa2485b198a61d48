#!/usr/bin/env bash
# Call 1 (thirtieth session; the device came back at its end), model-free: the tree as committed. The standalone
# CUDA build; the GPU tests changed since the twenty-seventh session (the folded decode query, the decode and
# prefill budget shares); memcheck and racecheck of the prefill-shares selection test; then every CTest in the
# time left.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/c1
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
F='CudaGate.*Shares*:CudaGate.FoldedQuery*:CudaModelOps.GemvParts*:CudaGate.ModelForwardWithDeviceGates:CudaGate.Decode*:CudaGate.PrefillSelection*'
timeout 240 /tmp/bt/seer_cuda_tests --gtest_filter="$F" > $OUT/c1/changed_tests.txt 2>&1
echo "changed tests rc=$? $(grep -cE '^\[       OK' $OUT/c1/changed_tests.txt) ok, $(grep -cE '^\[  FAILED' $OUT/c1/changed_tests.txt) failed (t=$(el))"
grep -E "^\[       OK|^\[  FAILED" $OUT/c1/changed_tests.txt | cut -c1-100
grep -E "Failure" -A6 $OUT/c1/changed_tests.txt | head -30
timeout 90 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.PrefillSelectionWithBudgetShares*' > $OUT/c1/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/c1/memcheck.txt | tail -1) (t=$(el))"
timeout 90 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.PrefillSelectionWithBudgetShares*' > $OUT/c1/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/c1/racecheck.txt | tail -1) (t=$(el))"
left=$(( 580 - $(el) ))
if [ $left -gt 60 ]; then
  (cd /tmp/bt && timeout $left ctest --output-on-failure > $OUT/c1/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c1/ctest.txt)"
  grep -E "Failed|\*\*\*" $OUT/c1/ctest.txt | head -10
fi
echo "total (t=$(el))"
