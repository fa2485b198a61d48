#!/usr/bin/env bash
# Call 3 (twenty-third session), model-free. The selection in the scores kernel is dropped (call 2: batch 1
# +2.4 us with HEAD's projection, F3; batch 16 -1.8 us with the tiled one). Call 2's tiled projection (P) took
# 40 us under Nsight Compute: its finishing summed each output's slices in a runtime loop, one L2 round
# trip per slice. P2 (the tree): the sums by slice_sum again (every slice's load in flight). P2nr: P2 with
# the RoPE tables' double sincos replaced by cos 1, sin 0 (wrong results: to time the sincos alone).
# The decode tests on P2, the decode gate rows twice, the projection kernel under Nsight Compute at batch
# 16 and 1.
set -u
t0=$(date +%s)
rm -rf /tmp/P2nr && mkdir -p /tmp/P2nr && cp -r CMakeLists.txt include src tests bench /tmp/P2nr/
sed -i 's/        sincos(double(float(pos) \* p.rope.inv_freq\[i\]), &sn, &cs);/        sn = 0.0; cs = 1.0;/' /tmp/P2nr/src/kernels/cuda/gate.cu
grep -c "sn = 0.0; cs = 1.0;" /tmp/P2nr/src/kernels/cuda/gate.cu
for v in P2 P2nr; do
  src=.; [ $v != P2 ] && src=/tmp/$v
  cmake -S $src/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg$v.log 2>&1 &&
    ninja -C /tmp/b$v seer_cuda_tests bench_cuda_attention > /tmp/build$v.log 2>&1 || { echo "build $v failed"; grep -E "error" -A3 /tmp/build$v.log | head -20; exit 1; }
done
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g3
timeout 100 /tmp/bP2/seer_cuda_tests --gtest_filter='CudaGate.Decode*:CudaGate.Model*' > /tmp/g3/tests_P2.txt 2>&1
echo "P2: decode + model gate tests rc=$? $(grep -cE '^\[       OK' /tmp/g3/tests_P2.txt) ok $(grep -E '^\[  FAILED' /tmp/g3/tests_P2.txt | head -5 | tr '\n' ' ')"
grep -B2 -A8 "Failure" /tmp/g3/tests_P2.txt | head -30
for r in 1 2; do for v in P2 P2nr; do /tmp/b$v/bench_cuda_attention --gates 0 > /tmp/g3/dgate_${v}_$r.txt 2>&1; done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for v in P2 P2nr; do echo "== $v"; grep -hE "^gate|^decode" /tmp/g3/dgate_${v}_*.txt | grep -E "graph" | cut -c1-112; done
for v in P2 P2nr; do for B in 1 16; do
  timeout 60 ncu --clock-control none --kernel-name regex:"gate_decode_project" --launch-count 46 \
    --metrics gpu__time_duration.sum --csv /tmp/b$v/bench_cuda_attention --gates 0 $B > /tmp/g3/ncu_${v}_$B.csv 2>/dev/null
  python3 - /tmp/g3/ncu_${v}_$B.csv "$v B$B" <<'PY'
import csv, statistics, sys
r=[float(x['Metric Value'].replace(',','')) for x in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))]
print('ncu project', sys.argv[2], len(r), 'median', statistics.median(r) if r else None, 'min', min(r) if r else None)
PY
done; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g3 && tar czf $OUT/c3.tgz *.txt *.csv
