#!/usr/bin/env bash
# Call (twenty-first session): a K-only gate's keys projected and rotated in one kernel (run_gate_k_project_rope,
# TF32 mma.sync with the RoPE in its epilogue) in place of the cuBLAS GEMM and the RoPE pass. The CudaGate tests
# (all but the long selection test, which this change does not touch); memcheck and racecheck of
# CudaGate.PrefillScoresMatchCpuGate; the prefill gate step at 32k, new kernel and old path (SEER_EXP_KPROJ_GEMM=1,
# a temporary switch) alternating three times, 8k and 128k once each; Nsight Compute of the key side at 32k.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
grep -A2 "gate_k_project_rope" /tmp/build.log | grep -iE "spill|registers" | head -4
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g2
timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.*:-CudaGate.PrefillSelectionMatchesCpu' > /tmp/g2/tests.txt 2>&1
echo "CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g2/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g2/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -B3 -A3 "Failure" /tmp/g2/tests.txt | head -20
for r in 1 2 3; do
  /tmp/bt/bench_cuda_attention --gates 32768 > /tmp/g2/new_32k_$r.txt 2>&1
  SEER_EXP_KPROJ_GEMM=1 /tmp/bt/bench_cuda_attention --gates 32768 > /tmp/g2/old_32k_$r.txt 2>&1
done
for T in 8192 131072; do
  /tmp/bt/bench_cuda_attention --gates $T > /tmp/g2/new_$T.txt 2>&1
  SEER_EXP_KPROJ_GEMM=1 /tmp/bt/bench_cuda_attention --gates $T > /tmp/g2/old_$T.txt 2>&1
done
for f in /tmp/g2/new_32k_* /tmp/g2/old_32k_* /tmp/g2/new_8192.txt /tmp/g2/old_8192.txt /tmp/g2/new_131072.txt /tmp/g2/old_131072.txt; do
  echo "$(basename $f): $(grep -hE 'gate\+rope - rope' $f | cut -c1-100)"; done
echo "(t=$(( $(date +%s) - t0 )))"
timeout 150 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.PrefillScoresMatchCpuGate' > /tmp/g2/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g2/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 150 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.PrefillScoresMatchCpuGate' > /tmp/g2/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g2/racecheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 120 ncu --clock-control none --kernel-name regex:'gate_k_project|gate_rope_rows|gemm' --launch-skip 0 --launch-count 12 \
  --metrics gpu__time_duration.sum /tmp/bt/bench_cuda_attention --gates 32768 > /tmp/g2/ncu_new.txt 2>&1
SEER_EXP_KPROJ_GEMM=1 timeout 120 ncu --clock-control none --kernel-name regex:'gate_k_project|gate_rope_rows|gemm' --launch-skip 0 --launch-count 12 \
  --metrics gpu__time_duration.sum /tmp/bt/bench_cuda_attention --gates 32768 > /tmp/g2/ncu_old.txt 2>&1
grep -E "^  [a-z_]|gpu__time" /tmp/g2/ncu_new.txt | paste - - | awk '{print $1, $(NF)}' | head -12
echo ---; grep -E "^  [a-z_]|gpu__time" /tmp/g2/ncu_old.txt | paste - - | awk '{print $1, $(NF)}' | head -12
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g2 && tar czf $OUT/c2.tgz *.txt
