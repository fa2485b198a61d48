#!/usr/bin/env bash
# Call 3 (twenty-fifth session), model-free: the tree with the +inf bins for the decode CTA (kept from call 1's
# c12 of docs/runs/h200-session24/) and the statistics merge in one helper: the whole CUDA suite, racecheck and
# memcheck of the decode selection test, the decode gate rows three times.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p $OUT/c3
(cd /tmp/bt && timeout 300 ctest --output-on-failure > $OUT/c3/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c3/ctest.txt)"
timeout 120 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu' > $OUT/c3/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/c3/racecheck.txt | tail -1)"
timeout 120 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu' > $OUT/c3/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/c3/memcheck.txt | tail -1) (t=$(( $(date +%s) - t0 )))"
for r in 1 2 3; do /tmp/bt/bench_cuda_attention --gates 0 > $OUT/c3/dgate_$r.txt 2>&1; done
grep -hE 'graph' $OUT/c3/dgate_*.txt | grep -E 'mid, (int8, |0 out, )?graph' | cut -c1-80 | sort
echo "total (t=$(( $(date +%s) - t0 )))"
