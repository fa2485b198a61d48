#!/usr/bin/env bash
# Session 12, call 1: strided score GEMM (keys permuted by their RoPE; no pointer copy), PDL on the prefill select,
# score GEMM in row bands. Tests, memcheck, then the gate bench under env switches.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure.log 2>&1 && ninja -C /tmp/bf > /tmp/build.log 2>&1 || { grep error -A3 /tmp/build.log | head -40; exit 1; }
echo "build $(( $(date +%s) - t0 )) s"
timeout 150 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.*' > $OUT/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" $OUT/tests.txt | head
SEER_EXP_PARTS=3 timeout 60 /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.Prefill*:CudaGate.Model*' > $OUT/tests_parts3.txt 2>&1; echo "tests parts3 rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED" $OUT/tests_parts3.txt | head
echo "tests $(( $(date +%s) - t0 )) s"
b=/tmp/bf/bench_cuda_attention
run() { local tag=$1; shift; env "$@" timeout 60 $b --gates ${T:-} > $OUT/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'gate\+rope' $OUT/g_$tag.txt | awk '{print $2, $7}' | tr '\n' ' ')"; }
run old1 SEER_EXP_OLD=1 SEER_EXP_NOPDL=1
run new1 X=1
run old2 SEER_EXP_OLD=1 SEER_EXP_NOPDL=1
run new2 X=1
run nopdl SEER_EXP_NOPDL=1
run p2 SEER_EXP_PARTS=2
run p4 SEER_EXP_PARTS=4
run p8 SEER_EXP_PARTS=8
run old3 SEER_EXP_OLD=1 SEER_EXP_NOPDL=1
run new3 X=1
echo "bench $(( $(date +%s) - t0 )) s"
timeout 120 compute-sanitizer --tool memcheck /tmp/bf/seer_cuda_tests --gtest_filter='CudaGate.Prefill*' > $OUT/memcheck.txt 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck.txt | head -1)"
echo "total $(( $(date +%s) - t0 )) s"
cd $OUT && tar czf logs.tgz *.txt 2>/dev/null; ls
