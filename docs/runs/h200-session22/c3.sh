#!/usr/bin/env bash
# Call 7 (twenty-second session), model-free: where the batch-16 x 128k decode gate step goes. Nsight Compute at
# the GPU's own clocks over the first 207 decode-gate kernels of `bench_cuda_attention --gates 0 16`: the rows
# `mid, 0 out` (bf16 cache), `mid, mass:0.9` and `mid, int8`, 23 steps of 3 kernels each (the kernels run one at
# a time under the profiler, so their sum exceeds the step, whose kernels overlap).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g3
which nsys > /tmp/g3/nsys.txt 2>&1; echo "nsys: $(cat /tmp/g3/nsys.txt)"
/tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/g3/dgate16.txt 2>&1
grep -E "^gate|^decode" /tmp/g3/dgate16.txt | cut -c1-112
timeout 300 ncu --clock-control none --kernel-name regex:"gate_decode|gate_select_decode" --launch-count 207 \
  --metrics gpu__time_duration.sum,dram__bytes_read.sum,lts__t_bytes.sum,launch__grid_size,sm__throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed \
  --csv /tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/g3/ncu.csv 2> /tmp/g3/ncu.err
echo "ncu rc=$? (t=$(( $(date +%s) - t0 )))"
python3 - <<'PY'
import csv, statistics, collections
rows = [r for r in csv.DictReader(l for l in open('/tmp/g3/ncu.csv') if l.startswith('"'))]
ids = sorted({int(r['ID']) for r in rows})
by = collections.defaultdict(dict)
for r in rows:
    by[int(r['ID'])]['name'] = r['Kernel Name'][:60]
    by[int(r['ID'])][r['Metric Name']] = r['Metric Value']
seg = collections.defaultdict(list)
for i in ids:
    k = by[i]; part = ['0 out (bf16)', 'mass:0.9', 'int8'][min(2, i // 69)]
    seg[(part, k['name'])].append(k)
def f(x): return float(str(x).replace(',', ''))
for (part, name), ks in seg.items():
    t = statistics.median(f(k['gpu__time_duration.sum']) for k in ks)
    dr = statistics.median(f(k['dram__bytes_read.sum']) for k in ks)
    l2 = statistics.median(f(k['lts__t_bytes.sum']) for k in ks)
    print(f"{part:14s} {name:60s} n={len(ks):3d} {t/1000 if t > 1000 else t:8.2f} grid={ks[0]['launch__grid_size']} dram_read={dr} l2={l2} sm%={ks[0]['sm__throughput.avg.pct_of_peak_sustained_elapsed']} dram%={ks[0]['dram__throughput.avg.pct_of_peak_sustained_elapsed']}")
PY
head -3 /tmp/g3/ncu.err
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g3 && tar czf $OUT/c3.tgz *
