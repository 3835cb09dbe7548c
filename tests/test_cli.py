import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from zeronas.cli import app
from zeronas.errors import UserError

from .conftest import BEST, needs_cifar

runner = CliRunner()


def test_score_data_free_writes_json(tmp_path):
    res = runner.invoke(app, ["score", "--arch", BEST, "--proxies", "synflow,params,zeros", "--data", "none",
                              "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "synflow" in res.output and "1.07347e+06" in res.output
    recs = json.loads((tmp_path / "scores.json").read_text())
    assert {r["proxy"] for r in recs} == {"synflow", "params", "zeros"}
    assert all(r["protocol"]["torch"] and r["protocol_hash"] for r in recs)


def test_score_memory_format_is_recorded_and_checked(tmp_path):
    res = runner.invoke(app, ["score", "--arch", BEST, "--proxies", "synflow,params", "--data", "none",
                              "--memory-format", "channels-last", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    recs = json.loads((tmp_path / "scores.json").read_text())
    by = {r["proxy"]: r["protocol"] for r in recs}
    assert by["synflow"]["memory_format"] == "channels-last" and "memory_format" not in by["params"]  # no tensor
    assert "1.07347e+06" in res.output  # synflow has no BN statistics: the NCHW value (test above)
    assert "scoring in the channels-last layout" in res.output
    res = runner.invoke(app, ["score", "--arch", BEST, "-p", "params,flops", "--data", "none", "--memory-format",
                              "channels-last"])  # a user trial: the note was printed of proxies that read no tensor
    assert res.exit_code == 0 and "scoring in the channels-last layout" not in res.output
    model = tmp_path / "m.py"  # the same for a --model
    model.write_text("import torch.nn as nn\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), "
                     "nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))\n")
    for proxies, said in (("params", False), ("params,synflow", True)):
        res = runner.invoke(app, ["score", "--model", f"{model}:net", "-p", proxies, "--data", "none",
                                  "--memory-format", "channels-last"])
        assert res.exit_code == 0 and ("scoring in the channels-last layout" in res.output) is said, res.output
    res = runner.invoke(app, ["score", "--arch", BEST, "-p", "params", "--memory-format", "nhwc"])
    assert isinstance(res.exception, UserError)  # main() prints it as one line and exits 2
    assert str(res.exception) == "unknown --memory-format 'nhwc'; choose one of: contiguous, channels-last"


def test_score_bad_inputs_are_one_line_errors():
    from zeronas.cli import main  # noqa: F401  (main turns UserError into 'error: ...' and exit 2)
    from zeronas.errors import UserError

    for args in (["score", "--arch", "nonsense"], ["score", "--arch", BEST, "-p", "nope"],
                 ["score", "--arch", BEST, "--init", "weird", "-p", "params"],
                 ["score", "--arch", BEST, "-p", "params", "--set", "oops"],
                 # option values of the wrong type: a text, NaN, a fraction for a count (they ran before)
                 ["score", "--arch", BEST, "-p", "das", "--data", "none", "--set", "das.lam=abc"],
                 ["score", "--arch", BEST, "-p", "das", "--data", "none", "--set", "das.lam=nan"],
                 ["score", "--arch", BEST, "-p", "swap", "--data", "none", "--set", "swap.repeats=2.5"],
                 # options whose default is None take the type their annotation names; null only there
                 ["score", "--arch", BEST, "-p", "ntk_cond", "--data", "none", "--set", "ntk_cond.batch_size=abc"],
                 ["score", "--arch", BEST, "-p", "das", "--data", "none", "--set", "das.lam=null"]):
        res = runner.invoke(app, args)
        assert isinstance(res.exception, UserError), (args, res.output)
        assert "\n" not in str(res.exception)


def test_proxies_listing():
    res = runner.invoke(app, ["proxies"])
    assert res.exit_code == 0 and "ntk_cond" in res.output and "lower" in res.output
    # piped at rich's default 80 columns, the eight columns used to fold every word onto its own line
    header = next(line for line in res.output.splitlines() if "name" in line and "better" in line)
    for col in ("data", "BN", "dtype", "min batch", "defaults", "what"):
        assert col in header, header


def test_correlate_table_and_plots_show_each_proxys_direction(tmp_path, monkeypatch):
    """A newcomer trial: a lower-is-better proxy's negative rho beside its positive top-k read as a contradiction;
    the table has a 'better' column and says why (scatter.png and rho.png add "(lower better)" to the name)."""
    from .conftest import SHARED

    if SHARED is None:
        pytest.skip("needs the NB201 table: set ZERONAS_DATA to the data folder")
    (tmp_path / "neg.py").write_text("def neg_params(model, x, y):\n    return -sum(p.numel() for p in "
                                     "model.parameters())\n\n\nneg_params.direction = -1\nneg_params.data = 'noise'\n")
    monkeypatch.setenv("COLUMNS", "200")
    res = runner.invoke(app, ["correlate", "--proxies", f"params,{tmp_path / 'neg.py'}:neg_params", "--sample", "20",
                              "--store", str(tmp_path / "z.db"), "--workers", "1", "--data", "cifar10",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    rows = {line.split("│")[1].strip().rsplit(":", 1)[-1]: [c.strip() for c in line.split("│")[2:-1]]
            for line in res.output.splitlines() if line.startswith("│")}
    assert rows["params"][0] == "higher" and rows["neg_params"][0] == "lower", res.output
    # -params ranks exactly as params read the other way: rho negated, top-k the same
    assert float(rows["neg_params"][1]) == -float(rows["params"][1]) and rows["neg_params"][3:6] == rows["params"][3:6]
    assert "a lower-is-better proxy" in " ".join(res.output.split()) and "has a negative rho" in res.output


def test_correlate_cli_writes_outputs(tmp_path):
    from .conftest import CIFAR, SHARED

    if SHARED is None or CIFAR is None:
        import pytest

        pytest.skip("needs the NB201 table and CIFAR-10 images: set ZERONAS_DATA to the data folder")
    res = runner.invoke(app, ["correlate", "--proxies", "params,flops,ensemble:params+flops", "--sample", "10",
                              "--store", str(tmp_path / "z.db"), "--workers", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "params" in res.output and "10 archs" in res.output
    for name in ("correlation.json", "correlation.csv", "scatter.png", "rho.png"):
        assert (tmp_path / "o" / name).stat().st_size > 0
    data = json.loads((tmp_path / "o" / "correlation.json").read_text())
    assert data["meta"]["target"] == "cifar10_test_acc" and data["proxies"]["params"]["n"] == 10
    assert data["proxies"]["ensemble:params+flops"]["members"] == ["params", "flops"]
    # a newcomer trial: --out held no per-arch values; they are there, as the table and the proxy give them
    import csv

    import zeronas as zn
    from zeronas.benchmarks.nb201 import load_nb201

    per, table = data["per_arch"], load_nb201()
    assert per["index"] == data["meta"]["indices"] and len(per["arch"]) == 10
    assert per["arch"] == [table.arch_str[i] for i in per["index"]]
    assert per["truth"] == [float(table.column("cifar10_test_acc")[i]) for i in per["index"]]
    params = zn.score(per["arch"][0], proxies="params", data="none")[0].value
    assert per["values"]["params"][0] == params and set(per["values"]) == {"params", "flops", "ensemble:params+flops"}
    with open(tmp_path / "o" / "archs.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "arch", "cifar10_test_acc", "params", "flops", "ensemble:params+flops"]
    assert [int(r[0]) for r in rows[1:]] == per["index"] and float(rows[1][3]) == params
    # --only-stored analyses what the store holds and scores nothing (a stored prefix: tests/test_correlate.py)
    res = runner.invoke(app, ["correlate", "--proxies", "params", "--sample", "10", "--only-stored",
                              "--store", str(tmp_path / "z.db")])
    assert res.exit_code == 0 and "10 archs" in res.output and "scored now: 0" in res.output, res.output
    res = runner.invoke(app, ["correlate", "--proxies", "snip", "--sample", "10", "--only-stored",
                              "--store", str(tmp_path / "z.db")])
    assert isinstance(res.exception, UserError) and "run without --only-stored" in str(res.exception)


def test_search_bad_options_are_one_line_errors():
    for args, needle in [(["--method", "bogus"], "unknown --method"),
                         (["--method", "rea", "--budget", "0"], "--budget must be an integer in [1, "),
                         (["--method", "sample", "--pool", "3"], "--pool does not apply to --method sample"),
                         (["--method", "te-nas", "--lr", "0.1"], "--lr does not apply"),
                         (["--method", "freedarts", "--train-steps", "5"], "--train-steps does not apply"),
                         (["--method", "sample", "--plot"], "--plot writes a PNG and needs --out"),
                         (["--method", "sample", "--runs", "0"], "--runs must be an integer in [1, ")]:
        from zeronas.errors import UserError

        res = runner.invoke(app, ["search", *args])
        assert isinstance(res.exception, UserError), (args, res.output)
        assert needle in str(res.exception) and "\n" not in str(res.exception)


def test_threads_is_taken_and_checked_by_score_search_and_train(tmp_path, monkeypatch):
    """Side-by-side jobs need --threads 1 on every verb that computes (search had none)."""
    import torch

    for verb in (["score", "--arch", BEST, "-p", "params"], ["search", "--method", "random", "--proxy", "params",
                                                           "--data", "none", "--budget", "2"],
                 ["train", "--arch", BEST, "--epochs", "1", "--out", str(tmp_path / "t")]):
        for bad in ("0", "-1"):  # a non-integer is click's usage error
            res = runner.invoke(app, [*verb, "--threads", bad])
            assert isinstance(res.exception, UserError), (verb, bad, res.output)
            assert "--threads must be an integer in [1, 1024]" in str(res.exception), str(res.exception)
        assert not (tmp_path / "t").exists()  # refused before anything was written
    asked = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    for verb in (["score", "--arch", BEST, "-p", "params", "--data", "none"],
                 ["search", "--method", "random", "--proxy", "params", "--data", "none", "--budget", "2"]):
        res = runner.invoke(app, [*verb, "--threads", "1"])
        assert res.exit_code == 0, res.output
    assert asked == [1, 1]


def test_search_cli_writes_result_and_plot(tmp_path):
    res = runner.invoke(app, ["search", "--method", "rea", "--proxy", "params", "--data", "none", "--budget", "25",
                              "--population", "5", "--tournament", "2", "--out", str(tmp_path), "--plot"])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "result.json").read_text())
    # 25 budget steps; isomorphic repeats are looked up, so at most 25 networks were scored
    assert out["method"] == "rea" and len(out["trajectory"]) == 25 and 0 < out["evaluations"] <= 25
    assert (tmp_path / "trajectory.png").stat().st_size > 0


def test_search_plot_has_a_panel_per_run(tmp_path, monkeypatch):
    """--runs 2 --plot used to draw seed 0 only."""
    import matplotlib.pyplot as plt

    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    res = runner.invoke(app, ["search", "--method", "rea", "--proxy", "params", "--data", "none", "--budget", "8",
                              "--population", "4", "--tournament", "2", "--runs", "2", "--out", str(tmp_path),
                              "--plot"])
    assert res.exit_code == 0, res.output
    titles = [ax.get_title() for ax in figs[0].axes if ax.get_title()]
    assert titles == ["rea on nb201, seed 0", "rea on nb201, seed 1"]


def _main_raising(monkeypatch, capsys, exc: BaseException, argv: list[str]) -> tuple[int, str]:
    """(exit code, stderr) of ``zeronas.cli.main(argv)`` when the command raises ``exc``."""
    import zeronas.cli as cli

    class Raising:
        def main(self, **kw):
            raise exc

    monkeypatch.setattr(cli, "_command", lambda: Raising())
    with pytest.raises(SystemExit) as out:
        cli.main(argv)
    return out.value.code, capsys.readouterr().err.strip()


def test_ctrl_c_is_one_line_saying_how_to_resume(monkeypatch, capsys):
    import zeronas.cli as cli

    code, err = _main_raising(monkeypatch, capsys, KeyboardInterrupt(), ["correlate"])
    assert code == 130 and len(err.splitlines()) == 1
    assert err.startswith("zeronas: interrupted") and "rerun the same command to resume from its store" in err
    # only what resumes says so: score and search only with --store
    assert "pass --store DB to keep each architecture's scores" in _main_raising(
        monkeypatch, capsys, KeyboardInterrupt(), ["score", "--index", "0"])[1]
    assert "resume from its --store" in _main_raising(monkeypatch, capsys, KeyboardInterrupt(),
                                                      ["score", "--index", "0", "--store", "runs/s.db"])[1]
    assert "without --store keeps nothing" in _main_raising(monkeypatch, capsys, KeyboardInterrupt(), ["search"])[1]
    assert "resume from its --store" in _main_raising(monkeypatch, capsys, KeyboardInterrupt(),
                                                      ["search", "--store=runs/s.db"])[1]
    for argv, said in ((["train", "--index", "0"], "keeps the last finished epoch, if any: rerun the same command"),
                       (["train", "--no-resume"], "rerun without --no-resume to go on from it"),
                       (["train", "--time-limit", "5"], "a time-limited run starts afresh"),
                       (["bench", "build"], "resume from its store"), (["bench", "correlate"], "nothing was written"),
                       (["merge", "a.db"], "nothing is added twice")):
        assert said in _main_raising(monkeypatch, capsys, KeyboardInterrupt(), argv)[1], argv
    # through the real command: typer turns the interrupt into a silent exit 130, which must still be said
    import zeronas.search as zsearch

    monkeypatch.undo()

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(zsearch, "search", interrupted)
    with pytest.raises(SystemExit) as exc:
        cli.main(["search", "--method", "random", "--proxy", "params", "--data", "none", "--budget", "3"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 130 and err.startswith("zeronas: interrupted") and len(err.splitlines()) == 1, err


def test_a_refused_write_is_one_line_exit_2_not_an_internal_error(monkeypatch, capsys, tmp_path):
    """The disk (full, read-only, no permission) refusing a write mid-run is the machine's answer, not a bug;
    any other OSError still is one."""
    import errno

    def run_with(exc):
        return _main_raising(monkeypatch, capsys, exc, ["train"])

    code, err = run_with(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "summary.json")))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err == (f"error: the system refused a write to {tmp_path / 'summary.json'}: No space left on "
                   "device; free space there or choose another location, then rerun (finished results are kept)")
    code, err = run_with(PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "table.csv.gz")))
    assert code == 2 and err == (f"error: permission denied on {tmp_path / 'table.csv.gz'}: fix its permissions, "
                                 "or choose another location, then rerun (finished results are kept)"), err
    code, err = run_with(OSError(errno.EBADF, "Bad file descriptor"))
    assert code == 1 and err.startswith("zeronas: internal error (OSError:"), err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no file can be created")
@pytest.mark.parametrize("args", [["train", "--index", "0", "--epochs", "1", "--out", "/proc/zeronas_out"],
                                  ["export", "--index", "0", "--out", "/proc/zeronas_m.json"],
                                  ["bench", "correlate", "--store", "x.db", "--out", "/proc/zeronas_b"]])
def test_an_output_where_no_file_can_be_made_is_refused_at_the_edge(args):
    """/proc refuses new files even to root, whose permission bits pass: the edge probes the folder."""
    res = runner.invoke(app, args)  # main() turns a UserError into one line and exit 2
    assert isinstance(res.exception, UserError), res.output
    # the OS says "No such file or directory" of a folder that exists: the reason is said as what it means
    assert f"--out '{args[-1]}' cannot be created: '/proc' is not writable (it takes no new files)" in \
        str(res.exception)
    assert not Path(args[-1]).exists()


def _strict(text: str):
    """json.loads refusing NaN / Infinity, as strict JSON readers do."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_outputs_are_strict_json():
    import numpy as np

    from zeronas import jsonio

    text = jsonio.dumps({"a": float("nan"), "b": [np.float64("-inf"), np.float32(1.5), 2], "c": (np.inf, "x")})
    assert _strict(text) == {"a": "nan", "b": ["-inf", 1.5, 2], "c": ["inf", "x"]}


def test_score_and_search_files_are_strict_json(tmp_path, monkeypatch):
    """A proxy with no value (zen of an all-'none' cell: NaN) and a search result: both files parse strictly."""
    none_cell = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    res = runner.invoke(app, ["score", "--arch", none_cell, "--proxies", "zen,synflow,params", "--data", "none",
                              "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    _strict((tmp_path / "s" / "scores.json").read_text())
    # an NB101 arch outside the 500-cell table has no accuracy: the trajectory held a bare NaN
    import zeronas.search.base as base

    monkeypatch.setattr(base, "benchmark_info", lambda *a, **k: {"in_table": False})
    res = runner.invoke(app, ["search", "--space", "nb101", "--method", "random", "--proxy", "params", "--data",
                              "none", "--budget", "4", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    out = _strict((tmp_path / "r" / "result.json").read_text())
    assert {t["cifar10"] for t in out["trajectory"]} == {None}  # null: no value, not the string "nan"


def test_python_dash_m_zeronas_is_the_cli():
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "zeronas", "score", "--proxies", "bogus", "--arch", BEST],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("error: unknown proxy 'bogus'"), res.stderr
    assert "the ensembles az_nas, zeronas-v1, zeronas-v2 or ensemble:a+b" in res.stderr  # what correlate/search take


def test_committed_benchmark_results_are_strict_json():
    """Published figures must open in any JSON reader (two files held bare NaN)."""
    from pathlib import Path

    files = sorted((Path(__file__).parent.parent / "benchmarks" / "results").glob("*.json"))
    assert files
    for path in files:
        _strict(path.read_text())


def test_search_says_when_stand_in_images_were_used(capsys):
    """score printed the stand-in note, search kept it in result.json only."""
    import pytest

    from zeronas import paths
    from zeronas.cli import main

    from .conftest import CIFAR, SHARED

    if CIFAR is None or SHARED is None:
        pytest.skip("CIFAR-10 images and the NB201 table are needed: set ZERONAS_DATA")
    if paths.find(["cifar-100-python/train"]):
        pytest.skip("real CIFAR-100 images are present: nothing stands in")
    with pytest.raises(SystemExit) as exc:
        main(["search", "--method", "random", "--proxy", "nwot", "--budget", "2", "--data", "cifar100"])
    assert exc.value.code == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "note: cifar100 images not found: CIFAR-10 images stood in for them" in err


def test_training_reads_without_a_time_budget_are_said_up_front(monkeypatch, capsys):
    """--evaluator train without a time budget (sample without --time-budget, funnel with --budget only):
    each read trains a full short epoch (minutes on a CPU), said before the search runs; under a time budget
    (--time-budget, or funnel's default one) the reads fit inside it and nothing is said."""
    import pytest

    import zeronas.search as zsearch
    from zeronas.cli import main

    def stop(*a, **k):
        raise KeyboardInterrupt  # the note must be out before the search runs

    monkeypatch.setattr(zsearch, "search", stop)
    for argv in (["--method", "sample"], ["--method", "funnel", "--budget", "50"]):
        with pytest.raises(SystemExit):
            main(["search", *argv, "--refine", "2", "--evaluator", "train"])
        err = " ".join(capsys.readouterr().err.split())
        assert "without --time-budget each of the 2 training read(s) of --evaluator train trains a network for " \
               "a full epoch" in err, argv
    for argv in (["--time-budget", "10"], [], ["--method", "random", "--budget", "50"]):
        with pytest.raises(SystemExit):
            main(["search", *argv, "--refine", "2", "--evaluator", "train"])
        assert "training read" not in capsys.readouterr().err, argv


def test_training_reads_cut_short_by_the_time_budget_are_said(capsys, monkeypatch):
    """A read that a time limit stopped part-way is near chance: the CLI says how many and on how many images."""
    import pytest

    from zeronas.cli import main
    from zeronas.search.refine import TrainEvaluator

    def cut_read(self, arch):  # what a read that trained one step of 256 images leaves behind
        self.limits.append(1.0)
        self.images.append(256)
        self.cut += 1
        return 10.0

    monkeypatch.setattr(TrainEvaluator, "evaluate", cut_read)
    with pytest.raises(SystemExit) as exc:
        main(["search", "--method", "random", "--proxy", "params", "--data", "none", "--budget", "20",
              "--time-budget", "60", "--refine", "2", "--evaluator", "train"])
    assert exc.value.code == 0
    assert ("note: 2 of the 2 training reads stopped part-way to fit the time budget (256 of 5,000 images): "
            "a weak accuracy signal; raise --time-budget") in " ".join(capsys.readouterr().err.split())


def test_fewer_reads_than_asked_are_said(capsys):
    import pytest

    from zeronas.cli import main

    from .conftest import SHARED

    if SHARED is None:
        pytest.skip("the NB201 table is needed for --refine's table reads: set ZERONAS_DATA")
    with pytest.raises(SystemExit) as exc:
        main(["search", "--method", "random", "--proxy", "params", "--data", "none", "--budget", "2", "--refine", "5"])
    assert exc.value.code == 0
    out = capsys.readouterr()
    assert "2 accuracy reads" in out.out
    assert "note: 2 of the 5 accuracy reads asked" in " ".join(out.err.split())
    # the trajectory table is the label-free phase, not the refined answer: its caption says so
    assert "the label-free phase; the answer after --refine's 2 accuracy read(s)" in " ".join(out.out.split())


def test_a_result_json_of_several_runs_is_read_as_its_runs(tmp_path):
    """'search --runs 2' writes a list of runs: score reads every run's arch, export (one arch) asks which."""
    other = "|skip_connect~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|"
    runs = [{"method": "rea", "seed": 0, "arch": BEST}, {"method": "rea", "seed": 1, "arch": other}]
    (tmp_path / "result.json").write_text(json.dumps(runs))
    res = runner.invoke(app, ["score", "--arch-file", str(tmp_path / "result.json"), "-p", "params", "--data",
                              "none", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert [r["arch"] for r in json.loads((tmp_path / "o" / "scores.json").read_text())] == [BEST, other]
    res = runner.invoke(app, ["export", "--arch-file", str(tmp_path / "result.json"), "--format", "json",
                              "--out", str(tmp_path / "m.json")])
    assert isinstance(res.exception, UserError)
    msg = str(res.exception)
    assert "holds 2 search runs (seeds 0, 1); pass the one you want with --arch instead of --arch-file" in msg
    assert f"e.g. --arch '{BEST}'" in msg and "\n" not in msg
    assert not (tmp_path / "m.json").exists()
    (tmp_path / "bad.json").write_text('[{"arch": 3}]')
    res = runner.invoke(app, ["score", "--arch-file", str(tmp_path / "bad.json"), "-p", "params"])
    assert "is not a result.json with an \"arch\" field" in str(res.exception)
    # score's scores.json (a row per arch x proxy, no seeds): each arch once, said as architectures
    res = runner.invoke(app, ["score", "--arch-file", str(tmp_path / "result.json"), "-p", "params,flops",
                              "--data", "none", "--out", str(tmp_path / "s")])
    res = runner.invoke(app, ["export", "--arch-file", str(tmp_path / "s" / "scores.json"), "--out",
                              str(tmp_path / "m.json")])
    assert "scores.json' holds 2 architectures; pass the one you want with --arch" in str(res.exception)


def test_a_pareto_search_s_front_json_is_read_as_its_front(tmp_path):
    """front.json was refused as an arch file ("not a result.json"), so no command took a front member from it
    (a newcomer's trial): it is read as its front's archs; the result.json beside it still names the answer."""
    out = tmp_path / "fr"
    res = runner.invoke(app, ["search", "--space", "macro", "--method", "sample", "--proxy", "params", "--data", "none",
                              "--budget", "20", "--objectives", "score,flops", "--out", str(out)])
    assert res.exit_code == 0, res.output
    front = [p["arch"] for p in json.loads((out / "front.json").read_text())["front"]]
    # the network its members were scored on, for an export of one of them (data-free: CIFAR-10's head)
    assert json.loads((out / "front.json").read_text())["network"] == {"num_classes": 10, "input_size": 32,
                                                                       "data": None}
    answer = json.loads((out / "result.json").read_text())["arch"]
    res = runner.invoke(app, ["score", "--space", "macro", "--arch-file", str(out / "front.json"), "-p", "params",
                              "--data", "none", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert [r["arch"] for r in json.loads((tmp_path / "o" / "scores.json").read_text())] == front
    res = runner.invoke(app, ["export", "--space", "macro", "--arch-file", str(out / "front.json"), "--format", "json",
                              "--out", str(tmp_path / "m.json")])
    assert len(front) > 1  # (seed 0's front on macro: 6 archs)
    assert f"holds {len(front)} architectures; pass the one you want with --arch" in str(res.exception)
    res = runner.invoke(app, ["export", "--space", "macro", "--arch-file", str(out / "result.json"), "--format",
                              "json", "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 0 and json.loads((tmp_path / "m.json").read_text())["arch"] == answer


def test_darts_supernet_search_without_a_size_says_it_takes_hours(monkeypatch):
    """There is no cpu preset on darts: te-nas's default took an ETA of 6.5 h without a word (newcomer trial)."""
    def stop(*a, **k):
        raise UserError("stop here")

    monkeypatch.setattr("zeronas.search.search", stop)
    res = runner.invoke(app, ["search", "--space", "darts", "--method", "te-nas", "--data", "none"])
    assert ("te-nas on darts searches the paper's supernet (C=16, 8 cells): hours on a CPU. The smallest "
            "measured setting, --repeat 1 --C 4 --N 5 --batch-size 8") in " ".join(
        res.output.split())


def test_sigterm_unwinds_like_ctrl_c_and_removes_the_training_reads_scratch(tmp_path):
    """SIGTERM (timeout, a job scheduler) during a training read: one line, exit 143, and the reads' scratch
    folder is gone. The read is made slow by a stand-in train() that writes its folder and waits."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "run.py"
    script.write_text(
        "import pathlib, sys, time\n"
        "import zeronas.train as ztrain\n"
        "def slow_train(space, arch, out, **kw):\n"
        "    pathlib.Path(out).mkdir(parents=True)\n"
        f"    pathlib.Path({str(tmp_path / 'reading')!r}).write_text(str(out))\n"
        "    time.sleep(120)\n"
        "ztrain.train = slow_train\n"
        "from zeronas.cli import main\n"
        "main(sys.argv[1:])\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, str(script), "search", "--method", "random", "--proxy", "params",
                             "--data", "none", "--budget", "3", "--refine", "1", "--evaluator", "train",
                             "--time-budget", "3600"],  # so a loaded machine's slow probe still starts the read
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    marker = tmp_path / "reading"
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), proc.communicate(timeout=30)
    folder = marker.read_text()
    assert os.path.isdir(folder) and folder.startswith(str(tmp_path))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (out, err)
    assert err.strip().startswith("zeronas: terminated (SIGTERM)") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    scratch = os.path.dirname(folder)  # <scratch>/<arch hash>
    assert os.path.basename(scratch).startswith("zeronas-refine-") and not os.path.exists(scratch)


def test_every_bracket_in_an_option_help_is_shown_by_help():
    """--help renders help texts as rich markup, where '[...]' is a style tag and vanishes: correlate's
    '[default: 1000, ...]' did, so --sample's default was never shown. Every bracketed part of every option's
    help must be in the command's rendered --help."""
    import re

    import typer

    def commands(cmd, path=()):
        if hasattr(cmd, "commands"):  # a group (typer may bring its own click)
            for name, sub in cmd.commands.items():
                yield from commands(sub, (*path, name))
        else:
            yield path, cmd

    runner = CliRunner()
    seen = 0
    for path, cmd in commands(typer.main.get_command(app)):
        seen += 1
        brackets = [b for p in cmd.params for b in re.findall(r"\[[^\]]*\]", getattr(p, "help", None) or "")]
        if not brackets:
            continue
        out = " ".join(runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"}, terminal_width=400).output.split())
        for b in brackets:
            assert " ".join(b.split()) in out, f"zeronas {' '.join(path)} --help drops {b!r}"
    assert seen > 10  # every command was walked


def test_a_json_arch_file_that_is_no_result_is_named_not_quoted(tmp_path):
    """export --arch-file correlation.json used to quote the whole JSON document inside an NB201 parse error."""
    doc = {"meta": {"n": 5, "notes": ["x" * 500]}, "proxies": {"params": {"spearman": 0.7}}}
    (tmp_path / "correlation.json").write_text(json.dumps(doc, indent=1))
    for cmd in (["export", "--out", str(tmp_path / "m.json")], ["score", "-p", "params", "--data", "none"]):
        res = runner.invoke(app, [*cmd, "--arch-file", str(tmp_path / "correlation.json")])
        msg = str(res.exception)
        assert isinstance(res.exception, UserError) and "\n" not in msg and len(msg) < 300, msg
        assert "is a JSON object with keys meta, proxies: neither a result.json" in msg
    assert not (tmp_path / "m.json").exists()
    from zeronas.spaces import space
    from zeronas.spaces.darts import genotype_json

    sp = space("darts")  # a genotype's JSON is still an architecture
    g = sp.sample(np.random.default_rng(0))
    (tmp_path / "g.json").write_text(genotype_json(g))
    res = runner.invoke(app, ["export", "--space", "darts", "--arch-file", str(tmp_path / "g.json"),
                              "--out", str(tmp_path / "g_out.json")])
    assert res.exit_code == 0, res.output
    other = sp.sample(np.random.default_rng(1))  # JSON lines: an architecture per line, as before
    (tmp_path / "gl.json").write_text(genotype_json(g) + "\n" + genotype_json(other) + "\n")
    res = runner.invoke(app, ["score", "--space", "darts", "--arch-file", str(tmp_path / "gl.json"), "-p", "params",
                              "--data", "none", "--out", str(tmp_path / "gl")])
    assert res.exit_code == 0, res.output
    assert len(json.loads((tmp_path / "gl" / "scores.json").read_text())) == 2
    (tmp_path / "bad.json").write_text('{"normal": [["sep_conv_3x3", 0]]}')  # a genotype's own fault is said
    res = runner.invoke(app, ["export", "--space", "darts", "--arch-file", str(tmp_path / "bad.json")])
    assert "missing normal_concat, reduce, reduce_concat" in str(res.exception)


def test_a_second_search_into_the_same_out_leaves_only_its_own_files(tmp_path):
    """A rerun into the same --out without --plot kept the first run's trajectory.png beside its result.json,
    as if it were its own. Results are written atomically (a failed write leaves the old file, no temp file)."""
    import os

    from zeronas import jsonio

    runner = CliRunner()
    base = ["search", "--method", "sample", "--proxy", "params", "--data", "none", "--out", str(tmp_path / "o")]
    res = runner.invoke(app, [*base, "--n", "3", "--seed", "0", "--plot"])
    assert res.exit_code == 0 and (tmp_path / "o" / "trajectory.png").exists(), res.output
    res = runner.invoke(app, [*base, "--n", "4", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "o" / "trajectory.png").exists()
    assert "removed the earlier run's trajectory.png" in " ".join(res.output.split())
    assert json.loads((tmp_path / "o" / "result.json").read_text())["seed"] == 1

    before = (tmp_path / "o" / "result.json").read_text()

    def broken(*a):
        raise OSError("disk full")

    real, os.replace = os.replace, broken
    try:
        with pytest.raises(OSError):
            jsonio.write(tmp_path / "o" / "result.json", {"seed": 2})
    finally:
        os.replace = real
    assert (tmp_path / "o" / "result.json").read_text() == before
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["result.json"]


def test_an_output_folder_named_like_a_file_is_refused_before_any_work(tmp_path):
    """search --out o4/result.json made a folder called result.json: a folder option given a file's name is
    refused in one line suggesting the folder, and nothing is created."""
    for argv in (["search", "--method", "random", "--proxy", "params", "--data", "none", "--budget", "2"],
                 ["train", "--arch", BEST, "--epochs", "1"]):
        res = runner.invoke(app, [*argv, "--out", str(tmp_path / "o4" / "result.json")])
        assert isinstance(res.exception, UserError), res.output
        assert "names a .json file, but --out is a folder" in str(res.exception)
        assert not (tmp_path / "o4").exists()
    (tmp_path / "kept.json").mkdir()  # an existing folder of that name is the user's: it is used
    res = runner.invoke(app, ["search", "--method", "random", "--proxy", "params", "--data", "none", "--budget", "2",
                              "--out", str(tmp_path / "kept.json")])
    assert res.exit_code == 0 and (tmp_path / "kept.json" / "result.json").exists(), res.output


def test_files_written_whole_get_the_mode_a_plain_write_gives(tmp_path):
    """atomic_path's temporary file is made owner-only by mkstemp: result files, exports and checkpoints came
    out 0600 (unreadable to a group sharing the runs); they get the umask's mode, or keep an existing file's."""
    import os

    from zeronas.paths import _umask, atomic_path

    with atomic_path(tmp_path / "new.json") as tmp:
        tmp.write_text("{}")
    assert os.stat(tmp_path / "new.json").st_mode & 0o777 == 0o666 & ~_umask()
    (tmp_path / "kept.json").write_text("old")
    os.chmod(tmp_path / "kept.json", 0o640)
    with atomic_path(tmp_path / "kept.json") as tmp:
        tmp.write_text("new")
    assert os.stat(tmp_path / "kept.json").st_mode & 0o777 == 0o640 and (tmp_path / "kept.json").read_text() == "new"


def test_long_inputs_are_cut_in_errors_and_say_so(tmp_path):
    """A whole file passed as an arch was quoted back in full (20 KB on one line); a cut one must not pass for a
    shorter value either."""
    from zeronas.errors import shown

    assert shown("abc") == "'abc'"
    assert shown("x" * 500, 10) == "'xxxxxxxxx... (500 characters)"
    text = "# notes\n" + "word " * 4000
    (tmp_path / "notes.txt").write_text(text)
    res = runner.invoke(app, ["train", "--arch-file", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "t")])
    msg = str(res.exception)
    assert isinstance(res.exception, UserError) and len(msg) < 500, msg
    assert msg.startswith(f"arch file {str(tmp_path / 'notes.txt')!r} holds no nb201 architecture (NB201 arch "
                          "string 'word word") and "... (19,999 characters) has 1 nodes, not 3" in msg
    assert not (tmp_path / "t").exists()
    # another space's search result: say which space it is
    res = runner.invoke(app, ["search", "--method", "random", "--proxy", "params", "--data", "none", "--budget", "3",
                              "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", "--space", "darts", "--arch-file", str(tmp_path / "s" / "result.json"),
                              "--out", str(tmp_path / "t")])
    assert "holds no darts architecture; it is the result of a search of nb201: pass --space nb201 (" in str(
        res.exception), res.output
    # a plug-in space's result names the source it is loaded by (its bare class name is no --space value)
    doc = json.loads((tmp_path / "s" / "result.json").read_text())
    doc = doc[0] if isinstance(doc, list) else doc
    doc.update(space="Tiny", arch="not an nb201 string")
    doc["protocol"]["space_source"] = "my_spaces.py:Tiny"
    (tmp_path / "plug.json").write_text(json.dumps(doc))
    res = runner.invoke(app, ["score", "--space", "nb201", "--arch-file", str(tmp_path / "plug.json"), "-p", "params",
                              "--data", "none"])
    assert "it is the result of a search of my_spaces.py:Tiny: pass --space my_spaces.py:Tiny" in " ".join(
        str(res.exception).split()), res.output


NB101_ARCH = ("0001111000010100001000000110000000000000010000000:input|conv3x3-bn-relu|conv1x1-bn-relu|"
              "conv1x1-bn-relu|conv1x1-bn-relu|conv1x1-bn-relu|output")


@pytest.mark.parametrize("space, arch", [("nb101", NB101_ARCH), ("macro", "01220012")])
def test_the_space_a_result_json_records_is_the_default(space, arch, tmp_path):
    """A newcomer trial: 'export --arch-file result.json' of an nb101 search was refused until --space was
    repeated, and the refusal said 'pass --space nb101' twice. The file's space is the default of score, train
    and export; an explicit other --space is still refused, the fix said once."""
    import zeronas as zn

    (tmp_path / "result.json").write_text(json.dumps({"method": "random", "space": space, "arch": arch, "seed": 0}))
    res = runner.invoke(app, ["export", "--arch-file", str(tmp_path / "result.json"), "--out",
                              str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["space"] == space and doc["arch"] == zn.space(space).format(zn.space(space).parse(arch))
    res = runner.invoke(app, ["score", "--arch-file", str(tmp_path / "result.json"), "-p", "params", "--data", "none"])
    assert res.exit_code == 0 and f"{space}" in res.output, res.output
    res = runner.invoke(app, ["export", "--space", "nb201", "--arch-file", str(tmp_path / "result.json"),
                              "--out", str(tmp_path / "n.json")])
    msg = " ".join(str(res.exception).split())
    assert isinstance(res.exception, UserError) and msg.count(f"pass --space {space}") == 1, msg
    assert not (tmp_path / "n.json").exists()


@pytest.mark.parametrize("argv", [["score", "--space", "macro", "--arch", "12212221", "--data", "none"],
                                  ["correlate", "--space", "macro", "--sample", "5"],
                                  ["bench", "build", "--sample", "3"]])
def test_an_empty_proxy_name_is_refused_not_dropped(argv, tmp_path):
    """'params,,nwot' ran params and nwot, the typo unremarked (a newcomer's trial): one line, exit 2."""
    res = runner.invoke(app, [*argv, "--proxies", "params,,flops", "--store", str(tmp_path / "s.db")]
                        if argv[0] != "score" else [*argv, "--proxies", "params,,flops"])
    assert isinstance(res.exception, UserError)  # main() turns it into one line and exit 2
    assert str(res.exception) == ("--proxies 'params,,flops' has an empty name (two commas in a row, or one at an "
                                  "end); remove the extra comma")
    assert not (tmp_path / "s.db").exists()


def test_an_empty_name_is_refused_in_search_s_proxy_and_inside_an_ensemble():
    res = runner.invoke(app, ["search", "--proxy", "params,,", "--data", "none", "--budget", "2"])
    assert str(res.exception).startswith("--proxy 'params,,' has an empty name")
    res = runner.invoke(app, ["search", "--proxy", "ensemble:params++flops", "--data", "none", "--budget", "2"])
    assert str(res.exception) == "'ensemble:params++flops' has an empty member (two '+' in a row, or one at an end); " \
        "remove the extra '+'"


def test_a_resumed_search_says_what_it_read_back_from_the_store(tmp_path):
    """A newcomer trial: a rerun with --store answered at once without saying its values came from the store."""
    import zeronas as zn

    args = ["search", "--method", "rea", "--proxy", "params", "--data", "none", "--budget", "6", "--store",
            str(tmp_path / "s.db")]
    first = runner.invoke(app, args + ["--out", str(tmp_path / "a")])
    assert first.exit_code == 0 and "read back from the store" not in first.output, first.output
    again = runner.invoke(app, args + ["--out", str(tmp_path / "b")])
    assert f"note: read back from the store {tmp_path / 's.db'}, not computed again: params on 6 archs" in " ".join(
        again.output.split()), again.output
    docs = [json.loads((tmp_path / d / "result.json").read_text()) for d in "ab"]
    assert [d["protocol"]["store_reads"] for d in docs] == [{"params": 0}, {"params": 6}]
    assert docs[0]["arch"] == docs[1]["arch"]
    funnel = zn.search(method="funnel", proxy="ensemble:params+flops", data="none", budget=2, store=tmp_path / "s.db")
    again = zn.search(method="funnel", proxy="ensemble:params+flops", data="none", budget=2, store=tmp_path / "s.db")
    screened = funnel.evaluations
    assert again.protocol["store_reads"] == {"params": screened, "flops": screened}
    assert zn.search(method="rea", proxy="params", data="none", budget=3).protocol.get("store_reads") is None


@pytest.mark.parametrize("argv", [["search", "--data", "none", "--budget", "2", "--proxy"],
                                  ["search", "--method", "funnel", "--data", "none", "--budget", "2", "--proxy"],
                                  ["correlate", "--sample", "3", "--proxies"]])
def test_an_ensemble_naming_a_member_twice_is_refused(argv, tmp_path):
    """A newcomer trial: 'ensemble:nwot+nwot' ran as nwot alone, unremarked; a named ensemble inside one counts."""
    for text, said in (("ensemble:params+params", "ensemble:params+params names params twice; "),
                       ("ensemble:zeronas-v1+nwot", "ensemble:zeronas-v1+nwot names nwot twice (zeronas-v1 already "
                                                     "holds nwot, params); ")):
        res = runner.invoke(app, [*argv, text, "--store", str(tmp_path / "s.db")] if argv[0] == "correlate"
                            else [*argv, text, "--out", str(tmp_path / "r")])
        assert isinstance(res.exception, UserError) and str(res.exception) == (
            said + "an ensemble ranks by each member once: drop the repeat"), res.output
        assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name, args", [
    ("--out", ["correlate", "-p", "params", "--sample", "3", "--out", ""]),
    ("--out", ["correlate", "-p", "params", "--sample", "3", "--out="]),
    ("--data-dir", ["correlate", "-p", "params", "--sample", "3", "--data-dir", " "]),
    ("--export", ["report", "--store", "s.db", "--export", ""]),
    ("--out", ["search", "--method", "sample", "--proxy", "params", "--data", "none", "--budget", "3", "--out", ""]),
    ("--out", ["train", "--index", "0", "--epochs", "1", "--out", ""]),
])
def test_an_empty_option_value_is_refused_before_anything_is_written(name, args, monkeypatch, capsys, tmp_path):
    """typer turns an empty path into '.', so '--out ""' (an unset shell variable) wrote into the current folder
    and '--export ""' was refused as "--export '.'"; every option given an empty value is one line, naming it."""
    from zeronas.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.splitlines() == [f"error: {name} is empty: give it a value (see --help) or "
                                                         f"drop {name} to use its default"], err
    assert not any(tmp_path.iterdir())


def test_an_arch_of_another_space_is_named_with_its_space(capsys):
    """A newcomer trial: an NB201 string given with --space darts was only 'not a DARTS genotype'."""
    import zeronas as zn
    from zeronas.cli import main

    genotype = str(zn.space("darts").sample(0))
    for space, arch, right in (("darts", BEST, "nb201"), ("nb101", BEST, "nb201"), ("macro", BEST, "nb201"),
                               ("nb201", "0100:input|output", "nb101"), ("nb201", "01220012", "macro"),
                               ("nb201", genotype, "darts")):
        with pytest.raises(SystemExit) as exc:
            main(["score", "--space", space, "--arch", arch, "-p", "params", "--data", "none"])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and len(err.splitlines()) == 1, err
        assert err.endswith(f"; it is an architecture of the {right} space: pass --space {right}"), err
    with pytest.raises(UserError, match=r"it is an architecture of the nb201 space: pass space='nb201'$"):
        zn.score(BEST, proxies="params", space="darts", data="none")
    with pytest.raises(UserError) as exc:  # nobody's: no hint
        zn.space("darts").parse("bogus")
    assert "it is an architecture" not in str(exc.value)


def test_a_reader_closing_the_pipe_early_does_not_stop_the_command(tmp_path):
    """'zeronas search ... --out r | head -1' ended with exit 1, no word and no result.json: printing into the
    closed pipe raised BrokenPipeError before the file was written."""
    import shlex
    import subprocess
    import sys

    cmd = (f"{shlex.quote(sys.executable)} -m zeronas search --method sample --proxy params --data none --n 3 "
           f"--out {shlex.quote(str(tmp_path / 'r'))} | true; echo \"rc=${{PIPESTATUS[0]}}\"")
    # 'true' reads nothing and is gone long before the search prints: every write meets a closed pipe
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == "rc=0", (res.stdout, res.stderr)
    assert "Error" not in res.stderr and (tmp_path / "r" / "result.json").is_file(), res.stderr
    # a user trial: '2>&1 | head -1' still ended with exit 1 and no result.json when the search wrote a note to
    # stderr (a rerun read back from its --store): stderr meets the closed pipe too
    db, out = shlex.quote(str(tmp_path / "s.db")), shlex.quote(str(tmp_path / "r2"))
    run = (f"{shlex.quote(sys.executable)} -m zeronas search --method sample --proxy params --data none --n 3 "
           f"--store {db} --out {out}")
    subprocess.run(["bash", "-c", run], capture_output=True, timeout=120, check=True)
    (tmp_path / "r2" / "result.json").unlink()
    res = subprocess.run(["bash", "-c", f"{run} 2>&1 | true; echo \"rc=${{PIPESTATUS[0]}}\""], capture_output=True,
                         text=True, timeout=120)
    assert res.stdout.strip() == "rc=0" and (tmp_path / "r2" / "result.json").is_file(), (res.stdout, res.stderr)


def test_names_with_colons_are_printed_as_written():
    """A proxy file.py:boom was printed as 'file.py💥': rich read ':boom:' as an emoji code."""
    from zeronas.cli import console, err_console

    for c in (console, err_console):
        with c.capture() as cap:
            c.print("note: /tmp/myproxy.py:boom: 12 archs failed")
        assert "myproxy.py:boom: 12" in cap.get()


def test_out_folders_never_replace_a_users_own_files(tmp_path, capsys):
    """A newcomer trial: score, search and correlate --out replaced a user's own scores.json, result.json,
    correlation.csv, archs.csv (and search removed a front.png as an earlier run's), where export and report
    --export refuse. Each verb now refuses before any work, in one line, exit 2, the file kept; its own earlier
    output is replaced as before, and report --export refuses before printing the report."""
    from zeronas.cli import main

    def fails(argv) -> str:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and len(err.splitlines()) == 1, err
        return err

    own = tmp_path / "own"
    own.mkdir()
    cases = [(["score", "--arch", BEST, "--proxies", "params", "--data", "none"], "scores.json"),
             (["search", "--space", "nb201", "--method", "sample", "--n", "3", "--proxy", "params"], "result.json"),
             (["search", "--space", "nb201", "--method", "sample", "--n", "3", "--proxy", "params"], "front.png"),
             (["correlate", "--proxies", "params", "--sample", "5", "--store", str(tmp_path / "c.db")], "archs.csv"),
             (["bench", "correlate", "--store", str(tmp_path / "b.db")], "bench_correlation.json")]
    for cmd, name in cases:
        (own / name).write_text("my own notes\n")
        err = fails([*cmd, "--out", str(own)])
        assert err.startswith(f"error: --out '{own}': the {name} there was not written by zeronas"), err
        assert (own / name).read_text() == "my own notes\n"
        (own / name).unlink()
    assert not (tmp_path / "c.db").exists()  # refused before the store was made
    out = tmp_path / "ok"
    for _ in range(2):  # its own output is replaced by a rerun
        with pytest.raises(SystemExit) as exc:
            main(["score", "--arch", BEST, "--proxies", "params", "--data", "none", "--out", str(out)])
        assert exc.value.code == 0 and json.loads((out / "scores.json").read_text())[0]["proxy"] == "params"
    capsys.readouterr()
    mine = tmp_path / "mine.csv"
    mine.write_text("a,b\n1,2\n")
    err = fails(["report", "--store", str(tmp_path / "none.db"), "--export", str(mine)])
    assert err.startswith(f"error: --export '{mine}' exists and is not a zeronas"), err


def test_an_arch_file_with_one_bad_line_names_that_line(capsys):
    """A newcomer trial: a file with a valid line 1 and '|bad|' on line 3 said it 'holds no nb201 architecture'
    (false) without saying where; a file of one line keeps the short message."""
    import tempfile

    from zeronas.cli import main

    with tempfile.TemporaryDirectory() as d:
        for text, said in ((f"{BEST}\n\n|bad|\n", "', line 3: not a nb201 architecture (NB201 arch string '|bad|'"),
                           ("# mine\n|bad|\n", "' holds no nb201 architecture (NB201 arch string '|bad|'")):
            path = Path(d) / "archs.txt"
            path.write_text(text)
            with pytest.raises(SystemExit) as exc:
                main(["score", "--arch-file", str(path), "--proxies", "params", "--data", "none"])
            err = capsys.readouterr().err.strip()
            assert exc.value.code == 2 and err.startswith(f"error: arch file '{path}{said}"), err


def test_a_cli_verb_names_options_as_flags_in_the_api_checks_it_calls(monkeypatch, capsys):
    """A newcomer trial: 'zeronas export' run from a folder that takes no files said "out= 'runs/export/...'",
    the Python keyword, where every other message of the CLI names --out; the Python call keeps out=."""
    import os

    import zeronas as zn
    from zeronas.cli import main

    if not os.path.isdir("/proc/self"):
        pytest.skip("needs /proc, a folder that takes no new files even for root")
    monkeypatch.chdir("/proc")
    with pytest.raises(SystemExit) as exc:
        main(["export", "--arch", BEST])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error: --out 'runs/export/model.json' cannot be created"), err
    with pytest.raises(UserError, match=r"^out= 'runs/export/model.json' cannot be created"):
        zn.export("nb201", BEST, "json", "runs/export/model.json")


def test_what_counts_as_an_earlier_zeronas_output(tmp_path):
    """A review found the first signatures too loose: one common key ("method") passed a user's own
    result.json as ours. Each output is now recognised by keys only it holds together; an empty file and an
    empty score list lose nothing."""
    from zeronas.paths import _looks_ours

    cases = {"result.json": ('{"method": "mine", "arch": "x"}',
                             '{\n "method": "rea",\n "space": "nb201",\n "arch": "|a|",\n "canonical": "|a|",\n '
                             '"seed": 0,\n "seconds": 1.0,\n "evaluations": 3}'),
             "scores.json": ('{"runs": [], "protocol_hash": 1}', "[]\n"),
             "front.json": ('{"front": [1, 2]}', '{"seed": 0, "objectives": ["score", "params"], "front": []}'),
             "archs.csv": ("index,name\n", "index,arch,cifar10_test_acc,params\n")}
    for name, (mine, ours) in cases.items():
        (tmp_path / name).write_text(mine)
        assert not _looks_ours(tmp_path / name), name
        (tmp_path / name).write_text(ours)
        assert _looks_ours(tmp_path / name), name
    (tmp_path / "result.json").write_text("")
    assert _looks_ours(tmp_path / "result.json")


def test_choices_are_taken_in_any_letter_case(tmp_path, capsys):
    """A newcomer trial: --space NB201 and --data CIFAR10 were taken, --format JSON and --method SAMPLE
    refused. A choice in other letter case is now the choice itself wherever one choice matches; an unknown
    one is still refused with the list."""
    from zeronas.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["export", "--arch", BEST, "--format", "JSON", "--out", str(tmp_path / "m.json")])
    assert exc.value.code == 0 and json.loads((tmp_path / "m.json").read_text())["arch"] == BEST
    with pytest.raises(SystemExit) as exc:
        main(["search", "--space", "nb201", "--method", "Sample", "--n", "2", "--proxy", "params", "--data", "none",
              "--out", str(tmp_path / "s")])
    assert exc.value.code == 0 and json.loads((tmp_path / "s" / "result.json").read_text())["method"] == "sample"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["export", "--arch", BEST, "--format", "JSONX"])
    assert exc.value.code == 2 and "unknown --format 'JSONX'; choose one of:" in capsys.readouterr().err


@needs_cifar
def test_das_fast_training_rate_and_its_cost_on_the_cli(tmp_path):
    """A newcomer trial: zeronas.search(method="das") took train_lr= but the CLI had no --train-lr, and the
    fast training's cost, which the README says is reported, was only in result.json."""
    res = runner.invoke(app, ["search", "--method", "das", "--n", "2", "--train-steps", "1", "--train-lr", "0.05",
                              "--batch-size", "8", "--data", "cifar10", "--threads", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    proto = json.loads((tmp_path / "result.json").read_text())["protocol"]
    assert proto["scorer"]["fast_training"] == {"steps": 1, "lr": 0.05, "recipe": "sgd-nesterov-0.9-wd5e-4"}
    assert f"({proto['fast_training_seconds']:.1f}s of it fast training)" in res.output


def test_correlate_takes_threads_as_its_api_does():
    """zeronas.correlate(threads=) had no --threads on the CLI (a newcomer: with --workers 1 on a shared
    machine the multi-threaded default spin-waits); it is checked as every verb's --threads is."""
    res = runner.invoke(app, ["correlate", "--threads", "0"])
    assert isinstance(res.exception, UserError)
    assert str(res.exception) == "--threads must be an integer in [1, 1024], not 0"
    assert "--threads" in runner.invoke(app, ["correlate", "--help"]).output


ARCHS6 = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
          "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|nor_conv_1x1~2|",
          "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|",
          # two isomorphs: a class-sharing proxy (synflow) is scored once for both
          "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
          "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|none~2|",
          "|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"]


def test_score_through_a_store_resumes_and_answers_as_an_uninterrupted_run(tmp_path):
    """zeronas score --store: each arch's records written as it finishes, a rerun scores only what the store
    lacks (a user scoring many archs must not lose a long run to a kill), and its answer is the same."""
    import zeronas as zn
    from zeronas.spaces import space
    from zeronas.store import Store

    db = tmp_path / "s.db"
    kw = dict(proxies="params,synflow", data="none", threads=1)
    direct = zn.score(ARCHS6, **kw)
    first = zn.score(ARCHS6[:3], store=db, **kw)
    assert [(r.arch, r.proxy, r.value, r.protocol_hash) for r in first] == \
        [(r.arch, r.proxy, r.value, r.protocol_hash) for r in direct[:6]]
    sp = space("nb201")
    assert sp.canonical(sp.parse(ARCHS6[3])) == sp.canonical(sp.parse(ARCHS6[4]))
    s = Store(db)
    assert s.count() == 6
    s.close()
    res = runner.invoke(app, ["score", *[a for x in ARCHS6 for a in ("--arch", x)], "-p", "params,synflow",
                              "--data", "none", "--threads", "1", "--store", str(db), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "note: 6 scores were read from" in " ".join(res.output.split()) and "3 archs scored now" in res.output
    got = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert len(got) == 12 and [(r["proxy"], r["value"]) for r in got] == [(r.proxy, r.value) for r in direct[:8]] + \
        [("params", direct[8].value), ("synflow", direct[7].value)] + [(r.proxy, r.value) for r in direct[10:]]
    # named as asked; the member measured (its class's first) in 'scored'
    assert got[9]["arch"] == ARCHS6[4] and got[9]["scored"] == ARCHS6[3] and got[9]["canonical"] == got[7]["canonical"]
    s = Store(db)
    assert s.count() == 6 + 3 * 2 - 1  # the isomorph's synflow is the class's, stored once
    s.close()
    # a pool of 1-thread workers and no store: every arch on its own (the isomorph too), as direct scoring
    pooled = zn.score(ARCHS6, workers=2, proxies="params,synflow", data="none")
    assert [(r.arch, r.canonical, r.proxy, r.value, r.protocol_hash) for r in pooled] == \
        [(r.arch, r.canonical, r.proxy, r.value, r.protocol_hash) for r in direct]


def test_score_prints_a_summary_per_proxy_for_many_archs(tmp_path, monkeypatch):
    from zeronas import cli

    monkeypatch.setattr(cli, "SCORE_TABLE_ARCHS", 3)
    res = runner.invoke(app, ["score", *[a for x in ARCHS6[:4] for a in ("--arch", x)], "-p", "params",
                              "--data", "none"])
    assert res.exit_code == 0, res.output
    assert "median" in res.output and "--out DIR writes every record" in res.output
    assert ARCHS6[0][:12] not in res.output  # no row per arch
    for args, why in ((["--store", str(tmp_path / "s.db"), "--model", "torchvision:resnet18"], "--store and"),
                      (["--workers", "-1"], "--workers")):
        res = runner.invoke(app, ["score", "-p", "params", *args])
        assert isinstance(res.exception, UserError) and why in str(res.exception), res.output


@needs_cifar
def test_a_failed_score_is_scored_again_by_a_rerun(tmp_path, monkeypatch, capsys):
    """A user's trial: a proxy that failed once (out of memory, say) stayed NaN in the store for good, and the
    rerun read the failure back, though the error said to run again. A failure is now scored again (a verdict
    that a proxy does not apply stays: tests/test_macro_space.py)."""
    import zeronas as zn
    from zeronas.cli import main

    flaky = tmp_path / "flaky.py"
    flaky.write_text("import os\n\ndef p(model, x, y):\n    if os.environ.get('ZN_FLAKY'):\n"
                     "        raise MemoryError('boom')\n    return 1.5\n")
    db = tmp_path / "f.db"
    kw = dict(proxies=f"params,{flaky}:p", data="cifar10", store=db)
    monkeypatch.setenv("ZN_FLAKY", "1")
    first = zn.score(ARCHS6[:2], **kw)
    assert [r.error is not None for r in first] == [False, True, False, True]
    monkeypatch.delenv("ZN_FLAKY")
    again = zn.score(ARCHS6[:2], **kw)
    assert [r.value for r in again if r.proxy != "params"] == [1.5, 1.5] and not any(r.error for r in again)
    monkeypatch.setenv("ZN_FLAKY", "1")  # every proxy failing, through the CLI: the store holds the failures
    with pytest.raises(SystemExit) as e:
        main(["score", "--arch", ARCHS6[2], "-p", f"{flaky}:p", "--data", "cifar10", "--store", str(db)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"(the failures are in {db}; a rerun scores them again)" in " ".join(err.split())


def test_search_runs_past_the_largest_seed_are_refused_before_any_work(capsys):
    from zeronas.cli import main

    with pytest.raises(SystemExit) as e:
        main(["search", "--method", "sample", "--proxy", "params", "--n", "5", "--data", "none", "--runs", "2",
              "--seed", "4294967295"])
    err = capsys.readouterr()
    assert e.value.code == 2 and not err.out  # no run printed
    assert "--seed 4294967295 with --runs 2 reaches seed 4294967296, past the largest, 4294967295: give --seed " \
           "4294967294 or less" in " ".join(err.err.split())


GENO = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
        "reduce_concat=[2, 3, 4, 5]")


@pytest.mark.parametrize("argv,said", [
    (["score", "--arch", BEST, "-p", "das", "--data", "none", "--set", "das.lam=1", "--set", "das.lam=2"],
     "--set das.lam is given twice (1 and 2); give it once"),
    (["search", "--method", "das", "--n", "2", "--data", "none", "--proxy", "params", "--train-lr", "5"],
     "--train-lr is the fast training's learning rate and does nothing without --train-steps N"),
    (["search", "--method", "rea", "--budget", "2", "--data", "none", "--workers", "3"],
     "--workers 3 runs several seeds at once and needs --runs N (N > 1)"),
    (["score", "--model", "torchvision:resnet18", "--isomorph-member", "fixed"],
     "--isomorph-member picks a member of an architecture's isomorphism class; a --model has none: drop it"),
    (["score", "--space", "darts", "--arch", GENO + ", extra=1)", "-p", "params", "--data", "none"],
     "unknown field extra; a Genotype has normal, normal_concat, reduce, reduce_concat"),
    (["score", "--arch", BEST, "-p", "params,flops", "--data", "none", "--isomorph-member", "fixed"],
     "params, flops share no score across isomorphs: drop it"),
    (["score", "--arch", BEST, "-p", "params", "--data", "none", "--isomorph-member", "fixed"],
     "params shares no score across isomorphs: drop it"),  # (correlate's Scorer refuses it alike)
])
def test_an_option_that_would_do_nothing_is_refused(argv, said):
    """A user trial: each of these was accepted and changed nothing (the last --set won, --train-lr without
    training steps, --workers with one run, an isomorph member of a user's module, a genotype field no network
    reads). Each is a one-line error now."""
    res = runner.invoke(app, argv)
    assert isinstance(res.exception, UserError), res.output
    assert said in str(res.exception) and "\n" not in str(res.exception)
    assert runner.invoke(app, ["score", "--space", "darts", "--arch", GENO + ")", "-p", "params", "--data",
                               "none"]).exit_code == 0  # the same genotype without the field scores


def test_spaces_lists_the_ops_an_architecture_can_hold():
    """A user trial: 'zeronas spaces' listed none as a darts op, which the genotype parser refuses."""
    out = " ".join(runner.invoke(app, ["spaces"]).output.split())
    assert "darts: 1076746950455072400 architectures; ops: max_pool_3x3," in out
    assert "(and none in the supernet only)" in out


def test_an_unknown_option_is_offered_only_a_close_name(capsys):
    """A user trial: click's guesses at its 0.6 cutoff offered '--out' for '--bogus-opt' and '--store' for bench
    build's '--threads' (before it had one). A close name is still offered."""
    from zeronas.cli import main

    for argv, said in ((["search", "--bugdet", "3"], "error: No such option: --bugdet (did you mean --budget?) (see "
                                                      "'zeronas search --help')"),
                       (["score", "--bogus-opt", "1"], "error: No such option: --bogus-opt (see 'zeronas score "
                                                       "--help')")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2 and capsys.readouterr().err.strip() == said


def test_evolution_that_never_held_a_tournament_says_so():
    """A user trial: rea with --budget at most its population drew archs at random, and --tournament changed
    nothing, without a word. The result counts its tournaments and the CLI says when there were none."""
    import zeronas as zn

    r = zn.search("nb201", method="rea", proxy="params", data="none", budget=4)
    assert r.protocol["tournaments"] == 0
    res = runner.invoke(app, ["search", "--method", "rea", "--proxy", "params", "--data", "none", "--budget", "4"])
    assert res.exit_code == 0 and "note: no tournament ran: the budget ended once the population of 20 was drawn, so " \
                                  "this was random sampling" in " ".join(res.output.split())
    r = zn.search("nb201", method="rea", proxy="params", data="none", budget=8, population=3, tournament=2)
    assert r.protocol["tournaments"] == 5


def test_a_cifar10_search_result_scores_data_free_where_cifar10_is_missing(tmp_path):
    """The review of the change that made score --arch-file take the search's data: a CIFAR-10 result on a
    machine without CIFAR-10 became 'cifar10 train images not found', where 'auto' scores data-free."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "r.json").write_text(json.dumps({"space": "nb201", "arch": BEST, "network": {
        "data": "cifar10", "num_classes": 10, "input_size": 32}}))
    res = runner.invoke(app, ["score", "--arch-file", str(tmp_path / "r.json"), "--data-dir", str(tmp_path / "empty"),
                              "-p", "all", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "synflow" in res.output and "scoring on the data the search" not in res.output


def test_score_summary_median_of_an_even_count_is_the_mean_of_the_middle_two(capsys):
    """A correctness audit: the summary of 110 archs printed the upper middle value as the median."""
    from types import SimpleNamespace

    from zeronas.cli import _print_score_summary

    recs = [SimpleNamespace(proxy="flops", value=v, error=None, direction=-1, seconds=0.0) for v in (4.0, 1.0, 2.0,
                                                                                                      10.0)]
    _print_score_summary(recs, "t", None)
    row = next(line for line in capsys.readouterr().out.splitlines() if "flops" in line)
    assert [c.strip() for c in row.split("│")][5:8] == ["1", "3", "10"]  # min, median (2 + 4) / 2, max


def test_a_percentile_below_100_is_never_printed_as_100():
    """A correctness audit: an answer with 5 archs above it (percentile 99.9616) was printed 'percentile 100.0'."""
    from zeronas.cli import _percentile

    assert [_percentile(v) for v in (99.9616, 100.0, 0.0, 50.05, 12.34)] == ["99.9", "100.0", "0.0", "50.0", "12.3"]


def test_score_says_which_isomorph_a_class_sharing_value_was_measured_on(tmp_path):
    """A review: once records were named by the arch asked, the note naming the member measured (and the
    member) disappeared from the table; it is the 'scored' column now."""
    arch = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    res = runner.invoke(app, ["score", "--arch", arch, "-p", "synflow,params", "--data", "none",
                              "--isomorph-member", "fixed", "--out", str(tmp_path)])
    text = " ".join(res.output.split())
    assert res.exit_code == 0 and "representative member (--isomorph-member fixed)" in text, res.output
    assert "its string is in the scored column" in text
    recs = {r["proxy"]: r for r in json.loads((tmp_path / "scores.json").read_text())}
    assert recs["synflow"]["arch"] == arch and recs["params"]["scored"] is None
    rep = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|"
    assert recs["synflow"]["scored"] == rep
    plain = runner.invoke(app, ["score", "--arch", arch, "-p", "synflow,params", "--data", "none"])
    assert "scored" not in plain.output and "representative" not in plain.output
