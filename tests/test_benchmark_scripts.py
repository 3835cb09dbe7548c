"""The scripts under benchmarks/ answer bad input as the CLI does: one line, exit 2, no traceback, nothing
written (a newcomer's trial found tracebacks, exit 1 and an empty store created by a reader)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zeronas.errors import int_at_least

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_int_at_least_by_hand():
    import argparse

    assert int_at_least(1)("3") == 3 and int_at_least(0)("0") == 0
    for bad, why in (("0", "0 is below 1; give 1 or more"), ("x", "'x' is not an integer")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            int_at_least(1)(bad)


@pytest.mark.parametrize("args, said", [
    (["swap_counting.py", "--archs", "0"], "argument --archs: 0 is below 1; give 1 or more"),
    (["isomorph_members.py", "--dataset", "bogus"], "argument --dataset: invalid choice: 'bogus'"),
    (["search_results.py", "--seeds", "0", "--only-stored"], "argument --seeds: 0 is below 1"),  # wrote an empty page
    (["training_states_report.py", "--store", "{tmp}/none.db"], "error: store {tmp}/none.db does not exist"),
    # a missing reference checkout printed "skipped" and exited 0: a chained script read it as measured
    (["peer_speed.py", "--refs", "{tmp}"], "reference checkout(s) not found under --refs {tmp}: foresight, naswot"),
    (["whole_space.py", "--batch-size", "0"], "argument --batch-size: 0 is below 1"),
    (["whole_space.py", "--memory-format", "nhwc"], "argument --memory-format: invalid choice: 'nhwc'"),
    (["memory_format_search.py", "--time-budget", "1"], "argument --time-budget: 1 is below 5"),
    (["eta_replay.py", "--store", "{tmp}/none.db"], "{tmp}/none.db is not a file: give a correlate run's store"),
])
def test_bad_input_is_one_line_and_exit_2(args, said, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    run = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("usage:")
             and not line.startswith(" ")]
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert said.replace("{tmp}", str(tmp_path)) in lines[0]
    assert "Traceback" not in run.stderr and not any(tmp_path.iterdir())  # nothing written


def test_every_benchmark_option_has_help():
    """--help explains every option (103 of them had no text)."""
    import ast

    bare = []
    for path in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
                    and not any(k.arg == "help" and k.value is not None for k in node.keywords)):
                bare.append(f"{path.name}:{node.lineno}")
    assert not bare, bare


def test_label_free_choice_rule_by_hand(monkeypatch):
    """label_free_ensemble.choose on a case worked out by hand (truth 1..5 on two benchmarks): a+b ties the top
    two archs of the log-rank sum, so rho = 9.5 / sqrt(9.5 * 10) = 0.9747; a with its reverse c sums to a
    symmetric score, rho 0; a+d (d = a) and a+b+d both rank perfectly, and the tie goes to fewer members;
    singles are listed, never chosen; e, measured on one benchmark only, is never judged."""
    sys.path.insert(0, str(BENCH))
    import label_free_ensemble as lfe

    for p in "abcde":
        monkeypatch.setitem(lfe.DIRECTIONS, p, 1)
    t = np.arange(1.0, 6.0)
    v = {"a": t.copy(), "b": np.array([1.0, 2, 3, 5, 4]), "c": t[::-1].copy(), "d": t.copy()}
    benches = {"x": ({**v, "e": t.copy()}, t), "y": (dict(v), t)}
    rows, ensembles, chosen = lfe.choose(benches, ["a", "b", "c", "e"], 2)
    got = {"+".join(r["members"]): r["worst"] for r in rows}
    assert got["a+b"] == pytest.approx(9.5 / np.sqrt(95.0)) and got["a+c"] == pytest.approx(0.0, abs=1e-12)
    assert got["b+c"] == pytest.approx(0.0, abs=1e-12) and not any("e" in k.split("+") for k in got)
    assert chosen["members"] == ["a", "b"] and got["a"] == pytest.approx(1.0)  # a alone is better, but single
    _, _, chosen = lfe.choose(benches, ["a", "b", "d"], 3)
    assert chosen["members"] == ["a", "d"] and chosen["worst"] == pytest.approx(1.0)


def test_eta_replay_is_exact_on_a_run_of_equal_units(tmp_path):
    """benchmarks/eta_replay.py replays a run's records through correlate's _Eta. A run of 300 equal units, one
    written per second, one proxy set, one worker: calibrated on the first 3 (written at 0-2 s; the run starts
    at 2 s), at the mark t the units 3 to t - 1 are done in t - 3 s, a rate of 1 per second, so the ETA is the
    300 - t units left, against the 299 - t seconds the run really had left (its last record is written at
    299 s): one second long at every mark, for every weight (one set of equal cells: a weight's scale
    cancels)."""
    import csv
    import gzip
    import json
    from itertools import permutations

    from zeronas import space

    sp = space("nb201")
    # 300 distinct cells with the same ops in other places: equal FLOPs, so every weight is uniform
    ops = ["nor_conv_3x3", "nor_conv_1x1", "skip_connect", "skip_connect", "avg_pool_3x3", "none"]
    archs = sorted({sp.format(sp.arch_from_ops(list(p))) for p in permutations(ops)})[:300]
    assert len(archs) == 300 and len({sp.count_flops(sp.parse(a)) for a in archs}) == 1
    run = tmp_path / "run.csv.gz"
    with gzip.open(run, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch", "proxy", "seconds", "created"])
        for t, arch in enumerate(archs):
            w.writerow([arch, "nwot", 1.0, float(t)])
    out = tmp_path / "replay.json"
    proc = subprocess.run([sys.executable, str(BENCH / "eta_replay.py"), "--store", str(run), "--workers", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())["runs"]["run.csv.gz"]
    for weight in ("flops", "flops+median", "count"):
        for mark in ("60", "120", "180", "240"):
            t = int(mark)
            assert got[weight][mark]["true_s"] == 299 - t
            assert got[weight][mark]["eta_s"] == pytest.approx(300 - t)
            assert got[weight][mark]["error"] == pytest.approx(1 / (299 - t))  # one second long


def test_eta_replay_tells_the_weights_apart_on_archs_of_two_sizes(tmp_path):
    """Units whose seconds are proportional to FLOPs + the median count (the cost model of correlate's weight):
    150 cells with one 3x3 conv, then 150 with two. The weight that matches the cost sees one steady rate and
    is exact up to the unit in progress (0 % at every mark, within 2 %); FLOPs alone overrate the larger
    cells' cost and say 18-24 % long, one per arch underrates it and says 16-22 % short."""
    import csv
    import gzip
    import json
    from itertools import permutations

    from zeronas import space
    from zeronas.correlate import _median_flops

    sp = space("nb201")
    groups = []
    for ops in (["nor_conv_3x3", "nor_conv_1x1", "skip_connect", "skip_connect", "avg_pool_3x3", "none"],
                ["nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "none"]):
        groups.append(sorted({sp.format(sp.arch_from_ops(list(p))) for p in permutations(ops)})[:150])
    run, t = tmp_path / "run.csv.gz", 0.0
    with gzip.open(run, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch", "proxy", "seconds", "created"])
        for arch in groups[0] + groups[1]:
            cost = (sp.count_flops(sp.parse(arch)) + _median_flops(sp)) / 50e6  # 2.3-2.6 s per unit
            t += cost
            w.writerow([arch, "nwot", cost, t])
    out = tmp_path / "replay.json"
    proc = subprocess.run([sys.executable, str(BENCH / "eta_replay.py"), "--store", str(run), "--workers", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())["runs"]["run.csv.gz"]
    for mark in ("60", "120", "180", "240"):
        assert abs(got["flops+median"][mark]["error"]) < 0.02
        assert got["flops"][mark]["error"] > 0.15 and got["count"][mark]["error"] < -0.15
