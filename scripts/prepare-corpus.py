#!/usr/bin/env python3
"""Extract the public-domain training corpus of ../shared/DATA.md, one document per file.

  tdavid/psalm-NNN.txt  Spurgeon, Treasury of David, one psalm's commentary each (150 documents)
  web/NN-Book.txt       World English Bible, one book each (66)
  kjv/NN-Book.txt       King James Bible, one book each (66)
  mhcc/NN-Book.txt      Matthew Henry's Concise Commentary, by the book of its first entry (with --more)
  scofield/NN-Book.txt  Scofield Reference Notes (1917), the same (with --more)

Needs Debian's diatheke, sword-comm-tdavid, sword-text-web, bible-kjv (scripts/setup.sh --corpus
installs them); --more also sword-comm-mhcc and sword-comm-scofield (scripts/setup.sh --more), public-domain
commentaries beyond ../shared/DATA.md's list (docs/TRAINING.md, *More data*). Cleaning: verse keys, emphasis
markers and module tags removed, whitespace collapsed (the same rules as scripts/golden/make_tdavid_excerpt.py). The two commentaries' modules print an entry
once for every verse it covers, and MHCC's repeats whole runs of entries under later keys: their text is
cut at the verse keys and the "* Verses a-b *" headings, and each passage is kept once, where it first
appears. Writes through temp files; a document that already exists is kept, so a second run does nothing.

  prepare-corpus.py OUT_DIR [--more]
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
from make_tdavid_excerpt import clean  # noqa: E402

BOOKS = ["Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
         "1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra",
         "Nehemiah", "Esther", "Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah",
         "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah",
         "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah", "Malachi", "Matthew", "Mark",
         "Luke", "John", "Acts", "Romans", "1 Corinthians", "2 Corinthians", "Galatians", "Ephesians",
         "Philippians", "Colossians", "1 Thessalonians", "2 Thessalonians", "1 Timothy", "2 Timothy",
         "Titus", "Philemon", "Hebrews", "James", "1 Peter", "2 Peter", "1 John", "2 John", "3 John",
         "Jude", "Revelation"]
# bible-kjv's book abbreviations, same order.
KJV = ["gen", "exo", "lev", "num", "deu", "jos", "jdg", "rut", "1sa", "2sa", "1ki", "2ki", "1ch", "2ch",
       "ezr", "neh", "est", "job", "psa", "pro", "ecc", "sol", "isa", "jer", "lam", "eze", "dan", "hos",
       "joe", "amo", "oba", "jon", "mic", "nah", "hab", "zep", "hag", "zec", "mal", "mat", "mar", "luk",
       "joh", "act", "rom", "1co", "2co", "gal", "eph", "phi", "col", "1th", "2th", "1ti", "2ti", "tit",
       "phm", "heb", "jam", "1pe", "2pe", "1jo", "2jo", "3jo", "jude", "rev"]


def run(cmd):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit(f"prepare-corpus: `{cmd[0]}` is not installed; run scripts/setup.sh --corpus first")


def web_clean(raw):
    raw = re.sub(r"\(engWEB2015eb\)", "", raw)
    raw = re.sub(r"^[1-3]?\s?[A-Za-z ]+ \d+:\d+: ?", " ", raw, flags=re.M)
    return re.sub(r"\s+", " ", raw).strip()


def kjv_clean(raw):
    raw = re.sub(r"^\S.* \d+\s*$", " ", raw, flags=re.M)  # chapter headings ("Ruth 1")
    raw = re.sub(r"^\s+\d+ ", " ", raw, flags=re.M)       # verse numbers
    return re.sub(r"\s+", " ", raw).strip()


def write(path, text):
    if os.path.exists(path):
        return False
    if len(text) < 100:
        raise SystemExit(f"prepare-corpus: {path}: extraction gave {len(text)} characters; is the package installed?")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(path + ".tmp", path)
    return True


# diatheke's keys ("II Chronicles 21:7: ", "Revelation of John 22:21: ") and MHCC's passage headings.
VERSE_KEY = re.compile(r"^((?:I{1,3} )?[A-Z][A-Za-z ]+?) \d+:\d+: ?", re.M)
PASSAGE = re.compile(r"\*\s*Verses? [\d\-, ]+\*|\n\s*Chapter \d+\s*\n")


def commentary_books(module):
    """{book index: cleaned text} of a SWORD commentary, each distinct passage once (see the docstring)."""
    raw = run(["diatheke", "-b", module, "-f", "plain", "-k", "Genesis 1:1-Revelation 22:21"])
    raw = raw.replace(f"({module})", "")
    parts = VERSE_KEY.split(raw)  # text, book, body, book, body, ...
    names = {}  # diatheke's book name -> index in BOOKS, in order of first appearance
    seen, books = set(), {}
    for book, body in zip(parts[1::2], parts[2::2]):
        i = names.setdefault(book, len(names))
        for passage in PASSAGE.split(body):
            passage = re.sub(r"\s+", " ", passage.replace("*", " "))
            passage = re.sub(r" ([.,;:!?])", r"\1", passage).strip()
            if len(passage) < 20 or passage in seen:
                continue
            seen.add(passage)
            books.setdefault(i, []).append(passage)
    if len(names) != len(BOOKS):
        raise SystemExit(f"prepare-corpus: {module}: {len(names)} books, expected {len(BOOKS)}")
    return {i: "\n".join(p) for i, p in books.items()}


def book_file(i):
    """File name of BOOKS[i]: "01-Genesis.txt"."""
    return f"{i + 1:02d}-{BOOKS[i].replace(' ', '_')}.txt"


def main():
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    args = [a for a in sys.argv[1:] if a != "--more"]
    more = len(args) < len(sys.argv) - 1
    if len(args) != 1 or args[0].startswith("-"):  # an unknown option is not an output directory
        print(__doc__, file=sys.stderr)
        return 2
    out = args[0]
    if os.path.exists(out) and not os.path.isdir(out):
        print(f"prepare-corpus: {out} is not a directory", file=sys.stderr)
        return 2
    n = 0
    for ps in range(1, 151):
        p = os.path.join(out, "tdavid", f"psalm-{ps:03d}.txt")
        if not os.path.exists(p):
            n += write(p, clean(run(["diatheke", "-b", "TDavid", "-f", "plain", "-k", f"Psalms {ps}"])))
    for i, (book, abbr) in enumerate(zip(BOOKS, KJV)):
        name = book_file(i)
        p = os.path.join(out, "web", name)
        if not os.path.exists(p):
            n += write(p, web_clean(run(["diatheke", "-b", "engWEB2015eb", "-f", "plain", "-k", book])))
        p = os.path.join(out, "kjv", name)
        if not os.path.exists(p):
            n += write(p, kjv_clean(run(["bible", f"{abbr}1:1-999:999"])))
    if more:
        for module, sub in (("MHCC", "mhcc"), ("Scofield", "scofield")):
            done = os.path.join(out, sub, ".complete")  # written last: an interrupted run extracts again
            if os.path.exists(done):
                continue
            for i, text in commentary_books(module).items():
                if len(text) >= 100:  # (a few books get no passage of their own)
                    n += write(os.path.join(out, sub, book_file(i)), text)
            open(done, "w").close()
    print(f"prepare-corpus: {out}: {n} documents written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
