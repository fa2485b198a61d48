#!/usr/bin/env bash
# Session 14, call 3: score kernel v3 (64-row tiles, 4 warps, K double-buffered, TF32 operands rounded by
# their producers). Builds: N = tree, C = tree with the cuBLAS score GEMM (-DSEER_EXP_CUBLAS_SCORES).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bn -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_n.log 2>&1 && ninja -C /tmp/bn > /tmp/build_n.log 2>&1 || { echo "N build failed"; grep error -A3 /tmp/build_n.log | head -40; exit 1; }
echo "build N $(( $(date +%s) - t0 )) s"
timeout 120 /tmp/bn/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" -A4 /tmp/tests.txt | head -20
cmake -S tests/cuda -B /tmp/bc -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="-DSEER_EXP_CUBLAS_SCORES=1" > /tmp/configure_c.log 2>&1 && ninja -C /tmp/bc bench_cuda_attention > /tmp/build_c.log 2>&1 || { echo "C build failed"; grep error -A3 /tmp/build_c.log | head -20; }
echo "builds $(( $(date +%s) - t0 )) s"
run() { local tag=$1 bin=$2; timeout 90 $bin --gates > /tmp/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'gate\+rope|top-k|Qproj mid' /tmp/g_$tag.txt | awk '{print $2, $(NF-4), $NF}' | tr '\n' ' ')"; }
for i in 1 2 3; do run c$i /tmp/bc/bench_cuda_attention; run n$i /tmp/bn/bench_cuda_attention; done
echo "bench $(( $(date +%s) - t0 )) s"
timeout 100 ncu --kernel-name regex:'gate_prefill_scores|s1688gemm' --launch-skip 2 --launch-count 2 --section SpeedOfLight --section WarpStateStats --section Occupancy --section SchedulerStats --section LaunchStats /tmp/bn/bench_cuda_attention --gates 32768 > /tmp/ncu_n.txt 2>&1; echo "ncu rc=$?"
grep -E "gate_prefill_scores|s1688|Duration|Warp Cycles Per Issued|Achieved Occupancy|Issue Slots Busy|Stall|No Eligible|Registers Per|Block Limit|Waves Per SM|Memory Throughput|Compute \(SM\)" /tmp/ncu_n.txt | head -60
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests.txt g_*.txt ncu_n.txt
