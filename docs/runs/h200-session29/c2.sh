#!/usr/bin/env bash
# Prepared in the twenty-ninth session (no device was lent), for the next GPU session, after
# docs/runs/h200-session28/c4.sh (the tree as committed). Model-free.
# The step kernel making no query where the scores kernel makes its own (the folded path): q_by_scores.diff adds a
# temporary switch, SEER_EXP_Q_BY_SCORES; with it the step kernel skips the folded query's RoPE table, qnorm and
# RoPE and the write of qg, and CTA 0 of each scores row writes its query to qg (CudaGates::decode_query). Only a
# row's last-entry CTA waits for the step kernel, so a shorter step kernel should shorten the row's tail.
# Alternated with the switch off in the same call: decode gate rows at batch 16 (int8 and bf16 caches) and batch 1;
# the fold tests and racecheck with the switch on.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/c2
git apply docs/runs/h200-session29/q_by_scores.diff || { echo "patch failed"; exit 1; }
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
F='CudaGate.FoldedQuery*:CudaGate.ModelForwardWithDeviceGates:CudaGate.Decode*'
SEER_EXP_Q_BY_SCORES=1 timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter="$F" > $OUT/c2/tests_on.txt 2>&1
echo "tests (switch on) rc=$? $(grep -cE '^\[       OK' $OUT/c2/tests_on.txt) ok, $(grep -cE '^\[  FAILED' $OUT/c2/tests_on.txt) failed (t=$(el))"
grep -E "Failure" -A6 $OUT/c2/tests_on.txt | head -24
for r in 1 2 3; do
  timeout 100 /tmp/bt/bench_cuda_attention --gates 0 16 > $OUT/c2/dgate16_off_$r.txt 2>&1
  SEER_EXP_Q_BY_SCORES=1 timeout 100 /tmp/bt/bench_cuda_attention --gates 0 16 > $OUT/c2/dgate16_on_$r.txt 2>&1
done
for r in 1 2; do
  timeout 100 /tmp/bt/bench_cuda_attention --gates 0 1 > $OUT/c2/dgate1_off_$r.txt 2>&1
  SEER_EXP_Q_BY_SCORES=1 timeout 100 /tmp/bt/bench_cuda_attention --gates 0 1 > $OUT/c2/dgate1_on_$r.txt 2>&1
done
echo "gate benches (t=$(el))"
for f in $OUT/c2/dgate*.txt; do
  echo "== $(basename $f .txt)"; grep -E 'folded, graph' $f | cut -c1-100
done
SEER_EXP_Q_BY_SCORES=1 timeout 150 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FoldedQuery*' > $OUT/c2/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/c2/racecheck.txt | tail -1) (t=$(el))"
SEER_EXP_Q_BY_SCORES=1 timeout 120 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FoldedQuery*' > $OUT/c2/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/c2/memcheck.txt | tail -1) (t=$(el))"
echo "total (t=$(el))"
