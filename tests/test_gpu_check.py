"""benchmarks/gpu_check.py, the prepared GPU check, run here as its CPU smoke (2 archs, data-free proxies)."""

import importlib.util
import json
import math
import subprocess
from pathlib import Path

import pytest
import torch

from .conftest import SHARED

ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
gc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gc)


def test_cpu_smoke_writes_every_phase_and_cpu_agrees_with_itself(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    cli = "params" if SHARED is not None else "none"  # the CLI path needs the NB201 table
    status = gc.main(["--device", "cpu", "--archs", "2", "--warmup", "1", "--agree-archs", "2", "--data", "none",
                      "--proxies", "params,synflow", "--ensembles", "", "--per-call-archs", "0",
                      "--cli-groups", cli, "--cli-archs", "3", "--proxy-seconds", "20", "--out", str(out)])
    assert status == 0
    r = json.loads(out.read_text())
    assert r["complete"] and r["exit_status"] == 0
    assert "NOT GPU" in r["label"]
    env = r["environment"]
    assert env["device"] == "cpu" and env["torch"] == torch.__version__ and "fp32_flags" in env
    rows = r["throughput"]["rows"]
    assert set(rows) == {"params", "synflow"}
    for row in rows.values():
        assert row["archs"] == 2 and row["archs_per_s"] > 0 and row["errors"] == 0
    if SHARED is not None:
        (run,) = r["cli"]["runs"]
        assert run["scored_now"] == 3 and run["archs_per_s"] > 0, run
    agree = r["agreement"]
    assert agree["reference_device"] == "cpu" and len(agree["archs"]) == 2
    assert list(agree["modes"]) == ["torch-default"]  # TF32 on/off is compared on CUDA only
    for p in ("params", "synflow"):
        a = agree["modes"]["torch-default"][p]
        assert a["spearman"] == 1.0 and a["exact"] and a["max_rel_diff"] == 0.0 and a["verdict"] == "PASS"
        assert agree["values"]["cpu"][p] == agree["values"]["cpu/torch-default"][p]
    assert [v["verdict"] for v in r["verdicts"]] == ["n/a", "n/a"]  # GPU targets: no verdict from a CPU run
    assert r["agreement_failed"] == []
    printed = capsys.readouterr().out
    assert "CPU smoke run: NOT GPU figures" in printed and "agreement: all PASS" in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_cuda_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    assert gc.main(["--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("no CUDA device: nothing measured") and "\n" not in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_shell_wrapper_without_cuda(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cuda", "--out",
                           str(tmp_path / "x.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("no CUDA device: nothing measured") and proc.stdout == ""


def test_compare_rules():
    same = gc.compare([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["exact"] and same["spearman"] == 1.0 and same["verdict"] == "PASS"
    close = gc.compare([1.0, 2.0, 3.0, 4.0], [1.0, 2.0 + 1e-9, 3.0, 4.0])
    assert not close["exact"] and close["spearman"] == 1.0 and close["verdict"] == "PASS"
    assert close["max_rel_diff"] == pytest.approx(5e-10)
    swapped = gc.compare([1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 4.0, 3.0])
    assert swapped["verdict"] == "FAIL" and swapped["spearman"] < 0.99
    undefined = gc.compare([1.0, -math.inf, 3.0], [1.0, 2.0, 3.0])  # singular on one side only
    assert undefined["nonfinite_mismatch"] == 1 and undefined["verdict"] == "FAIL"
    both = gc.compare([1.0, -math.inf, 3.0, 4.0], [1.0, -math.inf, 3.0, 4.0])
    assert both["exact"] and both["verdict"] == "PASS"
