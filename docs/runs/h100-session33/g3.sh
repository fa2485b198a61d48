#!/usr/bin/env bash
# Call 3 (thirty-third session), model-free: the fused decode step with every cluster exchange's loads in flight
# at once (cluster_sum; a lane per CTA), the query's constants loaded before the wait (make_folded_query), and
# the fused path only where every row's cluster is resident at once (one wave). The fold, fused and model
# tests, then the decode gate rows at batch 1 (twice) and 16.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FusedDecodeStep*:CudaGate.FoldedQuery*:CudaGate.Model*:CudaGate.DecodeGraph*:CudaGate.DecodeMass*' > /tmp/t.txt 2>&1
echo "tests rc=$? (t=$(el))"; grep -E "PASSED|FAILED|Failure|fused decode|tests ran" /tmp/t.txt | head -12 | cut -c1-300
for r in 1 2; do timeout 60 /tmp/bt/bench_cuda_attention --gates 0 1 > /tmp/b1_$r.txt 2>&1; done
timeout 60 /tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/b16.txt 2>&1
grep -HE 'graph' /tmp/b1_*.txt /tmp/b16.txt | grep -E 'folded|sel, graph' | cut -c1-100 | sed 's#/tmp/##'
echo "total (t=$(el))"
