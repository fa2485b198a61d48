#!/usr/bin/env bash
# Session 12, call 3: the committed tree (2b46cf5): full CUDA suite, sanitizers on the changed paths, gate bench x2,
# whole-model bench.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure.log 2>&1 && ninja -C /tmp/bf > /tmp/build.log 2>&1 || { grep error -A3 /tmp/build.log | head -40; exit 1; }
echo "build $(( $(date +%s) - t0 )) s"
timeout 300 /tmp/bf/seer_cuda_tests > /tmp/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|tests ran|SKIPPED" /tmp/tests.txt | head
echo "tests $(( $(date +%s) - t0 )) s"
timeout 120 compute-sanitizer --tool memcheck /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.Pooling*:CudaGate.PrefillScores*:CudaGate.PrefillAndRope*:CudaGate.ModelForward*' > /tmp/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/memcheck.txt | head -1)"
for i in 1 2; do timeout 60 /tmp/bf/bench_cuda_attention --gates > /tmp/gates$i.txt 2>&1; echo "gates$i rc=$? $(grep -E 'gate\+rope' /tmp/gates$i.txt | awk '{print $2, $7, $NF}' | tr '\n' ' ')"; done
grep -E "Qproj|select" /tmp/gates1.txt
timeout 150 /tmp/bf/bench_cuda_model --model all > /tmp/model.txt 2>&1; echo "model rc=$?"; tail -n 30 /tmp/model.txt
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests.txt memcheck.txt gates1.txt gates2.txt model.txt
