#!/usr/bin/env bash
# Session 12, call 5: the pooling pass with 1, 2 or 4 blocks per CTA (SEER_EXP_POOL_BLOCKS).
set -u
t0=$(date +%s)
for B in 1 2 4; do
  cmake -S tests/cuda -B /tmp/b$B -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="-DSEER_EXP_POOL_BLOCKS=$B" > /tmp/configure$B.log 2>&1
  tgt="bench_cuda_attention"; [ $B = 2 ] && tgt="bench_cuda_attention seer_cuda_tests"
  ninja -C /tmp/b$B $tgt > /tmp/build$B.log 2>&1 || { echo "build $B failed"; grep error -A3 /tmp/build$B.log | head -20; exit 1; }
done
echo "builds $(( $(date +%s) - t0 )) s"
timeout 60 /tmp/b2/seer_cuda_tests --gtest_filter='CudaGate.Pooling*:CudaGate.PrefillAndRope*:CudaGate.PrefillScores*:CudaGate.ModelForward*' > /tmp/tests2.txt 2>&1; echo "tests B=2 rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" /tmp/tests2.txt | head -5
run() { local B=$1 i=$2; timeout 60 /tmp/b$B/bench_cuda_attention --gates > /tmp/g_b$B-$i.txt 2>&1; echo "B=$B rc=$? $(grep -E 'gate\+rope' /tmp/g_b$B-$i.txt | awk '{print $2, $7}' | tr '\n' ' ')"; }
for i in 1 2; do run 1 $i; run 2 $i; run 4 $i; done
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests2.txt g_b*.txt
