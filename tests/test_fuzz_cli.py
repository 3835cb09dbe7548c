"""Fuzz every CLI option with malformed values generated from the typer/click metadata and the declared domains
(``zeronas.validation.DOMAINS``): each must end with exit code 2, exactly one line on stderr, no traceback, and
no file created or modified."""

import os
import sys

import pytest
import typer

from zeronas import validation as V
from zeronas.cli import app, main

from .conftest import BEST

COMMAND = typer.main.get_command(app)


def _commands(group=COMMAND, path=()):
    for name, cmd in sorted(getattr(group, "commands", {}).items()):
        yield from _commands(cmd, (*path, name))
    if getattr(group, "callback", None) is not None and path:
        yield path, group


COMMANDS = list(_commands())
PARAMS = [(path, cmd, p) for path, cmd in COMMANDS for p in cmd.params
          if not getattr(p, "is_flag", False) and p.name != "help"]


def _key(cmd) -> str:
    return cmd.callback.__name__  # the Python function: the name DOMAINS overrides use


def test_every_option_has_a_declared_domain():
    missing = [f"{' '.join(path)} {p.name}" for path, cmd, p in PARAMS if V.domain(p.name, _key(cmd)) is None]
    assert not missing, f"options without a declared domain in zeronas.validation.DOMAINS: {missing}"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile.txt").write_text("not a folder\n")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 8)
    return tmp_path


def _snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def _bad_values(domain, param) -> list[str]:
    if isinstance(domain, V.Int):
        return ["abc", "1.5", *map(str, domain.outside())]
    if isinstance(domain, V.Float):
        return ["abc", "nan", "inf", "-inf", *map(str, domain.outside())]
    if isinstance(domain, V.PathKind):
        if domain.kind == "in_file":
            return ["missing.txt", "adir"]
        if domain.kind == "in_dir":
            return ["missing_dir", "afile.txt"]
        if domain.kind == "in_any":
            return ["missing.pbz2"]
        if domain.kind in ("out_dir", "in_or_out_dir"):  # the latter: an existing folder is only read
            return ["afile.txt", "afile.txt/sub"]
        if domain.kind == "out_file_or_dir":  # a folder is fine (the file goes into it); a file's child is not
            return ["afile.txt/", "afile.txt/x.json"]
        return ["adir", "afile.txt/x.csv", *(["out.txt"] if domain.suffixes else [])]
    if isinstance(domain, V.Custom) and param.name == "store":
        return [*domain.outside(), "adir"]
    return list(map(str, domain.outside()))


def _base(path, param) -> list[str]:
    """Arguments that make the rest of the command valid, so the fuzzed option is the only fault."""
    if path == ("search",):
        from zeronas.search.base import list_strategies, strategy_keywords

        kw = {"channels": "C", "cells": "N"}.get(param.name, param.name)
        method = next((m for m in list_strategies() if kw in strategy_keywords(m)), "sample")
        return ["search", "--method", method]
    if path == ("merge",):
        return ["merge", "absent.csv"] if param.name != "sources" else ["merge"]
    if path == ("data", "convert"):
        return ["data", "convert", "afile.txt"] if param.name != "source" else ["data", "convert"]
    return list(path)


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    cap = capsys.readouterr()
    return exc.value.code, cap.err


CASES = [(path, p.name, value, p.opts[0] if p.opts and p.opts[0].startswith("-") else None)
         for path, cmd, p in PARAMS if (d := V.domain(p.name, _key(cmd))) is not None
         for value in _bad_values(d, p)]


@pytest.mark.parametrize("path,name,value,opt", CASES,
                         ids=[f"{' '.join(c[0])}:{c[1]}={c[2]!r}" for c in CASES])
def test_malformed_option_is_one_line_exit_2_and_touches_nothing(scratch, capsys, path, name, value, opt):
    param = next(p for pth, _, p in PARAMS if pth == path and p.name == name)
    argv = _base(path, param) + ([opt, value] if opt else [value])
    before = _snapshot(scratch)
    code, err = _run(argv, capsys)
    assert code == 2, (argv, code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), (argv, err)
    assert (opt or V.flag(name)) in err, f"{argv}: the error names another problem: {err}"
    assert "Traceback" not in err
    assert _snapshot(scratch) == before, f"{argv} created or modified files"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_usage_errors_are_one_line(scratch, capsys, path):
    variadic = any(getattr(p, "nargs", 1) == -1 for _, cmd in COMMANDS if _ == path for p in cmd.params)
    for extra in (["--no-such-option"], *([] if variadic else [["unexpected-extra-argument", "and-another"]])):
        code, err = _run([*path, *extra], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "--help" in err, (path, extra, err)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads and writes everything")
def test_unwritable_output_folder_is_refused_before_work(scratch, capsys):
    ro = scratch / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, err = _run(["score", "--arch", BEST, "-p", "params", "--data", "none", "--out", str(ro / "o")], capsys)
        assert code == 2 and "not writable" in err
    finally:
        ro.chmod(0o700)


def test_binary_arch_file_is_one_line(scratch, capsys):
    for argv in (["score", "--arch-file", "binary.bin", "-p", "params", "--data", "none"],
                 ["train", "--arch-file", "binary.bin"], ["export", "--arch-file", "binary.bin"]):
        code, err = _run(argv, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "binary.bin" in err, (argv, err)


def test_python_api_rejects_unknown_keywords():
    import zeronas
    from zeronas.errors import UserError
    from zeronas.search import search

    with pytest.raises(UserError, match=r"unknown keyword 'sed'; valid keywords: .*seed"):
        search("nb201", method="freedarts", sed=3)
    with pytest.raises(UserError, match="unknown keyword 'pool'"):
        zeronas.search("nb201", method="sample", pool=3)
    with pytest.raises(UserError, match=r"seed= must be an integer"):
        zeronas.search("nb201", method="freedarts", seed=-1)
    with pytest.raises(UserError, match="unknown keyword 'batchsize'"):
        zeronas.score(BEST, proxies="params", data="none", batchsize=3)
    with pytest.raises(UserError, match="unknown keyword 'sampel'"):
        zeronas.correlate(sampel=5)
    assert callable(zeronas.search) and callable(zeronas.correlate) and zeronas.search.perturb is not None


def test_python_api_errors_name_keywords_not_flags(capsys):
    """A fault found past the edge checks (here rea's tournament against its population) is one text in the
    code; a Python caller reads it in keywords, a CLI user in flags."""
    import zeronas
    from zeronas.errors import UserError

    with pytest.raises(UserError) as exc:
        zeronas.search("nb201", method="rea", population=5, tournament=10, budget=5)
    assert str(exc.value) == "tournament=10 cannot exceed population=5"
    code, err = _run(["search", "--space", "nb201", "--method", "rea", "--population", "5", "--tournament", "10",
                      "--budget", "5"], capsys)
    assert code == 2 and "--tournament (10) cannot exceed --population (5)" in err


@pytest.mark.parametrize("cli, api", [
    ("pass --data cifar10 with the data folder present", "pass data='cifar10' with the data folder present"),
    ("use --device cpu", "use device='cpu'"),
    ("--device 'gpu' is not a torch device", "device='gpu' is not a torch device"),
    ("random search needs --budget N or --time-budget SECONDS", "random search needs budget=N or time_budget=SECONDS"),
    ("--refine picks one answer, not with --objectives (a front)",
     "refine= picks one answer, not with objectives= (a front)"),
    ("raise --time-budget to 20 s", "raise time_budget= to 20 s"),
    ("lower --C or --N", "lower C= or N="),
    ("--set das.lam=64: bad", "options={'das': {'lam': 64}}: bad"),
    ("use 'zeronas search --space darts' instead of --space nb301", "use 'zeronas search --space darts' instead of "
     "space='nb301'"),
    ("see 'zeronas search --help'; --help lists them", "see 'zeronas search --help'; --help lists them"),
    ("rerun with --only-stored, or --no-plot", "rerun with only_stored=True, or plot=False"),
    ("pip install torchvision==0.28.0 --no-deps", "pip install torchvision==0.28.0 --no-deps"),
    ("pass e.g. --proxies nwot,synflow or --proxies all", "pass e.g. proxies='nwot,synflow' or proxies='all'"),
])
def test_flags_in_a_message_as_keywords(cli, api):
    assert V.as_keywords(cli) == api


def test_switches_are_the_clis_on_off_flags():
    flags = {p.name for _, cmd in COMMANDS for p in cmd.params if getattr(p, "is_flag", False) and p.name != "help"}
    assert flags == set(V.SWITCHES)
