#!/usr/bin/env bash
# After both fine-tunes: copy the shipped prefill gate in, then the 4 CPU windows' decode budgets, two rows at a time.
cd /work/main
for a in 1 2; do [ -d /tmp/ft-a$a/prefill ] || cp -r gates/smollm2-135m-instruct/prefill /tmp/ft-a$a/; done
row() { build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates /tmp/ft-a$1 --policy gate --prefill-len 6144 --decode-sparsity budget:$2 > /tmp/ft-eval-a$1-$2.json 2> /tmp/ft-eval-a$1-$2.err; }
for N in 2048 1024 512; do row 1 $N & row 2 $N & wait; done
for f in /tmp/ft-eval-a*.json; do python3 -c "
import json; r=json.load(open('$f')); print('$f', '%.4f %+.2f%% density %s' % (r['ppl'], 100*(r['ppl']/32.162-1), r['density']))"; done
