#!/bin/bash
cd /work/main
G=gates/smollm2-135m-instruct
run() { # name text dense env args
  local name=$1; shift; local text=$1; shift; local dense=$1; shift; local envs=$1; shift
  env $envs /tmp/seer-hm ppl $text -c 8192 --max-windows 4 --json -t 1 --gates $G "$@" > /tmp/hm_$name.json 2>/tmp/hm_$name.err
  python3 -c "import json; r=json.load(open('/tmp/hm_$name.json')); print('$name', '%.4f' % r['ppl'], '%+.2f%%' % (100*(r['ppl']/$dense-1)), 'density %.4f' % r['density_detail']['prefill']['density'])" >> /tmp/hm_results.txt
}
run hm1_02_t2 /tmp/eval2.txt 36.1340 "SEER_EXP_HM=1" --prefill-sparsity density:0.2 &
run hm1_02_t3 /tmp/eval3.txt 35.3864 "SEER_EXP_HM=1" --prefill-sparsity density:0.2 &
wait
run hm1_05 /tmp/eval.txt 34.3626 "SEER_EXP_HM=1" --prefill-sparsity density:0.5 &
run hm1_013 /tmp/eval.txt 34.3626 "SEER_EXP_HM=1" --prefill-sparsity density:0.13 &
wait
  python3 -c "import json; r=json.load(open('/tmp/hm_$name.json')); print('$name', '%.4f' % r['ppl'], '%+.2f%%' % (100*(r['ppl']/$dense-1)), 'density %.4f' % r['density_detail']['prefill']['density'])" >> /tmp/hm_results.txt
}
run hm1_fr05_01 /tmp/eval.txt 34.3626 "SEER_EXP_HM=1 SEER_EXP_HM_FRAC=0.5" --prefill-sparsity density:0.1 &
run hm1_fr075_01 /tmp/eval.txt 34.3626 "SEER_EXP_HM=1 SEER_EXP_HM_FRAC=0.75" --prefill-sparsity density:0.1 &
wait
run hm1_fr05_02 /tmp/eval.txt 34.3626 "SEER_EXP_HM=1 SEER_EXP_HM_FRAC=0.5" --prefill-sparsity density:0.2 &
run hm1u_01b /tmp/eval.txt 34.3626 "SEER_EXP_HM=1" --prefill-sparsity density:0.1 --uniform-budget &
wait
