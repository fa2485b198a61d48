#!/usr/bin/env bash
# Call 5 (twenty-fourth session), model-free. Call 4's finding, read in the SASS here (cuobjdump): ptxas puts
# the decode scores kernel's griddepcontrol.wait (ACQBULK) before every entry load (ld.global.nc, __ldg), so
# the early launch streams nothing while the step kernel runs. Builds (var/<v>/gate.cu, carried, not kept):
# head = HEAD 4722f60; c = the loads as __ldcg (ld.global.cg: ptxas keeps them before the wait), and with
# SEER_EXP_STAGED=1 the entries staged in shared memory by cp.async before the wait (128 threads, 32 KB);
# b = c's __ldcg loads with __launch_bounds__(256, 4) (3 scores CTAs beside the step kernel instead of 2).
# The decode CudaGate tests on c both ways; decode gate rows three times per configuration, alternating.
set -u
t0=$(date +%s)
V=docs/runs/h200-session24/var
for v in head c b; do
  rm -rf /tmp/t_$v && mkdir -p /tmp/t_$v && cp -r CMakeLists.txt include src tests bench /tmp/t_$v/
  cp $V/$v/gate.cu /tmp/t_$v/src/kernels/cuda/
  tg=bench_cuda_attention; [ $v = c ] && tg="bench_cuda_attention seer_cuda_tests"
  ( cmake -S /tmp/t_$v/tests/cuda -B /tmp/b_$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_$v.log 2>&1 &&
    ninja -C /tmp/b_$v -j5 $tg > /tmp/build_$v.log 2>&1 || { echo "build $v failed"; grep error -A3 /tmp/build_$v.log | head; } ) &
done
wait
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g5
for st in 0 1; do
  SEER_EXP_STAGED=$st timeout 200 /tmp/b_c/seer_cuda_tests --gtest_filter='CudaGate.Decode*:CudaGate.ModelForward*' > /tmp/g5/tests_c_staged$st.txt 2>&1
  echo "c, staged=$st: decode tests rc=$? $(grep -cE '^\[       OK' /tmp/g5/tests_c_staged$st.txt) ok $(grep -E '^\[  FAILED' /tmp/g5/tests_c_staged$st.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
done
runs=("head" "c" "c SEER_EXP_STAGED=1" "b")
for r in 1 2 3; do for i in "${!runs[@]}"; do
  set -- ${runs[$i]}; v=$1; shift
  env "$@" /tmp/b_$v/bench_cuda_attention --gates 0 > /tmp/g5/r${i}_$r.txt 2>&1
done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for i in "${!runs[@]}"; do
  echo "== ${runs[$i]}"
  grep -hE 'graph' /tmp/g5/r${i}_*.txt | grep -E 'mid, (int8, )?graph|end, int8' | cut -c1-80 | sort
done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g5 && tar czf $OUT/c5.tgz *.txt
