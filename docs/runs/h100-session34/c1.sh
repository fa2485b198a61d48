#!/usr/bin/env bash
# Call 1 (thirty-fourth session), model-free: the decode step kernel's project_q written as make_q && not
# Qavg (the review's derivable flag). The standalone CUDA build, every CTest, memcheck of the decode gate
# tests, and the decode gate rows at batch 1 and 16.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/c1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
git log -1 --format='tree of %h' 2>/dev/null
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
(cd /tmp/bt && timeout 300 ctest --output-on-failure > $OUT/c1/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c1/ctest.txt) (t=$(el))"
grep -E "Failure|failed" -A6 $OUT/c1/ctest.txt | head -30 | cut -c1-300
timeout 240 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.Decode*' > $OUT/c1/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/c1/memcheck.txt | tail -1) (t=$(el))"
for r in 1 2; do timeout 60 /tmp/bt/bench_cuda_attention --gates 0 1 > $OUT/c1/dgate1_$r.txt 2>&1; echo "b1 rc=$?"; done
for r in 1 2; do timeout 60 /tmp/bt/bench_cuda_attention --gates 0 16 > $OUT/c1/dgate16_$r.txt 2>&1; echo "b16 rc=$?"; done
echo "gate benches (t=$(el))"
grep -HE 'graph' $OUT/c1/dgate1_*.txt $OUT/c1/dgate16_*.txt 2>/dev/null | grep -E 'folded|sel, graph' | cut -c1-120 | sed "s#$OUT/##"
echo "total (t=$(el))"
