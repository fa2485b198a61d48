#!/usr/bin/env bash
# After train.sh: the shipped prefill gate copied in (no budget shares in the fine-tunes: uniform budgets), the four
# CPU windows of eval.txt at each decode budget, two rows at a time (dense 32.2060).
S=${SEER:-build/seer}
for a in ctl c16; do [ -d /tmp/ft-$a/prefill ] || cp -r gates/smollm2-135m-instruct/prefill /tmp/ft-$a/; done
row() { $S ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates /tmp/ft-$1 --policy gate --prefill-len 6144 \
  --decode-sparsity budget:$2 > docs/runs/cpu-coarse-kl/eval-$1-$2.json 2> /dev/null; }
for N in 1024 512 2048; do row ctl $N & row c16 $N & wait; done
for f in docs/runs/cpu-coarse-kl/eval-*.json; do python3 -c "
import json; r=json.load(open('$f')); print('$f', '%.4f %+.2f%% density %.4f' % (r['ppl'], 100*(r['ppl']/32.2060-1), r['density']))"; done
