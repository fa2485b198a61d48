#!/usr/bin/env bash
# Call 6 (thirty-fourth session), model-free: every CTest of the standalone CUDA build at the session's last CUDA change (DeviceBuffer::reserve reports cudaFree's error) on the tree after the
# session's CLI, loader and trainer changes (the CUDA tests load tiny models through the changed loaders).
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
mkdir -p $OUT/c6
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -30; exit 1; }
echo "built (t=$(el))"
(cd /tmp/bt && timeout 400 ctest --output-on-failure > $OUT/c6/ctest.txt 2>&1); echo "ctest rc=$? $(grep -E 'tests passed|tests failed' $OUT/c6/ctest.txt) (t=$(el))"
grep -E "Failure|failed" -A6 $OUT/c6/ctest.txt | head -30 | cut -c1-300
timeout 200 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaModel.DecodeGraphMatchesEager:CudaModel.RefusesWhatTheGpuCannotHold' > $OUT/c6/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/c6/memcheck.txt | tail -1) (t=$(el))"
echo "total (t=$(el))"
