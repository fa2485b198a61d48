import torch, time
torch.backends.cuda.matmul.allow_tf32 = True
def t(f, n=50):
    for _ in range(5): f()
    torch.cuda.synchronize()
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(n): f()
    e.record(); torch.cuda.synchronize()
    return s.elapsed_time(e) / n * 1000
for dt in (torch.float32, torch.float16, torch.bfloat16):
    q = torch.randn(32, 512, 128, device="cuda", dtype=dt); k = torch.randn(32, 128, 512, device="cuda", dtype=dt)
    out = torch.empty(32, 512, 512, device="cuda", dtype=torch.float32)
    if dt == torch.float32:
        f = lambda: torch.bmm(q, k, out=out)
    else:
        f = lambda: torch.bmm(q, k)
    print(f"score bmm 32x512x512x128 {dt}: {t(f):.1f} us")
    a = torch.randn(8, 512, 384, device="cuda", dtype=dt); w = torch.randn(8, 384, 512, device="cuda", dtype=dt)
    print(f"kproj bmm 8x512x512x384 {dt}: {t(lambda: torch.bmm(a, w)):.1f} us")
