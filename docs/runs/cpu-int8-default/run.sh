#!/usr/bin/env bash
# Thirty-second session: the shipped decode gates with their budget shares (the default), the int8 K-compression
# cache (the default since this session) against --gate-cache-bf16, on the CPU's first held-out text (eval.txt, 4
# windows, dense 32.2060 at --prefill-len 6144). Two runs at a time, one thread each.
set -u
S=${SEER:-build/seer}
row() {  # row BUDGET CACHE
  $S ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates gates/smollm2-135m-instruct --policy gate \
    --prefill-len 6144 --decode-sparsity budget:$1 --gate-cache-$2 > docs/runs/cpu-int8-default/d$1_$2.json 2> /dev/null
}
for b in 2048 1024 512; do
  row $b int8 & row $b bf16 & wait
done
for f in docs/runs/cpu-int8-default/d*.json; do
  python3 -c "import json,sys; r=json.load(open('$f')); print('$f', r.get('gate_cache'), '%.4f' % r['ppl'], '%+.2f%%' % (100*(r['ppl']/32.2060-1)), round(r['density'],4))"
done
