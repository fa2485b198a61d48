#!/usr/bin/env bash
# Session 14, call 1: the prefill score kernel (causal TF32 MMA tiles, keys' gate RoPE folded in) and the
# select's early-out. Builds: H = HEAD (out/head/), S = score kernel only (-DSEER_EXP_NO_EARLY), N = both.
# Tests on N, then the gate bench alternating H, S, N.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bn -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_n.log 2>&1 && ninja -C /tmp/bn > /tmp/build_n.log 2>&1 || { echo "N build failed"; grep error -A3 /tmp/build_n.log | head -40; exit 1; }
echo "build N $(( $(date +%s) - t0 )) s"
cmake -S tests/cuda -B /tmp/bs -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="-DSEER_EXP_NO_EARLY=1" > /tmp/configure_s.log 2>&1 && ninja -C /tmp/bs bench_cuda_attention > /tmp/build_s.log 2>&1 || { echo "S build failed"; grep error -A3 /tmp/build_s.log | head -20; }
rm -rf /tmp/th && mkdir /tmp/th && cp -r include src tests bench CMakeLists.txt cmake /tmp/th/ 2>/dev/null
cp out/head/gate.cu out/head/gate.cuh /tmp/th/src/kernels/cuda/ && cp out/head/cuda_gate.cpp /tmp/th/src/model/
cmake -S /tmp/th/tests/cuda -B /tmp/bh -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_h.log 2>&1 && ninja -C /tmp/bh bench_cuda_attention > /tmp/build_h.log 2>&1 || { echo "H build failed"; grep error -A3 /tmp/build_h.log | head -20; }
echo "builds $(( $(date +%s) - t0 )) s"
timeout 200 /tmp/bn/seer_cuda_tests > /tmp/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|tests ran" /tmp/tests.txt | head
echo "tests $(( $(date +%s) - t0 )) s"
run() { local tag=$1 bin=$2; timeout 90 $bin --gates > /tmp/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'gate\+rope|top-k|Qproj mid' /tmp/g_$tag.txt | awk '{print $2, $(NF-4), $NF}' | tr '\n' ' ')"; }
for i in 1 2 3; do run h$i /tmp/bh/bench_cuda_attention; run s$i /tmp/bs/bench_cuda_attention; run n$i /tmp/bn/bench_cuda_attention; done
echo "total $(( $(date +%s) - t0 )) s"
cp /tmp/g_h1.txt /tmp/g_n1.txt $OUT/ ; cd /tmp && tar czf $OUT/logs.tgz tests.txt g_*.txt
