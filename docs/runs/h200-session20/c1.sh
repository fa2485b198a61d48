#!/usr/bin/env bash
# Call 1 (twentieth session): the nineteenth session's unrun commits (3523c4a's GPU side, 9ff19cb's score_tiles
# rewrite) and this session's decode mass:P selection on the GPU: the whole CUDA suite (CudaGate.DecodeSelectionMatchesCpu
# now has mass:0.05 / 0.5 / 0.9 / 1 rows; CudaGate.DecodeMassRuleInTheModel is new), memcheck of the new model test
# and of the prefill-score tiles, the gate bench at 32k (tiles) and the decode rows (the decode gate step under mass:0.9).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g
timeout 300 /tmp/bt/seer_cuda_tests > /tmp/g/tests.txt 2>&1
echo "all CUDA tests rc=$? $(grep -cE '^\[       OK' /tmp/g/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -E "^\[  FAILED|Failure|Expected|Which is|actual" /tmp/g/tests.txt | head -12
grep -E "OK \] CudaGate" /tmp/g/tests.txt | cut -c1-100
timeout 90 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeMassRuleInTheModel:CudaGate.PrefillScores*' > /tmp/g/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 90 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeMassRuleInTheModel' > /tmp/g/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' /tmp/g/racecheck.txt | head -2 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
for L in 32768 32768 32768; do /tmp/bt/bench_cuda_attention --gates $L > /tmp/g/g_${L}_$RANDOM.txt 2>&1; done
grep -hE "gate\+rope - rope" /tmp/g/g_*.txt | cut -c1-110
/tmp/bt/bench_cuda_attention --decode > /tmp/g/decode.txt 2>&1
grep -E "^decode|^gate" /tmp/g/decode.txt | cut -c1-110
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g && tar czf $OUT/c1.tgz *.txt
