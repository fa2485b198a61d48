#!/usr/bin/env bash
# Session 15, call 6: the decode selection (one CTA per row) with the +inf-aware value bins, for gates trained
# without block 0 (sink_excluded: the shipped decode gates rank block 0 first as +inf, so every row went to the
# radix passes). The bench's new `mid, 0 out` row times that step. Builds: H = HEAD's gate.cu / cuda_gate.cpp
# (out/head/) with the tree's bench, N = the tree. `--gates 0` (decode only) alternating, the selection and
# decode tests on N, memcheck and racecheck of the decode selection test.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bn -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_n.log 2>&1 && ninja -C /tmp/bn > /tmp/build_n.log 2>&1 || { echo "N build failed"; grep error -A3 /tmp/build_n.log | head -40; exit 1; }
rm -rf /tmp/th && mkdir /tmp/th && cp -r include src tests bench CMakeLists.txt cmake /tmp/th/ 2>/dev/null
cp out/head/gate.cu out/head/gate.cuh /tmp/th/src/kernels/cuda/ && cp out/head/cuda_gate.cpp /tmp/th/src/model/
cmake -S /tmp/th/tests/cuda -B /tmp/bh -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_h.log 2>&1 && ninja -C /tmp/bh bench_cuda_attention > /tmp/build_h.log 2>&1 || { echo "H build failed"; grep error -A3 /tmp/build_h.log | head -20; }
echo "builds $(( $(date +%s) - t0 )) s"
run() { local tag=$1 bin=$2; timeout 60 $bin --gates 0 > /tmp/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'Qproj mid|0 out' /tmp/g_$tag.txt | awk '{print $2, $4, $(NF-4), $NF}' | tr '\n' ' ')"; }
for i in 1 2 3; do run h$i /tmp/bh/bench_cuda_attention; run n$i /tmp/bn/bench_cuda_attention; done
echo "bench $(( $(date +%s) - t0 )) s"
timeout 200 /tmp/bn/seer_cuda_tests > /tmp/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" /tmp/tests.txt | head
timeout 60 compute-sanitizer --tool memcheck /tmp/bn/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelection*' > /tmp/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/memcheck.txt | head -1)"
timeout 90 compute-sanitizer --tool racecheck /tmp/bn/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelection*' > /tmp/racecheck.txt 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' /tmp/racecheck.txt | head -1)"
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests.txt g_*.txt memcheck.txt racecheck.txt
