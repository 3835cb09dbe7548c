"""How benchmarks/reproduction_report.py merges a rerun of some proxies into an existing dataset section."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "reproduction_report", Path(__file__).parents[1] / "benchmarks" / "reproduction_report.py")
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

FULL = "python benchmarks/reproduction_report.py --datasets cifar10"
PROTOCOL = {"seed": 0, "batch_size": 64, "init": "torch-default", "target": "v", "target_sha256": "h",
            "test_target": "t"}


def section(indices, command, notes=()):
    return {**PROTOCOL, "indices": list(indices), "archs": len(indices), "unique_archs": len(indices),
            "command": command, "notes": list(notes), "protocols": {}}


def row(rho, n):
    return {"valid": {"spearman": rho, "n": n}, "test": {"spearman": rho}}


def merged(old_meta, old_rows, new_meta, new_rows):
    all_rows = {("cifar10", p): r for p, r in new_rows.items()}
    metas = {"cifar10": new_meta}
    report.merge_same_sample("cifar10", old_meta, {f"cifar10/{p}": r for p, r in old_rows.items()}, all_rows,
                             metas)
    return {p: r for (_, p), r in all_rows.items()}, metas["cifar10"]


def test_rerun_on_the_same_archs_replaces_only_its_proxies():
    old = section(range(10), FULL)
    rows, meta = merged(old, {"nwot": row(0.7, 10), "fisher": row(0.4, 10)},
                        section(range(10), FULL + " --proxies fisher"), {"fisher": row(0.5, 10)})
    assert list(rows) == ["nwot", "fisher"] and rows["fisher"]["valid"]["spearman"] == 0.5
    assert "partial" not in rows["fisher"] and "fisher re-measured on the same archs by" in meta["command"]


def test_an_added_ensemble_does_not_call_its_unchanged_members_re_measured():
    old = section(range(10), FULL)
    old_rows = {"nwot": {**row(0.7, 10), "ms": 5}, "synflow": row(0.6, 10), "fisher": row(0.4, 10)}
    cmd = FULL + " --proxies '' --ensembles ensemble:nwot+synflow --only-stored"
    old["seconds"] = 3600.0
    rows, meta = merged(old, old_rows, {**section(range(10), cmd), "seconds": 2.0, "scored_now": 0},
                        {"nwot": row(0.7, 10), "synflow": row(0.65, 10), "ensemble:nwot+synflow": row(0.8, 10)})
    assert meta["seconds"] == 3600.0  # the section's timing is that of the run that measured it
    assert list(rows) == ["nwot", "synflow", "fisher", "ensemble:nwot+synflow"]
    assert rows["nwot"]["ms"] == 5  # the stored row, not the identical one read back
    # synflow's stored scores changed meanwhile (another run wrote them): said so, not called re-measured
    assert meta["command"].endswith(f"`; synflow read again from the store; ensemble:nwot+synflow added on the "
                                    f"same archs by `{cmd}")


def test_only_stored_subset_keeps_the_full_section_and_marks_the_row_partial():
    old = section(range(10), FULL, notes=["sample note"])
    cmd = FULL + " --proxies ntk_cond --only-stored"
    new = section(range(4), cmd, notes=["analysed the 4 of 10 sampled archs first in the seeded scoring order (x)"])
    rows, meta = merged(old, {"nwot": row(0.7, 10)}, new, {"ntk_cond": row(-0.4, 4)})
    assert meta["indices"] == list(range(10)) and meta["archs"] == 10  # the section's sample is unchanged
    assert meta["notes"] == ["sample note"]  # the subset note moved to the row
    assert rows["ntk_cond"]["partial"] == "scored so far on 4 of the 10 sampled archs"
    assert "partial" not in rows["nwot"] and "ntk_cond added, scored so far on a subset" in meta["command"]
    # a later report-only rerun of the same command does not repeat it in the section's command
    again, meta2 = merged(meta, rows, section(range(6), cmd), {"ntk_cond": row(-0.45, 6)})
    assert meta2["command"] == meta["command"]
    assert again["ntk_cond"]["partial"] == "scored so far on 6 of the 10 sampled archs"
    # once the run has scored every arch, its row and the section's command stop saying "so far"
    done, meta3 = merged(meta2, again, section(range(10), cmd), {"ntk_cond": row(-0.5, 10)})
    assert "partial" not in done["ntk_cond"]
    assert meta3["command"].endswith(f"`; ntk_cond added on the same archs by `{cmd}")


def stopped_run(proxy, flags, rho, n):
    """A section whose ``proxy`` run was stopped after n of its 10 archs: (command, section, partial row)."""
    stopped = f"{FULL} --proxies {proxy}{flags}"
    old = section(range(10), f"{FULL}`; {proxy} added, scored so far on a subset of the same archs by `{stopped}")
    return stopped, old, {**row(rho, n), "partial": f"scored so far on {n} of the 10 sampled archs"}


def test_a_stopped_run_completed_by_another_command_is_named_once_not_re_measured():
    stopped, old, partial_row = stopped_run("ntk_cond", " --workers 1", -0.4, 4)
    resumed = FULL + " --proxies ntk_cond --workers 2"
    rows, meta = merged(old, {"nwot": row(0.7, 10), "ntk_cond": partial_row}, section(range(10), resumed),
                        {"ntk_cond": row(-0.5, 10)})
    assert "partial" not in rows["ntk_cond"] and rows["ntk_cond"]["valid"]["spearman"] == -0.5
    assert meta["command"] == f"{FULL}`; ntk_cond added on the same archs by `{resumed}"
    # resumed but stopped again: both commands are named, the row stays partial
    grown = {**row(-0.45, 6)}
    rows, meta = merged(old, {"nwot": row(0.7, 10), "ntk_cond": partial_row},
                        section(range(6), resumed),
                        {"ntk_cond": grown})
    assert rows["ntk_cond"]["partial"] == "scored so far on 6 of the 10 sampled archs"
    assert meta["command"] == (f"{FULL}`; ntk_cond added, scored so far on a subset of the same archs by "
                               f"`{stopped}`, resumed by `{resumed}")

@pytest.mark.parametrize("change", [{"seed": 1}, {"indices": [0, 1, 20]}])
def test_another_protocol_or_sample_stands_alone(change):
    old = section(range(10), FULL)
    new = {**section(range(3), FULL + " --seed 1"), **change}
    rows, meta = merged(old, {"nwot": row(0.7, 10)}, new, {"nwot": row(0.6, 3)})
    assert rows == {"nwot": row(0.6, 3)} and meta is new


def test_an_unchanged_row_takes_the_key_its_scores_are_stored_under_now():
    old = section(range(10), FULL)
    stale = {"valid": {"spearman": 0.7, "n": 10, "protocol_hash": "old"}, "test": {"spearman": 0.7,
                                                                                    "protocol_hash": "old"}}
    now = {"valid": {"spearman": 0.7, "n": 10, "protocol_hash": "new"}, "test": {"spearman": 0.7,
                                                                                 "protocol_hash": "new"}}
    rows, _ = merged(old, {"nwot": {**stale, "ms": 5}, "fisher": row(0.4, 10)},
                     {**section(range(10), FULL + " --proxies nwot"), "scored_now": 10}, {"nwot": now})
    assert rows["nwot"]["ms"] == 5  # the measured row is kept ...
    assert rows["nwot"]["valid"]["protocol_hash"] == rows["nwot"]["test"]["protocol_hash"] == "new"  # ... rekeyed


def test_scores_kept_in_the_repository_restore_a_lost_store(tmp_path):
    import math

    from zeronas.scoring import ScoreRecord
    from zeronas.store import Store, protocol_hash

    h = protocol_hash({"proxy": "teg_mse"})
    first = Store(tmp_path / "run.db")
    first.put([ScoreRecord("nb201", f"a{i}", f"c{i}", "teg_mse", v, 60.0, 1, {"proxy": "teg_mse"}, h)
               for i, v in enumerate([0.5, math.nan, 2.0])])
    first.put([ScoreRecord("nb201", "a0", "c0", "nwot", 1.0, 1.0, 1, {"proxy": "nwot"},
                           protocol_hash({"proxy": "nwot"}))])
    first.close()
    folder = tmp_path / "scores" / "cifar10"
    rows = {"teg_mse": {"protocol_hash": h}, "ensemble:teg_mse+nwot": {"members": ["teg_mse", "nwot"]}}
    report.save_snapshots(str(tmp_path / "run.db"), folder, rows)
    assert sorted(f.name for f in folder.iterdir()) == ["teg_mse.csv.gz"]  # its protocol's rows only
    report.load_snapshots(str(tmp_path / "fresh.db"), folder)  # a new checkout: the store is gone
    fresh = Store(tmp_path / "fresh.db")
    assert fresh.count() == 3 and fresh.values("nb201", "teg_mse", h)["c2"] == 2.0
    assert math.isnan(fresh.values("nb201", "teg_mse", h)["c1"])
    before = (folder / "teg_mse.csv.gz").read_bytes()
    report.save_snapshots(str(tmp_path / "fresh.db"), folder, rows)
    assert (folder / "teg_mse.csv.gz").read_bytes() == before  # unchanged scores, unchanged file


def test_a_row_never_shrinks_when_a_lost_store_is_being_rescored():
    stopped, old, partial_row = stopped_run("teg_mse", "", -0.65, 5)
    cmd = stopped + " --only-stored"
    rows, meta = merged(old, {"nwot": row(0.7, 10), "teg_mse": partial_row}, section(range(2), cmd),
                        {"teg_mse": row(-0.9, 2)})
    assert rows["teg_mse"] == partial_row and meta["command"] == old["command"] and meta["indices"] == list(range(10))
    complete = row(0.7, 10)  # a complete row is not replaced by a subset either
    rows, _ = merged(section(range(10), FULL), {"nwot": complete}, section(range(4), FULL + " --only-stored"),
                     {"nwot": row(0.2, 4)})
    assert rows["nwot"] == complete
    # once the rescoring has caught up, the larger subset replaces the row as before
    rows, _ = merged(old, {"nwot": row(0.7, 10), "teg_mse": partial_row}, section(range(6), cmd),
                     {"teg_mse": row(-0.66, 6)})
    assert rows["teg_mse"]["partial"] == "scored so far on 6 of the 10 sampled archs"


def test_benchmark_sections_report_agreement_and_retest(tmp_path):
    """--benchmarks nb301: per-arch agreement with the released scores and test-retest, on a small sample."""
    from argparse import Namespace

    from zeronas import paths

    if paths.find(["nasbench301/nb301_zc_proxies_nbsz725_cifar10.csv.gz"]) is None:
        pytest.skip("NB301 725-genotype table not found: set ZERONAS_DATA to the data folder")
    args = Namespace(benchmarks="nb301", bench_proxies="params,l2_norm", bench_sample="20", bench_init="naslib",
                     bench_batch_size=32, seed=0, retest_seed=1, store=str(tmp_path / "z.db"), workers=1,
                     device="cpu", only_stored=False, scores_dir=tmp_path / "scores", json=tmp_path / "r.json")
    benches = report.measure_benchmarks(args)
    rows = benches["nb301"]["rows"]
    # params is a function of the genotype alone: it equals NASLib's on every arch, whatever the seed
    assert rows["params"]["agreement"] == 1.0 and rows["params"]["retest"] == 1.0 and rows["params"]["shared"] == 20
    assert rows["params"]["spearman"] == pytest.approx(rows["params"]["ref_spearman"])
    assert 0.9 < rows["l2_norm"]["agreement"] <= 1.0
    assert (tmp_path / "scores" / "nb301" / "l2_norm.csv.gz").exists()
    assert (tmp_path / "scores" / "nb301_seed1" / "l2_norm.csv.gz").exists()
    text = "\n".join(report.benchmark_sections(benches))
    assert "## NAS-Bench-301" in text and "| params | 20 |" in text and "*retest*" in text
