#!/usr/bin/env bash
# Call 2 (twenty-fourth session), model-free: where the decode gate step's time goes in a graph. Temporary
# switches (diff ablation_not_kept.diff) end each kernel early: SEER_EXP_SEL=0 the selection right after its
# wait, =1 after loading its keys, =2 after the k-th largest; SEER_EXP_SC=0 the scores kernel after its wait
# (entries loaded, no sums); SEER_EXP_PROJ=0 the step kernel at once. Each configuration twice, alternating.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g2
cfgs=("full" "SEER_EXP_SEL=2" "SEER_EXP_SEL=1" "SEER_EXP_SEL=0" "SEER_EXP_SEL=0 SEER_EXP_SC=0" "SEER_EXP_SEL=0 SEER_EXP_SC=0 SEER_EXP_PROJ=0" "SEER_EXP_PROJ=0" "SEER_EXP_SC=0" "SEER_EXP_SEL=0 SEER_EXP_PROJ=0")
for r in 1 2; do for i in "${!cfgs[@]}"; do
  c=${cfgs[$i]}; [ "$c" = full ] && c=""
  env $c /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g2/a${i}_$r.txt 2>&1
done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for i in "${!cfgs[@]}"; do
  echo "== ${cfgs[$i]}"
  grep -hE 'mid, (int8, )?graph' /tmp/g2/a${i}_*.txt | cut -c1-80 | sort
done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g2 && tar czf $OUT/c2.tgz *.txt
