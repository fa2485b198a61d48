#!/usr/bin/env bash
# Call 1 (twenty-first session), cold, carrying .devcarry/model.part.0, eval.txt, calib.txt, model.sha256 (copied
# to /tmp/m for the eval calls): the tree with the mass-cut bisection written once (bisect_mass_cut, used by the
# prefill rows' warps and the decode rows' CTAs). The whole CUDA suite; memcheck of the decode selection test (its
# mass rows, register and memory paths) and of the model test under the mass rule; racecheck of the latter; the
# decode gate rows (--gates 0, with the mass:0.9 step) and the 32k prefill gate step once each.
set -u
t0=$(date +%s)
mkdir -p /tmp/m && cp .devcarry/* /tmp/m/ && ls /tmp/m | tr '\n' ' '; echo
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g1
timeout 300 /tmp/bt/seer_cuda_tests > /tmp/g1/tests.txt 2>&1
echo "all CUDA tests rc=$? $(grep -cE '^\[       OK' /tmp/g1/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g1/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
timeout 150 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu:CudaGate.DecodeMassRuleInTheModel' > /tmp/g1/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g1/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 60 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeMassRuleInTheModel' > /tmp/g1/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g1/racecheck.txt) (t=$(( $(date +%s) - t0 )))"
/tmp/bt/bench_cuda_attention --gates 0 > /tmp/g1/dgate.txt 2>&1
/tmp/bt/bench_cuda_attention --gates 32768 > /tmp/g1/pgate.txt 2>&1
grep -E "^gate" /tmp/g1/dgate.txt | cut -c1-110
grep -hE "gate\+rope - rope" /tmp/g1/pgate.txt | cut -c1-110
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g1 && tar czf $OUT/c1.tgz *.txt
