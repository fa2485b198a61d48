#!/usr/bin/env bash
# Call 3 (session 11): fused v2 (operands from global, no key staging): tile rows / CTAs per SM variants.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure.log 2>&1
for v in "16 3" "32 3" "32 2"; do set -- $v
  cmake -S tests/cuda -B /tmp/bv$1_$2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="-DSEER_FUSE_ROWS=$1 -DSEER_FUSE_CTAS=$2" > /dev/null 2>&1
done
( ninja -C /tmp/bf > /tmp/build.log 2>&1 || echo BUILD_FAIL ) &
for v in bv16_3 bv32_3 bv32_2; do ( ninja -C /tmp/$v bench_cuda_attention > /tmp/build_$v.log 2>&1 || echo BUILD_FAIL $v ) & done
wait
grep error -A3 /tmp/build*.log | head -20
echo "build $(( $(date +%s) - t0 )) s"
timeout 120 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.FusedScore*' > $OUT/t_fused.log 2>&1; echo "fused test rc=$? $(grep -E 'PASSED|FAILED' $OUT/t_fused.log | tail -2 | tr '\n' ' ')"
grep -B2 -A12 "Failure" $OUT/t_fused.log | head -40
for b in bf bv16_3 bv32_3 bv32_2; do
  timeout 60 /tmp/$b/bench_cuda_attention --gates > $OUT/gates_$b.txt 2>&1; echo "== $b bench rc=$?"
  grep -E "gate\+rope" $OUT/gates_$b.txt
done
echo "t $(( $(date +%s) - t0 )) s"
timeout 200 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.*' > $OUT/t_gate.log 2>&1; echo "gate tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/t_gate.log | tail -3 | tr '\n' ' ')"
timeout 100 compute-sanitizer --tool memcheck --print-limit 5 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.FusedScore*' > $OUT/memcheck.log 2>&1; echo "memcheck rc=$? $(tail -2 $OUT/memcheck.log | tr '\n' ' ')"
cd $OUT && tar czf logs.tgz *.log && rm -f *.log
echo "total $(( $(date +%s) - t0 )) s"
