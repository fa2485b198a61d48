#!/usr/bin/env python3
"""scripts/eval-gates.py against a stand-in `seer` whose perplexities are fixed per policy and level: the
commands it runs, the comparison table (each policy's % above dense, the gate's margin to each oracle, the
policies it does not beat), the summary lines, --resume from --jsonl (rows run again when the seer program
changed), the decode rule table (--decode-thresholds, --decode-masses), the rules interpolated at the densities of
the gate's budget and Top-K rows, and a failing `seer ppl` reported with its
command."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "eval-gates.py")

# ppl by (policy, level); level is the density or the budget, "" for dense.
FAKE_SEER = r'''#!PYTHON
import json, sys
a = sys.argv[1:]
val = lambda flag: a[a.index(flag) + 1] if flag in a else ""
policy = val("--policy") + ("-uniform" if "--uniform-budget" in a else "")
level = (val("--prefill-sparsity") or val("--decode-sparsity")).split(":")[-1]
if policy == "broken":
    print("seer: policy 'broken' fell over", file=sys.stderr)
    sys.exit(3)
table = TABLE
ppl = table.get(policy + "@" + level, 10.0)  # (the others at a rule's matched density)
with open(LOG, "a") as f:
    f.write(" ".join(a) + "\n")
print("progress line")
density = {"0.5": 0.5, "1024": 0.15, "512": 0.08, "0.015": 0.136, "0.03": 0.07, "0.9": 0.28, "0.75": 0.14}.get(
    level, 0.1 if level else 1.0)
print(json.dumps({"ppl": ppl, "tokens": 8191, "density": density}))
'''

TABLE = {
    "dense@": 10.0,
    # prefill densities 0.5 and 0.1
    "gate@0.5": 10.1, "oracle@0.5": 10.0, "oracle-mass@0.5": 9.99, "quest@0.5": 10.5, "streaming@0.5": 10.2,
    "gate@0.1": 10.6, "oracle@0.1": 10.3, "oracle-mass@0.1": 10.2, "quest@0.1": 11.0, "streaming@0.1": 10.5,
    # decode budgets
    "gate@1024": 10.2, "oracle@1024": 10.1, "random@1024": 13.0, "streaming@1024": 10.2,
    "gate@512": 10.4, "oracle@512": 10.25, "random@512": 15.0, "streaming@512": 10.5,
    "gate@256": 10.4, "oracle@256": 10.5,
    "gate-uniform@1024": 10.3, "gate-uniform@512": 10.6,  # the gate with --uniform-budget
    "gate-uniform@0.5": 10.15,
    # decode rules: threshold:0.015, mass:0.9
    "gate@0.015": 10.3, "gate@0.9": 10.05, "gate@0.03": 10.5, "gate@0.75": 10.25,
}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(tmp, *args):
    cmd = [sys.executable, SCRIPT, "--gates", "G", "--text", "T", "--seer", os.path.join(tmp, "seer"), *args]
    return subprocess.run(cmd, capture_output=True, text=True)


with tempfile.TemporaryDirectory() as tmp:
    log = os.path.join(tmp, "calls.txt")
    with open(os.path.join(tmp, "seer"), "w") as f:
        f.write(FAKE_SEER.replace("PYTHON", sys.executable).replace("TABLE", repr(TABLE)).replace("LOG", repr(log)))
    os.chmod(os.path.join(tmp, "seer"), 0o755)

    r = run(tmp, "--phase", "prefill", "--densities", "0.5,0.1", "--policies", "gate,oracle,oracle-mass,quest,streaming")
    check(r.returncode == 0, f"prefill run exit {r.returncode}: {r.stderr}")
    out = r.stdout
    check("| density | gate | oracle | oracle-mass | quest | streaming | gate − oracle | gate − oracle-mass | gate behind |"
          in out, "prefill header:\n" + out)
    check("| 0.5 | 10.100 (+1.00%) | 10.000 (+0.00%) | 9.990 (-0.10%) | 10.500 (+5.00%) | 10.200 (+2.00%) | +1.00 pts | "
          "+1.10 pts | none |" in out, "prefill row 0.5:\n" + out)
    check("| 0.1 | 10.600 (+6.00%) | 10.300 (+3.00%) | 10.200 (+2.00%) | 11.000 (+10.00%) | 10.500 (+5.00%) | "
          "+3.00 pts | +4.00 pts | streaming |" in out, "prefill row 0.1:\n" + out)
    check("The gate is within 3.00 points of oracle at every density (widest at 0.1)." in out, "oracle line:\n" + out)
    check("The gate is within 4.00 points of oracle-mass at every density (widest at 0.1)." in out, "mass line:\n" + out)
    check("The gate beats quest, streaming except: streaming at 0.1." in out, "rivals line:\n" + out)
    calls = open(log).read().splitlines()
    check(len(calls) == 1 + 2 * 5, f"prefill: {len(calls)} seer calls")
    check(calls[0].startswith("ppl T -c 8192 --max-windows 2 --json") and calls[0].endswith("--policy dense"),
          "dense call: " + calls[0])
    check(any(c.endswith("--gates G --policy oracle-mass --prefill-sparsity density:0.1") for c in calls),
          "oracle-mass call:\n" + "\n".join(calls))

    os.remove(log)
    r = run(tmp, "--phase", "decode", "--budgets", "1024,512", "--policies", "gate,oracle,random")
    check(r.returncode == 0, f"decode run exit {r.returncode}: {r.stderr}")
    out = r.stdout
    check("| budget | gate | oracle | random | gate − oracle | gate behind |" in out, "decode header:\n" + out)
    check("| 512 | 10.400 (+4.00%) | 10.250 (+2.50%) | 15.000 (+50.00%) | +1.50 pts | none |" in out,
          "decode row 512:\n" + out)
    check("The gate is within 1.50 points of oracle at every budget (widest at 512)." in out, "decode oracle line")
    check("The gate beats random at every budget." in out, "decode rivals line:\n" + out)
    check(all("--prefill-len 6144" in c for c in open(log).read().splitlines()), "decode calls keep --prefill-len")

    # A tie is not a win; a gate below the oracle is said so.
    r = run(tmp, "--phase", "decode", "--budgets", "1024,512", "--policies", "gate,streaming")
    check("| 1024 | 10.200 (+2.00%) | 10.200 (+2.00%) | streaming |" in r.stdout, "tie row:\n" + r.stdout)
    check("The gate beats streaming except: streaming at 1024." in r.stdout, "tie line:\n" + r.stdout)
    r = run(tmp, "--phase", "decode", "--budgets", "256", "--policies", "gate,oracle")
    check("| 256 | 10.400 (+4.00%) | 10.500 (+5.00%) | -1.00 pts |" in r.stdout, "gate-ahead row:\n" + r.stdout)
    check("The gate is at or below oracle at every budget (closest at 256, -1.00 points)." in r.stdout,
          "gate-ahead line:\n" + r.stdout)

    # --decode-thresholds / --decode-masses: the gate's rows under each rule, by decode density.
    if os.path.exists(log):
        os.remove(log)
    r = run(tmp, "--phase", "decode", "--budgets", "1024,512", "--policies", "gate,oracle",
            "--decode-thresholds", "0.015", "--decode-masses", "0.9")
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    check(r.returncode == 0 and any(c.endswith("--decode-sparsity threshold:0.015") for c in calls)
          and any(c.endswith("--decode-sparsity mass:0.9") for c in calls), "rule calls: " + repr(calls) + r.stderr)
    rule_rows = [ln for ln in r.stdout.splitlines() if ln.startswith("| budget:") or ln.startswith("| threshold:")
                 or ln.startswith("| mass:")]
    check(rule_rows == ["| budget:512 | 0.0800 | 10.400 (+4.00%) |", "| threshold:0.015 | 0.1360 | 10.300 (+3.00%) |",
                        "| budget:1024 | 0.1500 | 10.200 (+2.00%) |", "| mass:0.9 | 0.2800 | 10.050 (+0.50%) |"],
          "rule table:\n" + r.stdout)
    check("each of its budget rows" in r.stdout and "| 512 | 0.0800 | +4.00% | – | – |" in r.stdout,
          "one row per rule: nothing to interpolate:\n" + r.stdout)
    # Two rows per rule: each rule at each budget's density, linear between the rows around it.
    r = run(tmp, "--phase", "decode", "--budgets", "1024,512", "--policies", "gate",
            "--decode-thresholds", "0.03,0.015", "--decode-masses", "0.75,0.9")
    check("| budget | gate density | budget | threshold | mass |" in r.stdout
          and "| 512 | 0.0800 | +4.00% | +4.70% | – |" in r.stdout
          and "| 1024 | 0.1500 | +2.00% | – | +2.36% |" in r.stdout, "rules at the budgets' densities:\n" + r.stdout)
    # The prefill rules (--thresholds, --masses) at each Top-K density of the gate.
    r = run(tmp, "--phase", "prefill", "--densities", "0.5,0.1", "--policies", "gate,oracle",
            "--thresholds", "0.03,0.015", "--masses", "0.75,0.9")
    check(r.returncode == 0 and "| density | gate density | Top-K | threshold | mass |" in r.stdout
          and "| 0.1 | 0.1000 | +6.00% | +4.09% | – |" in r.stdout and "| 0.5 | 0.5000 | +1.00% | – | – |" in r.stdout,
          "prefill rules at the Top-K densities:\n" + r.stdout + r.stderr)
    r = run(tmp, "--phase", "decode", "--budgets", "512", "--policies", "gate,oracle")
    check("under each rule" not in r.stdout and "each of its budget rows" not in r.stdout,
          "a rule table without rules:\n" + r.stdout)

    # gate-uniform: the gate with --uniform-budget, a column of the Top-K and decode tables.
    os.remove(log)
    r = run(tmp, "--phase", "both", "--densities", "0.5", "--budgets", "1024,512", "--policies", "gate,gate-uniform,random")
    calls = open(log).read().splitlines()
    check(r.returncode == 0 and "| budget | gate | gate-uniform | random | gate behind |" in r.stdout
          and "| 512 | 10.400 (+4.00%) | 10.600 (+6.00%) | 15.000 (+50.00%) | none |" in r.stdout,
          "gate-uniform decode column:\n" + r.stdout + r.stderr)
    check("| density | gate | gate-uniform | random | gate behind |" in r.stdout
          and "| 0.5 | 10.100 (+1.00%) | 10.150 (+1.50%) |" in r.stdout, "gate-uniform Top-K column:\n" + r.stdout)
    check(sum(c.endswith("--policy gate --uniform-budget --decode-sparsity budget:512") for c in calls) == 1
          and sum(c.endswith("--policy gate --uniform-budget --prefill-sparsity density:0.5") for c in calls) == 1,
          "gate-uniform calls:\n" + "\n".join(calls))

    # Without the gate: the plain table, no margins.
    r = run(tmp, "--phase", "decode", "--budgets", "512", "--policies", "oracle,random")
    check(r.returncode == 0 and "gate −" not in r.stdout and "The gate" not in r.stdout, "no gate:\n" + r.stdout)

    r = run(tmp, "--phase", "decode", "--budgets", "512", "--policies", "gate,broken")
    check(r.returncode != 0, "a failing seer ppl must fail the run")
    check("--policy broken" in r.stderr and "exit 3" in r.stderr and "fell over" in r.stderr,
          "failure message:\n" + r.stderr)

    # --resume: rows already in --jsonl are not run again; a cut-short last line is skipped and rerun.
    jl = os.path.join(tmp, "runs.jsonl")
    args = ["--phase", "decode", "--budgets", "1024,512", "--policies", "gate,oracle", "--jsonl", jl]
    os.remove(log)
    first = run(tmp, *args)
    check(first.returncode == 0 and len(open(log).read().splitlines()) == 5, "jsonl run:\n" + first.stderr)
    os.remove(log)
    again = run(tmp, *args, "--resume")
    check(again.returncode == 0 and not os.path.exists(log), "resume ran seer again:\n" + again.stderr)
    check(again.stdout == first.stdout, "resumed table differs:\n" + again.stdout)
    check(again.stderr.count("(from " + jl + ")") == 5, "resume messages:\n" + again.stderr)
    lines = open(jl).read().splitlines()
    check(len(lines) == 5, f"resume appended: {len(lines)} lines")
    with open(jl, "w") as f:  # the last run cut short
        f.write("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    part = run(tmp, *args, "--resume")
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    check(part.returncode == 0 and len(calls) == 1 and calls[0].endswith("--decode-sparsity budget:512"),
          "partial resume calls: " + repr(calls) + "\n" + part.stderr)
    check("runs.jsonl:5: not a recorded run, skipped" in part.stderr, "cut line warning:\n" + part.stderr)
    check(part.stdout == first.stdout, "partially resumed table differs:\n" + part.stdout)
    os.remove(log)
    done = run(tmp, *args, "--resume")  # the rerun's record is on a line of its own
    check(done.returncode == 0 and not os.path.exists(log), "third resume ran seer:\n" + done.stderr)
    # A rebuilt seer (another modification time) makes every recorded row run again, once.
    seer = os.path.join(tmp, "seer")
    st = os.stat(seer)
    os.utime(seer, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    rebuilt = run(tmp, *args, "--resume")
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    check(rebuilt.returncode == 0 and len(calls) == 5, "resume after a rebuild calls: " + repr(calls))
    check(rebuilt.stderr.count("made with other inputs (" + seer + ")") == 5, "rebuild notice:\n" + rebuilt.stderr)
    check(rebuilt.stdout == first.stdout, "table after a rebuild differs:\n" + rebuilt.stdout)
    os.remove(log)
    settled = run(tmp, *args, "--resume")
    check(settled.returncode == 0 and not os.path.exists(log), "resume after the rerun ran seer:\n" + settled.stderr)
    r = run(tmp, "--phase", "decode", "--resume")
    check(r.returncode == 2 and "--resume reads the runs recorded in --jsonl" in r.stderr, "resume without jsonl")

    r = run(tmp, "--phase", "decode", "--budgets", "512", "--seer", os.path.join(tmp, "missing"))
    check(r.returncode != 0 and "no such program" in r.stderr, "missing seer:\n" + r.stderr)

for f in failures:
    print("FAIL:", f)
print(f"eval_gates_test: {'ok' if not failures else f'{len(failures)} failure(s)'}")
sys.exit(1 if failures else 0)
