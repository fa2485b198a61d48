#!/usr/bin/env bash
# Call 11 (twenty-fourth session): the new SASS test (tests/cuda/check_early_loads.py, CTest
# CudaSass.DecodeScoresLoadBeforeTheirWait) registered and run through the standalone CUDA build's CTest.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 ))); cuobjdump: $(grep SEER_CUOBJDUMP: /tmp/bt/CMakeCache.txt)"
mkdir -p /tmp/g11
(cd /tmp/bt && ctest -R CudaSass --output-on-failure) > /tmp/g11/ctest.txt 2>&1
echo "ctest rc=$?"; tail -15 /tmp/g11/ctest.txt
cd /tmp/g11 && tar czf $OUT/c11.tgz *.txt
