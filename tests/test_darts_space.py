import csv
import gzip
import json
import math

import numpy as np
import pytest
import torch

import zeronas as zn
from zeronas import paths
from zeronas.errors import UserError
from zeronas.search import search
from zeronas.spaces.darts import CELL_EDGES, Genotype, count_parameters, genotype_json

space = zn.space("darts")

# DARTS (second order) genotype as published in the DARTS repository's genotypes.py
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=range(2, 6))")
NB301 = paths.find(["nasbench301/nb301_zc_proxies_nbsz725_cifar10.csv.gz"])


def test_darts_v2_parameter_count_matches_published():
    # DARTS reports "param size = 3.349342MB" for DARTS-V2 at C=36, 20 cells (auxiliary head excluded)
    net = space.build(DARTS_V2, C=36, N=20, auxiliary=True, drop_path_prob=0.2)
    assert count_parameters(net) == 3_349_342
    assert count_parameters(net, exclude_auxiliary=False) > 3_349_342


def test_genotype_round_trip_string_and_json():
    g = space.parse(DARTS_V2)
    assert g.normal_concat == (2, 3, 4, 5)
    assert space.parse(space.format(g)) == g
    assert space.parse(genotype_json(g)) == g
    assert json.loads(genotype_json(g))["reduce"][0] == ["max_pool_3x3", 0]


@pytest.mark.parametrize("text,needle", [
    ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], reduce=[], reduce_concat=[2])", "pairs"),
    (DARTS_V2.replace("dil_conv_3x3", "conv_7x7"), "unknown op"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "cannot take input"),
    ("Genotype(normal=__import__('os'))", "only literals"),
    ("not a genotype(", "not a Python expression"),
    ("{\"normal\": [}", "JSON"),
    (DARTS_V2.replace("normal_concat=[2, 3, 4, 5], ", ""), "missing normal_concat"),
    # a node index is a whole number, never a flag or a text rounded to one (True was read as input 1)
    (DARTS_V2.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', True)", 1), "normal has node index True, which is not"),
    (DARTS_V2.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 1.5)", 1), "normal has node index 1.5, which is not"),
    (DARTS_V2.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', '1')", 1), "normal has node index '1', which is not"),
    (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4, True]"),
     "normal_concat has node index True"),
])
def test_malformed_genotype_is_one_line_error(text, needle):
    with pytest.raises(UserError, match=needle) as err:
        space.parse(text)
    assert "\n" not in str(err.value)


def test_sample_and_mutate_stay_valid():
    rng = np.random.default_rng(0)
    for _ in range(50):
        g = space.sample(rng)
        m = space.mutate(g, rng)
        assert space.parse(space.format(m)) == m
        diff = sum(a != b for a, b in zip(g.normal + g.reduce, m.normal + m.reduce))
        assert diff == 1
        for pairs in (m.normal, m.reduce):
            for node in range(4):
                a, b = pairs[2 * node][1], pairs[2 * node + 1][1]
                assert a != b and max(a, b) < node + 2


def test_canonical_ignores_input_order_within_a_node():
    g = space.parse(DARTS_V2)
    swapped = list(g.normal)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    assert space.canonical(g._replace(normal=tuple(swapped))) == space.canonical(g)
    assert space.canonical(space.sample(1)) != space.canonical(g)


def test_space_size_by_hand():
    per_cell = (1 * 49) * (3 * 49) * (6 * 49) * (10 * 49)  # C(i+2, 2) input pairs x 7^2 ops per node
    assert space.size() == per_cell ** 2
    with pytest.raises(UserError):
        space.enumerate()


def test_eval_network_trains_with_aux_and_drop_path():
    torch.manual_seed(0)
    net = space.build(DARTS_V2, C=4, N=5, auxiliary=True, drop_path_prob=0.3).train()
    logits, aux = net.forward_with_aux(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    net.eval()
    assert net.forward_with_aux(torch.randn(2, 3, 32, 32))[1] is None


def test_supernet_uses_normal_and_reduce_weights():
    torch.manual_seed(0)
    sup = space.supernet(C=2, N=3).eval()
    x = torch.randn(1, 3, 16, 16)
    w = sup.mixing_weights()
    with torch.no_grad():
        base = sup(x, weights=w)
        w2 = w.clone()
        w2[len(CELL_EDGES):] = 0  # all reduce edges off: a different function
        assert not torch.allclose(base, sup(x, weights=w2))


def test_from_edge_scores_keeps_two_best_edges_per_node():
    scores = torch.zeros(28, 8)
    scores[:, 0] = 100.0  # `none` is never chosen, however high
    scores[1, 4] = 5.0  # node 0: edge 1 (input 1) best, sep_conv_3x3
    scores[0, 6] = 1.0
    scores[5 + 3, 3] = 9.0  # node 2: edge 8 (input 3) skip
    g = space.from_edge_scores(scores)
    assert g.normal[0:2] == (("dil_conv_3x3", 0), ("sep_conv_3x3", 1))
    assert ("skip_connect", 3) in g.normal[4:6]
    assert all(op != "none" for op, _ in g.normal + g.reduce)


@pytest.mark.parametrize("variant", ["oneshot", "iterative"])
def test_freedarts_on_darts_finite_excludes_none(variant):
    r = search("darts", "freedarts", seed=0, variant=variant, C=2, N=3)
    g = space.parse(r.arch)
    assert all(op != "none" for op, _ in g.normal + g.reduce)
    assert all(math.isfinite(v) for v in r.proxy_values.values())
    if variant == "iterative":
        assert r.evaluations == 7  # 7 non-none ops: 6 pruning rounds, then the final choice


def test_unsupported_method_on_darts_is_one_line_error():
    with pytest.raises(UserError, match="not available on the darts space"):
        search("darts", "teg-rea", seed=0)


@pytest.mark.skipif(NB301 is None, reason="NB301 genotypes not found: set ZERONAS_DATA to the data folder")
def test_all_nb301_genotypes_parse_and_build():
    with gzip.open(NB301, "rt") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 725
    genotypes = [space.parse(r["genotype"]) for r in rows]
    assert all(isinstance(g, Genotype) for g in genotypes)
    net = space.build(genotypes[0], C=4, N=5)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_zero_cost_pt_on_darts_decides_ops_then_topology(fake_images, monkeypatch):
    """The decision flow on DARTS (nwot in the supernet is exercised by the NB201 tests; params keeps this
    fast): every edge of both cells gets a non-none op, then each node keeps 2 inputs."""
    from zeronas.scoring import Scorer

    monkeypatch.setattr("zeronas.search.perturb.Scorer",
                        lambda *a, **k: Scorer(*a, **{kk: v for kk, v in k.items() if kk not in ("data", "data_dir",
                                                                                               "stand_in")},
                                               images=fake_images))
    r = search("darts", "zero-cost-pt", seed=0, proxy="params", pool=1, C=2, N=3, batch_size=8)
    g = space.parse(r.arch)
    assert all(op != "none" for op, _ in g.normal + g.reduce)
    # 28 edges x 7 candidate ops, then per cell 3 + (4 + 3) + (5 + 4 + 3) removal trials
    assert r.evaluations == 28 * 7 + 2 * (3 + 7 + 12)


def test_te_nas_on_darts_prunes_three_per_round_then_two_edges_per_node(fake_images, monkeypatch):
    """The pruning logic with a measurement whose answer is known: regions grow with the op index and the
    edge index, kappa is flat, so the last op (dil_conv_5x5) survives on every edge and every node keeps its
    two highest-numbered inputs."""
    from zeronas.scoring import Scorer
    from zeronas.search.supernet_context import TEContext

    monkeypatch.setattr("zeronas.search.prune.Scorer",
                        lambda *a, **k: Scorer(*a, **{kk: v for kk, v in k.items() if kk not in ("data", "data_dir",
                                                                                               "stand_in")},
                                               images=fake_images))
    value = torch.arange(8.0)[None, :] * (1 + torch.arange(28.0))[:, None]
    monkeypatch.setattr(TEContext, "measure",
                        lambda self, mask, r, mse=False: {"kappa": 10.0, "regions": 100.0 + float(value[mask].sum())})
    r = search("darts", "te-nas", seed=0, repeat=1, batch_size=4, C=2, N=3, lr_samples=20, lr_batches=1)
    assert [t["ops_left"] for t in r.trajectory[:2]] == [[4] * 28, [1] * 28]  # 7 -> 4 -> 1 ops per edge
    assert r.trajectory[2] == {"round": "topology", "edges_kept": 16}  # 2 per node, 4 nodes, 2 cells
    # (1 + 28*7) + (1 + 28*4) measurements to prune, then 1 + 2*(3+4+5) edge removals
    assert r.evaluations == 197 + 113 + 25
    g = space.parse(r.arch)
    want = tuple(("dil_conv_5x5", i) for n in range(4) for i in (n, n + 1))
    assert g.normal == want and g.reduce == want


def test_te_nas_measures_a_darts_supernet(fake_images):
    from zeronas.scoring import Scorer
    from zeronas.search.supernet_context import TEContext

    scorer = Scorer(space, ["params"], images=fake_images, batch_size=4)
    te = TEContext(space, scorer, repeat=1, batch_size=4, C=2, N=3, lr_samples=50, lr_batches=1)
    mask = torch.ones(28, 8, dtype=torch.bool)
    mask[:, 0] = False
    v = te.measure(mask, 0)
    assert math.isfinite(v["kappa"]) and v["kappa"] >= 1 and 1 <= v["regions"] <= 50
    mask[0] = False  # an edge with no op left is a zero edge, not NaN weights
    assert math.isfinite(te.measure(mask, 0)["kappa"])


def test_proxies_score_a_darts_genotype(fake_images):
    from zeronas.scoring import Scorer

    sc = Scorer(space, ["nwot", "synflow", "params", "linear_regions", "zen", "zeros"], images=fake_images,
                batch_size=8, build_options={"C": 4, "N": 5})
    recs = {r.proxy: r for r in sc.score_arch(DARTS_V2)}
    assert recs["params"].value == count_parameters(space.build(DARTS_V2, C=4, N=5))
    for p in ("nwot", "synflow", "linear_regions", "zen"):
        assert math.isfinite(recs[p].value) and recs[p].error is None, p
    assert math.isnan(recs["zeros"].value) and "freedarts" in recs["zeros"].error


def test_build_refuses_an_unknown_option():
    from zeronas.errors import UserError
    from zeronas.spaces import space as get_space

    sp = get_space("darts")
    with pytest.raises(UserError, match="unknown keyword 'cells'"):
        sp.build(sp.sample(0), cells=8)


@pytest.mark.parametrize("N", [1, 2])
def test_fewer_than_three_cells_leave_no_normal_cell_and_are_refused(N):
    """Reductions sit at N//3 and 2N//3: with N <= 2 every cell reduces, and a search answered an all-max-pool
    normal cell it had never measured (newcomer trial)."""
    from zeronas.search import search

    with pytest.raises(UserError, match=f"N={N} cells has reduction cells at N//3 and 2N//3 only"):
        space.supernet(C=4, N=N)
    with pytest.raises(UserError, match="use N=3 or more"):
        search("darts", "freedarts", seed=0, C=2, N=N, data="none")
    assert [c.reduction for c in space.supernet(C=2, N=3).cells] == [False, True, True]


def test_arch_files_read_from_python_as_the_cli_reads_them(tmp_path):
    """space.from_file / archs_from_file (the CLI's --arch-file): a genotype pretty-printed over several lines is
    one arch for both; JSON lines are one arch per line; several archs where one is taken, an empty file and
    another space's result.json are one-line errors naming the file."""
    pretty = DARTS_V2.replace("], ", "],\n    ").replace("Genotype(", "Genotype(\n    ")
    (tmp_path / "g.txt").write_text(f"# DARTS-V2\n{pretty}\n")
    assert space.from_file(tmp_path / "g.txt") == space.parse(DARTS_V2)
    assert space.archs_from_file(str(tmp_path / "g.txt")) == [space.parse(DARTS_V2)]
    other = space.sample(1)
    (tmp_path / "two.json").write_text(genotype_json(space.parse(DARTS_V2)) + "\n" + genotype_json(other) + "\n")
    assert space.archs_from_file(tmp_path / "two.json") == [space.parse(DARTS_V2), other]
    with pytest.raises(UserError, match=r"two\.json' holds 2 architectures; read them all with "
                                        r"archs_from_file\(\)$"):  # Python's fix, not a CLI flag
        space.from_file(tmp_path / "two.json")
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    with pytest.raises(UserError, match=r"holds no architecture \(only blank or # lines\)"):
        space.archs_from_file(tmp_path / "empty.txt")
    (tmp_path / "result.json").write_text(json.dumps({"space": "nb201", "seed": 0, "arch": "|none~0|+|none~0|none~1|"
                                                      "+|none~0|none~1|none~2|"}))
    with pytest.raises(UserError, match=r"holds no darts architecture; it is the result of a search of nb201: "
                                        r"read it with zeronas.space\('nb201'\) \("):
        space.from_file(tmp_path / "result.json")
    with pytest.raises(UserError, match=r"^cannot read arch file .*missing\.txt': No such file or directory$"):
        space.from_file(tmp_path / "missing.txt")
    # a user trial: several pretty-printed genotypes in one file were "line 1: not a darts architecture (... not
    # a Python expression ...)"; they are read one by one now, beside one-line archs, and a broken one is named
    # by its lines
    (tmp_path / "many.txt").write_text(f"{pretty}\n\n{DARTS_V2}\n{pretty}\n")
    assert space.archs_from_file(tmp_path / "many.txt") == [space.parse(DARTS_V2)] * 3
    n = pretty.count("\n") + 1
    (tmp_path / "bad.txt").write_text(f"{DARTS_V2}\n{pretty.replace('sep_conv_3x3', 'conv_9x9', 1)}\n{DARTS_V2}\n")
    with pytest.raises(UserError, match=rf"bad\.txt', lines 2-{n + 1} \(read as one architecture over several "
                                        r"lines\): not a darts architecture \(.*unknown op 'conv_9x9'"):
        space.archs_from_file(tmp_path / "bad.txt")
    doc = json.loads(genotype_json(space.parse(DARTS_V2)))
    with pytest.raises(UserError, match=r"unknown field nromal_concat; a Genotype has normal, normal_concat"):
        space.parse(json.dumps({**doc, "nromal_concat": [2, 3]}))  # the JSON form as the Genotype(...) one
    # a broken one between two pretty-printed ones is named alone, with its own error (its brackets close it)
    (tmp_path / "bad2.txt").write_text(f"{pretty.replace('sep_conv_3x3', 'conv_9x9', 1)}\n{pretty}\n")
    with pytest.raises(UserError, match=rf"bad2\.txt', lines 1-{n} \(read as one architecture over several "
                                        r"lines\): not a darts architecture \(.*unknown op 'conv_9x9'"):
        space.archs_from_file(tmp_path / "bad2.txt")
    (tmp_path / "badline.txt").write_text(f"{DARTS_V2}\nGenotype(normal=[]\n{DARTS_V2}\n")
    with pytest.raises(UserError, match=r"badline\.txt', line 2: not a darts architecture"):
        space.archs_from_file(tmp_path / "badline.txt")


@pytest.mark.parametrize("name", ["darts", "nb301"])
def test_count_equals_counting_the_built_network(name):
    """count() sums per-piece counts: equal, to the unit, to count_params / count_flops of the built network,
    for DARTS-V2 and drawn genotypes, at the evaluation size, the space's default and a 16-px 120-class one."""
    from zeronas.counting import count_flops, count_params

    sp = zn.space(name)
    for arch in (sp.parse(DARTS_V2), sp.sample(0), sp.sample(5)):
        for C, N, classes, px in ((36, 20, 10, 32), (None, None, 100, 32), (8, 5, 120, 16)):
            net = sp.build(arch, C=C, N=N, num_classes=classes)
            assert sp.count(arch, C, N, classes, px) == (count_params(net),
                                                          count_flops(net, torch.zeros(1, 3, px, px)))
    if name == "darts":  # DARTS's published "param size = 3.349342MB" (auxiliary head excluded)
        assert sp.count(DARTS_V2, 36, 20)[0] == 3_349_342


def test_max_params_on_darts_bounds_the_network_that_is_trained():
    """A newcomer's --max-params 2 on darts bounded the 0.27M scoring network (C 16, N 8), not the 36-channel
    20-cell network 'zeronas train' builds (DARTS-V2: 3.35M): every draw passed. Now the bound reads as DARTS
    reports params."""
    from zeronas.search.constraints import Constraints

    c = Constraints(space, "cifar10", max_params=3.0)
    assert c.metrics(DARTS_V2)["params_M"] == pytest.approx(3.349342)
    assert not c.feasible(space.parse(DARTS_V2))
    drawn = [c.metrics(space.sample(i))["params_M"] for i in range(20)]
    assert min(drawn) > 1.0 and max(drawn) < 5.0
    assert c.describe()["counted_network"] == {"C": 36, "N": 20}
    # your own non-square images: the network is built (no closed sum for H != W), the same 36 x 20 one
    from zeronas.data.datasets import DatasetInfo

    mine = DatasetInfo("mine", 10, (32, 40), (0.5,) * 3, (0.25,) * 3, None)
    own = Constraints(space, None, max_params=30.0, images_info=mine).metrics(DARTS_V2)["params_M"]
    assert own == pytest.approx(3.349342)
