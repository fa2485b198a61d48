#!/usr/bin/env python3
"""Golden rows of the default model's blk.0 attn_q / attn_k in Hugging Face row order, produced by
an independent reader: PyPI `gguf` (GGUFReader + gguf.quants.dequantize, numpy).
Run from the repository root:  python3 scripts/golden/make_gguf_golden.py [MODEL.gguf]
(default: ${SEER_HOME:-~/.cache/seer}/models/SmolLM2-135M-Instruct.Q4_1.gguf, see scripts/fetch-model.sh).
Writes tests/golden/smollm2_qk_rows.bin.

The llama converter permuted Q/K rows: w.reshape(n_head, 2, d/2, cols).swapaxes(1, 2), so GGUF row
h*d + 2*i + j holds HF row h*d + j*d/2 + i. The inverse, applied here in numpy, is
gguf.reshape(n_head, d/2, 2, cols).swapaxes(1, 2).reshape(rows, cols).

File format (little-endian):
  u32 magic   = 0x4b515345 ("ESQK")
  u32 version = 1
  u32 n_records
  u32 n_cols       leading columns stored per row
  n_records x { u32 which (0 = blk.0.attn_q.weight, 1 = blk.0.attn_k.weight), u32 hf_row, f32[n_cols] }
Rows stored: for every head h, HF rows h*d + {0, 1, d/2, d-1}.
"""
import os
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader
from gguf import quants

MAGIC = 0x4B515345
VERSION = 1
N_COLS = 64


def field_int(reader, key):
    f = reader.fields[key]
    return int(f.parts[f.data[0]][0])


def main():
    home = os.environ.get("SEER_HOME") or os.path.expanduser("~/.cache/seer")
    path = sys.argv[1] if len(sys.argv) > 1 else f"{home}/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    reader = GGUFReader(path)
    n_head = field_int(reader, "llama.attention.head_count")
    n_kv = field_int(reader, "llama.attention.head_count_kv")
    hidden = field_int(reader, "llama.embedding_length")
    d = hidden // n_head
    tensors = {t.name: t for t in reader.tensors}

    records = []
    for which, (name, heads) in enumerate([("blk.0.attn_q.weight", n_head), ("blk.0.attn_k.weight", n_kv)]):
        t = tensors[name]
        w = quants.dequantize(t.data, t.tensor_type).astype(np.float32)  # [rows, cols]
        rows, cols = w.shape
        assert rows == heads * d, (name, w.shape)
        hf = w.reshape(heads, d // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)
        for h in range(heads):
            for r in (0, 1, d // 2, d - 1):
                records.append((which, h * d + r, hf[h * d + r, :N_COLS]))

    out = bytearray(struct.pack("<IIII", MAGIC, VERSION, len(records), N_COLS))
    for which, row, vals in records:
        out += struct.pack("<II", which, row)
        out += np.ascontiguousarray(vals, dtype="<f4").tobytes()
    dst = Path(__file__).resolve().parents[2] / "tests" / "golden" / "smollm2_qk_rows.bin"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(out))
    print(f"wrote {dst} ({len(out)} bytes, {len(records)} rows)", file=sys.stderr)


if __name__ == "__main__":
    main()
