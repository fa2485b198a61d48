#!/usr/bin/env bash
# Command-line conventions of `seer`: exit codes, messages, --help, --json keys, and a greedy
# answer from the default model (skipped when it is not cached). Prints "N passed, M failed".
set -u
seer="$1"
pass=0
fail=0
# A directory of this run's own: two runs at once (a CI clone beside a developer's build) must not share one.
work=$(mktemp -d "${TMPDIR:-/tmp}/seer_cli.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
check() {  # check NAME EXPECTED_RC COMMAND... ; stdout+stderr in $out
  local name=$1 want=$2
  shift 2
  out=$("$@" 2>&1)
  local rc=$?
  if [ "$rc" -eq "$want" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name: rc $rc, want $want: $out"; fi
}
contains() {  # contains NAME TEXT
  if grep -qF -- "$2" <<<"$out"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: output lacks '$2': $out"; fi
}

lacks() {  # lacks NAME TEXT
  if grep -qF -- "$2" <<<"$out"; then fail=$((fail + 1)); echo "FAIL $1: output has '$2': $out"; else pass=$((pass + 1)); fi
}

# OpenBLAS kernels: on a CPU with AVX2 and FMA, never an SSE-only set (seer starts again with
# OPENBLAS_CORETYPE when the library took one: src/core/blas_kernels.h); a user's choice is kept.
check "version" 0 "$seer" --version
contains "version names the BLAS kernels" "OpenBLAS kernels: "
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  for old in Prescott Core2 Penryn Dunnington Nehalem Atom Unknown; do
    lacks "AVX2 CPU without $old kernels" "kernels: $old)"
  done
  check "version with OPENBLAS_CORETYPE" 0 env OPENBLAS_CORETYPE=Haswell "$seer" --version
  contains "OPENBLAS_CORETYPE kept" "kernels: Haswell)"
fi
# Started through an explicit loader (as scripts/gpu-e2e.sh does), /proc/self/exe is the loader:
# seer must not start that again with its own arguments.
if [ -x /lib64/ld-linux-x86-64.so.2 ]; then
  check "through the loader" 0 /lib64/ld-linux-x86-64.so.2 "$seer" --version
  contains "through the loader runs seer" "seer "
  lacks "through the loader, not the loader's own --version" "ld.so ("
fi

check "no subcommand" 2 "$seer"
check "unknown flag" 2 "$seer" generate --bogus
contains "unknown flag message" "--bogus"
check "bad value" 2 "$seer" generate -p hi --temp -1
contains "bad value says what is wrong" "--temp: must be in [0, 1e+06], got -1"
check "bad list value" 2 "$seer" train-gates -m /nowhere --data x -o y --seq-len 1024,0
contains "bad list value names the element" "--seq-len: must be positive, got 0"
check "bad sparsity" 2 "$seer" ppl /dev/null --prefill-sparsity density:2
contains "bad sparsity names flag and value" "density:2"
check "help" 0 "$seer" generate --help
contains "help lists --prefill-sparsity" "--prefill-sparsity"
check "ppl help" 0 "$seer" ppl --help
contains "ppl help lists --prefill-len" "--prefill-len"
check "missing model" 1 "$seer" info -m /nonexistent/model.gguf
contains "missing model names the file" "/nonexistent/model.gguf"
printf 'GGUF\x03\x00\x00\x00' > "$work/seer_cli_truncated.gguf"
check "truncated gguf" 1 "$seer" info -m "$work/seer_cli_truncated.gguf"
contains "truncated gguf names the file" "seer_cli_truncated.gguf"

src=$(cd "$(dirname "$0")/.." && pwd)
tiny="$src/tests/data/tiny_hf/llama_f32"
tmp="$work/train"
rm -rf "$tmp" && mkdir -p "$tmp/corpus"
for i in 0 1 2 3 4 5; do cut -c $((i * 1500 + 1))-$((i * 1500 + 1500)) "$src/tests/data/tdavid_excerpt.txt" > "$tmp/corpus/d$i.txt"; done
check "train-gates missing --data" 2 "$seer" train-gates -m "$tiny" -o "$tmp/out"
check "train-gates bad kind" 2 "$seer" train-gates -m "$tiny" --kind both2 --data "$tmp/corpus" -o "$tmp/out"
check "train-gates bad ground truth" 2 "$seer" train-gates -m "$tiny" --ground-truth sum --data "$tmp/corpus" -o "$tmp/out"
contains "train-gates names the ground truths" "mass"
check "train-gates bad gate type" 2 "$seer" train-gates -m "$tiny" --gate-type Qfoo_Kmax --data "$tmp/corpus" -o "$tmp/out"
contains "train-gates names the gate type" "Qfoo_Kmax"
check "init-gates bad gate type" 2 "$seer" init-gates -m "$tiny" --gate-type Kmax -o "$tmp/out"
check "train-gates group-pool sum for a prefill gate" 2 "$seer" train-gates -m "$tiny" --group-pool sum --data "$tmp/corpus" -o "$tmp/out"
contains "train-gates names --group-pool" "--group-pool"
check "train-gates missing data path" 1 "$seer" train-gates -m "$tiny" --data "$tmp/nowhere" -o "$tmp/out" --seq-len 256
contains "train-gates names the data path" "$tmp/nowhere"
mkdir -p "$tmp/binary" && cp "$seer" "$tmp/binary/seer.txt"
check "train-gates binary data" 1 "$seer" train-gates -m "$tiny" --data "$tmp/binary" -o "$tmp/out-binary" --seq-len 256
contains "train-gates binary data names the file" "seer.txt: not a text file"
check "train-gates seq-len above context" 1 "$seer" train-gates -m "$tiny" --data "$tmp/corpus" -o "$tmp/out" --seq-len 100000
contains "train-gates names the context" "context"
check "train-gates cuda" 1 "$seer" train-gates -m "$tiny" --data "$tmp/corpus" -o "$tmp/out" --device cuda
contains "train-gates cuda says why" "CUDA"
# This CPU build has no CUDA backend: --device cuda names that (a CUDA build without a GPU names that).
check "generate --device cuda" 1 "$seer" generate -m "$tiny" -p hi -n 1 --device cuda
contains "generate cuda says why" "CUDA"
check "ppl --device bogus" 2 "$seer" ppl -m "$tiny" /dev/null --device tpu
check "ppl --f32-matmul with cuda" 2 "$seer" ppl -m "$tiny" /dev/null --f32-matmul --device cuda
contains "--f32-matmul names the CPU" "for the CPU"
check "generate --f32-matmul" 0 "$seer" generate -m "$tiny" -p hi -n 2 --f32-matmul
check "train-gates runs" 0 "$seer" train-gates -m "$tiny" --kind both --data "$tmp/corpus" -o "$tmp/out" \
  --steps 3 --seq-len 256 --batch 2 --decode-tokens 16 --eval-fraction 0
contains "train-gates progress line" "ETA"
for f in prefill/config.json decode/gates.safetensors checkpoint/state.json loss.tsv eval_documents.txt; do
  check "train-gates wrote $f" 0 test -f "$tmp/out/$f"
done
check "train-gates refuses to overwrite" 1 "$seer" train-gates -m "$tiny" --kind both --data "$tmp/corpus" -o "$tmp/out" \
  --steps 3 --seq-len 256 --batch 2 --decode-tokens 16 --eval-fraction 0
contains "train-gates suggests --resume" "--resume"
check "train-gates --init from a run" 0 "$seer" train-gates -m "$tiny" --kind both --data "$tmp/corpus" -o "$tmp/out2" \
  --steps 2 --seq-len 256 --decode-tokens 16 --eval-fraction 0 --init "$tmp/out" --seed 5
check "train-gates --ground-truth mass" 0 "$seer" train-gates -m "$tiny" --kind prefill --data "$tmp/corpus" \
  -o "$tmp/out-mass" --steps 2 --seq-len 256 --eval-fraction 0 --ground-truth mass
check "train-gates resume without --ground-truth mass" 1 "$seer" train-gates -m "$tiny" --kind prefill \
  --data "$tmp/corpus" -o "$tmp/out-mass" --steps 2 --seq-len 256 --eval-fraction 0 --resume
contains "train-gates names the changed ground truth" "ground_truth"
check "train-gates --exclude-sink" 0 "$seer" train-gates -m "$tiny" --kind both --data "$tmp/corpus" \
  -o "$tmp/out-nosink" --steps 2 --seq-len 256 --decode-tokens 16 --eval-fraction 0 --exclude-sink
check "--exclude-sink is in the decode gate's config" 0 grep -q '"seer_gate_sink_excluded": true' "$tmp/out-nosink/decode/config.json"
check "gates without block 0 load on the CPU" 0 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 \
  --max-windows 1 --gates "$tmp/out-nosink" --prefill-sparsity threshold:0.05 --decode-sparsity budget:64
check "train-gates --init without gates" 1 "$seer" train-gates -m "$tiny" --data "$tmp/corpus" -o "$tmp/out3" \
  --steps 2 --seq-len 256 --init "$tmp/corpus"
check "trained gates load" 0 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 --max-windows 1 \
  --gates "$tmp/out" --prefill-sparsity density:0.5 --decode-sparsity budget:64
# The int8 K-compression cache is the default, --gate-cache-bf16 turns it off (ppl --json names the policy's cache).
cache_of() {  # cache_of [FLAG]: the "gate_cache" of a decode run with the tiny gates
  "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 --max-windows 1 --gates "$tmp/out" \
    --decode-sparsity budget:64 --prefill-len 192 --json "$@" 2>/dev/null | grep -oE '"gate_cache":"[a-z0-9]+"'
}
check "the gate cache is int8 by default" 0 test "$(cache_of)" = '"gate_cache":"int8"'
check "--gate-cache-bf16 keeps bf16 entries" 0 test "$(cache_of --gate-cache-bf16)" = '"gate_cache":"bf16"'
check "--gate-cache-int8 is the default's cache" 0 test "$(cache_of --gate-cache-bf16 --gate-cache-int8)" = '"gate_cache":"int8"'
check "--gate-cache-int8" 0 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 --max-windows 1 \
  --gates "$tmp/out" --decode-sparsity budget:64 --prefill-len 192 --gate-cache-int8
# --gate-upstream-rope reaches the decode gate's cache: another rotation of completed blocks, another ppl.
rope_ppl() { "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 512 --max-windows 1 --gates "$tmp/out" \
  --decode-sparsity budget:64 --prefill-len 64 --json "$@" 2>/dev/null | grep -oE '"ppl":[0-9.]+' | head -1; }
check "--gate-upstream-rope changes the decode gate" 0 test "$(rope_ppl)" != "$(rope_ppl --gate-upstream-rope)"
check "--gate-upstream-rope without gates" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 \
  --gate-upstream-rope
check "--gate-cache-bf16 with dense attention" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 \
  --gate-cache-bf16
check "--gate-cache-int8 without a gate" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 \
  --policy streaming --decode-sparsity budget:64 --gate-cache-int8
contains "--gate-cache-int8 without a gate says why" "needs the gate policy"
check "--gate-cache-bf16 without a gate" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 \
  --policy streaming --decode-sparsity budget:64 --gate-cache-bf16
contains "--gate-cache-bf16 without a gate names it" "--gate-cache-bf16 needs the gate policy"
check "no cache flag, no gate: no complaint" 0 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 \
  --max-windows 1 --policy streaming --decode-sparsity budget:64 --prefill-len 192
check "--gate-query-unfolded on the CPU" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" -c 256 \
  --max-windows 1 --gates "$tmp/out" --decode-sparsity budget:64 --prefill-len 192 --gate-query-unfolded
contains "--gate-query-unfolded names the GPU" "--device cuda"
check "--init and a fresh gate's option" 2 "$seer" train-gates -m "$tiny" --data "$tmp/corpus" -o "$tmp/out4" \
  --init "$tmp/out" --hidden-size 32
contains "--init names the option it excludes" "--hidden-size"
check "--init names itself" 1 "$seer" train-gates -m "$tiny" --data "$tmp/corpus" -o "$tmp/out4" --seq-len 256 \
  --eval-fraction 0 --init "$tmp/nowhere"
contains "--init names itself in the error" "--init $tmp/nowhere"
check "--min-lr above --lr" 2 "$seer" train-gates -m "$tiny" --data "$tmp/corpus" -o "$tmp/out4" --lr 1e-3 --min-lr 1
contains "--min-lr above --lr names both" "--min-lr 1 is above the peak --lr"
check "init-gates" 0 "$seer" init-gates -m "$tiny" -o "$tmp/init"
check "init-gates refuses to overwrite" 1 "$seer" init-gates -m "$tiny" -o "$tmp/init"
contains "init-gates suggests --force" "--force"
check "init-gates --force" 0 "$seer" init-gates -m "$tiny" -o "$tmp/init" --kind decode --force
# calibrate-budget: the decode gate's budget shares, written beside its config.json and followed by budget:N.
ex="$src/tests/data/tdavid_excerpt.txt"
check "calibrate-budget" 0 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" -c 256 --prefill-len 192 \
  --max-windows 1
contains "calibrate-budget names the file" "$tmp/out/decode/budget_shares.json"
check "calibrate-budget wrote the shares" 0 grep -q '"shares"' "$tmp/out/decode/budget_shares.json"
check "calibrate-budget refuses to overwrite" 1 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" -c 256 \
  --prefill-len 192 --max-windows 1
contains "calibrate-budget suggests --force" "--force"
check "calibrate-budget --force" 0 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" -c 256 \
  --prefill-len 192 --max-windows 1 --mass 0.5 --force
check "calibrate-budget recorded the rule" 0 grep -q '"mass:0.5"' "$tmp/out/decode/budget_shares.json"
check "train-gates --init from gates with shares" 0 "$seer" train-gates -m "$tiny" --kind both --data "$tmp/corpus" \
  -o "$tmp/out5" --steps 1 --seq-len 256 --decode-tokens 16 --eval-fraction 0 --init "$tmp/out"
check "trained gates do not keep the starting gates' shares" 1 test -e "$tmp/out5/decode/budget_shares.json"
check "nor do their checkpoints" 1 test -e "$tmp/out5/checkpoint/decode/budget_shares.json"
check "calibrate-budget without a decode gate" 1 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out-mass" "$ex" -c 256
contains "calibrate-budget says what is missing" "no decode gate"
check "calibrate-budget on a text shorter than a window" 1 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" \
  -c 100000 --force
contains "calibrate-budget names the window" "fewer than one window"
check "calibrate-budget --mass 0" 2 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" --mass 0
check "a budget split by the shares" 0 "$seer" ppl "$ex" -m "$tiny" -c 256 --max-windows 1 --gates "$tmp/out" \
  --decode-sparsity budget:64 --prefill-len 192
contains "the density line says the budget is split" "split over the KV heads by the gates' budget shares"
check "--uniform-budget" 0 "$seer" ppl "$ex" -m "$tiny" -c 256 --max-windows 1 --gates "$tmp/out" \
  --decode-sparsity budget:64 --prefill-len 192 --uniform-budget
lacks "--uniform-budget does not split" "budget shares"
check "--uniform-budget without a budget" 2 "$seer" ppl "$ex" -m "$tiny" -c 256 --policy streaming \
  --decode-sparsity budget:64 --uniform-budget
contains "--uniform-budget says what it is for" "--uniform-budget is for the gate policy"
check "--uniform-budget with threshold rules" 2 "$seer" ppl "$ex" -m "$tiny" -c 256 --gates "$tmp/out" \
  --prefill-sparsity threshold:0.1 --uniform-budget
contains "--uniform-budget names both rules" "density:RHO"
# calibrate-budget --kind prefill: the prefill gate's shares of density:RHO's Top-K over the query heads.
check "calibrate-budget --kind prefill" 0 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" -c 256 \
  --max-windows 1 --kind prefill
contains "calibrate-budget --kind prefill names the file" "$tmp/out/prefill/budget_shares.json"
contains "calibrate-budget --kind prefill says which heads" "query heads"
check "prefill shares name the query heads" 0 grep -q '"num_attention_heads"' "$tmp/out/prefill/budget_shares.json"
check "prefill shares record the default rule" 0 grep -q '"mass:0.8"' "$tmp/out/prefill/budget_shares.json"
check "calibrate-budget --kind prefill --prefill-len" 2 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" \
  -c 256 --kind prefill --prefill-len 192 --force
contains "--prefill-len is for decode" "whole windows"
check "calibrate-budget --kind other" 2 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" --kind both
check "a Top-K split by the shares" 0 "$seer" ppl "$ex" -m "$tiny" -c 256 --max-windows 1 --gates "$tmp/out" \
  --prefill-sparsity density:0.3
contains "the density line says the Top-K is split" "prefill Top-K split over the query heads"
check "both split" 0 "$seer" ppl "$ex" -m "$tiny" -c 256 --max-windows 1 --gates "$tmp/out" \
  --prefill-sparsity density:0.3 --decode-sparsity budget:64 --prefill-len 192
contains "the density line says both are split" "prefill Top-K and the decode budget split"
check "--uniform-budget with a Top-K" 0 "$seer" ppl "$ex" -m "$tiny" -c 256 --max-windows 1 --gates "$tmp/out" \
  --prefill-sparsity density:0.3 --uniform-budget
lacks "--uniform-budget does not split the Top-K" "budget shares"
check "calibrate-budget --kind prefill without a prefill gate" 1 "$seer" calibrate-budget -m "$tiny" \
  --gates "$tmp/out/decode" "$ex" -c 256 --kind prefill
contains "calibrate-budget says no prefill gate" "no prefill gate"
check "ppl decode sparsity without --prefill-len warns" 0 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" \
  -c 256 --max-windows 1 --gates "$tmp/out" --decode-sparsity budget:64
contains "the warning names --prefill-len" "--prefill-len"
check "calibrate-budget where every block is kept" 1 "$seer" calibrate-budget -m "$tiny" --gates "$tmp/out" "$ex" \
  -c 256 --prefill-len 192 --max-windows 1 --mass 1 --force
contains "calibrate-budget writes no uniform shares" "every head kept all of its blocks"
check "--warmup past --steps warns" 0 "$seer" train-gates -m "$tiny" --kind prefill --data "$tmp/corpus" \
  -o "$tmp/out-warm" --steps 1 --seq-len 256 --eval-fraction 0
contains "--warmup past --steps says so" "every step runs in the warmup"
rm -rf "$tmp"

# Values a demanding user gets wrong, each refused with its flag named (exit 2) before any model loads.
check "threads far above the cores" 2 "$seer" generate -m "$tiny" -p hi -n 1 -t 100000
contains "threads names the flag" "--threads"
check "non-finite temperature" 2 "$seer" generate -m "$tiny" -p hi -n 1 --temp nan
contains "temperature says finite" "finite"
check "non-finite top-p" 2 "$seer" generate -m "$tiny" -p hi -n 1 --top-p nan
check "an option before the subcommand" 2 "$seer" -t 2 info
contains "an option before the subcommand says where it goes" "options go after it"
check "unknown subcommand" 2 "$seer" gen -p hi
contains "unknown subcommand names it" "unknown subcommand 'gen'"
check "empty model path" 2 "$seer" info -m ""
contains "empty model path names the flag" "--model"
check "prompt and prompt file" 2 "$seer" generate -m "$tiny" -p hi -f "$src/README.md"
check "--system without --chat" 2 "$seer" generate -m "$tiny" -p hi --system x
check "sparsity with dense attention" 2 "$seer" generate -m "$tiny" -p hi -n 1 --prefill-sparsity density:0.1
contains "sparsity with dense attention says what is missing" "--gates DIR or --policy P"
check "--start-layer beyond the layers" 2 "$seer" generate -m "$tiny" -p hi -n 1 --policy streaming \
  --prefill-sparsity density:0.5 --start-layer 100
check "decode ,nosink" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -m "$tiny" --policy streaming \
  --prefill-len 128 --decode-sparsity budget:64,nosink
check "a prefill option for a decode gate" 2 "$seer" init-gates -m "$tiny" -o "$work/never" --kind decode \
  --gate-type Qavg_Kmax
contains "a prefill option for a decode gate says why" "--gate-type shapes prefill gates"
check "a decode option for a prefill gate" 2 "$seer" train-gates -m "$tiny" --data x -o "$work/never" \
  --q-pooling Qavg
contains "a decode option for a prefill gate says why" "--q-pooling shapes decode gates"
check "--hidden-size odd" 2 "$seer" init-gates -m "$tiny" -o "$work/never" --hidden-size 7
check "a repeated option: the last wins" 0 "$seer" generate -m "$tiny" -p hi -n 1 -n 2 --temp 0 -q
check "the context's end is named" 0 "$seer" generate -m "$tiny" -p hi -n 50 -c 4 --temp 0
contains "the context's end is named" "the context is full"

# Numbers are decimal: CLI11 alone would read 010 as 8 and 0x10 as 16, and clamp a seed past 64 bits.
check "a leading 0 is refused" 2 "$seer" generate -m "$tiny" -p hi -n 010
contains "a leading 0 is named" "--n-predict: expects a decimal number without a leading 0 or 0x, got 010"
check "hex is refused" 2 "$seer" generate -m "$tiny" -p hi -n 2 -s 0x10
check "a seed past 64 bits is refused" 2 "$seer" generate -m "$tiny" -p hi -n 2 -s 99999999999999999999999
contains "a seed past 64 bits says so" "--seed: out of range"
check "a negative train-gates seed is refused" 2 "$seer" train-gates -m "$tiny" --data x -o "$work/never" -s -1
check "an open range reads as one" 2 "$seer" calibrate-budget -m "$tiny" --gates x "$ex" --mass 0
contains "an open range reads as one" "must be in (0, 1], got 0"
# An unknown option is named, wherever it stands, even before a positional file.
check "a mistyped option before the file" 2 "$seer" ppl -m "$tiny" --max-window 2 "$ex"
contains "a mistyped option is named" "unknown option '--max-window'"
printf 'abc\0def' > "$work/nul.txt"
check "a NUL byte in the prompt is echoed" 0 bash -c "'$seer' generate -m '$tiny' -f '$work/nul.txt' -n 1 --temp 0 2>/dev/null | od -c | grep -q 'c  \\\\0   d'"
dens() { "$seer" ppl -m "$tiny" "$ex" -c 256 --max-windows 1 --policy streaming --json --prefill-sparsity "$1" 2>/dev/null | grep -oE '"density":[0-9.]+' | head -1 | cut -d: -f2; }
check ",lastdense turns the last two rows on" 0 awk -v a="$(dens density:0.3,nosink)" -v b="$(dens density:0.3,nosink,lastdense)" 'BEGIN { exit !(b > a) }'
check "help before the subcommand" 0 "$seer" --help generate
check "help after an unknown option" 0 "$seer" generate --bogus -h
check "help wins over a bad value" 0 "$seer" generate -h -n abc
contains "help wins over a bad value" "Usage:"
check "an option's value may start with a dash" 0 "$seer" generate -m "$tiny" -p -5 -n 1 --temp 0 -q
# Inputs that give nothing to do.
check "no prompt is a usage error" 2 "$seer" generate -m "$tiny" -n 2
: > "$work/empty.txt"
check "an empty prompt file" 1 "$seer" generate -m "$tiny" -n 2 -f "$work/empty.txt"
contains "an empty prompt file is named" "--prompt-file $work/empty.txt is empty"
check "ppl of an empty file" 1 "$seer" ppl -m "$tiny" "$work/empty.txt"
contains "ppl names the empty file" "$work/empty.txt: the text has 0 tokens"
head -c 100 "$ex" > "$work/short.txt"
check "--prefill-len past a short text" 1 "$seer" ppl -m "$tiny" "$work/short.txt" -c 256 --prefill-len 192
contains "--prefill-len past a short text says why" "leaves no decode step"
# Options that would change nothing are refused.
check "--block-size without a policy" 2 "$seer" ppl -m "$tiny" "$ex" -c 256 --max-windows 1 --block-size 128
contains "--block-size without a policy is named" "--block-size shapes a sparse policy"
check "--policy-seed without the random policy" 2 "$seer" ppl -m "$tiny" "$ex" -c 256 --max-windows 1 \
  --policy streaming --prefill-sparsity density:0.5 --policy-seed 5
contains "--policy-seed names the policy" "the policy is streaming"
check "--policy-seed with the random policy" 0 "$seer" ppl -m "$tiny" "$ex" -c 256 --max-windows 1 \
  --policy random --prefill-sparsity density:0.5 --policy-seed 5
check "an empty --system without --chat" 2 "$seer" generate -m "$tiny" -p hi -n 1 --system ""
check "--data with an empty path" 2 "$seer" train-gates -m "$tiny" --data "" -o "$work/never"

model="${SEER_HOME:-$HOME/.cache/seer}/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -f "$model" ]; then
  check "generate" 0 "$seer" generate -p "The capital of France is" -n 8 --temp 0 -q
  contains "greedy answer" "Paris"
  check "info" 0 "$seer" info
  contains "info architecture" "llama"
  contains "info tensor types" "Q4_1"
  check "ppl json" 0 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" -c 256 --max-windows 1 --json \
    --policy streaming --prefill-sparsity density:0.5
  for key in '"ppl"' '"nll"' '"tokens"' '"windows"' '"ctx"' '"density"' '"density_per_layer"'; do
    contains "ppl json key $key" "$key"
  done
  check "unknown policy" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" --policy nope
  contains "unknown policy lists the valid ones" "oracle"
  check "gate without gates" 2 "$seer" ppl "$src/tests/data/tdavid_excerpt.txt" --policy gate
  printf '\xff\xfe' > "$work/ff.txt"  # bytes SmolLM2's tokenizer drops
  check "a prompt of no tokens" 1 "$seer" generate -f "$work/ff.txt" -n 1
  contains "a prompt of no tokens says so" "the prompt gives no tokens"
  lacks "a prompt of no tokens echoes nothing" $'\xff'
  check "--system \"\" is an empty system turn" 0 "$seer" generate -p "Say hi." --chat --system "" -n 1 --temp 0
  contains "--system \"\" is an empty system turn" "prompt 17 tokens"
else
  echo "default model not cached: skipping the model checks"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
