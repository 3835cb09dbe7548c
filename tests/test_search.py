import math

import numpy as np
import pytest
import torch

import zeronas as zn
from zeronas.errors import UserError
from zeronas.search import list_strategies, search
from zeronas.search.supernet_context import SupernetContext, WeightedSupernet

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
