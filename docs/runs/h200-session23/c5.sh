#!/usr/bin/env bash
# Call 5 (twenty-third session), model-free, diagnosis continued: call 4 found the tiled projection's phase 1
# at 6.4 / 8.5 us (batch 1 / 16) and its finishing at +11 / +17 us, where HEAD's whole kernel takes 9.2 /
# 12.4 us. Nsight Compute's per-instruction (SASS) stall samples of one P2 launch at batch 1 and batch 16:
# the 40 instructions with the most samples, with the kernel's instruction count.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bP2 -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bP2 bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g5
for B in 1 16; do
  timeout 120 ncu --clock-control none --kernel-name regex:"gate_decode_project" --launch-skip 10 --launch-count 1 \
    --section SourceCounters --section WarpStateStats --section InstructionStats -o /tmp/g5/p2_$B /tmp/bP2/bench_cuda_attention --gates 0 $B > /tmp/g5/ncu_run_$B.txt 2>&1
  ncu --import /tmp/g5/p2_$B.ncu-rep --page source --print-source sass --csv > /tmp/g5/sass_$B.csv 2> /tmp/g5/sass_err_$B.txt
  ncu --import /tmp/g5/p2_$B.ncu-rep --page details > /tmp/g5/details_$B.txt 2>&1
  echo "B=$B: $(wc -l < /tmp/g5/sass_$B.csv) sass lines; $(head -c 300 /tmp/g5/sass_err_$B.txt)"
  python3 - /tmp/g5/sass_$B.csv <<'PY'
import csv, sys
rows=list(csv.reader(open(sys.argv[1])))
if not rows: sys.exit()
hdr=rows[0]; print('columns:', hdr[:12])
def col(name):
    for i,h in enumerate(hdr):
        if h.strip().lower()==name.lower(): return i
    for i,h in enumerate(hdr):
        if name.lower() in h.lower(): return i
    return None
ci=col('Warp Stall Sampling (All Samples)'); si=col('Source'); ai=col('Address')
ei=col('Instructions Executed')
data=[r for r in rows[1:] if len(r)==len(hdr)]
def num(x):
    try: return float(x.replace(',',''))
    except: return 0.0
tot=sum(num(r[ci]) for r in data) if ci is not None else 0
print('instructions in kernel:', len(data), 'total samples', tot, 'executed sum', sum(num(r[ei]) for r in data) if ei is not None else None)
if ci is not None:
    for r in sorted(data, key=lambda r: -num(r[ci]))[:40]:
        print(f"{num(r[ci]):8.0f} {r[ai] if ai is not None else ''} {r[si][:90] if si is not None else ''}")
PY
done
grep -E "Stall|Issued|Executed Instructions" /tmp/g5/details_1.txt | head -20
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g5 && tar czf $OUT/c5.tgz *.txt *.csv
