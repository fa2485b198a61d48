#!/usr/bin/env bash
# Call 1: HEAD's CUDA tests (tests/cuda built on the device), CudaModel.* first, then the rest, then memcheck of
# the oracle tests. Verifies ed12543 / 9811476 / c20abcd, which the seventeenth session could not run on a GPU.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 && ninja -C /tmp/bt seer_cuda_tests > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
/tmp/bt/seer_cuda_tests --gtest_filter='CudaModel.*' > $OUT/model_tests.txt 2>&1; echo "CudaModel.* rc=$? $(grep -cE '^\[       OK' $OUT/model_tests.txt) ok $(grep -E '^\[  FAILED' $OUT/model_tests.txt | head -3) (t=$(( $(date +%s) - t0 )))"
/tmp/bt/seer_cuda_tests --gtest_filter='-CudaModel.*' > $OUT/other_tests.txt 2>&1; echo "others rc=$? $(grep -cE '^\[       OK' $OUT/other_tests.txt) ok $(grep -E '^\[  FAILED' $OUT/other_tests.txt | head -3) (t=$(( $(date +%s) - t0 )))"
timeout 200 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaModel.Oracle*' > $OUT/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "total $(( $(date +%s) - t0 )) s"
