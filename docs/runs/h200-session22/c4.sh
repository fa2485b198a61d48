#!/usr/bin/env bash
# Call 8 (twenty-second session), model-free: Nsight Compute's full set on one batch-16 decode step's project
# kernel and selection kernel (the `mid, int8` row of `bench_cuda_attention --gates 0 16`), with the warp stall
# reasons by source line (SASS), to see what bounds them.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS=-lineinfo > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g4
for k in gate_decode_project_kernel gate_select_decode_kernel; do
  timeout 200 ncu --clock-control none --kernel-name regex:$k --launch-skip 50 --launch-count 1 --set full \
    --import-source yes -o /tmp/g4/$k /tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/g4/$k.log 2>&1
  echo "$k rc=$? (t=$(( $(date +%s) - t0 )))"
  ncu -i /tmp/g4/$k.ncu-rep --page details > /tmp/g4/$k.txt 2>&1
  ncu -i /tmp/g4/$k.ncu-rep --page source --csv --print-source sass > /tmp/g4/${k}_sass.csv 2>&1
  grep -E "Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Warp Cycles Per Issued|Issue Slots Busy|L2 Hit|Mem Busy|Max Bandwidth|Stall|Executed Ipc A" /tmp/g4/$k.txt | head -30
done
python3 - <<'PY'
import csv, io
for k in ['gate_decode_project_kernel', 'gate_select_decode_kernel']:
    txt = open(f'/tmp/g4/{k}_sass.csv').read()
    lines = [l for l in txt.splitlines() if l.startswith('"')]
    if not lines: print(k, 'no sass csv'); continue
    rows = list(csv.DictReader(io.StringIO('\n'.join(lines))))
    col = next((c for c in rows[0] if c.startswith('Warp Stall Sampling (All')), None)
    if not col: print(k, list(rows[0])[:12]); continue
    tot = sum(float(r[col] or 0) for r in rows)
    top = sorted(rows, key=lambda r: -float(r[col] or 0))[:25]
    print(f'\n{k}: top SASS lines by stall samples (of {tot:.0f})')
    for r in top:
        print(f"{float(r[col] or 0)/tot*100:5.1f}% {r.get('Address','')} {r.get('Source','')[:90]}")
PY
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g4 && tar czf $OUT/c4.tgz *.txt *.csv
