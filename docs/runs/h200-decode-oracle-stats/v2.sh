#!/usr/bin/env bash
# Call 9: after the review mend (a group over 16 heads keeps the prefill pass; a block past kv_len and a head
# that sees no key give 0; per-field launcher errors; the test varies group pool, dtype and row form
# independently, covers fixed-stride rows and poisons the logit workspace): the decode tests, the launcher's
# errors, the oracle tests, and memcheck + initcheck of the statistics test.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 && ninja -C /tmp/bt seer_cuda_tests > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
F='CudaSparseDecode.*:CudaErrors.*:CudaModel.*'
/tmp/bt/seer_cuda_tests --gtest_filter="$F" > $OUT/tests.txt 2>&1; echo "tests rc=$? $(grep -cE '^\[       OK' $OUT/tests.txt) ok $(grep -E '^\[  FAILED' $OUT/tests.txt | head -3) (t=$(( $(date +%s) - t0 )))"
for tool in memcheck initcheck; do
  timeout 100 compute-sanitizer --tool $tool /tmp/bt/seer_cuda_tests --gtest_filter='CudaSparseDecode.BlockStatistics*:CudaModel.Oracle*' > $OUT/$tool.txt 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY' $OUT/$tool.txt) (t=$(( $(date +%s) - t0 )))"
done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
