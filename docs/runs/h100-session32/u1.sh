#!/usr/bin/env bash
# Call 3 (thirty-second session), the first upload (part 0 and the corpus to /tmp/m, docs/runs/h200-session22/up.sh)
# on a cold machine; meanwhile racecheck of the fold test as committed (call 1's racecheck of a wider filter ran out
# of time).
set -u
t0=$(date +%s)
bash docs/runs/h200-session22/up.sh
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 && ninja -C /tmp/bt seer_cuda_tests > /tmp/build.log 2>&1 || { echo "build failed"; exit 1; }
timeout 170 compute-sanitizer --tool racecheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.FoldedQuery*' > /tmp/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/racecheck.txt | tail -1); $(grep -cE '^\[       OK' /tmp/racecheck.txt) tests ok (t=$(( $(date +%s) - t0 )))"
tail -3 /tmp/racecheck.txt
