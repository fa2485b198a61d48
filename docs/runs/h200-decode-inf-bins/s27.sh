#!/usr/bin/env bash
# The decode selection's +inf-aware bins with the barrier that racecheck asked for (fifteenth session's
# decode_inf_bins_not_kept.diff): racecheck and memcheck of the decode selection test, the CUDA suite, and
# `bench_cuda_attention --gates 0` alternating with the tree's (HEAD 5aaa6f8) build. Builds: BUILD=1
# docs/runs/h200-more-data/up.sh. Logs in s27/ (the suite's log was too long to come back: 37 tests passed).
set -u
t0=$(date +%s)
timeout 120 compute-sanitizer --tool racecheck /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelection*' > $OUT/racecheck.txt 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/racecheck.txt | head -1) t=$(( $(date +%s) - t0 ))"
timeout 60 compute-sanitizer --tool memcheck /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelection*' > $OUT/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck.txt | head -1)"
run() { local tag=$1 bin=$2; timeout 60 $bin --gates 0 > $OUT/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'Qproj mid|0 out' $OUT/g_$tag.txt | awk '{print $2, $4, $(NF-4), $NF}' | tr '\n' ' ')"; }
for i in 1 2 3; do run h$i /tmp/bh/bench_cuda_attention; run f$i /tmp/bf/bench_cuda_attention; done
echo "bench t=$(( $(date +%s) - t0 )) s"
timeout 200 /tmp/bf/seer_cuda_tests > $OUT/tests.txt 2>&1; echo "tests rc=$? $(grep -E '^\[  (PASSED|FAILED) ' $OUT/tests.txt | tr '\n' ' ')"; grep -E "FAILED" $OUT/tests.txt | head
echo "total $(( $(date +%s) - t0 )) s"
