#!/usr/bin/env bash
# Call 15 (written in the twenty-fourth session, not run). Call 5's scores kernel staging its entries in shared
# memory by cp.async (6 CTAs per SM could stream 77% of the batch-16 cache while the step kernel runs) gained
# only 0.2 us. One explanation to test: the SMs were set up for the step kernel's small shared memory (its
# default carveout), so few staged CTAs fit beside it. staged_carveout.diff (on a copy, /tmp/s): the staged
# kernel (SEER_EXP_STAGED=1) and the largest shared-memory carveout for the step and staged kernels
# (SEER_EXP_CARVE=1). Decode tests with both on; the step rows for the four combinations, three times each.
set -u
t0=$(date +%s)
rm -rf /tmp/s && mkdir -p /tmp/s && cp -r CMakeLists.txt include src tests bench /tmp/s/
(cd /tmp/s && git apply "$OLDPWD/docs/runs/h200-session24/staged_carveout.diff") || { echo "patch failed"; exit 1; }
cmake -S /tmp/s/tests/cuda -B /tmp/bs -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bs seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g15
SEER_EXP_STAGED=1 SEER_EXP_CARVE=1 timeout 120 /tmp/bs/seer_cuda_tests --gtest_filter='CudaGate.Decode*:CudaGate.ModelForward*' > /tmp/g15/tests.txt 2>&1
echo "staged+carve: decode tests rc=$? $(grep -cE '^\[       OK' /tmp/g15/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g15/tests.txt | head -5 | tr '\n' ' ')"
for r in 1 2 3; do for st in 0 1; do for cv in 0 1; do
  SEER_EXP_STAGED=$st SEER_EXP_CARVE=$cv /tmp/bs/bench_cuda_attention --gates 0 > /tmp/g15/dgate_s${st}_c${cv}_$r.txt 2>&1
done; done; done
for st in 0 1; do for cv in 0 1; do echo "== staged=$st carve=$cv"
  grep -hE 'graph' /tmp/g15/dgate_s${st}_c${cv}_*.txt | grep -E 'mid, (int8, )?graph' | cut -c1-80 | sort; done; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g15 && tar czf $OUT/c15.tgz *.txt
