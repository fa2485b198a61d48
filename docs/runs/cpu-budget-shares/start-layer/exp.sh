#!/bin/bash
cd /work/main
G=gates/smollm2-135m-instruct
run() { local name=$1; shift
  /tmp/seer-sl ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates $G --policy gate --prefill-len 6144 "$@" > /tmp/sl_$name.json 2>/tmp/sl_$name.err
  python3 -c "import json; r=json.load(open('/tmp/sl_$name.json')); print('$name', '%.4f' % r['ppl'], '%+.2f%%' % (100*(r['ppl']/32.2060-1)), 'decode density %.4f' % r['density_detail']['decode']['density'])" >> /tmp/sl_results.txt
}
run sl1_1024 --decode-sparsity budget:1024 --start-layer 1 &
run b1216 --decode-sparsity budget:1216 &
wait
