#!/usr/bin/env bash
# examples/sparse_generate.cpp against the command line: with fresh gates for the tiny model, the example's
# greedy text must be `seer generate`'s with the same gates and rules, and it must report the blocks kept
# (fewer than all: fresh gates are near uniform, so a threshold of 0.3 keeps only the forced blocks, and a
# 64-token budget one block per step besides them). Prints "N passed, M failed".
set -u
seer="$1" example="$2"
src=$(cd "$(dirname "$0")/.." && pwd)
tiny="$src/tests/data/tiny_hf/llama_f32"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/seer_example.XXXXXX") || exit 1  # this run's own (runs at once must not share)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { if [ "$1" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $2"; fi; }
"$seer" init-gates -m "$tiny" --kind prefill -o "$tmp/gates/prefill" -s 3 > /dev/null 2>&1; ok $? "init-gates prefill"
"$seer" init-gates -m "$tiny" --kind decode -o "$tmp/gates/decode" -s 4 > /dev/null 2>&1; ok $? "init-gates decode"
prompt=$(head -c 420 "$src/tests/data/tdavid_excerpt.txt")
"$example" "$tiny" "$tmp/gates" "$prompt" 24 threshold:0.3 budget:64 > "$tmp/example.txt" 2> "$tmp/example.err"; ok $? "the example runs: $(cat "$tmp/example.err")"
"$seer" generate -m "$tiny" --gates "$tmp/gates" --prefill-sparsity threshold:0.3 --decode-sparsity budget:64 \
  -p "$prompt" -n 24 --temp 0 -q > "$tmp/cli.txt" 2> /dev/null; ok $? "seer generate runs"
head -n -1 "$tmp/example.txt" > "$tmp/example_text.txt"
cmp -s "$tmp/example_text.txt" "$tmp/cli.txt"; ok $? "the example's text is seer generate's: $(cat "$tmp/example_text.txt") | $(cat "$tmp/cli.txt")"
tail -n 1 "$tmp/example.txt" | grep -qE '^prompt [0-9]+ tokens, generated 24; key blocks kept: prefill 0\.[0-9]+, decode 0\.[0-9]+$'
ok $? "the example reports the kept blocks: $(tail -n 1 "$tmp/example.txt")"
"$example" "$tiny" "$tmp/nowhere" "hi" > /dev/null 2> "$tmp/bad.err"; [ $? = 1 ] && grep -q "$tmp/nowhere" "$tmp/bad.err"
ok $? "a missing gate directory is named: $(cat "$tmp/bad.err")"
rm -rf "$tmp"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
