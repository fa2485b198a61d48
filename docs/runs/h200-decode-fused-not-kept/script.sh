#!/usr/bin/env bash
# One call: build the CUDA tests and benches; the new fused decode-gate test first, then every test;
# memcheck + racecheck on the fused path; the gate and model benches, fused (default) vs three kernels.
set -u
B=/tmp/b
t0=$(date +%s)
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nvcc --version | tail -2; } > $OUT/env.txt 2>&1
cmake -S tests/cuda -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 || { tail -20 $OUT/configure.log; exit 1; }
ninja -C $B > $OUT/build.log 2>&1 || { grep -E "error" -A3 $OUT/build.log | head -40; exit 1; }
echo "build ok $(( $(date +%s) - t0 )) s"
timeout 60 $B/seer_cuda_tests --gtest_filter='CudaGate.DecodeFused*' > $OUT/fused_test.log 2>&1; echo "fused test rc=$? $(grep -E 'OK|FAILED|Failure' $OUT/fused_test.log | head -5 | tr '\n' ' ') t=$(( $(date +%s) - t0 ))"
grep -A8 Failure $OUT/fused_test.log | head -20
timeout 200 $B/seer_cuda_tests > $OUT/tests.log 2>&1; echo "tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests.log | tail -3 | tr '\n' ' ') t=$(( $(date +%s) - t0 ))"
grep -E "FAILED|Failure" -A6 $OUT/tests.log | head -30
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter='CudaGate.DecodeFused*:CudaGate.ModelForwardWithDeviceGates:CudaGate.DecodeGraphWithGates*' > $OUT/memcheck.log 2>&1
echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
timeout 120 compute-sanitizer --tool racecheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter='CudaGate.ModelForwardWithDeviceGates:CudaGate.DecodeGraphWithGates*' > $OUT/racecheck.log 2>&1
echo "racecheck rc=$? $(grep 'ERROR SUMMARY\|RACECHECK SUMMARY' $OUT/racecheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
cat $OUT/fused_test.log $OUT/tests.log $OUT/memcheck.log $OUT/racecheck.log | grep -E "^\[|SUMMARY" > $OUT/tests_and_sanitizers.txt
timeout 100 $B/bench_cuda_attention --gates > $OUT/gates_fused.txt 2>&1; echo "gates (fused default) rc=$? t=$(( $(date +%s) - t0 ))"
SEER_GATE_FUSED=0 timeout 100 $B/bench_cuda_attention --gates > $OUT/gates_three.txt 2>&1; echo "gates (three kernels) rc=$? t=$(( $(date +%s) - t0 ))"
SEER_GATE_FUSED=1 timeout 100 $B/bench_cuda_attention --gates > $OUT/gates_allfused.txt 2>&1; echo "gates (all fused) rc=$? t=$(( $(date +%s) - t0 ))"
for f in gates_fused gates_three gates_allfused; do echo "== $f"; grep -E "B=[0-9]+ L=" $OUT/$f.txt; done
timeout 100 $B/bench_cuda_model --model all > $OUT/model_fused.txt 2>&1; echo "model (fused) rc=$? t=$(( $(date +%s) - t0 ))"
SEER_GATE_FUSED=0 timeout 100 $B/bench_cuda_model --model all > $OUT/model_three.txt 2>&1; echo "model (three) rc=$? t=$(( $(date +%s) - t0 ))"
for f in model_fused model_three; do echo "== $f"; grep -E "decode" $OUT/$f.txt; done
tar czf $OUT/logs.tgz -C $OUT configure.log build.log tests.log memcheck.log racecheck.log fused_test.log 2>/dev/null; rm -f $OUT/configure.log $OUT/build.log $OUT/tests.log $OUT/memcheck.log $OUT/racecheck.log $OUT/fused_test.log
echo "total $(( $(date +%s) - t0 )) s"
