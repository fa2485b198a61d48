#!/usr/bin/env bash
# Session 12, call 2: the pooling pass takes two average-only query heads per token loop (one RoPE table read
# for both). Tests + sanitizers on the new tree, then the gate bench alternating HEAD (out/gate_head.cu) and new.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure.log 2>&1 && ninja -C /tmp/bf > /tmp/build.log 2>&1 || { grep error -A3 /tmp/build.log | head -40; exit 1; }
rm -rf /tmp/th && mkdir /tmp/th && cp -r include src tests bench CMakeLists.txt cmake /tmp/th/ 2>/dev/null; cp out/gate_head.cu /tmp/th/src/kernels/cuda/gate.cu
cmake -S /tmp/th/tests/cuda -B /tmp/bh -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_h.log 2>&1 && ninja -C /tmp/bh bench_cuda_attention > /tmp/build_h.log 2>&1 || { echo "head build failed"; grep error -A3 /tmp/build_h.log | head -20; }
echo "builds $(( $(date +%s) - t0 )) s"
timeout 200 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.*:CudaModel.*Gate*' > /tmp/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|tests ran" /tmp/tests.txt | head
echo "tests $(( $(date +%s) - t0 )) s"
run() { local tag=$1 bin=$2; timeout 60 $bin --gates > /tmp/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'gate\+rope' /tmp/g_$tag.txt | awk '{print $2, $7}' | tr '\n' ' ')"; }
for i in 1 2 3; do run head$i /tmp/bh/bench_cuda_attention; run new$i /tmp/bf/bench_cuda_attention; done
echo "bench $(( $(date +%s) - t0 )) s"
timeout 100 compute-sanitizer --tool memcheck /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.Pooling*:CudaGate.PrefillAndRope*' > /tmp/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/memcheck.txt | head -1)"
timeout 100 compute-sanitizer --tool racecheck /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.Pooling*:CudaGate.PrefillAndRope*' > /tmp/racecheck.txt 2>&1; echo "racecheck rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/racecheck.txt | head -1)"
echo "total $(( $(date +%s) - t0 )) s"
cp /tmp/g_head1.txt /tmp/g_new1.txt $OUT/ ; cd /tmp && tar czf $OUT/logs.tgz tests.txt g_*.txt memcheck.txt racecheck.txt
