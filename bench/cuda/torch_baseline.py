#!/usr/bin/env python3
"""PyTorch baselines on the shapes of bench_cuda_attention (SPEC §5.1/§5.2 benchmark setups).

bf16, 32 query / 8 KV heads, head_dim 128, block 64:
  prefill: SDPA causal dense with the cuDNN and flash backends (K/V repeated to 32 heads when the
           backend needs it); FlexAttention with a density-0.1 block mask of the causal triangle
           (each query-block row keeps max(1, int(0.1*avail)) random blocks, as the CUDA bench);
  decode : dense SDPA of one query per sequence over the full cache (the FA3-like dense baseline).
Timing: CUDA events, 3 warm-ups, median of 20 runs; same columns as bench_cuda_attention.
Usage: torch_baseline.py [--quick | --sweep | --decode]   (--decode: the decode rows only)
"""
import math
import sys

import torch
import torch.nn.functional as F

HQ, HKV, D, BS, WARMUP, RUNS = 32, 8, 128, 64, 3, 20
QUICK = "--quick" in sys.argv


def time_it(fn):
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(RUNS):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2], ts[0], ts[-1]


def row(op, shape, density, t, ex, deq, gbs):
    med, lo, hi = t
    print(f"{op:<8} {shape:<22} {density:7.2f} {med:9.3f} {f'{lo:.3f}..{hi:.3f}':>17} "
          f"{ex:10.1f} {deq:10.1f} {gbs:>9}", flush=True)


def header():
    print(f"{'op':<8} {'shape':<22} {'density':>7} {'ms':>9} {'spread':>17} {'TFLOPs_ex':>10} "
          f"{'TFLOPs_deq':>10} {'GB/s':>9}")


_flex = None


def flex_time(q, k, v, T, density):
    """FlexAttention with one block mask shared by all heads: each query-block row keeps
    max(1, int(density * avail)) random causal blocks. Returns (timing, executed FLOPs)."""
    global _flex
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
    nb = (T + BS - 1) // BS
    gen = torch.Generator().manual_seed(1000 + T)
    mask = torch.zeros(nb, nb, dtype=torch.bool)
    executed = 0.0
    for r in range(nb):
        avail = r + 1
        keep = max(1, int(density * avail))
        cols = torch.randperm(avail, generator=gen)[:keep]
        mask[r, cols] = True
        executed += 4.0 * min(BS, T - r * BS) * BS * D * keep
    executed *= HQ
    mask = mask.cuda()
    blocks = mask[None, None].expand(1, HQ, nb, nb).contiguous()

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    bm = BlockMask.from_kv_blocks(
        blocks.sum(-1).int(), torch.argsort(~blocks, dim=-1, stable=True).int(),
        BLOCK_SIZE=BS, mask_mod=causal, seq_lengths=(T, T))
    if _flex is None:
        _flex = torch.compile(flex_attention, dynamic=False)
    # FlexAttention's default tile is 128 rows; a 64-token block mask needs 64-row tiles.
    fn = lambda: _flex(q, k, v, block_mask=bm, enable_gqa=True, kernel_options={"BLOCK_M": 64, "BLOCK_N": 64})
    return time_it(fn), executed


def sweep(T=32768):
    """--sweep: tab-separated lines for docs/img/cuda_prefill_speedup.png (cuDNN dense, Flex per density)."""
    g = torch.Generator(device="cuda").manual_seed(T)
    q = torch.rand(1, HQ, T, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    k = torch.rand(1, HKV, T, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    v = torch.rand(1, HKV, T, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        t = time_it(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True))
    print(f"tsv\tcudnn\t{T}\t1.00\t{t[0]:.4f}", flush=True)
    for density in (1.0, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05):
        t, _ = flex_time(q, k, v, T, density)
        print(f"tsv\tflex\t{T}\t{density:.2f}\t{t[0]:.4f}", flush=True)


def prefill(T):
    g = torch.Generator(device="cuda").manual_seed(T)
    q = torch.rand(1, HQ, T, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    k = torch.rand(1, HKV, T, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    v = torch.rand(1, HKV, T, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    deq = 4.0 * D * HQ * T * (T + 1) / 2
    from torch.nn.attention import SDPBackend, sdpa_kernel
    for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
        try:
            with sdpa_kernel([backend]):
                try:
                    fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                    fn()
                except RuntimeError:
                    kr, vr = k.repeat_interleave(HQ // HKV, 1), v.repeat_interleave(HQ // HKV, 1)
                    fn = lambda: F.scaled_dot_product_attention(q, kr, vr, is_causal=True)
                    fn()
                t = time_it(fn)
            row(name, f"T={T}", 1.0, t, deq / t[0] * 1e-9, deq / t[0] * 1e-9, "-")
        except Exception as e:  # backend not available for this shape/device
            print(f"sdpa-{name} T={T}: unavailable ({type(e).__name__}: {str(e)[:80]})", flush=True)
    try:
        t, executed = flex_time(q, k, v, T, 0.1)
        row("flex", f"T={T}", 0.1, t, executed / t[0] * 1e-9, deq / t[0] * 1e-9, "-")
    except Exception as e:
        print(f"flex T={T}: unavailable ({type(e).__name__}: {str(e)[:120]})", flush=True)
    del q, k, v
    torch.cuda.empty_cache()


def decode(B, L):
    g = torch.Generator(device="cuda").manual_seed(B + L)
    q = torch.rand(B, HQ, 1, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    k = torch.rand(B, HKV, L, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    v = torch.rand(B, HKV, L, D, device="cuda", generator=g, dtype=torch.bfloat16) * 2 - 1
    fn = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    t = time_it(fn)
    flops = 4.0 * B * HQ * L * D
    by = 2.0 * B * HKV * L * D * 2 + 2.0 * q.numel() * 2
    row("sdpa-dec", f"B={B} L={L}", 1.0, t, flops / t[0] * 1e-9, flops / t[0] * 1e-9, f"{by / t[0] * 1e-6:.0f}")
    del q, k, v
    torch.cuda.empty_cache()


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] not in ("--quick", "--sweep", "--decode")):
        sys.exit(f"torch_baseline: unexpected argument '{sys.argv[-1]}'\n"
                 "usage: torch_baseline.py [--quick | --sweep | --decode]")
    if not torch.cuda.is_available():
        print("torch_baseline: no CUDA device")
        return
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}; bf16, Hq={HQ} Hkv={HKV} d={D}")
    if "--sweep" in sys.argv:
        sweep()
        return
    header()
    for T in () if "--decode" in sys.argv else (8192, 32768) + (() if QUICK else (131072,)):
        prefill(T)
    for B in (1, 16):
        for L in (32768,) + (() if QUICK else (131072,)):
            decode(B, L)


if __name__ == "__main__":
    main()
