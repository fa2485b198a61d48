#!/usr/bin/env bash
# Evaluate the two experiment runs on the four CPU windows: prefill Top-K 0.2 / 0.1, decode budgets 1024 / 512.
cd /work/main
for v in base nosink; do
  envv=""; [ $v = nosink ] && envv="SEER_EXP_NOSINK=1"
  ( for job in p0.1 d512 p0.2 d1024; do
      case $job in
        p*) args="--prefill-sparsity density:${job#p}" ;;
        d*) args="--prefill-len 6144 --decode-sparsity budget:${job#d}" ;;
      esac
      env $envv /tmp/seer-exp ppl /tmp/eval.txt -c 8192 --max-windows 4 -t 1 --gates /tmp/x-$v --policy gate $args --json > /tmp/xe-$v-$job.json 2>/tmp/xe-$v-$job.err
    done ) &
done
wait
for f in /tmp/xe-*.json; do python3 -c "import json,sys; j=json.load(open('$f')); print('$f', round(j['ppl'],4), j['density'], j.get('density_detail',{}).get('decode',{}).get('forced'))"; done
