#!/usr/bin/env python3
"""The decode gate's early launch, checked in the SASS: usage check_early_loads.py CUOBJDUMP LIBRARY.

gate_decode_scores_kernel is launched while the step kernel before it still runs (programmatic dependent
launch) so that it streams the compressed cache in the meantime: its entry loads must come before its
griddepcontrol.wait (SASS ACQBULK). ptxas is free to move loads past the wait, and it moved every
ld.global.nc (__ldg) of that loop there, so for months the early launch streamed nothing and no test
noticed (docs/runs/h200-session24). For every sm_90a instantiation <Elem, T, E> this counts the 16-byte
loads (LDG.E.128) before the first ACQBULK and requires the E * T / 32 loads of the loop there.
"""
import re
import subprocess
import sys


def functions(sass):
    """(name, body lines) per function of cuobjdump -sass output."""
    name, body = None, []
    for line in sass.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            if name:
                yield name, body
            name, body = m.group(1), []
        elif name:
            body.append(line)
    if name:
        yield name, body


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cuobjdump, library = sys.argv[1], sys.argv[2]
    out = subprocess.run([cuobjdump, "-sass", "-arch", "sm_90a", library], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{cuobjdump} -sass {library} failed: {out.stderr.strip()[:500]}")
    pattern = re.compile(r"gate_decode_scores_kernelI(a|13__nv_bfloat16)Li(\d+)ELi(\d+)E")
    checked, failed = 0, []
    for name, body in functions(out.stdout):
        m = pattern.search(name)
        if not m:
            continue
        t, e = int(m.group(2)), int(m.group(3))
        want = e * t // 32
        wait = next((i for i, line in enumerate(body) if "ACQBULK" in line), None)
        if wait is None:
            failed.append(f"{m.group(0)}: no ACQBULK (griddepcontrol.wait) in its SASS")
            continue
        before = sum("LDG.E.128" in line for line in body[:wait])
        after = sum("LDG.E.128" in line for line in body[wait:])
        print(f"{m.group(0)}: {before} 16-byte loads before the wait (want >= {want}), {after} after")
        if before < want:
            failed.append(f"{m.group(0)}: {before} of its {want} entry loads before griddepcontrol.wait")
        checked += 1
    if checked == 0 and not failed:
        sys.exit(f"no sm_90a gate_decode_scores_kernel in {library}")
    if failed:
        sys.exit("the early launch would stream nothing:\n  " + "\n  ".join(failed))
    print(f"ok: {checked} instantiations")


if __name__ == "__main__":
    main()
