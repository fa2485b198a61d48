#!/usr/bin/env bash
# Call 4 (session 11): the scoring prefill forked (key side on a second stream while the Q heads are pooled).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure.log 2>&1 && ninja -C /tmp/bf > /tmp/build.log 2>&1 || { grep error -A3 /tmp/build.log | head -30; exit 1; }
echo "build $(( $(date +%s) - t0 )) s"
for i in 1 2; do
  timeout 60 /tmp/bf/bench_cuda_attention --gates > $OUT/gates$i.txt 2>&1; echo "== bench $i rc=$?"
  grep -E "gate\+rope|select|Qproj" $OUT/gates$i.txt
done
echo "t $(( $(date +%s) - t0 )) s"
timeout 200 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.*' > $OUT/t_all.log 2>&1; echo "all tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/t_all.log | tail -3 | tr '\n' ' ')"
grep -E "^\[  FAILED" $OUT/t_all.log | head
echo "t $(( $(date +%s) - t0 )) s"
F='CudaGate.Pooling*:CudaGate.PrefillScores*:CudaGate.PrefillAndRope*:CudaGate.ModelForwardWithDeviceGates'
timeout 120 compute-sanitizer --tool memcheck --print-limit 5 /tmp/bf/seer_cuda_tests --gtest_filter="$F" > $OUT/memcheck.log 2>&1; echo "memcheck rc=$? $(tail -2 $OUT/memcheck.log | tr '\n' ' ')"
echo "t $(( $(date +%s) - t0 )) s"
cd $OUT && tar czf logs.tgz *.log && rm -f *.log
echo "total $(( $(date +%s) - t0 )) s"
