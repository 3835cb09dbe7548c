import numpy as np
import pytest
import torch

import zeronas as zn
from zeronas import paths
from zeronas.errors import UserError

MACRO = paths.find(["nasbench_macro/nas_bench_macro_cifar10.csv"])
needs_macro = pytest.mark.skipif(MACRO is None, reason="NAS-Bench-Macro table not found: set ZERONAS_DATA")


def test_macro_strings_and_errors():
    sp = zn.space("macro")
    assert sp.size() == 6561 and len(list(sp.enumerate())) == 6561
    arch = sp.parse("01220012")
    assert arch[0] == "identity" and arch[2] == "mb6_k5" and sp.format(arch) == "01220012"
    for bad in ("0122001", "01220013", "abcdefgh"):
        with pytest.raises(UserError, match="8 digits"):
            sp.parse(bad)
    m = sp.mutate(arch, rng=0)
    assert sum(a != b for a, b in zip(m, arch)) == 1
    with pytest.raises(UserError, match="fixed 8 layers"):  # the supernet (Zero-Cost-PT) has the benchmark's depth
        sp.supernet(N=5)


def test_macro_canonical_drops_only_no_op_identities():
    sp = zn.space("macro")
    # stage 2 is layers 3-5: an identity after the stage's first layer is a no-op wherever it sits
    assert sp.canonical("12" + "110" + "000") == sp.canonical("12" + "101" + "000") == "12110000"
    assert sp.canonical("12" + "102" + "020") == sp.canonical("12" + "120" + "002") == "12120020"
    assert sp.canonical("12" + "112" + "000") != sp.canonical("12" + "121" + "000")  # block order matters
    assert sp.canonical("01" + "000" + "000") != sp.canonical("10" + "000" + "000")  # first layer downsamples


def test_macro_network_shapes_and_identity_layers():
    sp = zn.space("macro")
    net = sp.build("11111111", num_classes=7)
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 7)
    feats = net.cell_features(x)
    shapes = [tuple(f.shape[1:]) for f in feats]  # stem, then layers 1-8 (stages of 2, 3, 3)
    assert shapes == [(32, 32, 32)] + [(64, 16, 16)] * 2 + [(128, 8, 8)] * 3 + [(256, 4, 4)] * 3
    assert net.forward_pre_gap(x).shape == (2, 1280, 4, 4)
    # identity layers that keep the shape are exactly the identity, and not blocks with features of their own
    net = sp.build("00000000")
    assert isinstance(net.layers[1], torch.nn.Identity) and not isinstance(net.layers[0], torch.nn.Identity)
    assert len(net.cell_features(x)) == 1 + 3  # stem + the three downsampling layers


@needs_macro
def test_macro_parameter_counts_equal_the_benchmark():
    t = zn.benchmarks.load_macro()
    sp = zn.space("macro")
    rng = np.random.default_rng(0)
    for i in [*rng.choice(len(t), 40, replace=False), t.arch_str.index("22222222"), t.arch_str.index("00000000")]:
        n = sum(p.numel() for p in sp.build(t.arch_str[i]).parameters())
        assert n == int(t.column("params")[i]), t.arch_str[i]


@needs_macro
def test_macro_correlate(tmp_path):
    from zeronas.correlate import correlate

    res = correlate(space="macro", dataset="cifar10", proxies="params,flops", sample=12, seed=1,
                    store=tmp_path / "s.db", data_dir=None, workers=1)
    t = zn.benchmarks.load_macro()
    idx = res.meta["indices"]
    assert res.meta["target"] == "mean_acc" and res.meta["archs"] == 12
    # the table has test accuracy only: an explicit validation metric is refused, never answered with test
    with pytest.raises(UserError, match=r"test accuracy only \(mean of 3 runs\), no 'valid' accuracy; "
                                        r"use metric='test', or leave metric= out"):
        correlate(space="macro", proxies="params", sample=5, metric="valid", store=tmp_path / "s.db")
    assert np.array_equal(res.values["params"], t.column("params")[idx])  # params proxy == benchmark params
    with pytest.raises(UserError, match="CIFAR-10 accuracy only"):
        correlate(space="macro", dataset="cifar100", proxies="params", sample=5, store=tmp_path / "s.db")
    with pytest.raises(UserError, match="drop protocol="):
        correlate(space="macro", proxies="params", protocol="suite-zero", store=tmp_path / "s.db")
    with pytest.raises(UserError, match="no ground-truth table"):
        correlate(space="darts", proxies="params", store=tmp_path / "s.db")


@needs_macro
def test_an_ensemble_member_with_no_value_is_named(tmp_path):
    """ensemble:params+zeros on macro (zeros needs per-edge ops) ranked by params alone with only a note about
    'NaN member scores' (a newcomer's trial): the note now says the ensemble is params alone."""
    from zeronas.correlate import correlate

    res = correlate(space="macro", proxies="ensemble:params+zeros,params", sample=6, seed=2,
                    store=tmp_path / "s.db", workers=1)
    assert res.rows["ensemble:params+zeros"]["spearman"] == res.rows["params"]["spearman"]
    assert ("ensemble:params+zeros: zeros gave no value on any of the 6 archs (see its note), so this ensemble "
            "ranks by params alone; drop it from the ensemble") in res.meta["notes"]
    assert not any("NaN member score" in n for n in res.meta["notes"])


@needs_macro
def test_macro_isomorphs_are_the_benchmarks_own():
    """Every class of codes that differ only in where no-op identities sit has one accuracy in the table:
    the benchmark trained each such network once."""
    t = zn.benchmarks.load_macro()
    sp = zn.space("macro")
    acc = {}
    for code, a in zip(t.arch_str, t.column("mean_acc")):
        acc.setdefault(sp.canonical(code), set()).add(float(a))
    assert len(acc) == 3969 and all(len(v) == 1 for v in acc.values())


def test_build_refuses_an_unknown_option():
    from zeronas.errors import UserError
    from zeronas.spaces import space as get_space

    sp = get_space("macro")
    with pytest.raises(UserError, match="unknown keyword 'C'; valid keywords: num_classes"):
        sp.build(sp.sample(0), C=8)


@needs_macro
def test_macro_table_is_read_once_per_file_version(tmp_path):
    """A search looks its answers up at every trajectory point: re-reading the CSV each time took a 5 s
    search to 18 s. A replaced file (another sha256) is read again."""
    import shutil

    from zeronas.benchmarks.macro import load_macro

    assert load_macro() is load_macro()
    copy = tmp_path / "nasbench_macro" / "nas_bench_macro_cifar10.csv"
    copy.parent.mkdir()
    shutil.copy(MACRO, copy)
    first = load_macro(tmp_path)
    with copy.open("a") as f:
        f.write("\n")  # same rows, another file version
    again = load_macro(tmp_path)
    assert again is not first and again.sha256 != first.sha256 and again.arch_str == first.arch_str


@needs_macro
def test_correlate_with_only_proxies_that_do_not_apply_is_an_error(tmp_path, capsys):
    """correlate --space macro --proxies zeros used to print a table of NaN and exit 0 (a newcomer's trial):
    nothing to correlate is one line, exit 2, and no output folder."""
    from zeronas.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["correlate", "--space", "macro", "--proxies", "zeros", "--sample", "5", "--workers", "1",
              "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "o")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert exc.value.code == 2 and len(err) == 1
    assert "no proxy gave a value on any of the 5 sampled archs (zeros does not apply here" in err[0]
    assert not (tmp_path / "o").exists()
    # a newcomer trial: it said "nothing was written", yet the store keeps the records of why (report lists them)
    assert err[0].endswith(f"no correlation was written; the store keeps each arch's outcome ('zeronas report "
                           f"--store {tmp_path / 's.db'}' lists them), and a rerun scores the failed ones again")


@needs_macro
def test_a_macro_pareto_search_draws_the_true_front_of_its_table(tmp_path):
    """The README promised the true front 'when the table has it'; on macro front.png showed the proxy score
    only, though NAS-Bench-Macro holds the accuracy, params and FLOPs of all 6,561 archs. The bounds' mask
    from the table agrees with the search's own feasibility test (the table's costs are the counted ones)."""
    from zeronas.search.constraints import Constraints
    from zeronas.search.front_report import feasible_mask, plot_front, true_front

    sp = zn.space("macro")
    r = zn.search("macro", method="sample", n=4, proxy="params", data="none", objectives="score,flops",
                  max_params=2.0, seed=0)
    assert r.front and all("cifar10" in p["test_acc"] for p in r.front)
    mask = feasible_mask(r.constraints, space="macro")
    table = zn.benchmarks.load_ground_truth("macro")
    cons = Constraints(sp, "cifar10", max_params=2.0)
    for i in np.random.default_rng(0).choice(len(table), 25, replace=False):
        arch = sp.parse(table.arch_str[i])
        assert mask[i] == cons.feasible(arch)
        counted = cons.metrics(arch)  # the costs the search placed its front by are the table's
        assert counted["params_M"] == table.column("params")[i] / 1e6
        assert counted["flops_M"] == table.column("flops")[i] / 1e6
    pts, front = true_front("flops", mask=mask, space="macro")
    assert len(pts) == 6561 and mask[front].all() and np.all(np.diff(pts[front, 0]) > 0)
    plot_front(r, tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 10_000
