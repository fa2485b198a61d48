#!/usr/bin/env bash
# Call 3 (twenty-fourth session), model-free. Call 2 found the selection's wait-to-first-keys alone at ~2.9 us,
# as if its code came from memory after the wait. Two temporary switches (diff in c3/): SEER_EXP_DRY=1 runs
# the decode selection once before its wait on whatever the row holds, writing nothing (its code then in the
# instruction cache); SEER_EXP_EF=1 loads the scores kernel's entries with an L2 evict-first policy. The
# CudaGate suite with both on; the decode gate rows three times per configuration, alternating.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g3
SEER_EXP_DRY=1 SEER_EXP_EF=1 timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g3/tests.txt 2>&1
echo "CudaGate tests (both on) rc=$? $(grep -cE '^\[       OK' /tmp/g3/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g3/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
cfgs=("full" "SEER_EXP_DRY=1" "SEER_EXP_EF=1" "SEER_EXP_DRY=1 SEER_EXP_EF=1")
for r in 1 2 3; do for i in "${!cfgs[@]}"; do
  c=${cfgs[$i]}; [ "$c" = full ] && c=""
  env $c /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g3/a${i}_$r.txt 2>&1
done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for i in "${!cfgs[@]}"; do
  echo "== ${cfgs[$i]}"
  grep -hE 'graph' /tmp/g3/a${i}_*.txt | grep -v mass | cut -c1-80 | sort
done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g3 && tar czf $OUT/c3.tgz *.txt
