#!/usr/bin/env python3
"""Quality of trained gates against the other block-selection policies, with `seer ppl`.

  eval-gates.py --gates DIR --text FILE [--windows N] [--ctx 8192] [--decode-prefill 6144]
                [--densities 0.5,0.2,0.1] [--budgets 2048,1024,512] [--policies gate,oracle,quest,streaming,random]
                [--phase prefill|decode|both] [--seer build/seer] [-m MODEL] [--threads T]
                [--device cpu|cuda] [--jsonl OUT [--resume]] [--thresholds 0.01,0.02] [--masses 0.9,0.95]
                [--decode-thresholds 0.015] [--decode-masses 0.75,0.9]

Prefill: perplexity over --windows windows of --ctx tokens with --prefill-sparsity density:RHO.
Decode: teacher-forced decode (`seer ppl --prefill-len`) over the last ctx - decode-prefill tokens of each
window after a dense prefill, with --decode-sparsity budget:N. Each row is compared with dense attention
on the same windows. Prints a Markdown table per phase; with the gate among the policies the table also gives
its margin to each oracle (points of perplexity above dense) and the policies it does not beat, followed by a
line per comparison over all rows. --jsonl appends every run's JSON; with --resume, a row whose exact `seer ppl`
command (program path, model, text and flags) is already in that file, recorded with the same inputs, is taken
from it instead of run again, so an interrupted or split evaluation goes on where it stopped. The inputs are the
size and modification time of the seer program, the text, the model (-m) and every file of the gates directory:
a rebuilt seer or retrained gates at the same paths make the rows run again. --policies takes
any of seer's policies (`oracle-mass`: the oracle ranking blocks by probability mass instead of the maximum;
`oracle-mass-sum`: also pooling a decode step's GQA group by its sum).
--thresholds adds a prefill table for the gate with --prefill-sparsity threshold:TAU (upstream's default rule:
a block is kept where the gate's softmax probability exceeds TAU, so density varies by row, head and layer).
--masses does the same with --prefill-sparsity mass:P (a row keeps its highest blocks until they hold a share P
of its softmax). Each TAU's or P's measured density d is matched for the other policies by the Top-K row count whose density over the
same windows is the smallest at or above d: they get at least as many blocks as the gate did (the match
assumes full windows of --ctx tokens). With the gate among the policies, a last prefill table gives each rule's % above
dense at the measured density of each of the gate's Top-K rows, linear between the rule's two rows around it.
--decode-thresholds and --decode-masses add the gate's decode rows with --decode-sparsity threshold:TAU or
mass:P, printed with its budget rows in one table ordered by decode density (no other policy is matched to them),
then each rule's % above dense at each budget row's density, the same way.
--device cuda runs every `seer ppl` on the GPU (bf16 weights). The oracles' block statistics are computed there
too (a dense pass of the attention kernel per layer, reduced on the device); quest reads a host copy of the K
cache, which costs a copy per layer and forward.

`make-eval-text` mode writes the held-out documents of a training run as one text:
  eval-gates.py make-eval-text (--run OUT | --list FILE) --corpus DIR [--prefix tdavid/] -o FILE
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time


def read_text(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        sys.exit(f"eval-gates: {what} {path}: {e.strerror}")


def make_eval_text(args):
    listing = args.list or os.path.join(args.run, "eval_documents.txt")
    names = [n for n in read_text(listing, "the document list").split("\n") if n]
    names = [n for n in names if n.startswith(args.prefix)]
    if not names:
        sys.exit(f"eval-gates: no held-out documents under '{args.prefix}' in {listing}")
    # Every document read before the output is written, and written through a rename: a missing one
    # leaves no half-made text behind.
    text = "".join(read_text(os.path.join(args.corpus, n), "held-out document").strip() + "\n" for n in names)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.output)
    print(f"eval-gates: {args.output}: {len(names)} held-out documents: {' '.join(names)}", file=sys.stderr)


def run_ppl(args, extra):
    cmd = [args.seer, "ppl", args.text, "-c", str(args.ctx), "--max-windows", str(args.windows), "--json"]
    if args.threads:
        cmd += ["-t", str(args.threads)]
    if args.model:
        cmd += ["-m", args.model]
    if args.device != "cpu":
        cmd += ["--device", args.device]
    cmd += extra
    inputs = run_inputs(args)
    if args.resume:
        done = previous_runs(args.jsonl)
        if " ".join(cmd) in done:
            r = done[" ".join(cmd)]
            if r.get("inputs") == inputs:
                print(f"  {r['ppl']:.4f}  density {r.get('density', 1.0):.3f}  (from {args.jsonl})  {' '.join(extra)}",
                      file=sys.stderr)
                return r
            changed = sorted(k for k in set(inputs) | set(r.get("inputs") or {})
                             if inputs.get(k) != (r.get("inputs") or {}).get(k))
            print(f"eval-gates: {args.jsonl}: the record of `{' '.join(extra)}` was made with other inputs "
                  f"({', '.join(changed)}): run again", file=sys.stderr)
    t0 = time.time()
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit(f"eval-gates: {args.seer}: no such program (build seer first, or pass --seer)")
    except subprocess.CalledProcessError as e:
        tail = "\n".join(e.stderr.strip().splitlines()[-3:])
        sys.exit(f"eval-gates: `{' '.join(cmd)}` failed (exit {e.returncode}):\n{tail}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["cmd"] = " ".join(cmd)
    r["inputs"] = inputs
    r["wall_s"] = round(time.time() - t0, 1)
    if args.jsonl:
        with open(args.jsonl, "a+b") as f:  # after a line cut short by an interrupted write, on a line of its own
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write((json.dumps(r) + "\n").encode("utf-8"))
    print(f"  {r['ppl']:.4f}  density {r.get('density', 1.0):.3f}  {r['wall_s']} s  {' '.join(extra)}", file=sys.stderr)
    return r


def run_inputs(args):
    """{path: [size, mtime_ns]} of the files a `seer ppl` row reads (a missing one: null): the program (found on
    PATH when given without a directory), the text, the model when -m names one, the gates directory's files."""
    seer = args.seer if os.sep in args.seer else (shutil.which(args.seer) or args.seer)
    paths = [seer, args.text] + ([args.model] if args.model else [])
    if os.path.isdir(args.gates):
        paths += sorted(os.path.join(dp, f) for dp, _, fs in os.walk(args.gates) for f in fs)
    else:
        paths.append(args.gates)
    out = {}
    for p in paths:
        try:
            st = os.stat(p)
            out[p] = [st.st_size, st.st_mtime_ns]
        except OSError:
            out[p] = None
    return out


_previous = {}


def previous_runs(path):
    """The runs recorded in a --jsonl file, by command (the last of equal ones); a line that does not parse,
    such as one cut short by an interrupted write, is skipped with a warning."""
    if path not in _previous:
        runs = {}
        if os.path.exists(path):
            for i, line in enumerate(open(path, encoding="utf-8"), 1):
                try:
                    r = json.loads(line)
                    runs[r["cmd"]] = r
                except (ValueError, KeyError, TypeError):
                    if line.strip():
                        print(f"eval-gates: {path}:{i}: not a recorded run, skipped", file=sys.stderr)
        _previous[path] = runs
    return _previous[path]


def topk_density(k, nb):
    """Density of the causal triangle when every row of nb query blocks keeps min(k, its causal blocks)."""
    return sum(min(k, i + 1) for i in range(nb)) / (nb * (nb + 1) / 2)


def density_at_least(d, ctx, block):
    """--prefill-sparsity density:RHO whose rows (seer's density_top_k: k = int((1 - sqrt(1 - RHO)) nb))
    reach a density of at least d over a window of ctx tokens; returns (RHO, that density)."""
    nb = (ctx + block - 1) // block
    k = next((k for k in range(1, nb + 1) if topk_density(k, nb) >= d - 1e-9), nb)
    rho = min(1.0, 1.0 - (1.0 - (k + 0.5) / nb) ** 2)
    return round(rho, 6), topk_density(k, nb)


def above(r, dense):
    """A run's perplexity in percent above dense."""
    return 100 * (r["ppl"] / dense["ppl"] - 1)


def ppl_cell(r, dense):
    """A run's perplexity and its percentage above dense, as the tables print them."""
    return f"{r['ppl']:.3f} ({above(r, dense):+.2f}%)"


def threshold_table(args, policies, dense, rows, rule="threshold", label="TAU"):
    print(f"\nPrefill, {args.windows} x {args.ctx}-token windows: the gate with {rule}:{label}, the others at the "
          f"Top-K density at or above the gate's (dense ppl {dense['ppl']:.4f}, {dense['tokens']} scored tokens)\n")
    print(f"| {label} | gate density | gate | " + " | ".join(f"{p} (density)" for p in policies) + " |")
    print("|---|---:|---:|" + "---:|" * len(policies))
    for tau, g, others in rows:
        cells = [f"{ppl_cell(others[p], dense)} ({others[p].get('density', 1.0):.3f})" for p in policies]
        print(f"| {tau} | {g.get('density', 1.0):.3f} | {ppl_cell(g, dense)} | " + " | ".join(cells) + " |")


def decode_rule_table(args, dense, rows):
    """The gate's decode rows under each rule, by decode density: a budget gives every step and KV head the same
    number of blocks, threshold:TAU and mass:P let the step's softmax decide."""
    print(f"\nDecode, the gate under each rule, by density ({args.windows} x {args.ctx}-token windows, dense ppl "
          f"{dense['ppl']:.4f})\n")
    print("| rule | decode density | gate |")
    print("|---|---:|---:|")
    for rule, v, r in sorted(rows, key=lambda x: x[2].get("density", 1.0)):
        print(f"| {rule}:{v} | {r.get('density', 1.0):.4f} | {ppl_cell(r, dense)} |")
    rules_at_levels("budget", "budget", [(v, r) for rule, v, r in rows if rule == "budget"],
                    [(rule, r) for rule, _, r in rows if rule != "budget"], dense)


def rules_at_levels(label, fixed, level_rows, rule_rows, dense):
    """The gate's rules (threshold, mass) at the density of each of its fixed-count rows (a prefill Top-K density or a
    decode budget): the rule's % above dense, linear between its two rows around that density."""
    rules = [rule for rule in ("threshold", "mass") if any(x == rule for x, _ in rule_rows)]
    if not level_rows or not rules:
        return

    def at(rule, d):
        pts = sorted((r.get("density", 1.0), above(r, dense)) for x, r in rule_rows if x == rule)
        for (d0, p0), (d1, p1) in zip(pts, pts[1:]):
            if d0 <= d <= d1:
                return p0 if d1 == d0 else p0 + (d - d0) / (d1 - d0) * (p1 - p0)
        return next((p for dd, p in pts if dd == d), None)

    print(f"\nThe gate's rules at the density of each of its {fixed} rows (% above dense; linear between the rule's "
          "two rows around that density, – where its rows do not reach it)\n")
    print(f"| {label} | gate density | {fixed} | " + " | ".join(rules) + " |")
    print("|---|---:|---:|" + "---:|" * len(rules))
    for level, r in sorted(level_rows, key=lambda x: x[1].get("density", 1.0)):
        d = r.get("density", 1.0)
        print(f"| {level} | {d:.4f} | {above(r, dense):+.2f}% | " +
              " | ".join("–" if c is None else f"{c:+.2f}%" for c in (at(rule, d) for rule in rules)) + " |")


def table(title, levels, label, policies, dense, results):
    """One row per level, one column per policy (ppl and % above dense). With the gate among the policies,
    also its margin to each oracle (percentage points of perplexity above dense, gate minus oracle) and the
    other policies it does not beat, then a line per comparison over all levels."""
    compared = [p for p in policies if p != "gate"] if "gate" in policies else []
    oracles = [p for p in compared if p.startswith("oracle")]
    rivals = [p for p in compared if p not in oracles]
    extra = [f"gate − {o}" for o in oracles] + (["gate behind"] if rivals else [])
    print(f"\n{title} (dense ppl {dense['ppl']:.4f}, {dense['tokens']} scored tokens)\n")
    print(f"| {label} | " + " | ".join(policies + extra) + " |")
    print("|---|" + "---:|" * len(policies) + "---:|" * len(oracles) + ("---|" if rivals else ""))
    margins = {o: [] for o in oracles}
    losses = []
    for lv in levels:
        cells = [ppl_cell(results[(lv, p)], dense) for p in policies]
        if compared:
            gate = results[(lv, "gate")]
            for o in oracles:
                margins[o].append((above(gate, dense) - above(results[(lv, o)], dense), lv))
                cells.append(f"{margins[o][-1][0]:+.2f} pts")
            behind = [p for p in rivals if results[(lv, p)]["ppl"] <= gate["ppl"]]  # a tie does not count as beaten
            losses += [(p, lv) for p in behind]
            if rivals:
                cells.append(", ".join(behind) if behind else "none")
        print(f"| {lv} | " + " | ".join(cells) + " |")
    if compared:
        print()
    for o in oracles:
        worst, at = max(margins[o])
        if worst > 0:
            print(f"The gate is within {worst:.2f} points of {o} at every {label} (widest at {at}).")
        else:
            print(f"The gate is at or below {o} at every {label} (closest at {at}, {worst:+.2f} points).")
    if rivals:
        if losses:
            print(f"The gate beats {', '.join(rivals)} except: " + "; ".join(f"{p} at {lv}" for p, lv in losses) + ".")
        else:
            print(f"The gate beats {', '.join(rivals)} at every {label}.")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "make-eval-text":
        ap = argparse.ArgumentParser()
        ap.add_argument("mode")
        src = ap.add_mutually_exclusive_group(required=True)
        src.add_argument("--run", help="a train-gates output directory (its eval_documents.txt)")
        src.add_argument("--list", help="an eval_documents.txt (e.g. gates/smollm2-135m-instruct/eval_documents.txt)")
        ap.add_argument("--corpus", required=True)
        ap.add_argument("--prefix", default="tdavid/")
        ap.add_argument("-o", "--output", required=True)
        make_eval_text(ap.parse_args())
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--gates", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--windows", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=8192)
    ap.add_argument("--decode-prefill", type=int, default=6144)
    ap.add_argument("--densities", default="0.5,0.2,0.1")
    ap.add_argument("--budgets", default="2048,1024,512")
    ap.add_argument("--policies", default="gate,oracle,quest,streaming,random",
                    help="policies to compare; gate-uniform: the gate with --uniform-budget (Top-K densities and "
                         "decode budgets: every head the same k or budget, though the gates have budget shares)")
    ap.add_argument("--phase", default="both", choices=["prefill", "decode", "both"])
    ap.add_argument("--seer", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "seer"),
                    help="the seer binary (default: this checkout's build/seer)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("-m", "--model", help="passed to seer ppl (default: seer's default model)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--jsonl", help="append every run's JSON (with its command and wall time) to this file")
    ap.add_argument("--resume", action="store_true",
                    help="take rows whose exact seer ppl command is already in --jsonl from it instead of running them")
    ap.add_argument("--thresholds", default="", help="prefill: also the gate with threshold:TAU, the others matched")
    ap.add_argument("--masses", default="", help="prefill: also the gate with mass:P (top-p), the others matched")
    ap.add_argument("--block-size", type=int, default=64, help="the gates' block size (for --thresholds, --masses)")
    ap.add_argument("--decode-thresholds", default="",
                    help="decode: also the gate with threshold:TAU, in a table of the gate's rows by density")
    ap.add_argument("--decode-masses", default="",
                    help="decode: also the gate with mass:P, in the same table")
    args = ap.parse_args()
    if args.resume and not args.jsonl:
        ap.error("--resume reads the runs recorded in --jsonl: pass --jsonl FILE")
    all_policies = args.policies.split(",")
    g = ["--gates", args.gates]

    def policy_args(p):
        return ["--policy", "gate", "--uniform-budget"] if p == "gate-uniform" else ["--policy", p]

    policies = [p for p in all_policies if p != "gate-uniform"]  # (the rule tables: no budget to split)
    if args.phase in ("prefill", "both"):
        print("prefill:", file=sys.stderr)
        dense = run_ppl(args, ["--policy", "dense"])
        res = {}
        densities = [d for d in args.densities.split(",") if d]
        for rho in densities:
            for p in all_policies:
                res[(rho, p)] = run_ppl(args, g + policy_args(p) + ["--prefill-sparsity", f"density:{rho}"])
        if densities:
            table(f"Prefill, {args.windows} x {args.ctx}-token windows, perplexity (vs dense)",
                  densities, "density", all_policies, dense, res)
        gate_rules = []  # (rule, the gate's row) for the table of the rules at the Top-K densities
        for rule, label, values in (("threshold", "TAU", args.thresholds), ("mass", "P", args.masses)):
            rows = []
            for v in [t for t in values.split(",") if t]:
                gr = run_ppl(args, g + ["--policy", "gate", "--prefill-sparsity", f"{rule}:{v}"])
                rho, _ = density_at_least(gr.get("density", 1.0), args.ctx, args.block_size)
                others = {p: run_ppl(args, g + ["--policy", p, "--prefill-sparsity", f"density:{rho}"])
                          for p in policies if p != "gate"}
                rows.append((v, gr, others))
                gate_rules.append((rule, gr))
            if rows:
                threshold_table(args, [p for p in policies if p != "gate"], dense, rows, rule, label)
        if "gate" in policies:
            rules_at_levels("density", "Top-K", [(rho, res[(rho, "gate")]) for rho in densities], gate_rules, dense)
    if args.phase in ("decode", "both"):
        print("decode:", file=sys.stderr)
        pl = ["--prefill-len", str(args.decode_prefill)]
        dense = run_ppl(args, pl + ["--policy", "dense"])
        res = {}
        budgets = [b for b in args.budgets.split(",") if b]
        for b in budgets:
            for p in all_policies:
                res[(b, p)] = run_ppl(args, g + pl + policy_args(p) + ["--decode-sparsity", f"budget:{b}"])
        if budgets:
            table(f"Decode, teacher-forced over the last {args.ctx - args.decode_prefill} tokens of {args.windows} x "
                  f"{args.ctx}-token windows after a dense prefill, perplexity (vs dense)",
                  budgets, "budget", all_policies, dense, res)
        rows = []
        if "gate" in policies:
            rows += [("budget", b, res[(b, "gate")]) for b in budgets]
        for rule, values in (("threshold", args.decode_thresholds), ("mass", args.decode_masses)):
            for v in [t for t in values.split(",") if t]:
                rows.append((rule, v, run_ppl(args, g + pl + ["--policy", "gate", "--decode-sparsity", f"{rule}:{v}"])))
        if any(rule != "budget" for rule, _, _ in rows):
            decode_rule_table(args, dense, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
