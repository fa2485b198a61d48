#!/usr/bin/env bash
# Call 4 (nineteenth session): every figure of BENCHMARKS.md's "At a glance" table at one commit, with the peers in
# the same call: bench_cuda_attention (all rows), torch_baseline.py (SDPA cuDNN / flash, FlexAttention, SDPA
# decode), bench_cuda_model --model all (end to end, SmolLM2 and Llama-3.1-8B shapes).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt bench_cuda_attention bench_cuda_model > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
timeout 230 /tmp/bt/bench_cuda_attention > /tmp/bench.txt 2>&1; echo "bench rc=$? (t=$(( $(date +%s) - t0 )))"
timeout 170 python3 bench/cuda/torch_baseline.py > /tmp/torch.txt 2>&1; echo "torch rc=$? (t=$(( $(date +%s) - t0 )))"
timeout 130 /tmp/bt/bench_cuda_model --model all > /tmp/model.txt 2>&1; echo "model rc=$? (t=$(( $(date +%s) - t0 )))"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > /tmp/env.txt
cd /tmp && tar czf $OUT/c4.tgz bench.txt torch.txt model.txt env.txt
grep -E "^prefill|^decode|^gate|^select|^plan" /tmp/bench.txt | grep -v "mma.sync" | cut -c1-110 | head -60
grep -vi warning /tmp/torch.txt | tail -14
tail -12 /tmp/model.txt
