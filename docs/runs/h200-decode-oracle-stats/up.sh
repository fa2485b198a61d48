#!/usr/bin/env bash
# Upload calls: the carried .devcarry files (model parts, devpack, eval.txt) to /tmp/m; with BUILD=1 also
# the CUDA test tree (tests/cuda's own CMake project) in /tmp/bt.
set -u
t0=$(date +%s)
mkdir -p /tmp/m && cp .devcarry/* /tmp/m/ && ls /tmp/m | tr '\n' ' '; echo
if [ "${BUILD:-0}" = 1 ]; then
  cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_t.log 2>&1 && ninja -C /tmp/bt seer_cuda_tests > /tmp/build_t.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build_t.log | head -20; }
  ls -la /tmp/bt/seer_cuda_tests 2>&1 | awk '{print $NF}'
fi
echo "t=$(( $(date +%s) - t0 )) s"
