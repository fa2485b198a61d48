#!/usr/bin/env bash
# Call 4 (twenty-eighth session; not run: the device loans were paused), model-free: the tree as committed.
# The folded query is made by each scores CTA (warp 0; only a row's last-entry CTA waits for the step kernel),
# call 3's SEER_EXP_OWN_QUERY=1 path without the switch; the model folds weights of at most 2 MiB a layer. The standalone CUDA build; the changed tests and the SASS
# check; memcheck and racecheck of the fold test; the decode gate rows (batch 16 three times, batch 1 twice;
# unfolded and folded in each run); the SmolLM2-shaped model's decode with and without the fold; every CTest.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/c4
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
F='CudaGate.FoldedQuery*:CudaModelOps.GemvParts*:CudaGate.ModelForwardWithDeviceGates:CudaGate.Decode*'
timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter="$F" > $OUT/c4/changed_tests.txt 2>&1
echo "changed tests rc=$? $(grep -cE '^\[       OK' $OUT/c4/changed_tests.txt) ok, $(grep -cE '^\[  FAILED' $OUT/c4/changed_tests.txt) failed (t=$(el))"
grep -E "Failure" -A6 $OUT/c4/changed_tests.txt | head -24
(cd /tmp/bt && ctest -R CudaSass --output-on-failure > $OUT/c4/sass.txt 2>&1); echo "sass rc=$? $(grep -E 'ok:|would stream' $OUT/c4/sass.txt | head -2)"
for r in 1 2 3; do timeout 100 /tmp/bt/bench_cuda_attention --gates 0 16 > $OUT/c4/dgate16_$r.txt 2>&1; done
for r in 1 2; do timeout 100 /tmp/bt/bench_cuda_attention --gates 0 1 > $OUT/c4/dgate1_$r.txt 2>&1; done
echo "gate benches (t=$(el))"
grep -hE 'graph|product' $OUT/c4/dgate16_*.txt $OUT/c4/dgate1_*.txt | grep -E 'mid, (int8, )?(folded, )?graph|end, int8|product|sel, graph' | cut -c1-90 | sort
timeout 120 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FoldedQuery*' > $OUT/c4/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/c4/memcheck.txt | tail -1) (t=$(el))"
timeout 150 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FoldedQuery*' > $OUT/c4/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/c4/racecheck.txt | tail -1) (t=$(el))"
timeout 120 /tmp/bt/bench_cuda_model --model smollm2 > $OUT/c4/model.txt 2>&1
echo "model bench rc=$? (t=$(el))"
grep -E "decode" $OUT/c4/model.txt
left=$(( 570 - $(el) ))
if [ $left -gt 60 ]; then
  (cd /tmp/bt && timeout $left ctest --output-on-failure > $OUT/c4/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c4/ctest.txt)"
fi
echo "total (t=$(el))"
