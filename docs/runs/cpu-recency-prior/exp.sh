#!/bin/bash
cd /work/main
G=gates/smollm2-135m-instruct
run() { local name=$1; shift; local envs=$1; shift
  env $envs /tmp/seer-rec ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates $G "$@" > /tmp/rec_$name.json 2>/tmp/rec_$name.err
  python3 -c "import json; r=json.load(open('/tmp/rec_$name.json')); print('$name', '%.4f' % r['ppl'], '%+.2f%%' % (100*(r['ppl']/34.3626-1)), 'prefill density %.4f' % r['density_detail']['prefill']['density'])" >> /tmp/rec_results.txt
}
run p01_b0.1 "SEER_EXP_RECENCY=0.1" --prefill-sparsity density:0.1 &
run p01_b0.3 "SEER_EXP_RECENCY=0.3" --prefill-sparsity density:0.1 &
wait
run p01_bm0.1 "SEER_EXP_RECENCY=-0.1" --prefill-sparsity density:0.1 &
run p01_b0.03 "SEER_EXP_RECENCY=0.03" --prefill-sparsity density:0.1 &
wait
#!/bin/bash
cd /work/main
G=gates/smollm2-135m-instruct
run() { local name=$1; shift; local envs=$1; shift
  env $envs /tmp/seer-rec ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates $G --policy gate --prefill-len 6144 "$@" > /tmp/rec_$name.json 2>/tmp/rec_$name.err
  python3 -c "import json; r=json.load(open('/tmp/rec_$name.json')); print('$name', '%.4f' % r['ppl'], '%+.2f%%' % (100*(r['ppl']/32.2060-1)), 'decode density %.4f' % r['density_detail']['decode']['density'])" >> /tmp/rec_results.txt
}
run d1024_b0.1 "SEER_EXP_RECENCY_D=0.1" --decode-sparsity budget:1024 &
run d1024_bm0.1 "SEER_EXP_RECENCY_D=-0.1" --decode-sparsity budget:1024 &
wait
#!/bin/bash
cd /work/main
G=gates/smollm2-135m-instruct
run() { local name=$1; shift; local envs=$1; shift
  env $envs /tmp/seer-rec2 ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates $G --policy gate --prefill-len 6144 "$@" > /tmp/rec_$name.json 2>/tmp/rec_$name.err
  python3 -c "import json; r=json.load(open('/tmp/rec_$name.json')); print('$name', '%.4f' % r['ppl'], '%+.2f%%' % (100*(r['ppl']/32.2060-1)), 'decode density %.4f' % r['density_detail']['decode']['density'])" >> /tmp/rec_results.txt
}
run d1024_early1 "SEER_EXP_EARLY_D=1" --decode-sparsity budget:1024 &
run d1024_early2 "SEER_EXP_EARLY_D=2" --decode-sparsity budget:1024 &
wait
#!/bin/bash
cd /work/main
G=gates/smollm2-135m-instruct
run() { local name=$1; shift; local text=$1; shift; local dense=$1; shift; local envs=$1; shift
  env $envs /tmp/seer-rec2 ppl $text -c 8192 --max-windows 4 --json -t 1 --gates $G --policy gate --prefill-len 6144 "$@" > /tmp/rec_$name.json 2>/tmp/rec_$name.err
  python3 -c "import json; r=json.load(open('/tmp/rec_$name.json')); print('$name', '%.4f' % r['ppl'], '%+.2f%%' % (100*(r['ppl']/$dense-1)), 'decode density %.4f' % r['density_detail']['decode']['density'])" >> /tmp/rec_results.txt
}
run d512_bm0.3 /tmp/eval.txt 32.2060 "SEER_EXP_RECENCY_D=-0.3" --decode-sparsity budget:512 &
run d2048_bm0.3 /tmp/eval.txt 32.2060 "SEER_EXP_RECENCY_D=-0.3" --decode-sparsity budget:2048 &
wait
run t2_d1024_bm0.3 /tmp/eval2.txt 32.7704 "SEER_EXP_RECENCY_D=-0.3" --decode-sparsity budget:1024 &
run d1024_bm0.3_unif /tmp/eval.txt 32.2060 "SEER_EXP_RECENCY_D=-0.3" --decode-sparsity budget:1024 --uniform-budget &
wait
