"""The ``nb301`` space (the DARTS space as NAS-Bench-301 / NAS-Bench-Suite-Zero build it) and its ground truth.

Published figures checked here (with the data folder): NASLib's ``params`` column (millions) of the
725-genotype NAS-Bench-Suite-Zero table (``naslib/data/zc_nasbench301.json``), which NASLib counts on its
``NasBench301SearchSpace`` network (C=32, 8 cells, non-affine BN in the cell ops, BN after pooling).
"""

import csv
import gzip

import numpy as np
import pytest
from typer.testing import CliRunner

from zeronas import paths
from zeronas.benchmarks import load_ground_truth
from zeronas.benchmarks.nb301 import ZC_TABLE, load_nb301
from zeronas.cli import app, main
from zeronas.errors import UserError
from zeronas.spaces import list_spaces, space
from zeronas.spaces.darts import format_genotype, parse_genotype

from .conftest import needs_cifar

ZC = paths.find([ZC_TABLE])
needs_nb301 = pytest.mark.skipif(ZC is None, reason="NB301 725-genotype table not found: set ZERONAS_DATA to the "
                                                    "data folder")
runner = CliRunner()
SP = space("nb301")
G = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
     "('skip_connect', 0), ('sep_conv_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
     "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
     "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_nb301_is_registered_and_builds_the_naslib_network():
    assert "nb301" in list_spaces()
    net = SP.build(G)
    # C=32: stem 96 channels, channels 32/64/128, 4 concatenated nodes -> classifier on 512 features
    assert net.stem[0].out_channels == 96 and net.classifier.in_features == 4 * 128 and len(net.cells) == 8
    assert [c.reduction for c in net.cells] == [False, False, True, False, False, True, False, False]
    # the cell ops carry no affine BN parameters; pools are followed by a BN; preprocessing stays affine
    cell_op_bns = [m for c in net.cells for m in c.ops.modules() if m.__class__.__name__ == "BatchNorm2d"]
    assert cell_op_bns and not any(m.affine for m in cell_op_bns)
    assert net.cells[0].preprocess1[-1].affine
    # the darts space keeps its own defaults (affine ops, C=16): fewer params at C=16 but more per op
    darts = space("darts").build(G)
    assert darts.stem[0].out_channels == 48 and n_params(darts) < n_params(net)
    assert n_params(SP.build(G, search_ops=False)) > n_params(net)


def test_nb301_build_refuses_unknown_options():
    with pytest.raises(UserError, match="the nb301 space's build.*search_ops"):
        SP.build(G, channels=32)


def test_nb301_and_darts_share_arch_strings():
    g = parse_genotype(G)
    assert SP.format(g) == space("darts").format(g) == format_genotype(g)


@needs_nb301
def test_params_equal_naslib_on_the_suite_zero_table():
    with gzip.open(ZC, "rt") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(0)
    for i in rng.choice(len(rows), 25, replace=False):
        r = rows[int(i)]
        assert n_params(SP.build(r["genotype"])) == round(float(r["params"]) * 1e6), r["genotype"]


@needs_nb301
def test_load_nb301_reads_the_725_genotypes():
    t = load_ground_truth("nb301")
    assert len(t) == 725 and t.target_column("cifar10") == "val_acc_surrogate"
    assert t.target_column("cifar10", "valid") == "val_acc_surrogate"
    with pytest.raises(UserError, match=r"surrogate model's predicted validation accuracy \(val_acc_surrogate\) "
                                        r"only, no 'test' accuracy; use --metric valid, or leave --metric out"):
        t.target_column("cifar10", "test")
    assert set(t.reference_proxies()) >= {"nwot", "synflow", "snip", "jacov", "params"}
    assert abs(np.nanmax(t.column("val_acc_surrogate")) - 94.49) < 0.01  # the README's maximum
    with pytest.raises(UserError, match="CIFAR-10 accuracy only"):
        t.target_column("cifar100")


def _write(path, header, rows):
    with gzip.open(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@needs_nb301
@pytest.mark.parametrize("damage, message", [
    ("truncate", "truncated or not the 725-genotype sample"),
    ("bad_genotype", "row 3, column 'genotype' is not a DARTS genotype"),
    ("repeat", "row 3, column 'genotype' repeats the genotype of row 2"),
])
def test_a_damaged_nb301_table_is_one_line(tmp_path, damage, message):
    with gzip.open(ZC, "rt") as f:
        reader = csv.reader(f)
        header, rows = next(reader), list(reader)
    j = header.index("genotype")
    if damage == "truncate":
        rows = rows[:100]
    elif damage == "bad_genotype":
        rows[1][j] = "Genotype(normal=[('conv_7x7', 0)])"
    else:
        rows[1][j] = rows[0][j]
    (tmp_path / "nasbench301").mkdir()
    _write(tmp_path / ZC_TABLE, header, rows)
    with pytest.raises(UserError) as e:
        load_nb301(tmp_path)
    assert message in str(e.value) and "\n" not in str(e.value)


@needs_nb301
def test_correlate_nb301_runs_and_resumes(tmp_path):
    store = tmp_path / "z.db"
    args = ["correlate", "--space", "nb301", "--proxies", "params,l2_norm", "--sample", "4", "--store", str(store),
            "--workers", "1", "--data-dir", str(ZC.parent.parent)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "nb301 cifar10: 4 archs" in res.output and "target val_acc_surrogate" in res.output
    assert "surrogate model's predicted validation accuracy" in " ".join(res.output.split())
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "scored now: 0" in res.output, res.output


@needs_nb301
def test_correlate_nb301_on_another_dataset_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["correlate", "--space", "nb301", "--dataset", "cifar100", "--proxies", "params", "--sample", "4",
              "--data-dir", str(ZC.parent.parent)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "CIFAR-10 accuracy only" in err, err


def test_correlate_on_the_darts_space_points_to_nb301(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["correlate", "--space", "darts", "--proxies", "params", "--sample", "4"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "use --space nb301" in err, err


@pytest.mark.parametrize("argv,said", [
    pytest.param(["train", "--space", "nb301", "--index", "3", "--epochs", "1"],
                 "no training recipe for the nb301 space (NB301 is a benchmark of the darts space: --space darts)",
                 marks=needs_nb301),
    pytest.param(["bench", "build", "--space", "darts", "--N", "2", "--sample", "3", "--epochs", "1"],
                 "a DARTS network of N=2 cells has reduction cells at N//3 and 2N//3 only, so no normal cell: use "
                 "--N 3 or more", marks=needs_cifar),
])
def test_train_and_bench_point_to_the_option_to_change(tmp_path, capsys, argv, said):
    """A newcomer trial: train --space nb301 listed the recipes without saying that NB301's genotypes train
    under --space darts; bench build --N 2 named the API's build_options={'C': 8, 'N': 2}."""
    with pytest.raises(SystemExit) as exc:
        main([*argv, *(["--out", str(tmp_path / "t")] if argv[0] == "train" else ["--store", str(tmp_path / "b.db")])])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and said in err and "build_options" not in err, err
    assert not list(tmp_path.iterdir())


@needs_nb301
def test_index_on_the_darts_space_reads_the_nb301_genotypes(tmp_path):
    """--index N on the DARTS space is row N of NAS-Bench-301's table (its genotypes are DARTS genotypes): train
    and export had pointed to --space nb301, which has no training recipe."""
    t = load_ground_truth("nb301")
    sp = space("darts")
    assert sp.format(sp.from_index(3)) == t.arch_str[3] and sp.index(sp.from_index(3)) == 3
    with pytest.raises(UserError, match=r"^darts index 725 is out of range 0\.\.724 \(order of the nb301 benchmark"):
        sp.from_index(725)
    res = CliRunner().invoke(app, ["export", "--space", "darts", "--index", "3", "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    import json

    assert json.loads((tmp_path / "m.json").read_text())["arch"] == t.arch_str[3]
