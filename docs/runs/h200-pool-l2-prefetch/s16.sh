#!/usr/bin/env bash
# Session 13, call 2: the pooling pass's tokens in flight through a cp.async ring (SEER_EXP_STAGES S,
# SEER_EXP_MINB CTAs per SM in __launch_bounds__).
set -u
t0=$(date +%s)
V="0_8 4_8 2_7 3_7 4_7"
for v in $V; do
  S=${v%_*}; M=${v#*_}
  cmake -S tests/cuda -B /tmp/v$v -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="-DSEER_EXP_STAGES=$S -DSEER_EXP_MINB=$M" > /tmp/configure$v.log 2>&1
  tgt="bench_cuda_attention"; case $v in 3_7|4_7) tgt="bench_cuda_attention seer_cuda_tests";; esac
  ninja -C /tmp/v$v $tgt > /tmp/build$v.log 2>&1 || { echo "build $v failed"; grep error -A3 /tmp/build$v.log | head -20; exit 1; }
  echo "build $v $(( $(date +%s) - t0 )) s"
done
for v in 3_7 4_7; do
timeout 120 /tmp/v$v/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/tests$v.txt 2>&1; echo "tests $v rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" /tmp/tests$v.txt | head -5
done
run() { local v=$1 i=$2; timeout 60 /tmp/v$v/bench_cuda_attention --gates > /tmp/g_v$v-$i.txt 2>&1; echo "v=$v rc=$? $(grep -E 'gate\+rope' /tmp/g_v$v-$i.txt | awk '{print $2, $7}' | tr '\n' ' ')"; }
for i in 1 2; do for v in $V; do run $v $i; done; done
echo "bench done $(( $(date +%s) - t0 )) s"
for v in 0_8 3_7 4_7; do
  timeout 90 ncu --csv --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed -k regex:gate_pool --launch-skip 24 --launch-count 2 /tmp/v$v/bench_cuda_attention --gates 32768 > /tmp/ncu_v$v.txt 2>&1
  echo "ncu $v $(grep -E 'gpu__time|dram__' /tmp/ncu_v$v.txt | awk -F'","' '{print $NF}' | tr -d '"' | tr '\n' ' ')"
done
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests*.txt g_v*.txt ncu_v*.txt
