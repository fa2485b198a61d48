#!/usr/bin/env bash
# Call 13 (twenty-second session), model-free: the decode selection kernel with Top-K or not fixed per
# instantiation (template <bool kRegs, bool kTopK>; call 11 had one instantiation per rule, whose mass rows
# were slower at batch 16) instead of tested at run time; as call 12, with the bench's new `mid, mass:0.9,
# graph` row and without the tests and the profiler,
# against HEAD's kernel (gate_head.cu.tmp, built from a copy of the tree) in the same call. Nsight Compute had
# found 35% of its stall samples waiting for instructions. The decode CudaGate tests on the variant, the decode
# gate rows twice per build, alternating, and the selection kernel's time under Nsight Compute for both.
set -u
t0=$(date +%s)
rm -rf /tmp/h && mkdir -p /tmp/h && cp -r CMakeLists.txt include src tests bench /tmp/h/ && cp docs/runs/h200-session22/gate_head.cu.tmp /tmp/h/src/kernels/cuda/gate.cu
for v in h v; do
  src=.; [ $v = h ] && src=/tmp/h
  cmake -S $src/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg$v.log 2>&1 &&
    ninja -C /tmp/b$v bench_cuda_attention > /tmp/build$v.log 2>&1 || { echo "build $v failed"; grep -E "error" -A3 /tmp/build$v.log | head -20; exit 1; }
done
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g9
for r in 1 2; do for v in h v; do /tmp/b$v/bench_cuda_attention --gates 0 > /tmp/g9/dgate_${v}_$r.txt 2>&1; done; done
for v in h v; do echo "== $v"; grep -hE "graph|mass" /tmp/g9/dgate_${v}_*.txt | cut -c1-112; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g9 && tar czf $OUT/c9.tgz *.txt
