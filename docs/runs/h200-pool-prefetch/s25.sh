#!/usr/bin/env bash
# Session 15, call 4: the pooling pass with the model's RoPE loading its next chunk before this chunk's
# arithmetic and stores. Builds: H = HEAD (out/head/), A = the tree (chunk 1, 6 CTAs per SM, no spill),
# B = chunk 1 at 8 CTAs per SM (spills), D = chunk 2 at 5 CTAs per SM. The gate bench alternating, every
# CUDA test on A, memcheck of the pooling tests on A.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/ba -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_a.log 2>&1 && ninja -C /tmp/ba > /tmp/build_a.log 2>&1 || { echo "A build failed"; grep error -A3 /tmp/build_a.log | head -40; exit 1; }
rm -rf /tmp/th && mkdir /tmp/th && cp -r include src tests bench CMakeLists.txt cmake /tmp/th/ 2>/dev/null
cp out/head/gate.cu out/head/gate.cuh /tmp/th/src/kernels/cuda/ && cp out/head/cuda_gate.cpp /tmp/th/src/model/
cmake -S /tmp/th/tests/cuda -B /tmp/bh -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_h.log 2>&1 && ninja -C /tmp/bh bench_cuda_attention > /tmp/build_h.log 2>&1 || { echo "H build failed"; grep error -A3 /tmp/build_h.log | head -20; }
for v in "b -DSEER_EXP_POOL_MINB=8 -DSEER_EXP_ROPE_CHUNK=1" "d -DSEER_EXP_POOL_MINB=5 -DSEER_EXP_ROPE_CHUNK=2"; do
  set -- $v; tag=$1; shift
  cmake -S tests/cuda -B /tmp/b$tag -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="$*" > /tmp/configure_$tag.log 2>&1 && ninja -C /tmp/b$tag bench_cuda_attention > /tmp/build_$tag.log 2>&1 || { echo "$tag build failed"; grep error -A3 /tmp/build_$tag.log | head -20; }
done
echo "builds $(( $(date +%s) - t0 )) s"
run() { local tag=$1 bin=$2; timeout 90 $bin --gates > /tmp/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'gate\+rope|^rope' /tmp/g_$tag.txt | awk '{print $2, $(NF-4), $NF}' | tr '\n' ' ')"; }
for i in 1 2; do for v in h a b d; do run $v$i /tmp/b$v/bench_cuda_attention; done; done
echo "bench $(( $(date +%s) - t0 )) s"
timeout 200 /tmp/ba/seer_cuda_tests > /tmp/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" /tmp/tests.txt | head
timeout 100 compute-sanitizer --tool memcheck /tmp/ba/seer_cuda_tests --gtest_filter='CudaGate.Pooling*:CudaGate.PrefillAndRope*' > /tmp/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/memcheck.txt | head -1)"
timeout 60 ncu --clock-control none --kernel-name regex:gate_pool_kernel --launch-skip 2 --launch-count 2 --section SpeedOfLight --section Occupancy --section WarpStateStats /tmp/ba/bench_cuda_attention --gates 32768 > /tmp/ncu_pool_a.txt 2>&1; echo "ncu rc=$?"
grep -E "gate_pool|Duration|DRAM Throughput|Achieved Occupancy|Warp Cycles Per Issued" /tmp/ncu_pool_a.txt | head -12
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests.txt g_*.txt memcheck.txt ncu_pool_a.txt
