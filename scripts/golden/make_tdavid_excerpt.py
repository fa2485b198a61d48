#!/usr/bin/env python3
"""Extract and clean Spurgeon's *Treasury of David* (public domain) with Debian's diatheke.

Needs `apt-get install sword-comm-tdavid diatheke`. diatheke prints one entry per verse, each line
starting with its key ("Psalms 1:1: "), uses '*' as emphasis markers and ends with "(TDavid)".
Cleaning: drop the keys, drop the '*' markers, drop the module tag, collapse every run of whitespace to
one space. Nothing else is changed (punctuation, quotes and case are kept).

  make_tdavid_excerpt.py                 -> writes tests/data/tdavid_excerpt.txt (the committed excerpt:
                                            the first N_CHARS characters of Psalm 1, cut at a sentence end)
  make_tdavid_excerpt.py --all OUT.txt   -> the whole cleaned commentary (Psalms 1-150), one psalm a line
"""
import argparse
import os
import re
import subprocess
import sys

N_CHARS = 15000  # ~3,300 tokens with SmolLM2's tokenizer: six full 512-token windows
KEY = re.compile(r"^Psalms \d+:\d+: ?", re.M)


def extract(key: str) -> str:
    out = subprocess.run(["diatheke", "-b", "TDavid", "-f", "plain", "-k", key],
                         check=True, capture_output=True, text=True).stdout
    return out


def clean(raw: str) -> str:
    raw = raw.replace("(TDavid)", "")
    raw = KEY.sub(" ", raw)
    raw = raw.replace("*", " ")
    raw = re.sub(r"\s+", " ", raw)
    # emphasis markers left spaces before punctuation ("foo * ." -> "foo ."); undo only that.
    raw = re.sub(r" ([.,;:!?])", r"\1", raw)
    return raw.strip()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", metavar="OUT", help="write the whole cleaned commentary here")
    args = ap.parse_args()
    if args.all:
        with open(args.all, "w", encoding="utf-8") as f:
            for ps in range(1, 151):
                f.write(clean(extract(f"Psalms {ps}")) + "\n")
        print(args.all)
        return 0
    text = clean(extract("Psalms 1"))
    cut = text[:N_CHARS]
    end = cut.rfind(". ")
    text = cut[: end + 1] if end > 0 else cut
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dst = os.path.join(repo, "tests", "data", "tdavid_excerpt.txt")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(dst, len(text), "chars")
    return 0


if __name__ == "__main__":
    sys.exit(main())
