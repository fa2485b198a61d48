#!/usr/bin/env bash
# Call 1 (thirty-first session), model-free: the tree as committed (e1cdc4d and after). Replaces the thirtieth
# session's c1.sh and the twenty-eighth's c4.sh, neither of which ran: the standalone CUDA build, every CTest (the
# folded decode query, the decode and prefill budget shares, the SASS check among them), memcheck and racecheck of
# the tests changed since the twenty-seventh session, then the decode gate rows (batch 16 three times, batch 1
# twice) and the SmolLM2-shaped model, in the time left.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/g1
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
(cd /tmp/bt && timeout 240 ctest --output-on-failure > $OUT/g1/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/g1/ctest.txt) (t=$(el))"
grep -E "^\s+[0-9]+ - " $OUT/g1/ctest.txt | head -10
grep -E "Failure" -A6 $OUT/g1/ctest.txt | head -30
S='CudaGate.PrefillSelectionWithBudgetShares*:CudaGate.DecodeSelectionWithBudgetShares*:CudaGate.FoldedQuery*'
for tool in memcheck racecheck; do
  timeout 100 compute-sanitizer --tool $tool /tmp/bt/seer_cuda_tests --gtest_filter="$S" > $OUT/g1/$tool.txt 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/g1/$tool.txt | tail -1) (t=$(el))"
done
for r in 1 2 3; do [ $(el) -lt 470 ] && timeout 60 /tmp/bt/bench_cuda_attention --gates 0 16 > $OUT/g1/dgate16_$r.txt 2>&1; done
for r in 1 2; do [ $(el) -lt 500 ] && timeout 50 /tmp/bt/bench_cuda_attention --gates 0 1 > $OUT/g1/dgate1_$r.txt 2>&1; done
echo "gate benches (t=$(el))"
grep -hE 'graph|product' $OUT/g1/dgate16_*.txt $OUT/g1/dgate1_*.txt 2>/dev/null | grep -E 'mid, (int8, )?(folded, )?graph|end, int8|product|sel, graph' | cut -c1-90 | sort
[ $(el) -lt 520 ] && { timeout 60 /tmp/bt/bench_cuda_model --model smollm2 > $OUT/g1/model.txt 2>&1; echo "model bench rc=$? (t=$(el))"; grep -E "decode" $OUT/g1/model.txt | head -8; }
echo "total (t=$(el))"
