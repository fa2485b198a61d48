#!/usr/bin/env bash
# Session 12, call 4: Nsight Compute per-kernel times of the 32k gate step at 0cd3f0b (base clocks).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bf -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure.log 2>&1 && ninja -C /tmp/bf bench_cuda_attention > /tmp/build.log 2>&1 || { grep error -A3 /tmp/build.log | head -40; exit 1; }
echo "build $(( $(date +%s) - t0 )) s"
timeout 240 ncu --csv --metrics gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread,smsp__inst_executed.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed --launch-count 120 /tmp/bf/bench_cuda_attention --gates 32768 > $OUT/ncu32k.csv 2> /tmp/ncu.err; echo "ncu rc=$? $(( $(date +%s) - t0 )) s"; tail -n 3 /tmp/ncu.err
python3 - "$OUT/ncu32k.csv" <<'PY'
import csv, sys, collections, re
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = rows[0]; rows = rows[1:]
ik, im, iv = hdr.index("Kernel Name"), hdr.index("Metric Name"), hdr.index("Metric Value")
iid = hdr.index("ID")
per = collections.OrderedDict()
for r in rows:
    per.setdefault(r[iid], {"name": r[ik]})[r[im]] = r[iv]
seq = list(per.values())
for k in seq[:60]:
    n = re.sub(r"\(.*", "", k["name"])[:60]
    print(f'{n:60s} {k.get("gpu__time_duration.sum","?"):>10s} ns  grid {k.get("launch__grid_size","?"):>8s}  regs {k.get("launch__registers_per_thread","?"):>4s}  dram {k.get("dram__throughput.avg.pct_of_peak_sustained_elapsed","?"):>6s}%')
PY
echo "total $(( $(date +%s) - t0 )) s"
