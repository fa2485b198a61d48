#!/usr/bin/env bash
# Call 3 (nineteenth session): the sanitizer runs the eighteenth session left out: racecheck of the decode
# kernel's block statistics (CudaSparseDecode.BlockStatisticsMatchReference) and of the oracle tests, and
# initcheck of CudaModel.OracleBlockScoresMatchReference with host backtraces (which copy reads what).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
T=/tmp/bt/seer_cuda_tests
timeout 200 compute-sanitizer --tool racecheck $T --gtest_filter='CudaSparseDecode.BlockStatistics*' > /tmp/race_stats.txt 2>&1
echo "racecheck stats rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' /tmp/race_stats.txt | head -1) $(grep -cE '^\[       OK' /tmp/race_stats.txt) ok (t=$(( $(date +%s) - t0 )))"
timeout 100 compute-sanitizer --tool racecheck $T --gtest_filter='CudaModel.Oracle*' > /tmp/race_oracle.txt 2>&1
echo "racecheck oracle rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' /tmp/race_oracle.txt | head -1) $(grep -cE '^\[       OK' /tmp/race_oracle.txt) ok (t=$(( $(date +%s) - t0 )))"
timeout 120 compute-sanitizer --tool initcheck --show-backtrace host $T --gtest_filter='CudaModel.OracleBlockScoresMatchReference' > /tmp/init_oracle.txt 2>&1
echo "initcheck oracle rc=$? $(grep -E 'ERROR SUMMARY' /tmp/init_oracle.txt | head -1) (t=$(( $(date +%s) - t0 )))"
grep -m1 -B2 -A30 "Uninitialized" /tmp/init_oracle.txt | cut -c1-200
cd /tmp && head -c 2000000 race_stats.txt > $OUT/racecheck_stats.txt; head -c 2000000 race_oracle.txt > $OUT/racecheck_oracle.txt; head -c 3000000 init_oracle.txt > $OUT/initcheck_oracle.txt
