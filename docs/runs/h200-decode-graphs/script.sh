#!/usr/bin/env bash
# Call 1 of 3: keep model part 0, build the CUDA tests, run them, memcheck the new tests, bench the
# model with graphs (re-instantiated per key now) and eager.
set -u
mkdir -p /tmp/m && cp .devcarry/* /tmp/m/ 2>/dev/null
B=/tmp/b
t0=$(date +%s)
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nvcc --version | tail -2; } > $OUT/env.txt 2>&1
cmake -S tests/cuda -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 || { tail -20 $OUT/configure.log; exit 1; }
ninja -C $B > $OUT/build.log 2>&1 || { grep -E "error" -A3 $OUT/build.log | head -40; exit 1; }
echo "build ok $(( $(date +%s) - t0 )) s"
timeout 200 $B/seer_cuda_tests > $OUT/tests.log 2>&1; echo "tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests.log | tail -3 | tr '\n' ' ') t=$(( $(date +%s) - t0 ))"
grep -E "FAILED|Failure" -A6 $OUT/tests.log | head -30
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter='CudaModel.DecodeGraph*:CudaGate.DecodeGraph*:CudaModel.GroundTruth*:CudaGroundTruth.*' > $OUT/memcheck.log 2>&1
echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
cat $OUT/tests.log $OUT/memcheck.log | grep -E "^\[|SUMMARY" > $OUT/tests_and_sanitizers.txt
timeout 100 $B/bench_cuda_model --model all > $OUT/model.txt 2>&1; echo "model (graphs) rc=$? t=$(( $(date +%s) - t0 ))"
grep -E "decode|graphs" $OUT/model.txt
SEER_CUDA_GRAPHS=0 timeout 100 $B/bench_cuda_model --model all > $OUT/model_eager.txt 2>&1; echo "model (eager) rc=$? t=$(( $(date +%s) - t0 ))"
grep decode $OUT/model_eager.txt
tar czf $OUT/logs.tgz -C $OUT configure.log build.log tests.log memcheck.log 2>/dev/null; rm -f $OUT/configure.log $OUT/build.log $OUT/tests.log $OUT/memcheck.log
echo "total $(( $(date +%s) - t0 )) s"
