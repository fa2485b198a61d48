#!/usr/bin/env bash
# Call 1 (nineteenth session): the eighteenth session's commits not yet run on a GPU (38930b1's
# CudaModel.OracleBlockScoresGroupOver16, 48eb8e6), the whole CUDA suite, and the decode rows of the
# attention bench next to PyTorch's SDPA dense decode (the sparse decode kernel's ordinary path gained one
# uniform branch in b32ecef).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
/tmp/bt/seer_cuda_tests --gtest_filter='CudaModel.Oracle*' > $OUT/oracle.txt 2>&1
echo "oracle tests rc=$? $(grep -cE '^\[       OK' $OUT/oracle.txt) ok $(grep -E '^\[  FAILED' $OUT/oracle.txt | head -3) (t=$(( $(date +%s) - t0 )))"
/tmp/bt/seer_cuda_tests --gtest_filter='-CudaModel.Oracle*' > $OUT/tests.txt 2>&1
echo "other tests rc=$? $(grep -cE '^\[       OK' $OUT/tests.txt) ok $(grep -E '^\[  FAILED' $OUT/tests.txt | head -3) (t=$(( $(date +%s) - t0 )))"
for i in 1 2; do
  /tmp/bt/bench_cuda_attention --decode > $OUT/decode$i.txt 2>&1
  python3 bench/cuda/torch_baseline.py --decode > $OUT/torch$i.txt 2>&1
done
echo "bench (t=$(( $(date +%s) - t0 )))"
for i in 1 2; do /tmp/bt/bench_cuda_attention --gates 32768 > $OUT/gates32k_$i.txt 2>&1; done
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
for i in 1 2; do grep -E "^decode|^ *decode" $OUT/decode$i.txt; grep -E "sdpa-dec" $OUT/torch$i.txt; done
grep -E "gate|select" $OUT/gates32k_1.txt $OUT/gates32k_2.txt | cut -c1-150
