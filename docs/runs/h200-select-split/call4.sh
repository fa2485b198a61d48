#!/usr/bin/env bash
# Call 4: the final tree (Top-K and softmax-rule instantiations, the mass cut's early stop; no counting search): CudaGate tests, gate bench.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 && ninja -C /tmp/bf > $OUT/build.log 2>&1 || { grep error -A3 $OUT/build.log | head -30; exit 1; }
echo "build $(( $(date +%s) - t0 )) s"
timeout 150 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.*' > $OUT/tests_gate.log 2>&1; echo "gate tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests_gate.log | tail -2 | tr '\n' ' ')"
grep -E "^\[  FAILED" $OUT/tests_gate.log | head
timeout 60 /tmp/bf/bench_cuda_attention --gates > $OUT/gates.txt 2>&1; echo "bench rc=$?"
grep -E "gate\+rope|select|Qproj" $OUT/gates.txt
rm -f $OUT/configure.log $OUT/build.log
echo "total $(( $(date +%s) - t0 )) s"
