#!/usr/bin/env bash
# Session 13, call 1: the pooling pass with an L2 prefetch of its CTA's rows (SEER_EXP_PREFETCH 0 none,
# 1 cp.async.bulk.prefetch.L2 per row, 2 prefetch.global.L2 per 128 B line).
set -u
t0=$(date +%s)
for P in 0 1 2; do
  cmake -S tests/cuda -B /tmp/p$P -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="-DSEER_EXP_PREFETCH=$P" > /tmp/configure$P.log 2>&1
  tgt="bench_cuda_attention"; [ $P = 1 ] && tgt="bench_cuda_attention seer_cuda_tests"
  ninja -C /tmp/p$P $tgt > /tmp/build$P.log 2>&1 || { echo "build $P failed"; grep error -A3 /tmp/build$P.log | head -20; exit 1; }
  echo "build $P $(( $(date +%s) - t0 )) s"
done
timeout 120 /tmp/p1/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/tests1.txt 2>&1; echo "tests P=1 rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" /tmp/tests1.txt | head -5
run() { local P=$1 i=$2; timeout 60 /tmp/p$P/bench_cuda_attention --gates > /tmp/g_p$P-$i.txt 2>&1; echo "P=$P rc=$? $(grep -E 'gate\+rope' /tmp/g_p$P-$i.txt | awk '{print $2, $7}' | tr '\n' ' ')"; }
for i in 1 2; do run 0 $i; run 1 $i; run 2 $i; done
echo "bench done $(( $(date +%s) - t0 )) s"
for P in 0 1 2; do
  timeout 90 ncu --csv --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_sector_hit_rate.pct -k regex:gate_pool --launch-skip 24 --launch-count 4 /tmp/p$P/bench_cuda_attention --gates 32768 > /tmp/ncu_p$P.txt 2>&1
  echo "ncu P=$P"; grep -E '"gate_pool|gpu__time|dram__|lts__' /tmp/ncu_p$P.txt | awk -F'","' '{print $(NF-2), $(NF-1), $NF}' | tail -12
done
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests1.txt g_p*.txt ncu_p*.txt
