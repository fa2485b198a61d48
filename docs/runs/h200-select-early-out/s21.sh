#!/usr/bin/env bash
# Session 14, call 4: the final tree (HEAD + the select's early-out for rows of up to 512 blocks): all CUDA tests,
# memcheck and racecheck of the selection tests, the gate bench alternating HEAD (out/head/) and the tree, and
# the 32k Top-K select kernel's instruction mix and stalls under Nsight Compute.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_f.log 2>&1 && ninja -C /tmp/bf > /tmp/build_f.log 2>&1 || { echo "F build failed"; grep error -A3 /tmp/build_f.log | head -40; exit 1; }
rm -rf /tmp/th && mkdir /tmp/th && cp -r include src tests bench CMakeLists.txt cmake /tmp/th/ 2>/dev/null
cp out/head/gate.cu out/head/gate.cuh /tmp/th/src/kernels/cuda/ && cp out/head/cuda_gate.cpp /tmp/th/src/model/
cmake -S /tmp/th/tests/cuda -B /tmp/bh -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_h.log 2>&1 && ninja -C /tmp/bh bench_cuda_attention > /tmp/build_h.log 2>&1 || { echo "H build failed"; grep error -A3 /tmp/build_h.log | head -20; }
echo "builds $(( $(date +%s) - t0 )) s"
timeout 200 /tmp/bf/seer_cuda_tests > /tmp/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" /tmp/tests.txt | head
echo "tests $(( $(date +%s) - t0 )) s"
timeout 120 compute-sanitizer --tool memcheck /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.*Selection*' > /tmp/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/memcheck.txt | head -1)"
timeout 120 compute-sanitizer --tool racecheck /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.*Selection*' > /tmp/racecheck.txt 2>&1; echo "racecheck rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/racecheck.txt | head -1)"
echo "sanitizers $(( $(date +%s) - t0 )) s"
run() { local tag=$1 bin=$2; timeout 90 $bin --gates > /tmp/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'gate\+rope|top-k|Qproj mid' /tmp/g_$tag.txt | awk '{print $2, $(NF-4), $NF}' | tr '\n' ' ')"; }
for i in 1 2; do run h$i /tmp/bh/bench_cuda_attention; run f$i /tmp/bf/bench_cuda_attention; done
echo "bench $(( $(date +%s) - t0 )) s"
timeout 90 ncu --kernel-name regex:gate_select_kernel --launch-skip 3 --launch-count 1 --section WarpStateStats --section InstructionStats --section SourceCounters --section Occupancy /tmp/bf/bench_cuda_attention --gates 32768 > /tmp/ncu_sel.txt 2>&1; echo "ncu rc=$?"
timeout 90 ncu --kernel-name regex:gate_select_kernel --launch-skip 3 --launch-count 1 --section SourceCounters --page source --csv --print-source sass /tmp/bf/bench_cuda_attention --gates 32768 > /tmp/ncu_sel_sass.csv 2>&1; echo "ncu sass rc=$? $(wc -l < /tmp/ncu_sel_sass.csv) lines"
grep -E "gate_select|Duration|Warp Cycles Per Issued|Achieved Occupancy|Executed Instructions |Stall" /tmp/ncu_sel.txt | head -20
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests.txt g_*.txt memcheck.txt racecheck.txt ncu_sel.txt ncu_sel_sass.csv
