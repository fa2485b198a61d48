#!/usr/bin/env bash
# Call 3 (twenty-eighth session), model-free: call 2's scores kernel making the folded query itself (all
# CTAs, double RoPE and norm) was slower (B16 int8 21.0 -> 22.6 us) and is replaced by a lighter variant
# behind a temporary switch, SEER_EXP_OWN_QUERY=1: warp 0 of each CTA makes it in float (the RoPE of the
# position as block start x offset tables), one barrier, and only a row's last-entry CTA waits for the step
# kernel. The default path (the step makes the query, every scores CTA waits) now loads the folded query
# at the step kernel's start. The changed tests under both settings, the SASS check, racecheck of the fold
# test with the switch, then the decode gate rows alternating the two (batch 16 three times each, batch 1
# once each).
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/c3
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
F='CudaGate.FoldedQuery*:CudaModelOps.GemvParts*:CudaGate.ModelForwardWithDeviceGates:CudaGate.Decode*'
for own in 0 1; do
  SEER_EXP_OWN_QUERY=$own timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter="$F" > $OUT/c3/changed_tests_$own.txt 2>&1
  echo "own=$own changed tests rc=$? $(grep -cE '^\[       OK' $OUT/c3/changed_tests_$own.txt) ok, $(grep -cE '^\[  FAILED' $OUT/c3/changed_tests_$own.txt) failed (t=$(el))"
  grep -E "Failure" -A6 $OUT/c3/changed_tests_$own.txt | head -14
done
(cd /tmp/bt && ctest -R CudaSass --output-on-failure > $OUT/c3/sass.txt 2>&1); echo "sass rc=$?"
SEER_EXP_OWN_QUERY=1 timeout 150 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FoldedQuery*' > $OUT/c3/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/c3/racecheck.txt | tail -1) (t=$(el))"
for r in 1 2 3; do for own in 0 1; do
  SEER_EXP_OWN_QUERY=$own timeout 100 /tmp/bt/bench_cuda_attention --gates 0 16 > $OUT/c3/dgate16_${own}_$r.txt 2>&1
done; done
for own in 0 1; do SEER_EXP_OWN_QUERY=$own timeout 100 /tmp/bt/bench_cuda_attention --gates 0 1 > $OUT/c3/dgate1_$own.txt 2>&1; done
echo "gate benches (t=$(el))"
for f in $OUT/c3/dgate*.txt; do echo "== $(basename $f)"; grep -E 'mid, int8, (folded, )?graph|mid, graph|mid, folded, graph|end, int8, folded|sel, graph' $f | cut -c1-80; done
echo "total (t=$(el))"
