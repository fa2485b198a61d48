#!/usr/bin/env bash
# Final call (twentieth session), the tree of HEAD: the whole CUDA suite; memcheck of the decode selection test
# (its mass rows, register and memory paths) and of the model test under the mass rule; racecheck of the latter;
# the decode gate rows (--gates 0) once.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g4
timeout 300 /tmp/bt/seer_cuda_tests > /tmp/g4/tests.txt 2>&1
echo "all CUDA tests rc=$? $(grep -cE '^\[       OK' /tmp/g4/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g4/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
timeout 150 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu:CudaGate.DecodeMassRuleInTheModel' > /tmp/g4/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g4/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 60 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeMassRuleInTheModel' > /tmp/g4/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g4/racecheck.txt) (t=$(( $(date +%s) - t0 )))"
/tmp/bt/bench_cuda_attention --gates 0 > /tmp/g4/dgate.txt 2>&1
grep -E "^gate" /tmp/g4/dgate.txt | cut -c1-110
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g4 && tar czf $OUT/c3.tgz *.txt
