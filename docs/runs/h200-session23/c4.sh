#!/usr/bin/env bash
# Call 4 (twenty-third session), model-free, a diagnosis: why the tiled projection kernel (P2, the tree: each
# weight read once per 8 sequences) takes 25 us at batch 16 and 18 us at batch 1 under Nsight Compute. HEAD's
# kernel (h, from a copy with HEAD's gate sources), P2, and P2nf (P2 returning before the finishing, wrong
# results: phase 1 alone): duration per batch, then for h and P2 one launch each with Nsight Compute's
# speed-of-light, launch, occupancy and warp-state sections.
set -u
t0=$(date +%s)
D=docs/runs/h200-session23
rm -rf /tmp/h /tmp/P2nf && mkdir -p /tmp/h /tmp/P2nf && cp -r CMakeLists.txt include src tests bench /tmp/h/ && cp -r CMakeLists.txt include src tests bench /tmp/P2nf/
for f in src/kernels/cuda/gate.cu src/kernels/cuda/gate.cuh src/model/cuda_gate.cpp tests/cuda/test_cuda_gate.cpp; do cp $D/head/$(basename $f) /tmp/h/$f; done
python3 - <<'PY'
p='/tmp/P2nf/src/kernels/cuda/gate.cu'
s=open(p).read()
old='''  float* qrow = red;  // [kProjTile][kMaxHidden] each'''
assert old in s
s=s.replace(old,'''  if (p.batch_size > 0) return;  // P2nf: phase 1 alone
'''+old)
open(p,'w').write(s)
PY
for v in h P2 P2nf; do
  src=/tmp/$v; [ $v = P2 ] && src=.
  cmake -S $src/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg$v.log 2>&1 &&
    ninja -C /tmp/b$v bench_cuda_attention > /tmp/build$v.log 2>&1 || { echo "build $v failed"; grep -E "error" -A3 /tmp/build$v.log | head -20; exit 1; }
done
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g4
for v in h P2 P2nf; do for B in 1 16; do
  timeout 60 ncu --clock-control none --kernel-name regex:"gate_decode_project" --launch-count 23 \
    --metrics gpu__time_duration.sum --csv /tmp/b$v/bench_cuda_attention --gates 0 $B > /tmp/g4/ncu_${v}_$B.csv 2>/dev/null
  python3 - /tmp/g4/ncu_${v}_$B.csv "$v B$B" <<'PY'
import csv, statistics, sys
r=[float(x['Metric Value'].replace(',','')) for x in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))]
print('ncu project', sys.argv[2], len(r), 'median', statistics.median(r) if r else None, 'min', min(r) if r else None)
PY
done; done
for v in h P2; do for B in 1 16; do
  timeout 60 ncu --clock-control none --kernel-name regex:"gate_decode_project" --launch-skip 10 --launch-count 1 \
    --section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis \
    /tmp/b$v/bench_cuda_attention --gates 0 $B > /tmp/g4/full_${v}_$B.txt 2>&1
done; done
for f in /tmp/g4/full_*.txt; do echo "== $f"; grep -E "Duration|Registers|Shared Memory Config|Dynamic Shared|Static Shared|Achieved Occupancy|Stall|Warp Cycles Per Issued|Memory Throughput|L2 Hit|DRAM Through|Block Limit|Waves" $f | head -30; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g4 && tar czf $OUT/c4.tgz *.txt *.csv
