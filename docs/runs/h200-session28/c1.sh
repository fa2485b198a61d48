#!/usr/bin/env bash
# Call 1 (twenty-eighth session), model-free: the decode gate's query folded into the model's Q product
# (CudaGates::fold_query, PolicyOptions::gate_fold_query). The standalone CUDA build; the new and changed
# tests first, then the decode gate rows (batch 16 three times, batch 1 twice: unfolded and folded steps in
# each run), the whole model's decode with and without the fold, and every CTest with the time left.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/c1
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
timeout 150 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FoldedQuery*:CudaModelOps.GemvParts*:CudaGate.ModelForwardWithDeviceGates' \
  > $OUT/c1/new_tests.txt 2>&1
echo "new tests rc=$? $(grep -cE '^\[       OK' $OUT/c1/new_tests.txt) ok, $(grep -cE '^\[  FAILED' $OUT/c1/new_tests.txt) failed (t=$(el))"
grep -E "Failure|FAILED|error" -A4 $OUT/c1/new_tests.txt | head -30
for r in 1 2 3; do timeout 100 /tmp/bt/bench_cuda_attention --gates 0 16 > $OUT/c1/dgate16_$r.txt 2>&1; done
for r in 1 2; do timeout 100 /tmp/bt/bench_cuda_attention --gates 0 1 > $OUT/c1/dgate1_$r.txt 2>&1; done
echo "gate benches (t=$(el))"
grep -hE 'graph|fold' $OUT/c1/dgate16_*.txt $OUT/c1/dgate1_*.txt | grep -E 'mid, (int8, )?(folded, )?graph|end, int8|fold product|sel, graph' | cut -c1-90 | sort
timeout 200 /tmp/bt/bench_cuda_model --model all > $OUT/c1/model.txt 2>&1
echo "model bench rc=$? (t=$(el))"
grep -E "decode" $OUT/c1/model.txt
left=$(( 560 - $(el) ))
if [ $left -gt 60 ]; then
  (cd /tmp/bt && timeout $left ctest --output-on-failure > $OUT/c1/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c1/ctest.txt)"
fi
echo "total (t=$(el))"
