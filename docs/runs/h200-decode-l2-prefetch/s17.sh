#!/usr/bin/env bash
# Session 13, call 5: the decode scores kernel prefetching the entries of the CTAs 1..M waves later into L2 while the
# step kernel runs (SEER_EXP_DPREF = M; 0 = HEAD's kernel).
set -u
t0=$(date +%s)
V="0 1 2 3"
for M in $V; do
  cmake -S tests/cuda -B /tmp/d$M -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="-DSEER_EXP_DPREF=$M" > /tmp/configure$M.log 2>&1
  tgt="bench_cuda_attention"; [ $M = 2 ] && tgt="bench_cuda_attention seer_cuda_tests"
  ninja -C /tmp/d$M $tgt > /tmp/build$M.log 2>&1 || { echo "build $M failed"; grep error -A3 /tmp/build$M.log | head -20; exit 1; }
  echo "build $M $(( $(date +%s) - t0 )) s"
done
timeout 120 /tmp/d2/seer_cuda_tests --gtest_filter='CudaGate.*Decode*:CudaGate.Model*' > /tmp/tests2.txt 2>&1; echo "tests M=2 rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" /tmp/tests2.txt | head -5
run() { local M=$1 i=$2; timeout 60 /tmp/d$M/bench_cuda_attention --gates 0 > /tmp/g_d$M-$i.txt 2>&1; echo "M=$M rc=$? $(grep -E 'Qproj mid' /tmp/g_d$M-$i.txt | awk '{print $2, $7, $NF}' | tr '\n' ' ')"; }
for i in 1 2 3; do for M in $V; do run $M $i; done; done
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests2.txt g_d*.txt
