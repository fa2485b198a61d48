#!/usr/bin/env bash
# Call 2 (session 11): the fused score+select kernel: tests, bench, sanitizers.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure.log 2>&1 && ninja -C /tmp/bf > /tmp/build.log 2>&1 || { grep error -A3 /tmp/build.log | head -30; exit 1; }
echo "build $(( $(date +%s) - t0 )) s"
timeout 120 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.FusedScore*' > $OUT/t_fused.log 2>&1; echo "fused test rc=$? $(grep -E 'PASSED|FAILED' $OUT/t_fused.log | tail -2 | tr '\n' ' ')"
grep -B2 -A12 "Failure" $OUT/t_fused.log | head -40
timeout 60 /tmp/bf/bench_cuda_attention --gates > $OUT/gates.txt 2>&1; echo "bench rc=$?"
grep -E "gate\+rope|select|Qproj" $OUT/gates.txt
echo "t $(( $(date +%s) - t0 )) s"
timeout 200 /tmp/bf/seer_cuda_tests > $OUT/t_all.log 2>&1; echo "all tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/t_all.log | tail -3 | tr '\n' ' ')"
grep -E "^\[  FAILED" $OUT/t_all.log | head
echo "t $(( $(date +%s) - t0 )) s"
timeout 150 compute-sanitizer --tool memcheck --print-limit 5 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.FusedScore*:CudaGate.PrefillAndRope*:CudaGate.ModelForwardWithDeviceGates' > $OUT/memcheck.log 2>&1; echo "memcheck rc=$? $(tail -2 $OUT/memcheck.log | tr '\n' ' ')"
echo "t $(( $(date +%s) - t0 )) s"
timeout 180 compute-sanitizer --tool racecheck --print-limit 5 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.PrefillAndRope*:CudaGate.ModelForwardWithDeviceGates' > $OUT/racecheck.log 2>&1; echo "racecheck rc=$? $(tail -2 $OUT/racecheck.log | tr '\n' ' ')"
cd $OUT && tar czf logs.tgz *.log && rm -f *.log
echo "total $(( $(date +%s) - t0 )) s"
