#!/usr/bin/env bash
# Call 1 (session 11): the GEMM probe, the gate bench at HEAD, a per-kernel profile of the 32k gate step.
set -u
t0=$(date +%s)
bash out/s5.sh > /dev/null 2>&1; cat $OUT/gemm_probe.txt
echo "probe $(( $(date +%s) - t0 )) s"
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure.log 2>&1 && ninja -C /tmp/bf bench_cuda_attention > /tmp/build.log 2>&1 || { grep error -A3 /tmp/build.log | head -30; exit 1; }
echo "build $(( $(date +%s) - t0 )) s"
timeout 60 /tmp/bf/bench_cuda_attention --gates > $OUT/gates.txt 2>&1; echo "bench rc=$?"
grep -E "gate\+rope|select|Qproj" $OUT/gates.txt
which nsys ncu
if which nsys > /dev/null; then
  timeout 120 nsys profile -o /tmp/p32 --force-overwrite true /tmp/bf/bench_cuda_attention --gates 32768 > /tmp/nsys.log 2>&1
  nsys stats --report cuda_gpu_kern_sum --format csv /tmp/p32.nsys-rep > $OUT/kern32.csv 2>/dev/null
  cut -c1-200 $OUT/kern32.csv | head -30
fi
echo "total $(( $(date +%s) - t0 )) s"
