#!/usr/bin/env python3
"""Golden data for seer::dequantize_row, produced by an independent implementation: PyPI `gguf`
(gguf.quants, numpy). Run from the repository root:  python3 scripts/golden/make_dequant_golden.py
Writes tests/golden/dequant.bin (deterministic: fixed seed).

File format (little-endian):
  u32 magic   = 0x51445345 ("ESDQ")
  u32 version = 1
  u32 n_cases
  n_cases x {
    u32 ggml_type    (F16=1, Q4_0=2, Q4_1=3, Q8_0=8, BF16=30)
    u32 n_elems      (multiple of 32)
    u32 n_bytes      raw bytes of the row as stored in a GGUF file
    u8  raw[n_bytes]
    f32 out[n_elems] gguf.quants.dequantize(raw) -- compared bit for bit
  }

Cases per quantised type: gguf's own quantiser applied to random normal data (with one row scaled
to large values and one all-zero block), and random raw blocks (random fp16 scales including
subnormal and negative ones, every nibble value). F16 and BF16 cases are random bit patterns:
subnormals, infinities and NaNs included. Signalling fp16 NaNs are left out because numpy keeps
them signalling while seer (like the F16C instructions) quiets them.
"""
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

MAGIC = 0x51445345
VERSION = 1
N = 512  # elements per case

rng = np.random.default_rng(20240611)


def random_fp16_bits(n, allow_nonfinite):
    h = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    exp = (h >> 10) & 0x1F
    if not allow_nonfinite:
        h = np.where(exp == 0x1F, h & np.uint16(0xBFFF), h)  # clear the top exponent bit
    else:
        nan = (exp == 0x1F) & ((h & 0x3FF) != 0)
        h = np.where(nan, h | np.uint16(0x0200), h)  # quiet NaNs only (see above)
        h[:4] = [0x7C00, 0xFC00, 0x7E00, 0x0001]  # +inf, -inf, qNaN, smallest subnormal
        h[4:8] = [0x03FF, 0x8001, 0x0000, 0x8000]  # largest subnormal, -subnormal, +0, -0
    return h.astype(np.uint16)


def random_blocks(qtype, n_blocks):
    if qtype == T.Q8_0:
        d = random_fp16_bits(n_blocks, False).view(np.uint8).reshape(n_blocks, 2)
        qs = rng.integers(0, 256, size=(n_blocks, 32), dtype=np.uint32).astype(np.uint8)
        return np.concatenate([d, qs], axis=1)
    if qtype == T.Q4_0:
        d = random_fp16_bits(n_blocks, False).view(np.uint8).reshape(n_blocks, 2)
        qs = rng.integers(0, 256, size=(n_blocks, 16), dtype=np.uint32).astype(np.uint8)
        return np.concatenate([d, qs], axis=1)
    if qtype == T.Q4_1:
        d = random_fp16_bits(n_blocks, False).view(np.uint8).reshape(n_blocks, 2)
        m = random_fp16_bits(n_blocks, False).view(np.uint8).reshape(n_blocks, 2)
        qs = rng.integers(0, 256, size=(n_blocks, 16), dtype=np.uint32).astype(np.uint8)
        return np.concatenate([d, m, qs], axis=1)
    raise ValueError(qtype)


def quantized_from_floats(qtype):
    x = rng.standard_normal((4, N // 4)).astype(np.float32)
    x[1] *= 1000.0
    x[2] = x[2] * 0.01 + 0.5  # non-zero mean: exercises Q4_1's minimum
    x[3, :32] = 0.0           # an all-zero block (d = 0)
    return quants.quantize(x, qtype).reshape(-1)


def main():
    cases = []
    for qtype in (T.Q8_0, T.Q4_0, T.Q4_1):
        cases.append((qtype, quantized_from_floats(qtype)))
        cases.append((qtype, random_blocks(qtype, N // 32).reshape(-1)))
    cases.append((T.F16, random_fp16_bits(N, True).view(np.uint8)))
    cases.append((T.BF16, rng.integers(0, 1 << 16, size=N, dtype=np.uint32).astype(np.uint16).view(np.uint8)))

    out = bytearray(struct.pack("<III", MAGIC, VERSION, len(cases)))
    for qtype, raw in cases:
        raw = np.ascontiguousarray(raw, dtype=np.uint8)
        deq = quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)
        assert deq.size == N, (qtype, deq.size)
        out += struct.pack("<III", int(qtype), N, raw.size)
        out += raw.tobytes()
        out += deq.astype("<f4").tobytes()

    dst = Path(__file__).resolve().parents[2] / "tests" / "golden" / "dequant.bin"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(out))
    print(f"wrote {dst} ({len(out)} bytes, {len(cases)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
