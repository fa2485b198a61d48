#!/usr/bin/env bash
# Call 10 (thirty-first session), model-free: the tree with call 8's measured variant made permanent (the step
# kernel makes no folded query; the scores kernel's CTA 0 publishes its query to qg). The standalone build, the
# decode gate tests and the fold's, racecheck of the fold test, the decode gate rows at batch 16 and 1.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/g10
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
F='CudaGate.FoldedQuery*:CudaModelOps.GemvParts*:CudaGate.ModelForwardWithDeviceGates:CudaGate.Decode*'
timeout 120 /tmp/bt/seer_cuda_tests --gtest_filter="$F" > $OUT/g10/tests.txt 2>&1
echo "tests rc=$? $(grep -cE '^\[       OK' $OUT/g10/tests.txt) ok, $(grep -cE '^\[  FAILED' $OUT/g10/tests.txt) failed (t=$(el))"
grep -E "Failure" -A6 $OUT/g10/tests.txt | head -20
timeout 60 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FoldedQuery*' > $OUT/g10/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/g10/racecheck.txt | tail -1) (t=$(el))"
timeout 40 /tmp/bt/bench_cuda_attention --gates 0 16 > $OUT/g10/dgate16.txt 2>&1
timeout 40 /tmp/bt/bench_cuda_attention --gates 0 1 > $OUT/g10/dgate1.txt 2>&1
grep -hE 'sel, graph|int8, folded, graph' $OUT/g10/dgate*.txt | cut -c1-100
echo "total (t=$(el))"
