#!/usr/bin/env python3
"""Golden token ids for seer's tokenizer, from an independent implementation.

Reads the corpus of tricky strings (tests/data/tokenizer_corpus.json: a JSON list of strings) and
writes tests/golden/smollm2_tokens.json:

  {"magic": "seer-token-golden", "version": 1, "model": ..., "producer": {...},
   "cases": [{"text": s, "ids": [...], "ids_no_special": [...]}, ...]}

`ids` are produced with special tokens parsed in the text (<|im_start|> -> 1), `ids_no_special`
with them treated as plain text. Neither adds BOS.

Reference, in order of preference:
  * llama.cpp's `llama-tokenize` (--llama-bin DIR or the executable): run once per string and mode,
    text passed via a file (-f, --no-escape) so that whitespace, newlines and backslashes arrive
    unchanged; llama.cpp 0.3.16 comes from PyPI llama-cpp-python's source distribution;
  * PyPI `tokenizers` (--reference tokenizers): a tokenizer.json rebuilt from the GGUF's vocab and
    merges with SmolLM2's pre-tokenizer (Digits(individual_digits) then ByteLevel(use_regex)).

Usage:
  scripts/golden/make_token_golden.py --llama-bin /path/to/llama.cpp/build/bin
  scripts/golden/make_token_golden.py --reference tokenizers
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MODEL = os.path.join(os.environ.get("SEER_HOME", os.path.expanduser("~/.cache/seer")), "models",
                             "SmolLM2-135M-Instruct.Q4_1.gguf")


def gguf_vocab(model_path):
    from gguf import GGUFReader
    r = GGUFReader(model_path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def ints(key):
        f = r.fields[key]
        return [int(f.parts[i][0]) for i in f.data]

    pre = bytes(r.fields["tokenizer.ggml.pre"].parts[-1]).decode()
    return strings("tokenizer.ggml.tokens"), ints("tokenizer.ggml.token_type"), strings("tokenizer.ggml.merges"), pre


def tokenizers_reference(model_path):
    import tokenizers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tokens, types, merges, pre = gguf_vocab(model_path)
    if pre != "smollm":
        sys.exit(f"{model_path}: tokenizer.ggml.pre is {pre!r}; this fallback only rebuilds the smollm pre-tokenizer")
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges])
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = [tokenizers.AddedToken(t, special=True, normalized=False)
                for t, ty in zip(tokens, types) if ty in (3, 4)]
    tok.add_special_tokens(specials)

    def encode(text, parse_special):
        tok.encode_special_tokens = not parse_special
        return tok.encode(text, add_special_tokens=False).ids

    producer = {
        "tool": "tokenizers (PyPI), tokenizer.json rebuilt from the GGUF vocab/merges",
        "version": tokenizers.__version__,
        "pre_tokenizer": "Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]",
        "flags": "add_special_tokens=False (no BOS); ids: special tokens parsed; ids_no_special: encode_special_tokens=True",
    }
    return encode, producer


def llama_reference(bin_dir, model_path):
    exe = bin_dir if os.path.basename(bin_dir) == "llama-tokenize" else os.path.join(bin_dir, "llama-tokenize")
    bin_dir = os.path.dirname(exe)
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe}: not an executable")
    help_text = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout + \
        subprocess.run([exe, "--help"], capture_output=True, text=True).stderr
    has_no_parse_special = "--no-parse-special" in help_text
    version = "unknown"
    for cand in ("llama-cli", "llama-server", "llama-perplexity"):
        p = os.path.join(bin_dir, cand)
        if os.access(p, os.X_OK):
            v = subprocess.run([p, "--version"], capture_output=True, text=True)
            version = (v.stdout + v.stderr).strip().splitlines()[0] if (v.stdout + v.stderr).strip() else version
            break
    version += f" [{os.path.basename(os.path.dirname(os.path.abspath(bin_dir)))}]"

    def encode(text, parse_special):
        with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as fh:
            fh.write(text.encode("utf-8"))
            name = fh.name
        try:
            # --no-escape: by default llama-tokenize turns a literal backslash-n into a newline.
            cmd = [exe, "-m", model_path, "-f", name, "--ids", "--log-disable", "--no-bos", "--no-escape"]
            if not parse_special:
                if not has_no_parse_special:
                    sys.exit(f"{exe}: no --no-parse-special flag")
                cmd.append("--no-parse-special")
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
            lines = [l for l in out.stdout.strip().splitlines() if l.startswith("[")]
            if not lines:
                sys.exit(f"{' '.join(cmd)}: no id list in output: {out.stdout[-2000:]}")
            return json.loads(lines[-1])
        finally:
            os.unlink(name)

    producer = {
        "tool": "llama.cpp llama-tokenize",
        "version": version,
        "flags": "-f FILE --ids --log-disable --no-bos --no-escape; ids_no_special adds --no-parse-special",
    }
    return encode, producer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "tests", "data", "tokenizer_corpus.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "smollm2_tokens.json"))
    ap.add_argument("--llama-bin", help="llama.cpp bin directory holding llama-tokenize")
    ap.add_argument("--reference", choices=["llama.cpp", "tokenizers"], default=None)
    args = ap.parse_args()

    reference = args.reference or ("llama.cpp" if args.llama_bin else "tokenizers")
    if reference == "llama.cpp":
        if not args.llama_bin:
            sys.exit("--reference llama.cpp needs --llama-bin DIR")
        encode, producer = llama_reference(args.llama_bin, args.model)
    else:
        encode, producer = tokenizers_reference(args.model)

    with open(args.corpus, encoding="utf-8") as fh:
        corpus = json.load(fh)
    cases = []
    for text in corpus:
        cases.append({"text": text, "ids": encode(text, True), "ids_no_special": encode(text, False)})
    golden = {
        "magic": "seer-token-golden",
        "version": 1,
        "model": os.path.basename(args.model),
        "model_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "producer": producer,
        "script": "scripts/golden/make_token_golden.py",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(golden, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    print(f"wrote {len(cases)} cases to {args.out} ({producer['tool']} {producer['version']})")


if __name__ == "__main__":
    main()
