#!/usr/bin/env bash
# Call 12 (twenty-second session), model-free: the decode selection kernel with Top-K or not fixed per
# instantiation (template <bool kRegs, bool kTopK>; call 11 had one instantiation per rule, whose mass rows
# were slower at batch 16) instead of tested at run time,
# against HEAD's kernel (gate_head.cu.tmp, built from a copy of the tree) in the same call. Nsight Compute had
# found 35% of its stall samples waiting for instructions. The decode CudaGate tests on the variant, the decode
# gate rows twice per build, alternating, and the selection kernel's time under Nsight Compute for both.
set -u
t0=$(date +%s)
rm -rf /tmp/h && mkdir -p /tmp/h && cp -r CMakeLists.txt include src tests bench /tmp/h/ && cp docs/runs/h200-session22/gate_head.cu.tmp /tmp/h/src/kernels/cuda/gate.cu
for v in h v; do
  src=.; [ $v = h ] && src=/tmp/h
  cmake -S $src/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg$v.log 2>&1 &&
    ninja -C /tmp/b$v seer_cuda_tests bench_cuda_attention > /tmp/build$v.log 2>&1 || { echo "build $v failed"; grep -E "error" -A3 /tmp/build$v.log | head -20; exit 1; }
done
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g8
timeout 150 /tmp/bv/seer_cuda_tests --gtest_filter='CudaGate.Decode*' > /tmp/g8/tests_v.txt 2>&1
echo "tests rc=$? $(grep -cE '^\[       OK' /tmp/g8/tests_v.txt) ok $(grep -E '^\[  FAILED' /tmp/g8/tests_v.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
for r in 1 2; do for v in h v; do /tmp/b$v/bench_cuda_attention --gates 0 > /tmp/g8/dgate_${v}_$r.txt 2>&1; done; done
for v in h v; do echo "== $v"; grep -hE "graph|Qproj mid|mid, int8 |mass" /tmp/g8/dgate_${v}_*.txt | cut -c1-112; done
for v in h v; do
  timeout 60 ncu --clock-control none --kernel-name regex:gate_select_decode --launch-skip 23 --launch-count 69 \
    --metrics gpu__time_duration.sum --csv /tmp/b$v/bench_cuda_attention --gates 0 16 > /tmp/g8/ncu_$v.csv 2>/dev/null
  python3 -c "
import csv,statistics
r=[x for x in csv.DictReader(l for l in open('/tmp/g8/ncu_$v.csv') if l.startswith('\"'))]
t=[float(x['Metric Value'].replace(',','')) for x in r]
print('$v select kernel (ncu; mass:0.9, int8 Top-K mid, int8 Top-K end):', statistics.median(t[:23]), statistics.median(t[23:46]), statistics.median(t[46:]), r[0]['Metric Unit'] if r else '')"
done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g8 && tar czf $OUT/c8.tgz *.txt
