"""Fuzz pass over the CLI: every option of every command gets malformed values (generated from the typer/click
metadata and the declared domains in ``zeronas.validation``, the same cases as ``tests/test_fuzz_cli.py``), each
run as its own process in a scratch folder, and every outcome is classified:

  ok           exit 2, one line on stderr naming the option, no traceback, no file created or modified
  wrong        exit 2 and one line, but the line does not name the option (the error is about something else)
  box          exit 2 with a multi-line message (e.g. click's usage box)
  traceback    a Python traceback
  accepted     exit 0: the malformed value was taken silently
  aborted      exit 1 with "Aborted."
  other-exit   any other exit code
  timeout      still running after --timeout seconds (a run that never stops, or real work on a bad value)
  touched      exit 2 and one line, but a file was created or modified

The cases come from this checkout; ``--src`` runs them against another checkout's ``src`` (e.g. an older
commit, to count before/after). Writes the counts and every non-ok case as JSON.

    python benchmarks/fuzz_cli.py --out benchmarks/results/fuzz_cli.json
    git worktree add /tmp/old b92ba62 && python benchmarks/fuzz_cli.py --src /tmp/old/src --out /tmp/before.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNNER = "import sys; sys.argv = ['zeronas', *sys.argv[1:]]; from zeronas.cli import main; main()"


def cases():
    from tests.test_fuzz_cli import CASES, PARAMS, _base

    from zeronas.validation import flag

    out = []
    for path, name, value, opt in CASES:
        param = next(p for pth, _, p in PARAMS if pth == path and p.name == name)
        argv = _base(path, param) + ([opt, value] if opt else [value])
        out.append({"argv": argv, "option": opt or flag(name), "value": value})
    return out


def snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def run_case(case: dict, src: Path, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "adir").mkdir()
        (root / "afile.txt").write_text("not a folder\n")
        (root / "binary.bin").write_bytes(bytes(range(256)) * 8)
        before = snapshot(root)
        env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"}
        env.pop("ZERONAS_DEBUG", None)
        try:
            p = subprocess.run([sys.executable, "-c", RUNNER, *case["argv"]], cwd=root, env=env, capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {**case, "outcome": "timeout"}
        err = p.stderr.strip()
        lines = err.splitlines()
        touched = snapshot(root) != before
        if "Traceback" in err:
            outcome = "traceback"
        elif p.returncode == 0:
            outcome = "accepted"
        elif p.returncode == 1 and "Aborted" in err:
            outcome = "aborted"
        elif p.returncode != 2:
            outcome = "other-exit"
        elif len(lines) != 1:
            outcome = "box"
        elif touched:
            outcome = "touched"
        elif case["option"] not in err and case["option"].lstrip("-").replace("-", "_") not in err:
            outcome = "wrong"
        else:
            outcome = "ok"
        return {**case, "outcome": outcome, "code": p.returncode, "stderr": err[-400:]}


def main():
    from zeronas.errors import int_at_least

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=ROOT / "src",
                    help="the checkout's src folder to run (default: this one)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as 'timeout'")
    ap.add_argument("--jobs", type=int_at_least(1), default=2, help="cases run at once")
    ap.add_argument("--limit", type=int, default=None, help="only the first N cases (a quick look)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz_cli.json",
                    help="the JSON results written (default: %(default)s)")
    args = ap.parse_args()
    todo = cases()[: args.limit]
    t0 = time.time()
    results = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for i, r in enumerate(pool.map(lambda c: run_case(c, args.src.resolve(), args.timeout), todo), 1):
            results.append(r)
            if i % 25 == 0 or i == len(todo):
                print(f"{i}/{len(todo)} cases, {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    counts = collections.Counter(r["outcome"] for r in results)
    summary = {"src": str(args.src), "cases": len(results), "counts": dict(sorted(counts.items())),
               "seconds": round(time.time() - t0, 1), "not_ok": [r for r in results if r["outcome"] != "ok"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    print(f"{len(results)} cases against {args.src}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from zeronas.errors import run_script

    run_script(main)
