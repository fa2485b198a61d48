#!/usr/bin/env bash
# The main job: installs what is missing, fetches the default model, builds, and generates text with
# SeerAttention: the trained AttnGates in gates/smollm2-135m-instruct choose the key blocks, in the
# prefill (SeerAttention, upstream's threshold rule: the blocks whose gate probability exceeds 0.01,
# about half of the causal blocks of this prompt) and in every decode step (SeerAttention-R, a 1024-token
# budget, split over the KV heads by the gates' calibrated budget shares). The default prompt is a ~3,500-token public-domain passage with a question, so
# that both phases are sparse; the achieved density is printed at the end.
# Arguments replace the default prompt and options and go to `seer generate` as they are.
set -euo pipefail
# Set-up runs in the repository; seer runs in the caller's directory, so that relative paths in the
# arguments (-f, -m, --gates) mean what they say.
[ -n "${SEER_HOME:-}" ] && export SEER_HOME="$(realpath -m "$SEER_HOME")"
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && scripts/setup.sh && scripts/fetch-model.sh >/dev/null && scripts/build.sh)
gates="$root/gates/smollm2-135m-instruct"
if [ $# -eq 0 ]; then
  prompt=$(mktemp)
  trap 'rm -f "$prompt"' EXIT
  { cat "$root/tests/data/tdavid_excerpt.txt"; printf '\nIn three sentences: what does this commentary say about the man who is blessed?\n'; } > "$prompt"
  "$root/build/seer" generate --chat -f "$prompt" -n 128 --temp 0.7 --seed 42 \
    --gates "$gates" --prefill-sparsity threshold:0.01 --decode-sparsity budget:1024
  exit
fi
exec "$root/build/seer" generate "$@"
