#!/usr/bin/env bash
# Call 2 (thirty-third session), model-free: the fused decode step with the current block's entry loaded before
# the wait (reloaded only by the steps that write it), its test, and an ablation (ablation.diff, not kept): the
# fused step ended at points along its chain (1: after the wait; 2: after the scores; 3: after the first cluster
# exchange; 4: after the k-th largest; 0: whole), batch 1 twice and 16 once. Then s1.sh's sweep for the plots.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
timeout 100 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FusedDecodeStep*:CudaGate.ModelForwardWithDeviceGates' > /tmp/fused.txt 2>&1
echo "tests rc=$? (t=$(el))"; grep -E "PASSED|FAILED|Failure|fused decode" /tmp/fused.txt | head -8 | cut -c1-300
for r in 1 2; do SEER_FUSED_ABLATION=1 timeout 60 /tmp/bt/bench_cuda_attention --gates 0 1 > /tmp/ab1_$r.txt 2>&1; done
SEER_FUSED_ABLATION=1 timeout 60 /tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/ab16.txt 2>&1
grep -HE 'graph' /tmp/ab1_*.txt /tmp/ab16.txt | grep -E 'int8, folded|fused stop|sel, graph' | cut -c1-100 | sed 's#/tmp/##'
echo "ablation (t=$(el))"
timeout 220 /tmp/bt/bench_cuda_attention --sweep > $OUT/sweep.txt 2>&1; echo "sweep rc=$? (t=$(el))"
timeout 200 python3 bench/cuda/torch_baseline.py --sweep >> $OUT/sweep.txt 2>&1; echo "torch rc=$? (t=$(el))"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >> $OUT/sweep.txt
grep -c '^tsv' $OUT/sweep.txt
