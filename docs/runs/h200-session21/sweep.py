#!/usr/bin/env python3
"""The mass rule under a gate temperature: each factor's gates (scale_gates.py) under mass:P over a grid of P,
on a text, every row one `seer ppl` call; the JSONs appended to a jsonl (with factor, rule, text), and a table
per factor of the perplexity above dense interpolated (linearly in density) at the given densities.
usage: sweep.py --phase prefill|decode --text T --windows N --factors 0.7,1 --masses 0.5,0.6 --at 0.1,0.2
       --jsonl OUT.jsonl --seer S -m MODEL --gates-root /tmp/gt (factor f's gates in /tmp/gt/s<f>)
"""
import argparse, json, os, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument('--phase', required=True)
ap.add_argument('--text', required=True)
ap.add_argument('--windows', type=int, required=True)
ap.add_argument('--factors', required=True)
ap.add_argument('--masses', required=True)
ap.add_argument('--at', required=True)
ap.add_argument('--jsonl', required=True)
ap.add_argument('--seer', required=True)
ap.add_argument('-m', '--model', required=True)
ap.add_argument('--gates-root', required=True)
a = ap.parse_args()

def ppl(extra):
    cmd = [a.seer, 'ppl', a.text, '-c', '8192', '--max-windows', str(a.windows), '--json', '-m', a.model,
           '--device', 'cuda'] + (['--prefill-len', '6144'] if a.phase == 'decode' else []) + extra
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f'failed ({r.returncode}): {" ".join(cmd)}\n{r.stderr[-2000:]}', file=sys.stderr)
        return None
    d = json.loads(r.stdout)
    d['cmd'] = ' '.join(cmd)
    d['wall_s'] = round(time.time() - t, 1)
    return d

def density(d):  # the phase's density
    det = d.get('density_detail', {})
    if a.phase == 'decode' and 'decode' in det:
        return det['decode']['density']
    return d['density']

dense = ppl(['--policy', 'dense'])
rows = {}
with open(a.jsonl, 'a') as out:
    dense['text'] = a.text
    out.write(json.dumps(dense) + '\n')
    for f in a.factors.split(','):
        g = os.path.join(a.gates_root, 's' + f)
        for p in a.masses.split(','):
            flag = '--prefill-sparsity' if a.phase == 'prefill' else '--decode-sparsity'
            d = ppl(['--gates', g, '--policy', 'gate', flag, 'mass:' + p])
            if d is None:
                continue
            d.update(factor=float(f), mass=float(p), text=a.text)
            out.write(json.dumps(d) + '\n')
            out.flush()
            rows.setdefault(f, []).append((density(d), d['ppl'], p))
            print(f'{a.phase} factor {f} mass:{p}: density {density(d):.4f} ppl {d["ppl"]:.4f} '
                  f'({100 * (d["ppl"] / dense["ppl"] - 1):+.2f}%) {d["wall_s"]} s', file=sys.stderr, flush=True)

at = [float(x) for x in a.at.split(',')]
print(f'\n{a.phase}, {a.text}, {a.windows} windows, dense ppl {dense["ppl"]:.4f}: mass:P above dense, interpolated '
      'at each density (P in brackets: the rows either side)\n')
print('| factor | ' + ' | '.join(f'{x}' for x in at) + ' |')
print('|---|' + '---:|' * len(at))
for f, rs in rows.items():
    rs.sort()
    cells = []
    for x in at:
        cell = ''
        for (d0, p0, m0), (d1, p1, m1) in zip(rs, rs[1:]):
            if d0 <= x <= d1 and d1 > d0:
                y = p0 + (p1 - p0) * (x - d0) / (d1 - d0)
                cell = f'{100 * (y / dense["ppl"] - 1):+.2f}% ({m0}-{m1})'
                break
        cells.append(cell)
    print(f'| {f} | ' + ' | '.join(cells) + ' |')
