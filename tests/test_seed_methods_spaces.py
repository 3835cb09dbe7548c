"""The seed methods where their papers ran them (issue 26, item 4): DAS on NB101 and NAS-Bench-Macro networks,
every proxy search on nb101/macro (or a one-line refusal with exit 2), Zero-Cost-PT on the macro supernet."""

import math

import numpy as np
import pytest
import torch

from zeronas.cli import main
from zeronas.proxies.das import das, das_d, das_na
from zeronas.proxies.naswot import nwot
from zeronas.search import search
from zeronas.spaces import space as get_space

from .conftest import TinyCtx

NB101 = get_space("nb101")
MACRO = get_space("macro")
# input -> conv3x3 -> output: per cell a 1x1 projection (conv-bn-relu) and the conv3x3 (conv-bn-relu)
CHAIN = "010001000:input|conv3x3-bn-relu|output"


def _ctx(net, hw=8, batch=8, seed=0):
    torch.manual_seed(seed)
    return TinyCtx(net, torch.randn(batch, 3, hw, hw))


# ---- DAS on NB101 and macro networks -----------------------------------------------------------------------
def test_das_na_counts_the_relu_units_of_an_nb101_network():
    """Stem ReLU 4 x 8 x 8 = 256; cell 1 (two ReLUs, 4 channels, 8 x 8) 512; 2x2 max pool, 8 channels:
    cell 2 two ReLUs of 8 x 4 x 4 = 256. N_A = 1024. A block named like 'ConvBNReLU' would also add the codes
    of its conv input (the image itself for the stem) and give more."""
    torch.manual_seed(0)
    net = NB101.build(CHAIN, C=4, N=1, stacks=2)
    ctx = _ctx(net)
    assert das_na(ctx) == 1024
    d = das_d(ctx)
    assert math.isfinite(d) and d <= 0  # Hadamard: det K~ <= 1
    assert das(ctx, lam=8) == pytest.approx(nwot(ctx), rel=1e-9, abs=1e-9)  # lam = B gives NASWOT exactly


def test_das_na_counts_the_relu_units_of_a_macro_network():
    """At 8 x 8 input: stem ReLU 32 x 64 = 2048, head ReLU 1280 x 1 x 1 (after three stride-2 layers) = 1280,
    and an identity layer adds none: 3328 for '00000000'. MB3_K3 as layer 0 (32 -> 64, stride 2) adds its
    expand ReLU 96 x 8 x 8 = 6144 and its depthwise ReLU 96 x 4 x 4 = 1536: 11008."""
    assert das_na(_ctx(MACRO.build("00000000"))) == 3328
    ctx = _ctx(MACRO.build("10000000"))
    assert das_na(ctx) == 11008
    assert math.isfinite(das_d(ctx)) and das(ctx, lam=8) == pytest.approx(nwot(ctx), rel=1e-9, abs=1e-9)


def test_macro_supernet_with_one_hot_weights_is_the_benchmark_network():
    """Each mixed layer holds the benchmark's three candidates: one-hot weights and the discrete network's
    weights copied in give the very same logits."""
    arch = MACRO.parse("10220012")
    torch.manual_seed(0)
    sup = MACRO.supernet(num_classes=10).eval()
    net = MACRO.build(arch).eval()
    state = {}
    for name in net.state_dict():
        parts = name.split(".")
        if parts[0] == "layers":  # layers.k.rest -> layers.k.ops.<op index>.rest
            k = int(parts[1])
            parts = ["layers", parts[1], "ops", str(MACRO.ops.index(arch[k])), *parts[2:]]
        state[name] = sup.state_dict()[".".join(parts)]
    net.load_state_dict(state)
    w = torch.zeros(8, 3)
    for k, op in enumerate(arch):
        w[k, MACRO.ops.index(op)] = 1.0
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(sup(x, weights=w), net(x), atol=1e-5)


# ---- proxy searches run on nb101 and macro -----------------------------------------------------------------
@pytest.mark.parametrize("sp", ["nb101", "macro"])
def test_proxy_searches_run_on_nb101_and_macro(sp):
    space = get_space(sp)
    for method, kw in (("sample", dict(n=3)), ("random", dict(budget=3)),
                       ("rea", dict(budget=5, population=3, tournament=2))):
        r = search(sp, method, proxy="params", seed=0, data="none", **kw)
        space.parse(r.arch)  # a valid arch of the space (parse refuses anything else)
        assert r.space == sp and 1 <= r.evaluations <= 5 and r.accuracy_reads == 0
        assert r.method == method  # random used to record itself as sample
    r = search(sp, "funnel", proxy="ensemble:params+flops", budget=4, pool=3, data="none", seed=0)
    assert space.parse(r.arch) is not None and r.accuracy_reads == 0


@pytest.mark.parametrize("sp", ["nb101", "macro"])
def test_das_search_runs_on_nb101_and_macro(sp, fake_images, monkeypatch):
    from zeronas.scoring import Scorer

    def scorer(*a, **k):
        k.pop("data", None)
        k.pop("stand_in", None)
        return Scorer(*a, images=fake_images, **k)

    monkeypatch.setattr("zeronas.search.sample.Scorer", scorer)
    r = search(sp, "das", n=2, seed=0, batch_size=4)
    assert r.method == "das" and set(r.proxy_values) == {"das"} and math.isfinite(r.proxy_values["das"])
    get_space(sp).parse(r.arch)


# ---- refusals: one line, exit 2, the reason and what does run ----------------------------------------------
REFUSED = [("nb101", m) for m in ("te-nas", "teg-rea", "teg-reinforce", "freedarts", "zero-cost-pt")] + \
          [("macro", m) for m in ("te-nas", "teg-rea", "teg-reinforce", "freedarts")]


@pytest.mark.parametrize("sp,method", REFUSED)
@pytest.mark.parametrize("extra", [[], ["--budget", "3"]])
def test_methods_without_a_way_to_run_are_refused_in_one_line(sp, method, capsys, extra):
    """Said first, also when an option the method does not take is given (that option is moot here)."""
    with pytest.raises(SystemExit) as exc:
        main(["search", "--space", sp, "--method", method, *extra])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert "Traceback" not in err
    assert ("supernet" in err) if sp == "nb101" or method != "freedarts" else ("per-edge" in err)
    runs = "das, funnel, random, rea, sample" + (", zero-cost-pt" if sp == "macro" else "")
    assert f"On {sp}: {runs}" in err


@pytest.mark.parametrize("sp", ["macro", "nb101"])
def test_refine_on_a_space_without_a_12_epoch_table_sends_to_train(sp, capsys):
    """No 12-epoch table: the table evaluator refuses and names the one that works there (macro and nb101 have
    their benchmarks' training recipes now; before, it had to say that neither worked)."""
    with pytest.raises(SystemExit) as exc:
        main(["search", "--space", sp, "--refine", "3", "--time-budget", "5"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.endswith(f"has nothing for the {sp} space; use --evaluator train"), err


# ---- Zero-Cost-PT on NAS-Bench-Macro -----------------------------------------------------------------------
def test_zero_cost_pt_returns_a_macro_arch(fake_images, monkeypatch):
    from zeronas.scoring import Scorer

    def scorer(*a, **k):
        k.pop("data", None)
        k.pop("stand_in", None)
        return Scorer(*a, images=fake_images, **k)

    monkeypatch.setattr("zeronas.search.perturb.Scorer", scorer)
    r = search("macro", "zero-cost-pt", proxy="nwot", seed=0, pool=2, validate=1, C=4, batch_size=4)
    arch = MACRO.parse(r.arch)
    assert len(arch) == 8 and r.space == "macro"
    assert r.evaluations >= 2 * 8 * 3  # 2 proposals x 8 layers x 3 candidates, plus validations
    assert r.protocol["C"] == 4 and r.protocol["N"] is None
    with pytest.raises(Exception, match="fixed 8 layers"):
        search("macro", "zero-cost-pt", proxy="nwot", seed=0, pool=1, C=4, N=2, batch_size=4)


def test_search_answers_carry_the_benchmark_accuracy_on_macro_nb101_and_nb301():
    """benchmark_info reads each space's own table: the answer's target accuracy and its percentile."""
    from zeronas import paths
    from zeronas.benchmarks import GROUND_TRUTH
    from zeronas.search.base import benchmark_info

    for name, rel in (("macro", "nasbench_macro/nas_bench_macro_cifar10.csv"),
                      ("nb101", "nasbench101/nb101_zc_proxies_nbsz500_cifar10.csv.gz"),
                      ("nb301", "nasbench301/nb301_zc_proxies_nbsz725_cifar10.csv.gz")):
        if paths.find([rel]) is None:
            pytest.skip(f"{rel} not found: set ZERONAS_DATA to the data folder")
        sp, table = get_space(name), GROUND_TRUTH[name]()
        col = table.column(table.target_column("cifar10"))
        best = int(np.nanargmax(col))
        info = benchmark_info(sp, sp.parse(table.arch_str[best]))
        assert info["cifar10"] == col[best] and info["cifar10_percentile"] > 99.0, name
        assert info["target"] == table.target_column("cifar10") and "cifar100" not in info
    nb301 = get_space("nb301")
    assert benchmark_info(nb301, nb301.sample(0)) == {"in_table": False}  # a genotype outside the sample
    # NB101: a relabelled, unpruned spec of a table cell is found by the benchmark's graph hash
    nb101, table = get_space("nb101"), GROUND_TRUTH["nb101"]()
    cell = nb101.parse(table.arch_str[3])
    same = nb101.representative(cell)
    assert nb101.format(same) != table.arch_str[3] and nb101.canonical(same) == nb101.canonical(cell)
    info = benchmark_info(nb101, same)
    assert info["matched"] == "isomorph" and table.index_of(table.arch_str[info["index"]]) == info["index"]
    assert nb101.canonical(nb101.parse(table.arch_str[info["index"]])) == nb101.canonical(cell)


@pytest.mark.parametrize("method,proxy", [("random", "zeros"), ("funnel", "ensemble:params+zeros")])
def test_search_with_a_proxy_that_does_not_apply_is_refused(method, proxy, capsys):
    """zeros has no per-edge weights to read on NB101: every arch used to rank last (-inf) and the search
    answered an arbitrary arch after spending its whole budget."""
    with pytest.raises(SystemExit) as exc:
        main(["search", "--space", "nb101", "--method", method, "--proxy", proxy, "--data", "none",
              "--time-budget", "20"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert "--proxy zeros cannot search nb101: zeros needs a cell space with per-edge ops" in err
