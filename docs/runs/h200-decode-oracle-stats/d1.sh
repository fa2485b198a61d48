#!/usr/bin/env bash
# Calls 5-7 (the first carries model.part.3; calls 2-4 were docs/runs/h200-gpu-oracle/up.sh): the decode kernel's block statistics (SparseDecodeParams::block_stat) checked
# (CudaSparseDecode.*, CudaModel.*, memcheck), then the decode oracles over the 8 windows of the GPU decode table.
# usage: d1.sh POLICIES BUDGETS LIMIT_S [TESTS=1]
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh
pol=$1 bud=$2 lim=$3
if [ "${4:-1}" = 1 ]; then
  /tmp/bt/seer_cuda_tests --gtest_filter='CudaSparseDecode.*:CudaModel.*' > $OUT/tests.txt 2>&1; echo "tests rc=$? $(grep -cE '^\[       OK' $OUT/tests.txt) ok $(grep -E '^\[  FAILED' $OUT/tests.txt | head -3) (t=$(( $(date +%s) - t0 )))"
  grep -E "BlockStatistics|Oracle" $OUT/tests.txt | grep -E "OK|FAILED" | head
  timeout 150 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaModel.Oracle*:CudaSparseDecode.BlockStatistics*' > $OUT/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
fi
timeout $lim python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval.jsonl \
  --gates gates/smollm2-135m-instruct --windows 8 --phase decode --policies $pol --budgets $bud > $OUT/decode.md 2> $OUT/err.txt
echo "eval rc=$? (t=$(( $(date +%s) - t0 )))"; cat $OUT/decode.md; tail -n 12 $OUT/err.txt
