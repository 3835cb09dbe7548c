import math

import numpy as np
import pytest
import torch

import zeronas as zn
from zeronas.errors import UserError
from zeronas.search import list_strategies, search
from zeronas.search.supernet_context import SupernetContext, WeightedSupernet

from .conftest import needs_cifar

space = zn.space("nb201")


def test_strategies_registered():
    assert {"sample", "random", "rea", "freedarts", "zero-cost-pt"} <= set(list_strategies())
    with pytest.raises(UserError):
        search("nb201", "nope")


@pytest.mark.parametrize("variant", ["oneshot", "iterative"])
def test_freedarts_finite_and_excludes_none(variant):
    r = search("nb201", "freedarts", seed=0, variant=variant, C=4, N=1)
    arch = space.parse(r.arch)
    assert "none" not in arch
    assert all(math.isfinite(v) and v > 0 for v in r.proxy_values.values())
    # the network it scored, for export: data-free (an all-ones image) on CIFAR-10's head and 32 px input, recorded
    # as the CLI's default --data cifar10 records it
    assert r.network == {"num_classes": 10, "input_size": 32, "data": "cifar10"}
    if variant == "iterative":
        assert r.evaluations == 4  # 4 non-none ops: 3 pruning rounds, then the final choice
        assert [t["ops_left"] for t in r.trajectory] == [[3] * 6, [2] * 6, [1] * 6]


def test_weighted_supernet_one_hot_equals_discrete():
    torch.manual_seed(0)
    sup = space.supernet(C=4, N=1)
    arch = space.sample(3)
    net = space.build(arch, C=4, N=1)
    net.load_state_dict(sup.discrete_state_dict(arch))
    x = torch.randn(2, 3, 32, 32)
    bound = WeightedSupernet(sup, sup.one_hot(arch)).eval()
    with torch.no_grad():
        assert torch.allclose(bound(x), net.eval()(x), atol=1e-6)


def test_zero_cost_pt_picks_op_whose_removal_lowers_score_most(fake_images, monkeypatch):
    """With a proxy that is high when conv3x3 weights are large, removing conv3x3 lowers it most: every
    edge must pick nor_conv_3x3."""
    from zeronas.proxies import base

    def conv3_weight(ctx):
        w = ctx.model().mix
        return float(w[:, space.ops.index("nor_conv_3x3")].sum())

    monkeypatch.setitem(base._REGISTRY, "conv3_weight", base.ProxySpec("conv3_weight", conv3_weight, 1, "none",
                                                                       "n/a", description="test", reference="t"))
    monkeypatch.setattr("zeronas.search.perturb.Scorer", _scorer_with(fake_images))
    r = search("nb201", "zero-cost-pt", proxy="conv3_weight", seed=0, pool=2, validate=1, C=4, N=1, batch_size=8)
    assert space.parse(r.arch) == ("nor_conv_3x3",) * 6
    assert r.evaluations == 2 * 6 * 5  # pool x edges x ops (one unique candidate: no validation needed)
    assert r.network["num_classes"] == 10 and r.network["input_size"] == 32


def test_zero_cost_pt_refuses_a_proxy_that_fails_on_every_option(fake_images, monkeypatch):
    """A proxy that gives NaN for every perturbation used to decide each edge by the first option, silently."""
    from zeronas.proxies import base

    monkeypatch.setitem(base._REGISTRY, "always_nan", base.ProxySpec(
        "always_nan", lambda ctx: float("nan"), 1, "none", "n/a", description="test", reference="t"))
    monkeypatch.setattr("zeronas.search.perturb.Scorer", _scorer_with(fake_images))
    with pytest.raises(UserError, match=r"proxy=\'always_nan\' gave no value \(NaN\) on the supernet for any option"):
        search("nb201", "zero-cost-pt", proxy="always_nan", seed=0, pool=2, validate=1, C=4, N=1, batch_size=8)


def _scorer_with(images):
    from zeronas.scoring import Scorer

    def make(*a, **k):
        k.pop("data", None)
        k.pop("stand_in", None)
        return Scorer(*a, images=images, **k)

    return make


def test_zero_cost_pt_with_nwot_runs_on_small_supernet(fake_images, monkeypatch):
    monkeypatch.setattr("zeronas.search.perturb.Scorer", _scorer_with(fake_images))
    r = search("nb201", "zero-cost-pt", proxy="nwot", seed=1, pool=2, validate=2, C=4, N=1, batch_size=8,
               edge_order="order")
    assert len(space.parse(r.arch)) == 6 and r.evaluations >= 60


def test_sample_and_rea_pick_best_by_fitness():
    r = search("nb201", "sample", proxy="params", n=15, seed=0, data="none")
    rng = np.random.default_rng(0)
    drawn = [space.sample(rng) for _ in range(15)]
    best = max(drawn, key=lambda a: sum(p.numel() for p in space.build(a).parameters()))
    assert r.arch == space.format(best)
    r2 = search("nb201", "rea", proxy="params", budget=40, population=10, tournament=3, seed=0, data="none")
    assert r2.evaluations <= 40 and r2.proxy_values["params"] >= r.proxy_values["params"] * 0.5
    with pytest.raises(UserError):
        search("nb201", "rea", proxy="params", tournament=30, population=10, data="none")


def test_ensemble_search_picks_best_by_final_ranks():
    """A rank ensemble ranks each arch against the archs seen so far, so the first arch scores the maximum
    (rank 1 of 1) when it is seen; the answer must come from the ranks over everything evaluated."""
    from zeronas.benchmarks.correlation import rank_ensemble
    from zeronas.proxies import get_proxy
    from zeronas.scoring import Scorer

    r = search("nb201", "sample", proxy="ensemble:params+flops", n=12, seed=3, data="none")
    rng = np.random.default_rng(3)
    drawn = list(dict.fromkeys(space.sample(rng) for _ in range(12)))
    recs = [Scorer(space, ["params", "flops"], data="none").score_arch(a) for a in drawn]
    cols = [np.array([rec[k].value for rec in recs]) for k in range(2)]
    scores = rank_ensemble(cols, [get_proxy("params").direction, get_proxy("flops").direction])
    assert r.arch == space.format(drawn[int(np.argmax(scores))])
    assert r.arch != space.format(drawn[0]) or int(np.argmax(scores)) == 0
    # the trajectory's best so far is the best of the archs evaluated by then on the final ranking (it used to
    # stay on the first arch, at fitness 0, for the whole search; then it was ranked among the archs seen by
    # then, so "best so far" could fall as more were seen); it never falls, and its last row is the answer
    rng = np.random.default_rng(3)
    draws = [space.sample(rng) for _ in range(12)]
    for row, t in zip(r.trajectory, range(1, 13)):
        idx = [drawn.index(a) for a in dict.fromkeys(draws[:t])]
        # a row per draw, repeats included; 'evaluation' counts the distinct archs scored by then (it held the draw
        # number, so a repeat made it run ahead of result.evaluations)
        assert row["draw"] == t and row["evaluation"] == len(idx)
        assert row["arch"] == space.format(drawn[max(idx, key=lambda i: scores[i])])
        assert row["best_fitness"] == pytest.approx(float(max(scores[i] for i in idx)))
    fits = [row["best_fitness"] for row in r.trajectory]
    assert fits == sorted(fits) and fits[0] < fits[-1]
    assert r.trajectory[-1]["arch"] == r.arch and len({row["arch"] for row in r.trajectory}) > 1
    r2 = search("nb201", "rea", proxy="ensemble:params+flops", budget=30, population=8, tournament=3, seed=0,
                data="none")
    assert r2.proxy_values["params"] > 0.6e6  # the biggest cells win on params and flops
    assert r2.trajectory[-1]["arch"] == r2.arch and len({row["arch"] for row in r2.trajectory}) > 1
    fits = [row["best_fitness"] for row in r2.trajectory]
    assert fits == sorted(fits)


def test_supernet_context_restores_weights_between_proxies(fake_images):
    from zeronas.data import make_batch
    from zeronas.proxies import get_proxy

    sup = space.supernet(C=4, N=1)
    ctx = SupernetContext(space, sup, sup.mixing_weights(), make_batch(fake_images, 8), num_classes=10)
    a = get_proxy("synflow").fn(ctx)  # makes weights |theta| in float64 ...
    b = get_proxy("synflow").fn(ctx)  # ... and the context restores them
    assert a == b and get_proxy("nwot").fn(ctx) > 0


def test_killed_search_resumes_from_store(tmp_path):
    """A search stopped after 12 evaluations (as if killed) and rerun with the same seed replays the stored
    evaluations and ends exactly where an uninterrupted run does, scoring nothing twice."""
    db = tmp_path / "s.db"
    kw = dict(proxy="params", population=8, tournament=3, seed=4, data="none")
    search("nb201", "rea", budget=12, store=db, **kw)
    resumed = search("nb201", "rea", budget=30, store=db, **kw)
    fresh = search("nb201", "rea", budget=30, **kw)
    assert resumed.arch == fresh.arch and resumed.trajectory == fresh.trajectory
    from zeronas.store import Store

    assert Store(db).count() == fresh.evaluations


def test_te_nas_prunes_one_op_per_edge_per_round(fake_images, monkeypatch):
    from zeronas.search.prune import dense_rank, round_sig

    assert round_sig(0.123456) == 0.123 and round_sig(-1234.5) == -1230
    assert dense_rank([0.5, 0.1, 0.5, 0.3], descending=True) == [0, 2, 0, 1]
    monkeypatch.setattr("zeronas.search.prune.Scorer", _scorer_with(fake_images))
    r = search("nb201", "te-nas", seed=0, repeat=1, batch_size=4, C=2, N=1, lr_samples=20, lr_batches=1)
    assert [t["ops_left"] for t in r.trajectory] == [[3] * 6, [2] * 6, [1] * 6]
    assert all(len(t["pruned"]) == 6 and "none" not in t["pruned"].values() for t in r.trajectory)
    assert "none" not in space.parse(r.arch)
    assert r.network["num_classes"] == 10 and r.network["input_size"] == 32


def test_teg_summed_ranks_by_hand():
    from zeronas.search.teg import best_by_rank, summed_ranks

    rows = [dict(kappa=1, regions=10, mse=0.5), dict(kappa=2, regions=30, mse=0.4), dict(kappa=3, regions=20, mse=0.6)]
    # kappa ascending: 0,1,2; regions descending: 2,0,1; mse ascending: 1,0,2
    assert summed_ranks(rows).tolist() == [3, 1, 5] and best_by_rank(rows) == 1
    ties = [dict(kappa=1, regions=5, mse=1), dict(kappa=1, regions=5, mse=1), dict(kappa=2, regions=4, mse=2)]
    assert summed_ranks(ties).tolist() == [0, 0, 6]


TINY_TEG = dict(repeat=1, batch_size=4, C=2, N=1, lr_samples=20, lr_batches=1)


def test_teg_fixed_context_and_rea(fake_images, monkeypatch):
    from zeronas.search.teg import TEGEvaluator

    monkeypatch.setattr("zeronas.search.teg.Scorer", _scorer_with(fake_images))
    ev = TEGEvaluator(space, seed=0, **{**TINY_TEG, "repeat": 2})
    assert torch.equal(ev.te.batches[0].x, ev.te.batches[1].x)  # one fixed batch shared by every network
    a = space.sample(3)
    first = ev(a)
    ev.metrics.cache.clear()
    assert ev(a) == first and math.isfinite(first["kappa"]) and first["regions"] >= 1
    r = search("nb201", "teg-rea", seed=0, budget=8, population=4, tournament=2, **TINY_TEG)
    assert r.evaluations == 8 and set(r.proxy_values) == {"teg_kappa", "teg_regions", "teg_mse"}
    assert r.network["num_classes"] == 10 and r.network["input_size"] == 32


class _CountConv3:
    """A TEG evaluator stand-in: more nor_conv_3x3 = better on all three metrics."""

    def __init__(self, *a, **k):
        self.evaluations, self.protocol, self.replayed = 0, {}, False

    def __call__(self, arch):
        self.evaluations += 1
        k = sum(op == "nor_conv_3x3" for op in space.coerce(arch))
        return {"kappa": 10.0 - k, "regions": float(k), "mse": 1.0 - k / 10, "bad": False}


def test_teg_reinforce_learns_rewarded_op(monkeypatch):
    monkeypatch.setattr("zeronas.search.teg.TEGEvaluator", _CountConv3)
    r = search("nb201", "teg-reinforce", seed=0, budget=300, data="none")
    final_policy = space.parse(r.trajectory[-1]["policy_argmax"])
    assert sum(op == "nor_conv_3x3" for op in final_policy) >= 5
    # the answer is the best by summed rank over the history: as many conv3x3 as any sampled arch
    assert space.parse(r.arch).count("nor_conv_3x3") >= final_policy.count("nor_conv_3x3") - 1


def _kill_after(monkeypatch, target: str, calls: int):
    """Make ``target`` (a dotted attribute) raise after ``calls`` calls, as if the process were killed."""
    import importlib

    mod, attr = target.rsplit(".", 1)
    cls_mod, cls_name = mod.rsplit(".", 1)
    owner = getattr(importlib.import_module(cls_mod), cls_name)
    real = getattr(owner, attr)
    count = [0]

    def wrapped(*a, **k):
        count[0] += 1
        if count[0] > calls:
            raise KeyboardInterrupt("killed")
        return real(*a, **k)

    monkeypatch.setattr(owner, attr, wrapped)
    return count


@pytest.mark.parametrize("method,measure,kill,kwargs", [
    ("te-nas", "zeronas.search.supernet_context.TEContext.measure", 7, dict(repeat=1, batch_size=4, C=2, N=1,
                                                                         lr_samples=20, lr_batches=1)),
    ("teg-rea", "zeronas.search.supernet_context.TEContext.measure", 5, dict(budget=8, population=4, tournament=2,
                                                                          **TINY_TEG)),
    ("zero-cost-pt", "zeronas.search.supernet_context.SupernetContext.batch", 40,  # in the 2nd proposal
     dict(proxy="nwot", pool=3, validate=2, C=4, N=1, batch_size=8)),
])
def test_killed_supernet_search_resumes(method, measure, kill, kwargs, fake_images, monkeypatch, tmp_path):
    """Killed midway, a supernet search rerun on the same store recomputes only what was not stored and
    ends where an uninterrupted run ends."""
    for mod in ("prune", "teg", "perturb"):
        monkeypatch.setattr(f"zeronas.search.{mod}.Scorer", _scorer_with(fake_images))
    fresh = search("nb201", method, seed=2, **kwargs)
    db = tmp_path / "s.db"
    with monkeypatch.context() as m:
        _kill_after(m, measure, kill)
        with pytest.raises(KeyboardInterrupt):
            search("nb201", method, seed=2, store=db, **kwargs)
    from zeronas.store import Store

    assert Store(db).count() > 0
    resumed = search("nb201", method, seed=2, store=db, **kwargs)
    assert resumed.arch == fresh.arch
    with monkeypatch.context() as m:  # a finished search replays entirely from the store
        _kill_after(m, measure, 0)
        again = search("nb201", method, seed=2, store=db, **kwargs)
    assert again.arch == fresh.arch
    # and reports what a fresh one does (zero-cost-pt counted only the decisions it recomputed)
    assert resumed.evaluations == again.evaluations == fresh.evaluations


def test_das_fast_training_trains_before_scoring(fake_images):
    from zeronas.scoring import Scorer

    at_init = Scorer(space, ["das"], images=fake_images, batch_size=8, seed=0)
    trained = Scorer(space, ["das"], images=fake_images, batch_size=8, seed=0, train_steps=3)
    a = space.sample(5)
    c0, c1 = at_init.context(a), trained.context(a)
    w0 = c0.model().classifier.weight.detach().clone()
    w1 = c1.model().classifier.weight.detach().clone()
    assert not torch.equal(w0, w1) and c1.training["steps"] == 3 and len(c1.training["losses"]) == 3
    assert torch.equal(c1.model().classifier.weight, w1)  # the trained weights are what every proxy sees
    assert "fast_training" in trained.protocol(trained.proxies[0])
    assert "fast_training" not in at_init.protocol(at_init.proxies[0])
    with pytest.raises(UserError, match=r"^train_steps= must be an integer in \[0, 1000000\], not -1$"):
        Scorer(space, ["das"], images=fake_images, train_steps=-1)


def test_fast_train_lowers_loss_on_separable_data():
    """Two classes split by the brightness of the first pixel: a linear model learns it in a few steps."""
    from zeronas.data import ImageSet
    from zeronas.train import fast_train

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(400, 4, 4, 3), dtype=np.uint8)
    y = (x[:, 0, 0, 0] > 127).astype(np.int64)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2))
    out = fast_train(model, ImageSet("cifar10", "train", x, y, "synthetic", "random"), 40, batch_size=20, lr=0.05)
    assert np.mean(out["losses"][-5:]) < np.mean(out["losses"][:5])


def test_te_nas_measurements_are_keyed_by_dataset_and_classes(fake_images):
    """te-nas / teg recorded data None (the protocol of a data-free proxy), so a te-nas store replayed a
    CIFAR-10 search as the answer of a CIFAR-100 one."""
    from zeronas.scoring import Scorer
    from zeronas.search.supernet_context import TEContext
    from zeronas.spaces import space as get_space

    sp = get_space("nb201")
    keys = []
    for classes in (10, 100):
        scorer = Scorer(sp, ["params"], images=fake_images, num_classes=classes, batch_size=8)
        te = TEContext(sp, scorer, repeat=1, batch_size=8, C=4, N=1, lr_samples=10, lr_batches=1)
        keys.append(te.data)
    assert keys[0]["dataset"] == "cifar10" and keys[0]["batch0_sha256"] and keys[0]["num_classes"] == 10
    assert keys[1]["num_classes"] == 100 and keys[0] != keys[1]


def test_search_takes_proxy_options_and_refuses_unused_ones():
    """DAS's combination rules (das.lam) could not be searched with: search had no --set (newcomer trial)."""
    a = search("nb201", "sample", proxy="synflow", n=4, seed=0, data="none")
    b = search("nb201", "sample", proxy="zeros", n=4, seed=0, data="none")
    assert a.protocol["scorer"]["options"] == {} and b.protocol["scorer"]["proxy"] == "zeros"
    with pytest.raises(UserError, match=r"^options=\{'das': \{'lam': 64.0\}\} sets an option of proxy das, which "
                                        r"proxy='synflow' does not run \(it runs synflow\)"):
        search("nb201", "sample", proxy="synflow", n=4, seed=0, data="none", options={"das": {"lam": 64.0}})
    assert search("nb201", "sample", proxy="synflow", n=4, seed=0, data="none", options={"das": {}}).arch == a.arch
    with pytest.raises(UserError, match="which proxy='zeronas-v1' does not run"):
        search("nb201", "funnel", budget=3, seed=0, data="none", options={"das": {"lam": 64.0}})
    for method, kw in (("sample", {"n": 3}), ("funnel", {"budget": 3})):  # every member's options are recorded
        r = search("nb201", method, proxy="ensemble:params+meco", seed=0, data="none",
                   options={"meco": {"input_size": 8}}, **kw)
        assert r.protocol["options"] == {"params": {}, "meco": {"input_size": 8}}


def test_stands_in_for_is_found_wherever_a_method_records_its_data():
    from zeronas.search.base import SearchResult

    def result(protocol):
        return SearchResult("m", "nb201", "a", "a", 0, 0.0, 1, protocol=protocol)

    assert result({"scorer": {"data": {"stands_in_for": "cifar100"}}}).stands_in_for == "cifar100"  # sample
    assert result({"data": {"dataset": "cifar100", "stands_in_for": "cifar100"}}).stands_in_for == "cifar100"  # te-nas
    assert result({"context": {"data": {"stands_in_for": "imagenet16-120"}}}).stands_in_for == "imagenet16-120"
    assert result({"scorer": {"data": {"dataset": "cifar10"}}}).stands_in_for is None


@needs_cifar
def test_das_search_with_another_combination_rule():
    r1 = search("nb201", "sample", proxy="das", n=3, seed=0, batch_size=8)
    r64 = search("nb201", "sample", proxy="das", n=3, seed=0, batch_size=8, options={"das": {"lam": 64.0}})
    assert r1.protocol["scorer"]["options"] == {"lam": 1.0} and r64.protocol["scorer"]["options"] == {"lam": 64.0}
    # das = das_d + lam * ln(das_na) on the same draws: another rule, another value (or another answer)
    assert r1.proxy_values["das"] != r64.proxy_values["das"] or r1.arch != r64.arch


def test_search_results_refuses_to_resume_a_label_whose_settings_changed(tmp_path):
    """benchmarks/search_results.py: stored rows searched with other settings than the label now has are an
    error naming the label and the key (resuming would mix both under one label); a key older rows lack, and
    a few-shot search's label-free twin row, are not a change."""
    import importlib.util
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("search_results", root / "benchmarks" / "search_results.py")
    sr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sr)
    label = "funnel-v1"
    now = dict(sr.METHODS[label][1])
    row = {"label": label, "dataset": "cifar10", "seed": 0, "settings": now}
    assert sr.settings_changed([row], [label]) == []
    older = {k: v for k, v in now.items() if k != "proxy"}  # written before that key was recorded
    assert sr.settings_changed([dict(row, settings=older)], [label]) == []
    twin = [t for t, free in sr.TWINS.items() if free == label]
    assert sr.settings_changed([dict(row, settings=dict(sr.METHODS[t][1])) for t in twin], [label]) == []
    changed = dict(row, settings=dict(now, time_budget=now["time_budget"] + 180))
    (msg,) = sr.settings_changed([changed], [label])
    assert msg.startswith(label) and "time_budget" in msg and str(now["time_budget"] + 180) in msg
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(json.dumps(changed) + "\n")
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "search_results.py"), "--methods", label,
                           "--datasets", "cifar10", "--seeds", "1", "--jsonl", str(jsonl),
                           "--json", str(tmp_path / "s.json"), "--out", str(tmp_path / "s.md")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "time_budget" in proc.stderr and "new label" in proc.stderr
    assert not (tmp_path / "s.md").exists()
    # a report of stored rows too: it shows every label under METHODS' description of its settings
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "search_results.py"), "--only-stored",
                           "--jsonl", str(jsonl), "--json", str(tmp_path / "s.json"), "--out", str(tmp_path / "s.md"),
                           "--hw-jsonl", str(tmp_path / "none.jsonl")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "time_budget" in proc.stderr and not (tmp_path / "s.md").exists()


def test_search_results_page_keeps_every_stored_method_when_a_run_names_some(tmp_path):
    """benchmarks/search_results.py --methods X wrote a page and JSON of X alone, dropping every other stored
    row (found on 2026-12-07 by running the two funnel-v2 rows): the page is the whole stored table."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rows = [{"label": label, "method": "funnel", "settings": {}, "dataset": ds, "seed": 0, "arch": "a",
             "seconds": 1.0, "cpu_seconds": 1.0, "evaluations": 1, "accuracy_reads": 0,
             "benchmark": {ds: acc}, "stands_in_for": None}
            for label, ds, acc in (("funnel-v1", "cifar10", 93.5), ("funnel-v2", "cifar10", 93.25),
                                   ("funnel-v1", "cifar100", 70.5))]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "search_results.py"), "--only-stored",
                           "--methods", "funnel-v2", "--datasets", "cifar10", "--jsonl", str(jsonl),
                           "--json", str(tmp_path / "s.json"), "--out", str(tmp_path / "s.md"),
                           "--hw-jsonl", str(tmp_path / "none.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "s.json").read_text())["summary"]
    assert summary["funnel-v1"]["cifar10"]["mean"] == 93.5 and summary["funnel-v1"]["cifar100"]["mean"] == 70.5
    assert summary["funnel-v2"]["cifar10"]["mean"] == 93.25
    page = (tmp_path / "s.md").read_text()
    assert "| funnel-v1 |" in page and "| funnel-v2 |" in page


@pytest.mark.parametrize("call,needle", [
    (lambda zn: zn.search("macro", method="rea", budget="3"), "budget= must be an integer, not str '3'"),
    (lambda zn: zn.search("macro", method="rea", budget=3, population="2"), "population= must be an integer"),
    (lambda zn: zn.search("macro", method="rea", budget=3, seed="1"), "seed= must be an integer"),
    (lambda zn: zn.search("macro", method="rea", budget=3, time_budget="5"), "time_budget= must be a number"),
    (lambda zn: zn.search("macro", method="rea", budget=3, proxy=["nwot"]), "proxy= takes one string"),
    (lambda zn: zn.search(None, method="rea"), "space= takes a space name"),
    (lambda zn: zn.search(5, method="rea"), "space= takes a space name"),
    (lambda zn: zn.score(None, proxies="params"), "score() needs architectures"),
    (lambda zn: zn.score([], proxies="params"), "empty list of architectures"),
    (lambda zn: zn.score("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", proxies=3), "proxies= takes strings"),
    (lambda zn: zn.correlate("nb201", proxies="params", sample=5, workers="1"), "workers= must be an integer"),
    (lambda zn: zn.space("nb201", foo=1), "unknown keyword 'foo'; valid keywords: name"),
    (lambda zn: zn.space(None), "a space is named by a string"),
    # arrays: numpy's ambiguous truth value (ValueError) came out of the checks; they are the user's images now
    (lambda zn: zn.search("nb201", method="sample", n=2, proxy="params", data=np.zeros(3)),
     "not a pair (image, label)"),
    (lambda zn: zn.search("nb201", method="sample", n=2, proxy="nwot", data=(np.zeros((4, 3, 8, 8)), np.zeros(4))),
     "has 4 images, too few for 1 batch(es) of 64"),  # (params reads no batch: 4 images are fine for it)
    (lambda zn: zn.search("nb201", method="sample", n=2, proxy="params", init=np.zeros(2)), "unknown init"),
])
def test_python_api_arguments_of_the_wrong_type_are_one_line_errors(call, needle):
    """The API used to raise TypeError / AttributeError from deep inside for a number given as text, a list
    for one proxy, or no space; the CLI's flags arrive as text and are converted, the API's must be typed."""
    with pytest.raises(UserError) as exc:
        call(zn)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_python_api_takes_numpy_integers():
    with pytest.raises(UserError, match=r"budget= must be an integer in \[1, 10000000\], not 0"):
        zn.search("macro", method="rea", budget=np.int64(0), proxy="params", data="none")  # range-checked too
    with pytest.raises(UserError, match=r"seed= must be an integer"):
        zn.search("macro", method="rea", budget=3, seed=np.int64(-1), proxy="params", data="none")
    r = zn.search("macro", method="rea", budget=np.int64(3), population=2, tournament=1, seed=np.int32(1),
                  proxy="params", data="none")
    assert r.evaluations >= 1


def test_sample_refuses_n_and_budget_that_differ():
    """--n 10 --budget 30 silently drew 30; the same number twice is fine, and either alone sets N."""
    with pytest.raises(UserError, match=r"n=10 and budget=30 both set how many architectures sample draws"):
        search("nb201", "sample", proxy="params", n=10, budget=30, data="none")
    with pytest.raises(UserError, match=r"n=5 and budget=6"):
        search("nb201", "das", proxy="params", n=5, budget=6, data="none")
    for kw in (dict(n=4), dict(budget=4), dict(n=4, budget=4)):
        r = search("nb201", "sample", proxy="params", data="none", **kw)
        assert len(r.trajectory) == 4, kw


def test_random_search_under_a_time_budget_alone_is_not_capped():
    """sample's default N (100) must not cap random search, which runs until its time budget is spent."""
    r = search("nb201", "random", proxy="params", data="none", time_budget=3.0)
    assert r.protocol["n"] is None
    assert len(r.trajectory) > 100 or r.seconds >= 2.9, (len(r.trajectory), r.seconds)
    assert search("nb201", "random", proxy="params", data="none", budget=7).protocol["n"] == 7


def test_every_method_says_what_its_evaluations_count():
    """The CLI printed 'N archs scored' for every method, but te-nas, zero-cost-pt and freedarts count supernet
    measurements and teg-* evaluator calls: each built-in method names its unit."""
    from zeronas.search.base import EVALUATION_UNITS, SearchResult, list_strategies

    assert set(list_strategies()) <= set(EVALUATION_UNITS)
    unit = {m: SearchResult(m, "nb201", "a", "a", 0, 0.0, 1).evaluations_unit for m in list_strategies()}
    assert {m for m, u in unit.items() if u == "archs scored"} == {"sample", "random", "rea", "das"}
    assert unit["te-nas"] == "supernet measurements" and unit["teg-rea"] == "evaluator calls"
    assert SearchResult("my-plugin", "nb201", "a", "a", 0, 0.0, 1).evaluations_unit == "evaluations"


def test_a_time_budget_that_allows_no_evaluation_says_what_would():
    """'the budget allowed no evaluation; raise --budget or --time-budget' left a user guessing by how much
    (8 s failed, 10 s worked): the error names the set-up's time, the first stage's share and a budget."""
    import re
    import time

    from zeronas.search.base import Budget

    limit = Budget(None, 3.0)
    limit.t0 = time.perf_counter() - 3.0  # as if the set-up had taken 3 s
    msg = str(limit.nothing_evaluated(0.3, 10.0))
    assert re.search(r"took 3\.0 s of the first stage's 30% of the 10 s given; raise --time-budget to (\d+) s", msg)
    assert int(re.search(r"to (\d+) s", msg).group(1)) >= 20  # twice the set-up, in the stage's share
    assert "raise --budget" in str(Budget(5, None).nothing_evaluated())


def test_the_first_evaluation_s_cost_stops_a_second_that_would_overrun(monkeypatch):
    """A newcomer trial: funnel on NB101 (about 5 s per evaluation) took 14 s of a 10 s budget: the going cost
    of an evaluation was known only after the second one, so a second started at 6 s as if it cost nothing.
    The first is now timed from the check that let it start. (A clock of our own: no timing in the test.)"""
    import zeronas.search.base as base

    clock = [100.0]
    monkeypatch.setattr(base.time, "perf_counter", lambda: clock[0])
    limit = base.Budget(None, 10.0)
    clock[0] += 1.0  # set-up
    assert not limit.exhausted  # the first evaluation starts at 1 s
    clock[0] += 5.0
    limit.spend()  # ... and ends at 6 s: a second, at its cost, would end at 11 s
    assert limit.exhausted
    relaxed = base.Budget(None, 12.0)
    clock[0] += 1.0
    assert not relaxed.exhausted
    clock[0] += 5.0
    relaxed.spend()
    assert not relaxed.exhausted  # 6 + 5 <= 12: the second fits
    assert not base.Budget(3, None).exhausted  # an evaluation budget alone is untouched


def test_eta_after_a_resume_is_the_going_cost_not_the_mean_over_replayed_reads(monkeypatch, capsys):
    """A newcomer trial: te-nas resumed at 34 % printed 'ETA 38s' with 4 minutes left: the stored measurements
    read back in no time were averaged in. 10 evaluations: 4 replayed at once, then 2 computed at 10 s each:
    4 left at 10 s is 40 s (the mean over all six would say 13 s). (A clock of our own: no timing in the test.)"""
    import io

    import zeronas.search.base as base

    clock = [0.0]
    monkeypatch.setattr(base.time, "perf_counter", lambda: clock[0])
    stream = io.StringIO()
    monkeypatch.setitem(base._PROGRESS, "enabled", True)
    monkeypatch.setitem(base._PROGRESS, "stream", stream)
    monkeypatch.setitem(base._PROGRESS, "every", 15.0)
    limit = base.Budget(10, None, label="te-nas")
    limit.spend(4, replayed=True)
    for _ in range(2):
        assert not limit.exhausted
        clock[0] += 10.0
        limit.spend()
    assert limit.eta() == pytest.approx(40.0)
    assert stream.getvalue().strip() == "te-nas: 60% of the budget, 6 evaluations, 20s elapsed, ETA 40s"
    # with a time budget too, the time left caps it
    timed = base.Budget(10, 25.0)
    timed.spend(4, replayed=True)
    clock[0] += 10.0
    timed.spend()
    assert timed.eta() == pytest.approx(15.0)
    # replays and no computed evaluation yet: unknown, not the mean over the replays
    fresh = base.Budget(10, None)
    fresh.spend(4, replayed=True)
    assert fresh.eta() == float("inf") and base._clock(fresh.eta()) == "?" and base._clock(90061.0) == "25:01:01"


def test_a_resumed_rea_counts_its_stored_evaluations_as_replayed(tmp_path, monkeypatch):
    """rea and funnel read scores back from --store: those evaluations tell the Budget so (no going cost)."""
    import zeronas.search.base as base

    seen = []
    real = base.Budget.spend
    monkeypatch.setattr(base.Budget, "spend", lambda self, n=1, replayed=False: (seen.append(replayed),
                                                                                 real(self, n, replayed)))
    for method, kw in (("rea", dict(budget=8, population=4, tournament=2)), ("funnel", dict(budget=12))):
        store = str(tmp_path / f"{method}.db")
        seen.clear()
        search("nb201", method, seed=0, proxy="ensemble:params+flops", data="none", store=store, **kw)
        first = list(seen)
        seen.clear()
        search("nb201", method, seed=0, proxy="ensemble:params+flops", data="none", store=store, **kw)
        assert False in first[:4] and seen == [True] * len(first), (method, first, seen)


@pytest.mark.parametrize("method", ["sample", "rea", "funnel"])
def test_searches_that_evaluate_nothing_say_why(method):
    from zeronas.search import search

    # a microsecond: less than any set-up (a warm process set up in under a millisecond and evaluated once)
    with pytest.raises(UserError, match=r"the set-up .* took [\d.]+ s of .*the 1e-06 s given; raise time_budget="):
        search("nb201", method=method, proxy="params", data="none", time_budget=1e-6)


def test_torch_threads_are_restored_when_the_call_fails():
    import torch

    from zeronas.validation import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1 if before > 1 else 2):
        assert torch.get_num_threads() != before
        raise RuntimeError("inside the call")
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("method,budget", [("sample", {"n": 3}), ("rea", {"budget": 3, "population": 2,
                                                                          "tournament": 1})])
def test_a_proxy_undefined_on_every_arch_is_an_error_not_an_answer(method, budget):
    """Constant images make every NB201 network's ReLU codes equal, so nwot is -inf (a singular kernel) on
    every arch: the search answered its first draw with best_fitness -inf and no word (a newcomer trial).
    Now a one-line error, naming the first arch and the reason."""
    images = (np.zeros((16, 32, 32, 3), "uint8"), np.arange(16) % 4)
    with pytest.raises(UserError, match=r"^proxy='nwot' had no finite value on any of the 3 architecture\(s\) "
                                        r"the search evaluated \(the first, \|.*K_H is singular"):
        zn.search("nb201", method=method, proxy="nwot", data=images, batch_size=8, seed=0, **budget)


def test_memory_format_reaches_the_proxy_searches_and_is_refused_by_the_others(tmp_path):
    """memory_format='channels-last' scores a proxy search's archs in NHWC (their store keys say so, and so does
    the result); synflow has no BN statistics, so the answer is the NCHW search's. Supernet methods refuse it."""
    from typer.testing import CliRunner

    from zeronas.cli import app
    from zeronas.store import Store

    db = tmp_path / "s.db"
    kw = dict(method="sample", n=4, proxy="synflow", data="none", seed=0)
    nhwc = zn.search("nb201", memory_format="channels-last", store=str(db), **kw)
    nchw = zn.search("nb201", **kw)
    assert nhwc.arch == nchw.arch and nhwc.protocol["memory_format"] == "channels-last"
    assert "memory_format" not in nchw.protocol
    store = Store(db)
    try:
        protocols = [store.protocol(h) for h in store.protocol_hashes()]
    finally:
        store.close()
    assert protocols and all(p["memory_format"] == "channels-last" for p in protocols)
    with pytest.raises(UserError, match=r"^zeronas.search\(method='te-nas'\) got unknown keyword 'memory_format'"):
        zn.search("nb201", method="te-nas", memory_format="channels-last")
    with pytest.raises(UserError, match=r"^memory_format=None: omit memory_format= for its default"):
        zn.search("nb201", method="sample", n=2, proxy="params", data="none", memory_format=None)
    # the default layout is every method's: a script that always passes it is not refused (only the typo is)
    with pytest.raises(UserError, match=r"^zeronas.search\(method='te-nas'\) got unknown keyword 'bogus'"):
        zn.search("nb201", method="te-nas", memory_format=torch.contiguous_format, bogus=1)
    res = CliRunner().invoke(app, ["search", "--method", "te-nas", "--memory-format", "channels-last"])
    assert isinstance(res.exception, UserError)
    assert str(res.exception).startswith("--memory-format does not apply to --method te-nas; it applies to das, "
                                         "funnel, random, rea, sample")
    res = CliRunner().invoke(app, ["search", "--method", "sample", "--n", "2", "--proxy", "synflow", "--data", "none",
                                   "--memory-format", "channels-last"])
    assert res.exit_code == 0 and "scoring in the channels-last layout" in res.output, res.output
    # params runs no tensor through the network: one value in both layouts, and no note
    res = CliRunner().invoke(app, ["search", "--method", "sample", "--n", "2", "--proxy", "params", "--data", "none",
                                   "--memory-format", "channels-last"])
    assert res.exit_code == 0 and "layout" not in res.output, res.output
    res = CliRunner().invoke(app, ["search", "--method", "te-nas", "--memory-format", "contiguous", "--n", "5"])
    assert str(res.exception).startswith("--n does not apply to --method te-nas")  # the default layout is not refused


def _init_recorded(protocol) -> list:
    """Every ``init`` value a result's protocol holds, at any depth."""
    if isinstance(protocol, dict):
        return [v for k, v in protocol.items() if k == "init"] + [
            x for v in protocol.values() for x in _init_recorded(v)]
    if isinstance(protocol, list):
        return [x for v in protocol for x in _init_recorded(v)]
    return []


TINY_SEARCHES = {
    "das": dict(n=2, batch_size=8), "funnel": dict(proxy="synflow", budget=2),
    "random": dict(proxy="synflow", budget=2),
    "rea": dict(proxy="synflow", budget=3, population=2, tournament=1), "sample": dict(proxy="synflow", n=2),
    "te-nas": TINY_TEG, "teg-rea": dict(budget=2, population=2, tournament=1, **TINY_TEG),
    "teg-reinforce": dict(budget=2, **TINY_TEG),
    "zero-cost-pt": dict(proxy="synflow", pool=1, C=2, N=1, batch_size=4),
}


@pytest.mark.parametrize("method", sorted(TINY_SEARCHES))
def test_every_search_that_takes_init_records_it_in_its_result(method, fake_images, monkeypatch):
    """init= changes the weights every proxy sees, so a result must say which it was: zero-cost-pt's
    result.json did not (a newcomer: two runs' validation scores differed with nothing in the file saying why);
    the store already keyed on it. Every method that takes init= is covered (the test fails on a new one)."""
    from zeronas.search.base import strategy_keywords

    assert sorted(m for m in list_strategies() if "init" in strategy_keywords(m)) == sorted(TINY_SEARCHES)
    for mod in ("prune", "teg", "perturb", "sample"):
        monkeypatch.setattr(f"zeronas.search.{mod}.Scorer", _scorer_with(fake_images), raising=False)
    r = search("nb201", method, seed=0, init="kaiming", threads=1, **TINY_SEARCHES[method])
    assert set(_init_recorded(r.protocol)) == {"kaiming"}, r.protocol


def test_seeds_run_at_once_answer_as_the_same_seeds_run_one_after_another(capsys):
    """search --runs N --workers W: each seed is the same zeronas.search call in its own process, so a
    deterministic method answers the same; the driver reports each run as it ends."""
    from zeronas.cli import main
    from zeronas.search.parallel import run_seeds

    kw = dict(proxy="synflow", n=6, data="none")
    alone = [search("nb201", "sample", seed=s, threads=1, **kw) for s in (0, 1, 2)]
    seen = []
    together = run_seeds("nb201", "sample", [0, 1, 2], kw, workers=2, threads=1,
                         on_result=lambda r, done, total, eta: seen.append((r.seed, done, total)))
    assert [(r.seed, r.arch, r.proxy_values) for r in together] == [(r.seed, r.arch, r.proxy_values) for r in alone]
    assert sorted(s for s, _, _ in seen) == [0, 1, 2] and [d for _, d, _ in seen] == [1, 2, 3]
    for bad, why in (({"executor": "Ray"}, "unknown executor="), ({"workers": -1}, "workers= -1")):
        with pytest.raises(UserError, match=why):  # checked at the edge, not a traceback from the pool
            run_seeds("nb201", "sample", [0], kw, **bad)
    with pytest.raises(SystemExit) as e:
        main(["search", "--method", "sample", "--proxy", "synflow", "--n", "6", "--data", "none", "--runs", "3",
              "--workers", "2"])
    out, err = capsys.readouterr()
    assert e.value.code == 0 and "running 3 seeds in 2 processes at once" in err and "run 3/3 ended" in err
    assert [line.split()[2] for line in out.splitlines() if line.startswith("seed ")] == [r.arch for r in alone]
    for args, why in ((["--executor", "ray", "--workers", "2"], "drop --workers"),
                      (["--ray-address", "auto"], "--ray-address applies to --executor ray")):
        with pytest.raises(SystemExit) as e:
            main(["search", "--method", "sample", "--proxy", "synflow", "--data", "none", *args])
        assert e.value.code == 2 and why in capsys.readouterr().err


def test_seeds_at_once_refuse_a_bad_store_before_they_start(tmp_path, capsys):
    """A user's trial: a --store that is no store was refused by each worker, after 'running N seeds'."""
    from zeronas.cli import main

    bad = tmp_path / "afile"
    bad.write_text("not a database\n")
    with pytest.raises(SystemExit) as e:
        main(["search", "--method", "sample", "--proxy", "params", "--n", "3", "--data", "none", "--runs", "2",
              "--workers", "2", "--store", str(bad)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "running 2 seeds" not in err and len(err.strip().splitlines()) == 1, err


def test_runs_at_once_that_all_refuse_their_settings_leave_no_store_or_folder(tmp_path, capsys):
    """A user's trial: settings each run refuses inside its own process (--train-lr without --train-steps,
    --tournament above --population) left a new, empty store (and its new folder) behind; a search in this
    process already left none. A store that existed is kept."""
    from zeronas.cli import main

    for args in (["--method", "das", "--train-lr", "0.05"],
                 ["--method", "rea", "--proxy", "synflow", "--tournament", "5", "--population", "3"]):
        for at_once in (["--runs", "2", "--workers", "2"], []):
            store = tmp_path / "new" / "deeper" / "s.db"
            with pytest.raises(SystemExit) as e:
                main(["search", *args, "--data", "none", "--budget", "4", "--store", str(store), *at_once])
            assert e.value.code == 2 and "error:" in capsys.readouterr().err
            assert not (tmp_path / "new").exists(), (args, at_once)
    kept = tmp_path / "kept.db"
    main_args = ["search", "--method", "das", "--train-lr", "0.05", "--data", "none", "--store", str(kept)]
    from zeronas.store import Store

    Store(str(kept)).close()
    with pytest.raises(SystemExit):
        main([*main_args, "--runs", "2", "--workers", "2"])
    assert kept.exists()


def test_trajectory_rows_count_draws_and_distinct_evaluations_apart():
    # an API trial: a row's 'evaluation' held the draw number, so with repeats it ran past result.evaluations
    from torch import nn

    class Three:
        name = "three"

        def sample(self, rng):
            return int(np.random.default_rng(rng).integers(1, 4))

        def mutate(self, arch, rng):
            return 1 + arch % 3

        def build(self, arch, num_classes=10, **options):
            return nn.Sequential(nn.Conv2d(3, arch, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(arch, num_classes))

        def format(self, arch):
            return str(arch)

        def parse(self, text):
            return int(text)

    for method in ("sample", "rea"):
        kw = {"n": 8} if method == "sample" else {"budget": 8, "population": 2, "tournament": 1}
        r = search(Three, method, proxy="params", seed=0, data="none", **kw)
        rows = r.trajectory
        assert [row["draw"] for row in rows] == list(range(1, 9))
        assert rows[-1]["evaluation"] == r.evaluations <= 3 < 8  # three archs: repeats are read, not scored
        assert [row["evaluation"] for row in rows] == sorted(row["evaluation"] for row in rows)


def test_the_api_default_data_records_the_network_the_cli_records(tmp_path, capsys):
    # an API trial: zeronas.search() without data= scored CIFAR-10's network but recorded data None (an export
    # then read it as images given in memory), where the CLI's default recorded cifar10
    from zeronas.cli import main

    api = search("nb201", "sample", proxy="params", n=2, seed=0)
    with pytest.raises(SystemExit):
        main(["search", "--space", "nb201", "--method", "sample", "--n", "2", "--proxy", "params", "--out",
              str(tmp_path / "r")])
    capsys.readouterr()
    import json

    cli = json.loads((tmp_path / "r" / "result.json").read_text())["network"]
    assert api.network == cli == {"num_classes": 10, "input_size": 32, "data": "cifar10"}
    assert search("nb201", "sample", proxy="params", n=2, data="none").network["data"] is None
