#!/usr/bin/env bash
# Call 2 (nineteenth session): two experiments on the 32k prefill gate step, switched by environment
# variables in one build (the switches are experiment code, removed afterwards):
#   SEER_EXP_PIPE=1          the Top-K / threshold select of rows up to 512 blocks as one wave of CTAs, each
#                            warp copying its next row into shared memory (cp.async) while it selects the row before
#   SEER_EXP_BANDS=N [SEER_EXP_CONCURRENT=1]   the score GEMM cut into N row bands at every length (each
#                            needing the keys up to its last row), side by side on N - 1 side streams
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > $OUT/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 $OUT/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
T=/tmp/bt/seer_cuda_tests
t() { local tag=$1; shift; env "$@" $T --gtest_filter='CudaGate.*' > $OUT/t_$tag.txt 2>&1; echo "tests $tag rc=$? $(grep -cE '^\[       OK' $OUT/t_$tag.txt) ok $(grep -E '^\[  FAILED' $OUT/t_$tag.txt | head -3 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"; }
t base X=0
t pipe SEER_EXP_PIPE=1
t b2c SEER_EXP_BANDS=2 SEER_EXP_CONCURRENT=1
t b4c SEER_EXP_BANDS=4 SEER_EXP_CONCURRENT=1
timeout 150 env SEER_EXP_PIPE=1 compute-sanitizer --tool memcheck $T --gtest_filter='CudaGate.*Selection*' > $OUT/memcheck_pipe.txt 2>&1
echo "memcheck pipe rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck_pipe.txt) (t=$(( $(date +%s) - t0 )))"
B=/tmp/bt/bench_cuda_attention
declare -A CFG=([base]="X=0" [pipe]="SEER_EXP_PIPE=1" [b2s]="SEER_EXP_BANDS=2" [b2c]="SEER_EXP_BANDS=2 SEER_EXP_CONCURRENT=1" [b3c]="SEER_EXP_BANDS=3 SEER_EXP_CONCURRENT=1" [b4c]="SEER_EXP_BANDS=4 SEER_EXP_CONCURRENT=1" [pb2c]="SEER_EXP_PIPE=1 SEER_EXP_BANDS=2 SEER_EXP_CONCURRENT=1")
for i in 1 2 3; do
  for c in base pipe b2s b2c b3c b4c pb2c; do
    for L in 32768 8192; do
      env ${CFG[$c]} $B --gates $L > $OUT/g_${c}_${L}_$i.txt 2>&1
    done
  done
done
echo "bench 8k/32k (t=$(( $(date +%s) - t0 )))"
for i in 1 2; do for c in base pipe b2c pb2c; do env ${CFG[$c]} $B --gates 131072 > $OUT/g_${c}_131072_$i.txt 2>&1; done; done
echo "bench 128k (t=$(( $(date +%s) - t0 )))"
for L in 8192 32768 131072; do
  for c in base pipe b2s b2c b3c b4c pb2c; do
    ls $OUT/g_${c}_${L}_*.txt > /dev/null 2>&1 || continue
    printf "%-6s %-5s gate+rope-rope:" $L $c
    for f in $OUT/g_${c}_${L}_*.txt; do grep -E "gate\+rope - rope" $f | awk '{printf " %s (%s)", $(NF-4), $NF}'; done
    printf "  select top-k:"
    for f in $OUT/g_${c}_${L}_*.txt; do grep -E "top-k -> CSR" $f | awk '{printf " %s", $(NF-4)}'; done
    echo
  done
done
