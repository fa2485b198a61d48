#!/usr/bin/env bash
# Call 10 (twenty-second session), model-free: the decode step kernel (gate_decode_project_kernel) with 256
# (HEAD), 512 and 1024 threads (-DSEER_EXP_PROJ_THREADS, a temporary switch): the projections' rows spread over
# 8, 16 or 32 warps, so each warp has 4, 2 or 1 batches of 16 rows' loads. The decode CudaGate tests on 512 and
# 1024; the decode gate rows (--gates 0) twice per build, alternating.
set -u
t0=$(date +%s)
for n in 256 512 1024; do
  cmake -S tests/cuda -B /tmp/b$n -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS=-DSEER_EXP_PROJ_THREADS=$n > /tmp/cfg$n.log 2>&1 &&
    ninja -C /tmp/b$n seer_cuda_tests bench_cuda_attention > /tmp/build$n.log 2>&1 || { echo "build $n failed"; grep -E "error" -A3 /tmp/build$n.log | head -20; exit 1; }
done
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g6
for n in 512 1024; do
  timeout 100 /tmp/b$n/seer_cuda_tests --gtest_filter='CudaGate.Decode*:CudaGate.Model*' > /tmp/g6/tests_$n.txt 2>&1
  echo "tests $n rc=$? $(grep -cE '^\[       OK' /tmp/g6/tests_$n.txt) ok $(grep -E '^\[  FAILED' /tmp/g6/tests_$n.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
done
for r in 1 2; do for n in 256 512 1024; do /tmp/b$n/bench_cuda_attention --gates 0 > /tmp/g6/dgate_${n}_$r.txt 2>&1; done; done
for n in 256 512 1024; do echo "== $n threads"; grep -hE "graph|Qproj mid|mid, int8 " /tmp/g6/dgate_${n}_*.txt | cut -c1-112; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g6 && tar czf $OUT/c6.tgz *.txt
