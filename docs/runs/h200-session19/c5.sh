#!/usr/bin/env bash
# Call 5 (nineteenth session): the K-only score GEMM as causal t x t tiles in one batched GEMM over pointer
# arrays (SEER_EXP_TILE=t; 0 = HEAD's one or two bands), against HEAD in the same build: the gate bench first,
# then the prefill-score, prefill-and-RoPE and model tests with tiles of 2 (every piece tiled, tiles overlapping
# at the ends) and 128 (the long chunks), and memcheck with tiles of 2.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
B=/tmp/bt/bench_cuda_attention
mkdir -p /tmp/g
for i in 1 2 3; do for c in 0 64 128; do for L in 32768 8192; do
  SEER_EXP_TILE=$c $B --gates $L > /tmp/g/g_${c}_${L}_$i.txt 2>&1
done; done; done
for i in 1 2; do for c in 0 64 128; do SEER_EXP_TILE=$c $B --gates 131072 > /tmp/g/g_${c}_131072_$i.txt 2>&1; done; done
echo "bench (t=$(( $(date +%s) - t0 )))"
for L in 8192 32768 131072; do for c in 0 64 128; do
  printf "%-6s tile %-3s gate+rope-rope:" $L $c
  for f in /tmp/g/g_${c}_${L}_*.txt; do grep -E "gate\+rope - rope" $f | awk '{printf " %s (%s)", $(NF-4), $NF}'; done
  echo
done; done
F='CudaGate.PrefillScores*:CudaGate.PrefillAndRope*:CudaGate.ModelForward*'
for c in 2 128; do
  timeout 100 env SEER_EXP_TILE=$c /tmp/bt/seer_cuda_tests --gtest_filter="$F" > /tmp/g/t_$c.txt 2>&1
  echo "tests tile $c rc=$? $(grep -cE '^\[       OK' /tmp/g/t_$c.txt) ok $(grep -E '^\[  FAILED' /tmp/g/t_$c.txt | head -3 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
done
timeout 80 env SEER_EXP_TILE=2 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.PrefillAndRope*:CudaGate.ModelForward*' > /tmp/g/memcheck.txt 2>&1
echo "memcheck tile 2 rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
cd /tmp/g && tar czf $OUT/c5.tgz *.txt
