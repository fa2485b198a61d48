#!/usr/bin/env bash
cd /work/main
[ -d /tmp/ft-rk/prefill ] || cp -r gates/smollm2-135m-instruct/prefill /tmp/ft-rk/
row() { build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates /tmp/ft-rk --policy gate --prefill-len 6144 --decode-sparsity budget:$1 > /tmp/ft-eval-rk-$1.json 2> /tmp/ft-eval-rk-$1.err; }
row 2048 & row 1024 & wait
row 512
for f in /tmp/ft-eval-rk-*.json; do python3 -c "
import json; r=json.load(open('$f')); print('$f', '%.4f %+.2f%% density %s' % (r['ppl'], 100*(r['ppl']/32.162-1), r['density']))"; done
