#!/usr/bin/env bash
# Call 4 (twenty-fourth session), model-free. Call 3's tree (both switches off) ran the batch-16 int8 step in
# 26.1 us against HEAD's ~28.7, and the bf16 step 2 us slower. Which change does it: four builds of gate.cu /
# gate.cuh (var/<v>/, carried, not kept): head (HEAD 4722f60), sel (the selection's pass loop alone), ef
# (the scores' evict-first switch alone), both (call 3's tree). Decode gate rows three times each, alternating;
# ef and both also with SEER_EXP_EF=1.
set -u
t0=$(date +%s)
V=docs/runs/h200-session24/var
for v in head sel ef both; do
  rm -rf /tmp/t_$v && mkdir -p /tmp/t_$v && cp -r CMakeLists.txt include src tests bench /tmp/t_$v/
  cp $V/$v/gate.cu $V/$v/gate.cuh /tmp/t_$v/src/kernels/cuda/
  ( cmake -S /tmp/t_$v/tests/cuda -B /tmp/b_$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_$v.log 2>&1 &&
    ninja -C /tmp/b_$v -j4 bench_cuda_attention > /tmp/build_$v.log 2>&1 || echo "build $v failed" ) &
done
wait
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g4
runs=("head" "sel" "ef" "both" "ef SEER_EXP_EF=1" "both SEER_EXP_EF=1")
for r in 1 2 3; do for i in "${!runs[@]}"; do
  set -- ${runs[$i]}; v=$1; shift
  env "$@" /tmp/b_$v/bench_cuda_attention --gates 0 > /tmp/g4/r${i}_$r.txt 2>&1
done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for i in "${!runs[@]}"; do
  echo "== ${runs[$i]}"
  grep -hE 'graph' /tmp/g4/r${i}_*.txt | grep -E 'mid, (int8, )?graph|end, int8' | cut -c1-80 | sort
done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g4 && tar czf $OUT/c4.tgz *.txt
