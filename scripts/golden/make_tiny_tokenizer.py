#!/usr/bin/env python3
"""Tiny byte-level BPE tokenizers trained with PyPI `tokenizers`, for seer's tokenizer.json tests.

Writes, under tests/data/tiny_tokenizer/:
  smollm/tokenizer.json         Sequence[Digits(individual_digits), ByteLevel]   (SmolLM2 style)
  smollm/tokenizer_config.json  bos/eos, add_bos_token, a ChatML chat_template
  llama3/tokenizer.json         Sequence[Split(Llama-3 regex), ByteLevel(use_regex=False)]
  qwen2/tokenizer.json          Sequence[Split(Qwen2 regex), ByteLevel(use_regex=False)]
  gpt2/tokenizer.json           ByteLevel only
smollm and gpt2 store merges as "a b" strings, llama3 and qwen2 as [a, b] pairs; llama3 sets
"ignore_merges": true like Meta's file.
  golden.json                   {dir: [{"text", "ids"}]}: ids `tokenizers` gives (no post-processing)

Training is deterministic for a fixed corpus and `tokenizers` version; the golden ids are
re-derived here from the saved files, so the pair (file, ids) is always consistent.
"""
import json
import os

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "tiny_tokenizer")

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
         r"|\s*[\r\n]+|\s+(?!\S)|\s+")

TRAIN = [
    "The quick brown fox jumps over the lazy dog.",
    "A tokenizer splits text into pieces, then merges frequent pairs of symbols.",
    "Numbers like 12345 and 2024 are split digit by digit in SmolLM2.",
    "Don't worry, we'll test contractions: it's, they're, I've, I'm, she'd.",
    "def main():\n    return 0\n",
    "Unicode: café, naïve, Привет мир, 你好世界, emoji 🚀🎉.",
    "the the the then there these those theory thermal",
] * 3

TESTS = [
    "",
    "The quick brown fox.",
    "they're 1234567 foxes",
    "  leading and trailing  ",
    "tabs\tand\nnewlines\n\n",
    "café 你好 🚀 unseen ☃ words",
    "<|im_start|>user\nhello<|im_end|>",
    "DON'T SHOUT",
    "x=42;y=7",
]



def fuzz_text(seed, n):
    """Random code points from many Unicode blocks mixed with odd whitespace, digits and quotes."""
    import random
    rnd = random.Random(seed)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2070, 0x218F), (0x3000, 0x30FF),
              (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0xFE00, 0xFFEF), (0x1F300, 0x1FAFF), (0x1D400, 0x1D7FF)]
    spaces = [" ", "  ", "\n", "\t", " \n ", "\r\n", "\u00a0", "\u3000", "\u2009", "\u200b", "\u0085", "\u2028"]
    out = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.15:
            out.append(rnd.choice(spaces))
        elif r < 0.25:
            out.append(rnd.choice("0123456789'"))
        else:
            a, b = rnd.choice(blocks)
            out.append(chr(rnd.randint(a, b)))
    return "".join(out)


TESTS.append(fuzz_text(1, 2000))

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
                 " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
                 "{{ '<|im_start|>assistant\\n' }}{% endif %}")


def build(kind):
    tok = Tokenizer(models.BPE())
    if kind == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    elif kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        pattern = LLAMA3 if kind == "llama3" else QWEN2
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN, trainer=trainer)
    return tok


def main():
    golden = {"magic": "seer-tiny-tokenizer-golden", "version": 1,
              "producer": {"tool": "tokenizers (PyPI)", "version": tokenizers.__version__,
                           "flags": "encode(text, add_special_tokens=False)"},
              "script": "scripts/golden/make_tiny_tokenizer.py", "cases": {}}
    for kind in ("smollm", "llama3", "qwen2", "gpt2"):
        d = os.path.join(OUT, kind)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "tokenizer.json")
        build(kind).save(path)
        with open(path, encoding="utf-8") as fh:
            j = json.load(fh)
        # Both merge formats: "a b" strings (older files, SmolLM2) and [a, b] pairs (newer files).
        if kind in ("smollm", "gpt2"):
            j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
        else:
            j["model"]["merges"] = [m.split(" ", 1) if isinstance(m, str) else m for m in j["model"]["merges"]]
        if kind == "llama3":  # as in Meta's Llama-3 tokenizer.json; seer implies it from the regex
            j["model"]["ignore_merges"] = True
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(j, fh, ensure_ascii=False, indent=1)
        if kind == "smollm":
            with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as fh:
                json.dump({"add_bos_token": False, "bos_token": "<|im_start|>",
                           "eos_token": {"content": "<|im_end|>", "special": True},
                           "pad_token": "<|endoftext|>", "chat_template": CHAT_TEMPLATE}, fh, indent=1)
        tok = Tokenizer.from_file(path)  # ids from the saved file, as seer reads it
        golden["cases"][kind] = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in TESTS]
    with open(os.path.join(OUT, "golden.json"), "w", encoding="utf-8") as fh:
        json.dump(golden, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    print(f"wrote {OUT} (tokenizers {tokenizers.__version__})")


if __name__ == "__main__":
    main()
