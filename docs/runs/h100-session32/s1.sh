#!/usr/bin/env bash
# Prepared for the next GPU session (model-free, ~6 minutes): the data of BENCHMARKS' two plots on an H100, the
# issue's device (the PNGs in docs/img are an H200's sweep): the standalone build, `bench_cuda_attention --sweep` and
# `torch_baseline.py --sweep` into $OUT/sweep.txt. Plot it here with
#   scripts/plot-cuda-bench.sh <files_at>/sweep.txt docs/img/cuda "H100"
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
timeout 230 /tmp/bt/bench_cuda_attention --sweep > $OUT/sweep.txt 2>&1; echo "sweep rc=$? (t=$(( $(date +%s) - t0 )))"
timeout 230 python3 bench/cuda/torch_baseline.py --sweep >> $OUT/sweep.txt 2>&1; echo "torch rc=$? (t=$(( $(date +%s) - t0 )))"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >> $OUT/sweep.txt
grep -c '^tsv' $OUT/sweep.txt
