# This project's 2-core Xeon, 2026-12-02, commit bbbcf08 (the sink rule as committed): the three tables of this directory (prefill-1k.md, prefill-2k.md, prefill-8k.md)
cd /work/main
G=gates/smollm2-135m-instruct
E="python3 scripts/eval-gates.py --gates $G --text /tmp/eval.txt --threads 2 --phase prefill"
$E --ctx 1024 --windows 16 --policies gate,streaming,random --densities 0.5,0.2 > /tmp/se1k.md 2>&1
$E --ctx 2048 --windows 16 --policies gate,streaming,random --densities 0.5,0.2,0.1 > /tmp/se2k.md 2>&1
$E --ctx 8192 --windows 4 --policies random,oracle,quest --densities 0.5,0.2,0.1 > /tmp/se8k.md 2>&1
echo done > /tmp/sinkeval.done
