#!/usr/bin/env bash
# Call 1 (thirty-third session), model-free: the decode step in one launch (cuda::run_gate_decode's fused
# path: a thread-block cluster per row). The standalone CUDA build, the new test first, then the decode gate
# rows at batch 1 and 16 (twice each: fused and three launches in the same run), then every CTest (which
# also runs CudaForward::prepare, compiled in session 32 but not run).
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/g1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
timeout 120 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FusedDecodeStep*' > /tmp/fused.txt 2>&1
echo "fused test rc=$? (t=$(el))"; grep -vE "^\[ RUN|^\[       OK" /tmp/fused.txt | tail -12 | cut -c1-400
for r in 1 2; do timeout 60 /tmp/bt/bench_cuda_attention --gates 0 1 > /tmp/dgate1_$r.txt 2>&1; echo "b1 rc=$?"; done
for r in 1 2; do timeout 60 /tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/dgate16_$r.txt 2>&1; echo "b16 rc=$?"; done
echo "gate benches (t=$(el))"
grep -HE 'graph' /tmp/dgate1_*.txt /tmp/dgate16_*.txt 2>/dev/null | grep -E 'folded|sel, graph' | cut -c1-110 | sed 's#/tmp/##'
(cd /tmp/bt && timeout 300 ctest --output-on-failure > $OUT/g1/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/g1/ctest.txt) (t=$(el))"
grep -E "^\s+[0-9]+ - " $OUT/g1/ctest.txt | head -10
grep -E "Failure|failed" -A6 $OUT/g1/ctest.txt | head -30 | cut -c1-300
cd /tmp && tar czf $OUT/g1/logs.tgz fused.txt dgate*.txt build.log 2>/dev/null
echo "total (t=$(el))"
