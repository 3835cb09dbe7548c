import numpy as np
import pytest
import torch
from torch import nn

import zeronas as zn
from zeronas.errors import UserError
from zeronas.spaces.nb201 import OPS

from .conftest import BEST, needs_table

space = zn.space("nb201")


def closed_form_params(arch, k):
    """Parameter count derived by hand: stem, 2 reduction blocks, BN + classifier (73,306 at 10 classes),
    plus each conv op's C^2 k^2 weights and 2C BN affine params in 5 cells per stage."""
    n1, n3 = arch.count("nor_conv_1x1"), arch.count("nor_conv_3x3")
    return 73306 + 65 * (k - 10) + sum(5 * (n1 * (C * C + 2 * C) + n3 * (9 * C * C + 2 * C)) for C in (16, 32, 64))


def test_roundtrip_all_strings():
    archs = list(space.enumerate())
    assert len(archs) == 15625 == space.size()
    for a in archs:
        assert space.parse(space.format(a)) == a


def test_isomorphism_classes_count():
    assert len({space.canonical(a) for a in space.enumerate()}) == 6466


def test_isomorphic_examples():
    # node 1 unused (both its out-edges are none): what feeds it does not matter
    a = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    b = space.parse("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    assert space.canonical(a) == space.canonical(b)
    c = space.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    assert space.canonical(a) != space.canonical(c)


def test_representative_is_the_smallest_member_string_of_the_class():
    classes = {}
    for a in space.enumerate():
        classes.setdefault(space.canonical(a), []).append(space.format(a))
    a = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    members = classes[space.canonical(a)]
    rep = space.representative(a)
    assert len(members) > 1 and space.format(rep) == min(members)
    # node 1 feeds nothing: its op is free, and 'avg_pool_3x3' sorts first
    assert space.format(rep) == "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
    assert all(space.representative(space.parse(m)) == rep for m in members)
    assert space.representative(BEST) == space.coerce(BEST)  # a class of one


@pytest.mark.parametrize("name", ["macro", "darts"])
def test_other_spaces_representative_stays_in_the_class(name):
    sp = zn.space(name)
    for seed in range(5):
        a = sp.sample(seed)
        rep = sp.representative(a)
        assert sp.canonical(rep) == sp.canonical(a) and sp.representative(rep) == rep


@pytest.mark.parametrize("bad", ["", "|nor_conv_3x3~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "nor_conv_3x3~0+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_bad_strings_are_user_errors(bad):
    with pytest.raises(UserError):
        space.parse(bad)


def test_sample_and_mutate_are_seeded():
    assert space.sample(3) == space.sample(3)
    a = space.sample(1)
    m = space.mutate(a, 7)
    assert m == space.mutate(a, 7)
    assert sum(x != y for x, y in zip(a, m)) == 1


@pytest.mark.parametrize("k", [10, 100, 120])
def test_param_counts_match_closed_form(k):
    rng = np.random.default_rng(0)
    for _ in range(12):
        a = space.sample(rng)
        net = space.build(a, num_classes=k)
        assert sum(p.numel() for p in net.parameters()) == closed_form_params(a, k)


@needs_table
@pytest.mark.data
def test_param_counts_match_benchmark_table():
    table = zn.benchmarks.load_nb201()
    rng = np.random.default_rng(1)
    for i in rng.choice(15625, 60, replace=False):
        a = space.parse(table.arch_str[i])
        for k in (10, 100, 120):
            n = sum(p.numel() for p in space.build(a, num_classes=k).parameters())
            assert n == round(table.params_m(k)[i] * 1e6)


@needs_table
@pytest.mark.data
def test_index_order_from_table():
    assert space.format(space.from_index(6111)) == BEST
    assert space.index(BEST) == 6111
    with pytest.raises(UserError):
        space.from_index(15625)


@pytest.mark.parametrize("train", [False, True])
def test_one_hot_supernet_equals_discrete_network(train):
    torch.manual_seed(0)
    sup = space.supernet(C=8, N=2)
    arch = space.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    net = space.build(arch, C=8, N=2)
    net.load_state_dict(sup.discrete_state_dict(arch))
    sup.train(train)
    net.train(train)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(sup(x, weights=sup.one_hot(arch)), net(x), atol=1e-6)


def test_supernet_mixing_respects_mask():
    sup = space.supernet(C=4, N=1)
    sup.op_mask[0, OPS.index("none")] = False
    w = sup.mixing_weights()
    assert w[0, OPS.index("none")] == 0 and torch.isclose(w[0].sum(), torch.tensor(1.0))
    assert torch.allclose(w[1], torch.full((len(OPS),), 1 / len(OPS)))


def test_thin_network_is_one_cell_without_stem():
    net = space.build_thin(space.parse(BEST))
    assert len(net.cells) == 1 and isinstance(net.stem, torch.nn.Identity)
    assert net(torch.randn(5, 1, 3, 3)).shape == (5, 10)


@needs_table
def test_unreachable_ops_match_the_suite_zero_set():
    """The 9,445 strings without unreachable ops are exactly the archs Suite-Zero's released scores cover."""
    t = zn.benchmarks.load_nb201()
    sp = zn.space("nb201")
    mine = np.array([not sp.has_unreachable_ops(sp.parse(a)) for a in t.arch_str])
    assert np.array_equal(mine, t.column("in_graf9445"))
    assert sp.has_unreachable_ops("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert not sp.has_unreachable_ops("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|".replace(
        "nor_conv_3x3~0", "none~0"))


@pytest.mark.parametrize("way", ["kernel", "slices"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("k,stride,padding,shape", [(3, 1, 1, (4, 5, 8, 8)), (3, 2, 1, (2, 3, 9, 7)),
                                                     (2, 2, 0, (2, 4, 8, 8)), (3, 1, 1, (3, 16, 32, 32)),
                                                     (3, 2, 1, (2, 4, 31, 30)), (3, 1, 1, (2, 3, 1, 2))])
def test_avgpool_cpu_fast_path_equals_torch_to_the_last_bit(monkeypatch, k, stride, padding, shape, layout, way):
    """Both ways of the CPU fast path (torch's kernel on a channels-last copy; strided-slice adds in torch's
    summation order), whichever the timing picks, must give nn.AvgPool2d's values and gradients exactly,
    keep the input's layout, allow double backward (GraSP) and step aside while tracing (export)."""
    from zeronas.spaces import ops
    monkeypatch.setattr(ops, "_POOL_PICK", _PickAlways(way))
    fast, ref = ops.AvgPool2d(k, stride, padding), nn.AvgPool2d(k, stride, padding, count_include_pad=False)
    fmt = getattr(torch, "channels_last" if layout == "channels_last" else "contiguous_format")
    x = torch.randn(*shape, dtype=torch.float64 if k == 2 else torch.float32)
    x[..., :3, :3] = -0.0  # windows of negative zeros: torch's accumulator starts at +0, so must ours
    x = x.contiguous(memory_format=fmt)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = fast(xa), ref(xb)
    assert torch.equal(ya, yb) and torch.equal(ya.signbit(), yb.signbit()) and ya.is_contiguous(memory_format=fmt)
    w = torch.randn_like(ya)
    w[..., :3, :3] = -0.0
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    assert torch.equal(xa.grad, xb.grad) and torch.equal(xa.grad.signbit(), xb.grad.signbit())
    assert xa.grad.is_contiguous(memory_format=fmt)
    # double backward (a Hessian-vector product through the pool, as GraSP takes)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ga, = torch.autograd.grad((fast(xa) ** 2).sum(), xa, create_graph=True)
    gb, = torch.autograd.grad((ref(xb) ** 2).sum(), xb, create_graph=True)
    assert torch.equal(ga, gb)
    v = torch.randn_like(x)
    hva, = torch.autograd.grad((ga * v).sum(), xa)
    hvb, = torch.autograd.grad((gb * v).sum(), xb)
    assert torch.equal(hva, hvb)
    traced = torch.jit.trace(fast, x)
    assert "_CpuAvgPool" not in str(traced.graph) and torch.equal(traced(x), ref(x))
    assert set(ops._POOL_PICK.asked) == {"forward", "backward"}  # both directions went through the fast path


class _PickAlways(dict):
    """A pick cache that always names one way (and records which directions asked)."""

    def __init__(self, way):
        super().__init__()
        self.way, self.asked = way, []

    def __contains__(self, key):
        self.asked.append(key[0])
        return True

    def __getitem__(self, key):
        return self.way


def test_avgpool_fast_path_times_each_shape_once(monkeypatch):
    """The quicker way is timed once per shape and direction, then read from the cache."""
    from zeronas.spaces import ops
    monkeypatch.setattr(ops, "_POOL_PICK", {})
    pool = ops.AvgPool2d(3, 1, 1)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    pool(x).sum().backward()
    assert {k[0] for k in ops._POOL_PICK} == {"forward", "backward"} and len(ops._POOL_PICK) == 2
    assert set(ops._POOL_PICK.values()) <= {"kernel", "slices"}
    calls = []
    monkeypatch.setattr(ops.time, "perf_counter", lambda: calls.append(1) or 0.0)
    pool(x).sum().backward()
    assert not calls and len(ops._POOL_PICK) == 2
