"""The official-file converter, on files built in the official NAS-Bench-201 / NATS-Bench-TSS structure
(the real files are GBs and not on this machine; the structure follows the NATS-Bench API's
ArchResults/ResultsCount state dicts)."""

import bz2
import gzip
import json
import math
import pickle

import numpy as np
import pytest
import torch

import zeronas as zn
from zeronas.benchmarks.convert import convert
from zeronas.benchmarks.nb201 import load_nb201
from zeronas.errors import UserError

SPLITS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",), "cifar100": ("x-valid", "x-test"),
          "ImageNet16-120": ("x-valid", "x-test")}


def trial(dataset, seed, acc, epochs):
    """A ResultsCount state dict: accuracies at the last epoch are ``acc + offset`` per split."""
    last = epochs - 1
    evals = {f"{s}@{e}": acc + k + (0 if e == last else -50) for k, s in enumerate(SPLITS[dataset])
             for e in range(epochs)}
    return {"name": dataset, "net_state_dict": None, "train_acc1es": {e: acc + 9 for e in range(epochs)},
            "train_losses": {e: 0.1 for e in range(epochs)}, "params": 0.5 + len(dataset) / 100, "flop": 80.0,
            "seed": seed, "epochs": epochs, "latency": None, "eval_names": list(SPLITS[dataset]),
            "eval_acc1es": evals, "eval_losses": {}, "eval_times": {}, "arch_config": {}}


def arch_results(index, arch, epochs, base):
    seeds = {"cifar10-valid": [777, 888], "cifar10": [777, 888, 999], "cifar100": [777], "ImageNet16-120": [777]}
    all_results = {}
    for ds, ss in seeds.items():
        for k, seed in enumerate(ss):
            all_results[(ds, seed)] = trial(ds, seed, base + 2 * k, epochs)  # seed accs base, base+2, base+4
    return {"arch_index": index, "arch_str": arch, "all_results": all_results, "dataset_seed": seeds,
            "clear_net_done": True}


@pytest.fixture(scope="module")
def official():
    sp = zn.space("nb201")
    archs = [sp.format(a) for a in sp.enumerate()]
    # accuracies in percent as the real files hold them (base + i % 20: the converter refuses > 100)
    infos = {i: {"200": arch_results(i, archs[i], 4, 60.0 + i % 20), "12": arch_results(i, archs[i], 2, 30.0 + i % 20)}
             for i in (0, 7, 15624)}
    return {"meta_archs": archs, "arch2infos": infos, "evaluated_indexes": sorted(infos), "total_archs": 15625}


def check_table(src, out, archs):
    convert(src, out)
    t = load_nb201(out)
    assert len(t) == 15625 and t.arch_str == archs
    c10 = t.column("cifar10_test_acc")
    # cifar10 seeds: 67, 69, 71 on ori-test for index 7 -> mean 69
    assert c10[7] == pytest.approx(69.0) and c10[0] == pytest.approx(62.0)
    assert math.isnan(c10[1]) and np.isnan(c10).sum() == 15625 - 3
    assert t.column("cifar10valid_valid_acc")[7] == pytest.approx(68.0)  # x-valid of seeds 67, 69
    assert t.column("cifar10valid_test_acc")[7] == pytest.approx(69.0)  # ori-test: +1
    assert t.column("cifar100_test_acc")[15624] == pytest.approx(60.0 + 15624 % 20 + 1)
    assert t.column("hp12_cifar10_test_acc")[7] == pytest.approx(39.0)
    assert t.column("cifar10valid_train_acc")[0] == pytest.approx(70.0)  # train acc of seeds 69, 71
    assert t.column("params_M_cifar100")[0] == pytest.approx(0.58)
    # the seed-mean validation column is preferred over NASLib's single-seed one
    assert t.target_column("cifar100", "valid") == "cifar100_valid_acc"
    assert t.column("in_graf9445").sum() == 9445
    info = json.loads((out / "nasbench201" / "nb201_main.source.json").read_text())
    assert info["archs_with_results"] == 3 and len(info["source_sha256"]) == 64
    return t


def test_convert_nats_pickle(tmp_path, official):
    src = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    with bz2.open(src, "wb") as f:
        pickle.dump(official, f)
    check_table(src, tmp_path / "out", official["meta_archs"])


def test_convert_nb201_pth_with_less_full_keys(tmp_path, official):
    nb201 = {**official, "arch2infos": {i: {"full": v["200"], "less": v["12"]}
                                        for i, v in official["arch2infos"].items()}}
    src = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(nb201, src)
    check_table(src, tmp_path / "out", official["meta_archs"])


def test_convert_nats_simple_folder(tmp_path, official):
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    with bz2.open(folder / "meta.pickle.pbz2", "wb") as f:
        pickle.dump({"meta_archs": official["meta_archs"]}, f)
    for i, per_hp in official["arch2infos"].items():
        with bz2.open(folder / f"{i:06d}.pickle.pbz2", "wb") as f:
            pickle.dump(per_hp, f)
    check_table(folder, tmp_path / "out", official["meta_archs"])
    # a partial copy of the same folder (per-arch files missing, the same meta file) is another source: it
    # does not replace the fuller table unasked (its meta file alone used to stand for the folder)
    (folder / "000007.pickle.pbz2").unlink()
    with pytest.raises(UserError, match="already holds a table"):
        convert(folder, tmp_path / "out")
    assert load_nb201(tmp_path / "out").column("cifar10_test_acc")[7] == pytest.approx(69.0)


class Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_convert_bad_inputs(tmp_path, official):
    with pytest.raises(UserError, match="does not exist"):
        convert(tmp_path / "missing.pth", tmp_path / "out")
    bad = tmp_path / "evil.pickle.pbz2"
    with bz2.open(bad, "wb") as f:
        pickle.dump({"meta_archs": Evil()}, f)
    with pytest.raises(UserError, match="refusing to unpickle builtins.print"):
        convert(bad, tmp_path / "out")
    truncated = tmp_path / "cut.pickle.pbz2"
    data = bz2.compress(pickle.dumps(official))
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError, match="cut short"):
        convert(truncated, tmp_path / "out")
    sss = tmp_path / "sss.pickle.pbz2"
    with bz2.open(sss, "wb") as f:
        pickle.dump({"meta_archs": ["64:64:64:64:64"] * 32768, "arch2infos": {}}, f)
    with pytest.raises(UserError, match="size space is not supported"):
        convert(sss, tmp_path / "out")
    (tmp_path / "nb201_main.csv.gz").write_bytes(b"")  # the converted table given again: not 'damaged'
    with pytest.raises(UserError, match=r"is a table .* not an official release file: nothing to convert"):
        convert(tmp_path / "nb201_main.csv.gz", tmp_path / "out")
    assert not (tmp_path / "out" / "nasbench201" / "nb201_main.csv.gz").exists()  # nothing half-written


def test_convert_cli(tmp_path, official):
    from typer.testing import CliRunner

    from zeronas.cli import app

    src = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    with bz2.open(src, "wb") as f:
        pickle.dump(official, f)
    res = CliRunner().invoke(app, ["data", "convert", str(src), "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "3 of 15625 archs with results" in res.output
    with gzip.open(tmp_path / "d" / "nasbench201" / "nb201_main.csv.gz", "rt") as f:
        assert f.readline().startswith("index,arch_str,cifar10_test_acc")
    # a user trial: 'data --download cifar10 --data-dir dd convert ...' converted and dropped both options
    res = CliRunner().invoke(app, ["data", "--download", "cifar10", "--data-dir", str(tmp_path / "dd"), "convert",
                                   str(src), "--out", str(tmp_path / "e")])
    assert str(res.exception).startswith("--data-dir and --download belong to 'zeronas data' itself, not to 'data "
                                         "convert'")
    assert not (tmp_path / "e").exists() and not (tmp_path / "dd").exists()


def test_convert_keeps_a_table_of_another_source_and_checks_its_target(tmp_path, official):
    """A newcomer trial: converting a partial or foreign file over a good table replaced it without a word;
    odd --out targets were internal errors; an accuracy of 250 % was written; a malformed arch string did not
    name its file. The same source again rewrites the table; another needs replace=True (--replace)."""
    import copy

    def dump(name, content):
        path = tmp_path / name
        with bz2.open(path, "wb") as f:
            pickle.dump(content, f)
        return path

    good = dump("NATS-tss-v1_0-3ffb9.pickle.pbz2", official)
    partial = copy.deepcopy(official)
    partial["arch2infos"] = {7: partial["arch2infos"][7]}
    other = dump("partial.pickle.pbz2", partial)
    out = tmp_path / "d"
    convert(good, out)
    table = out / "nasbench201" / "nb201_main.csv.gz"
    before = table.read_bytes()
    assert convert(good, out)["archs_with_results"] == 3  # the same file again: no flag needed
    with pytest.raises(UserError, match=r"nb201_main\.csv\.gz already holds a table \(converted from '.*NATS-tss-"
                                        r"v1_0-3ffb9\.pickle\.pbz2'\); converting partial\.pickle\.pbz2 would replace "
                                        r"it: pass --replace to do so, or another --out$"):
        convert(other, out)
    assert table.read_bytes() == before
    assert convert(other, out, replace=True)["archs_with_results"] == 1
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "nasbench201").write_text("a file where the folder goes")
    with pytest.raises(UserError, match=r"f/nasbench201 is a file, but the converted table goes to"):
        convert(good, tmp_path / "f")
    (tmp_path / "g" / "nasbench201" / "nb201_main.csv.gz").mkdir(parents=True)
    with pytest.raises(UserError, match=r"nb201_main\.csv\.gz is a folder, not a table"):
        convert(good, tmp_path / "g")
    weird = copy.deepcopy(official)
    weird["arch2infos"][7]["200"]["all_results"][("cifar10", 777)]["eval_acc1es"]["ori-test@3"] = 750.0
    with pytest.raises(UserError, match=r"weird\.pickle\.pbz2: architecture 7 has cifar10_test_acc 296.667, not a "
                                        r"percentage in 0\.\.100"):
        convert(dump("weird.pickle.pbz2", weird), tmp_path / "w")
    garbled = dict(official, meta_archs=["garbage", *official["meta_archs"][1:]])
    with pytest.raises(UserError, match=r"garbled\.pickle\.pbz2: its 'meta_archs' NB201 arch string 'garbage'"):
        convert(dump("garbled.pickle.pbz2", garbled), tmp_path / "w")
    assert not (tmp_path / "w").exists()  # nothing half-written


def test_data_lists_each_tables_counts_and_damage_and_search_says_a_partial_tables_gap(tmp_path, official):
    """A newcomer trial: 'zeronas data' listed a gzip of garbage and a partial converted table (3 of 15,625
    archs with results) as found, like a full table; a search answering an arch without results printed
    'C10 nan%' and two numpy RuntimeWarnings. Now the listing reads each table (counts, or 'damaged' and exit
    2) and the search says the table holds no accuracy for its answer."""
    import warnings

    from typer.testing import CliRunner

    from zeronas.cli import app

    src = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    with bz2.open(src, "wb") as f:
        pickle.dump(official, f)
    convert(src, tmp_path / "d")
    res = CliRunner().invoke(app, ["data", "--data-dir", str(tmp_path / "d")], env={"COLUMNS": "300"})
    assert res.exit_code == 0 and "(15,625 archs, 3 with cifar10_test_acc)" in res.output, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning
        r = zn.search(method="random", proxy="params", data="none", budget=2, data_dir=tmp_path / "d", seed=0)
    assert math.isnan(r.benchmark["cifar10"]) and math.isnan(r.benchmark["cifar10_percentile"])
    res = CliRunner().invoke(app, ["search", "--method", "random", "--proxy", "params", "--data", "none", "--budget",
                                   "2", "--data-dir", str(tmp_path / "d")], env={"COLUMNS": "300"})
    assert "which holds no accuracy for it (a partial table?" in res.output and "nan%" not in res.output
    with gzip.open(tmp_path / "d" / "nasbench201" / "nb201_main.csv.gz", "wt") as f:
        f.write("garbage\n")
    res = CliRunner().invoke(app, ["data", "--data-dir", str(tmp_path / "d")], env={"COLUMNS": "300"})
    line = next(ln for ln in res.output.splitlines() if "NB201 table" in ln)
    assert isinstance(res.exception, UserError) and "damaged:" in line, res.output  # exit 2 through main()


def test_a_file_of_no_release_form_names_the_forms_converted(tmp_path):
    """A user's trial: 'zeronas data convert data.txt' said 'not an official NATS-Bench .pickle.pbz2 file'."""
    from zeronas.benchmarks.convert import convert
    from zeronas.errors import UserError

    bad = tmp_path / "data.txt"
    bad.write_text("index,arch\n")
    with pytest.raises(UserError, match=r"not a release file zeronas converts \(by its name\); give NAS-Bench-201's "
                                        r"NAS-Bench-201-v1_\*\.pth, NATS-Bench's"):
        convert(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
