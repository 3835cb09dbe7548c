"""Each proxy against a value derived by hand, plus invariance/sanity properties."""

import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn

import zeronas as zn
from zeronas.counting import count_flops
from zeronas.data import ImageSet
from zeronas.errors import UserError
from zeronas.proxies import get_proxy, list_proxies
from zeronas.proxies.az_nas import expressivity_of, trainability_of
from zeronas.proxies.base import Undefined, reason_of
from zeronas.proxies.das import decompose
from zeronas.proxies.jacobian import K_EPS, ZERO_JACOBIAN, epe_from_jacobian, jacob_cov_from_jacobian
from zeronas.proxies.meco import min_eig_channel_corr
from zeronas.proxies.naswot import code_gram, hamming_kernels, logdet
from zeronas.proxies.swap import count_distinct_codes, pack_sign_codes, swap_from_activations
from zeronas.proxies.tenas import activation_patterns, condition_number, count_distinct_rows, ntk, ntk_regression_mse
from zeronas.proxies.zeros import connection_sensitivity
from zeronas.proxies.zico import zico_from_grads

from .conftest import BEST, CIFAR, SHARED, TinyCtx, needs_cifar, needs_table

space = zn.space("nb201")


# ---- NASWOT and DAS: the two-input example of the design notes ---------------------------------------
def two_input_kernel():
    x = torch.tensor([[1.0, 1.0, -1.0, -1.0], [1.0, -1.0, 1.0, -1.0]])  # codes 1100 and 1010
    return hamming_kernels(nn.Sequential(nn.ReLU()), x, per_layer=True)


def test_nwot_two_input_example():
    K, _ = two_input_kernel()
    assert torch.equal(K, torch.tensor([[4.0, 2.0], [2.0, 4.0]], dtype=torch.float64))
    assert math.isclose(logdet(K), math.log(12.0))


def test_das_decomposition_example():
    K, layers = two_input_kernel()
    d, n_a = decompose(K)
    assert n_a == 4 and math.isclose(d, math.log(0.75))
    assert math.isclose(d + 2 * math.log(n_a), logdet(K))  # lam = B reproduces nwot


def test_das_rules_through_registry():
    ctx = TinyCtx(nn.Sequential(nn.ReLU()), torch.tensor([[1.0, 1.0, -1.0, -1.0], [1.0, -1.0, 1.0, -1.0]]))
    assert math.isclose(get_proxy("nwot").fn(ctx), math.log(12))
    assert math.isclose(get_proxy("das").fn(ctx, lam=2.0), math.log(12))
    assert math.isclose(get_proxy("das_d").fn(ctx), math.log(0.75))
    assert get_proxy("das_na").fn(ctx) == 4
    assert math.isclose(get_proxy("das_layerwise").fn(ctx, lam=1.0), math.log(0.75) + math.log(4))


def test_nwot_duplicate_inputs_is_minus_inf_not_zero():
    x = torch.tensor([[1.0, -1.0], [1.0, -1.0]])
    K, _ = hamming_kernels(nn.Sequential(nn.ReLU()), x)
    assert logdet(K) == -math.inf
    assert "singular" in reason_of(logdet(K)) and "all 2 inputs share one ReLU code" in reason_of(logdet(K))
    x3 = torch.tensor([[1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])  # inputs 0 and 1 collide, 2 differs
    assert "only 2 distinct ReLU codes" in reason_of(logdet(hamming_kernels(nn.Sequential(nn.ReLU()), x3)[0]))
    assert reason_of(logdet(two_input_kernel()[0])) is None  # a defined value carries no reason


def test_nwot_hooks_relu_named_modules_like_the_reference():
    net = space.build(BEST, C=4, N=1)
    n_relu = sum(isinstance(m, nn.ReLU) for m in net.modules())
    n_named = sum("ReLU" in type(m).__name__ for m in net.modules())
    assert n_named > n_relu  # ReLUConvBN blocks are counted as in BayesWatch/NASLib


@pytest.mark.parametrize("int8", [True, False], ids=["int8-product", "float32-product"])
def test_code_gram_counts_shared_active_units_exactly_at_every_size(monkeypatch, int8):
    """C C^T of 0/1 codes: units active in both inputs, by hand on a 3x4 case, and equal to the float64
    product at sizes around the int8 path's edges (one unit: torch's CPU int8 product is wrong there), on
    both products ``code_gram`` picks between by host speed."""
    from zeronas.proxies import naswot

    if int8 and not naswot._int_mm_exact():
        pytest.skip("torch._int_mm is missing or inexact on this torch/CPU, so code_gram never takes it")
    monkeypatch.setattr(naswot, "_INT_MM", [int8])
    c = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(code_gram(c), torch.tensor([[2.0, 1, 2], [1, 2, 2], [2, 2, 4]], dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    for b, n in [(2, 1), (7, 1), (2, 2), (3, 7), (16, 9), (64, 1024), (65, 3 * 7 * 7), (128, 4096)]:
        c = torch.rand(b, n, generator=g) > 0.5
        assert code_gram(c).dtype == torch.float64
        assert torch.equal(code_gram(c), c.double() @ c.double().T), (b, n)
    nchw = torch.randn(5, 4, 3, 3, generator=g).contiguous(memory_format=torch.channels_last) > 0
    assert torch.equal(code_gram(nchw.flatten(1)), nchw.flatten(1).double() @ nchw.flatten(1).double().T)


@pytest.mark.parametrize("int8", [True, False], ids=["int8-product", "float32-product"])
def test_active_gram_reads_codes_in_memory_order_with_the_same_integers(monkeypatch, int8):
    """active_gram(t) = C C^T of C = (t > 0) per sample: by hand on a 2-sample case (NaN and 0 inactive), and
    equal to code_gram of the flattened codes for contiguous, channels-last (read as a view, no copy) and other
    strided inputs."""
    from zeronas.proxies import naswot

    if int8 and not naswot._int_mm_exact():
        pytest.skip("torch._int_mm is missing or inexact on this torch/CPU, so active_gram never takes it")
    monkeypatch.setattr(naswot, "_INT_MM", [int8])
    t = torch.tensor([[[[1.0, -2.0], [0.0, 3.0]]], [[[2.0, float("nan")], [5.0, 0.5]]]])  # [2, 1, 2, 2]
    # sample 0 active at units 0 and 3, sample 1 at 0, 2 and 3: shared 0 and 3
    assert torch.equal(naswot.active_gram(t), torch.tensor([[2.0, 2], [2, 3]], dtype=torch.float64))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 5, 7, 3, generator=g)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert naswot.units(cl).data_ptr() == cl.data_ptr() and naswot.units(cl).is_contiguous()  # a view
    for v in (x, cl, x.transpose(2, 3), x[:, :, ::2], x.reshape(6, -1), x[:, 0], cl.half(), (cl * 3).long(),
              x[:0]):
        want = code_gram((v > 0).flatten(1))
        got = naswot.active_gram(v)
        assert got.dtype == torch.float64 and torch.equal(got, want), v.shape
    if not int8:  # the float64 product (n >= 2^24 on the CPU, any n on other devices) gives the same integers
        monkeypatch.setattr(naswot, "_float_dtype", lambda c: torch.float64)
        assert torch.equal(naswot.active_gram(cl), code_gram((cl > 0).flatten(1)))


def test_nwot_invariant_to_batch_order():
    torch.manual_seed(0)
    net = space.build(BEST, C=4, N=1)
    x = torch.randn(8, 3, 32, 32)
    net.eval()
    a = logdet(hamming_kernels(net, x)[0])
    b = logdet(hamming_kernels(net, x[torch.randperm(8)])[0])
    assert math.isclose(a, b, rel_tol=1e-9)


# ---- loss-gradient proxies on softmax regression, where dL/dW = (softmax(XW^T) - Y)^T X / B ------------------
@pytest.fixture
def softmax_regression():
    torch.manual_seed(0)
    model = nn.Linear(5, 3, bias=False)
    x, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 0, 1, 2])
    W = model.weight.detach().double().numpy()
    X = x.double().numpy()
    logits = X @ W.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    Y = np.eye(3)[y.numpy()]
    G = (p - Y).T @ X / len(X)
    return TinyCtx(model, x, y, num_classes=3), W, X, p, Y, G


def test_snip_grad_norm_plain_by_hand(softmax_regression):
    ctx, W, X, p, Y, G = softmax_regression
    assert math.isclose(get_proxy("snip").fn(ctx), np.abs(W * G).sum(), rel_tol=1e-5)
    assert math.isclose(get_proxy("grad_norm").fn(ctx), np.linalg.norm(G), rel_tol=1e-5)
    assert math.isclose(get_proxy("plain").fn(ctx), (W * G).sum(), rel_tol=1e-4)


def test_fisher_by_hand(softmax_regression):
    ctx, W, X, p, Y, G = softmax_regression
    act, dact = X @ W.T, (p - Y) / len(X)
    expected = (0.5 * ((act * dact) ** 2).mean(0)).sum()
    # foresight broadcasts each output channel's value to the W.shape[1] weights feeding it, then sums
    assert math.isclose(get_proxy("fisher").fn(ctx), expected * W.shape[1], rel_tol=1e-4)
    ctx.cache.clear()
    assert math.isclose(get_proxy("fisher").fn(ctx, broadcast=False), expected, rel_tol=1e-4)


def test_grasp_matches_explicit_hessian(softmax_regression):
    ctx, W, X, p, Y, G = softmax_regression
    x, y = ctx.batch().x, ctx.batch().y

    def loss(w):
        return nn.functional.cross_entropy(x.double() @ w.T, y)

    w0 = torch.tensor(W, requires_grad=True)
    H = torch.autograd.functional.hessian(loss, w0).reshape(W.size, W.size).numpy()
    expected = float(-(W.reshape(-1) * (H @ G.reshape(-1))).sum())
    assert math.isclose(get_proxy("grasp").fn(ctx), expected, rel_tol=1e-3, abs_tol=1e-9)


# ---- synflow and ZEROS ----------------------------------------------------------------------------
def test_synflow_two_layer_linear_is_twice_R():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False))
    W1, W2 = model[0].weight.detach().double().abs(), model[1].weight.detach().double().abs()
    R = (W2 @ W1 @ torch.ones(4, dtype=torch.float64)).sum().item()  # R is linear in each layer: sum = R
    ctx = TinyCtx(model, input_shape=(4,))
    assert math.isclose(get_proxy("synflow").fn(ctx), 2 * R, rel_tol=1e-12)


def test_synflow_ignores_weight_signs_and_zero_path_gives_zero():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False))
    a = get_proxy("synflow").fn(TinyCtx(model, input_shape=(4,)))
    with torch.no_grad():
        model[0].weight.neg_()
    assert math.isclose(get_proxy("synflow").fn(TinyCtx(model, input_shape=(4,))), a, rel_tol=1e-12)
    all_none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    recs = zn.score(all_none, ["synflow", "zeros"], data="none")
    assert [r.value for r in recs] == [0.0, 0.0]


def test_zeros_is_r_minus_r_without_edge():
    """In one cell, R is multilinear in the edge weights, so w dR/dw at w=1 equals R - R(edge removed)."""
    torch.manual_seed(0)
    arch = space.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    net = space.build(arch, C=4, N=1, depth=1)
    sup = zn.spaces.nb201.NB201Supernet  # noqa: F841  (the same forward(x, weights=W) contract)
    w = torch.zeros(6, len(space.ops))
    for e, op in enumerate(arch):
        if op != "none":
            w[e, space.ops.index(op)] = 1
    sens = connection_sensitivity(net, w, (1, 3, 8, 8))
    from zeronas.proxies.base import bn_bypassed

    x = torch.ones(1, 3, 8, 8, dtype=torch.float64)
    with bn_bypassed(net), torch.no_grad():
        R = net(x, weights=w.double()).sum().item()
        for e, op in enumerate(arch):
            if op == "none":
                continue
            w2 = w.double().clone()
            w2[e] = 0
            expected = R - net(x, weights=w2).sum().item()
            assert math.isclose(sens[e, space.ops.index(op)].item(), expected, rel_tol=1e-9)
    assert torch.all(sens[:, space.ops.index("none")] == 0) and torch.isfinite(sens).all()


# ---- Jacobian proxies -------------------------------------------------------------------------------
def test_jacob_cov_by_hand():
    k = K_EPS
    uncorrelated = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])  # corrcoef = I
    assert math.isclose(jacob_cov_from_jacobian(uncorrelated), -2 * (math.log(1 + k) + 1 / (1 + k)))
    # corrcoef = all ones: eigenvalues 0 and 2, so the value would be -(log k + 1/k + ...) ~ -1e5, set by the
    # epsilon k alone: undefined, with the reason
    same = jacob_cov_from_jacobian(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]))
    assert math.isnan(same) and "singular" in reason_of(same) and "epsilon" in reason_of(same)
    flat = jacob_cov_from_jacobian(np.array([[1.0, 1.0], [1.0, 2.0]]))  # constant row: 0/0 correlations
    assert math.isnan(flat) and "1 of 2 samples is constant" in reason_of(flat)
    zero = jacob_cov_from_jacobian(np.zeros((3, 4)))  # the output ignores the input
    assert math.isnan(zero) and reason_of(zero) == ZERO_JACOBIAN


def test_epe_nas_by_hand():
    k = K_EPS
    J = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
    labels = np.array([0, 0, 1, 1])
    s_same = 4 * math.log(1 + k)  # class 0: corrcoef all ones
    r = -0.5  # class 1: rows (1,-1,0) and (0,1,-1) correlate at -0.5
    s_other = 2 * math.log(1 + k) + 2 * math.log(abs(r) + k)
    assert math.isclose(epe_from_jacobian(J, labels, 10), abs(s_same) + abs(s_other), rel_tol=1e-9)
    per = [s_same / 2, s_other / 2]  # > 100 classes: normalised by size, pairwise |differences| / classes
    assert math.isclose(epe_from_jacobian(J, labels, 120), 2 * abs(per[0] - per[1]) / 2, rel_tol=1e-9)
    # no class repeats: each singleton adds the constant log(1 + k) whatever the Jacobians, so undefined
    singles = epe_from_jacobian(J, np.array([0, 1, 2, 3]), 10)
    assert math.isnan(singles) and "no class has two samples" in reason_of(singles)
    assert reason_of(epe_from_jacobian(np.zeros((4, 3)), labels, 10)) == ZERO_JACOBIAN


# ---- size ----------------------------------------------------------------------------------------------
def test_params_flops_l2_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    ctx = TinyCtx(model, input_shape=(3, 8, 8))
    assert get_proxy("params").fn(ctx) == 3 * 8 * 9 + 16
    assert count_flops(model, torch.zeros(1, 3, 8, 8)) == 8 * 64 * 27 + 2 * 512 + 512
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 4.0]]))
    assert get_proxy("l2_norm").fn(TinyCtx(lin, input_shape=(2,))) == 5.0


def test_flops_count_global_pooling_as_the_table_does():
    """NAS-Bench-Suite-Zero's count (tensorwatch's adaptive-pool rule) charges (h + 1)(w + 1) per channel for
    an h x w global pooling window; a conv bias adds one per output."""
    gap = nn.Sequential(nn.Conv2d(2, 3, 1, bias=True), nn.AdaptiveAvgPool2d(1))
    assert count_flops(gap, torch.zeros(1, 2, 8, 8)) == 3 * 64 * (2 + 1) + 3 * 9 * 9
    assert count_flops(nn.AdaptiveAvgPool2d(2), torch.zeros(1, 1, 5, 5)) == (4 + 4) * (4 + 4)  # rows 0-2, 2-4
    assert count_flops(nn.BatchNorm2d(2, affine=False), torch.zeros(1, 2, 3, 3)) == 18


@needs_table
@pytest.mark.parametrize("index", [0, 1, 2211, 6810, 15624])
def test_flops_and_params_equal_the_nb201_table(index):
    """flops equals the table's FLOPs (NAS-Bench-Suite-Zero's count) exactly, for the 32 px CIFAR networks and
    the 16 px ImageNet16-120 one, and params its parameter count: both through score() with no images."""
    from zeronas.benchmarks import load_nb201

    table = load_nb201()
    for data, col in (("cifar10", "cifar10"), ("cifar100", "cifar100"), ("imagenet16-120", "imagenet16_120")):
        recs = {r.proxy: r for r in zn.Scorer("nb201", "flops,params", data=data, data_dir=SHARED.parents[1],
                                              stand_in=False).score_arch(table.arch_str[index])}
        assert recs["flops"].value == round(table.column(f"flops_M_{col}")[index] * 1e6), (index, data)
        assert recs["params"].value == round(table.column(f"params_M_{col}")[index] * 1e6), (index, data)


def test_floats_reads_back_the_same_values_as_item_each():
    """proxies.base.floats: one transfer for per-layer sums; float32 values promoted exactly, order kept."""
    from zeronas.proxies.base import floats

    parts = [torch.tensor(0.1, dtype=torch.float32), torch.tensor([2.25], dtype=torch.float64),
             torch.tensor(1e-30, dtype=torch.float32)]
    assert floats(parts) == [t.item() for t in parts] and floats([]) == []


def test_nb201_flops_closed_form_equals_the_hook_count_of_the_built_network():
    """space.count_flops (what the flops proxy answers on NB201, no network built) equals count_flops of the
    built network: each op on every edge, random archs, at 32 px, 16 px and a non-square size, for 10, 100
    and 120 classes. Other widths or build options are not covered: None, and the proxy counts the network."""
    from zeronas.spaces import space
    from zeronas.spaces.nb201 import OPS

    sp = space("nb201")
    rng = np.random.default_rng(3)
    archs = [(op,) * 6 for op in OPS] + [tuple(OPS[(e + k) % 5] for e in range(6)) for k in range(5)]
    archs += [sp.sample(rng) for _ in range(6)]
    for i, arch in enumerate(archs):
        hw, classes = [((32, 32), 10), ((16, 16), 120), ((8, 12), 100)][i % 3]
        built = count_flops(sp.build(arch, num_classes=classes), torch.zeros(1, 3, *hw))
        assert sp.count_flops(arch, input_size=hw, num_classes=classes) == built, (arch, hw)
    assert sp.count_flops(archs[0], C=8) is None and sp.count_flops(archs[0], affine=False) is None
    assert sp.count_flops(archs[0], input_size=30) is None
    arch = archs[-1]
    rec = zn.Scorer("nb201", "flops", data="none", build_options={"affine": False}).score_arch(arch)[0]
    assert rec.value == count_flops(sp.build(arch, affine=False), torch.zeros(1, 3, 32, 32))


# ---- Zen ---------------------------------------------------------------------------------------------
def test_zen_of_identity_features_is_log_expected_abs_noise():
    class Identity(nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = nn.Linear(1, 1)

        def forward_pre_gap(self, x):
            return x

    ctx = TinyCtx(Identity(), input_shape=(3, 32, 32))
    ctx.batch_size = 64
    # E|0.01 eps| = 0.01 sqrt(2/pi) per element, 3*32*32 elements, no BN term
    expected = math.log(0.01 * math.sqrt(2 / math.pi) * 3 * 32 * 32)
    assert abs(get_proxy("zen").fn(ctx) - expected) < 0.01


# ---- ZiCo, MeCo, SWAP ----------------------------------------------------------------------------------
def test_zico_by_hand():
    g = np.array([[1.0, 2.0], [3.0, 2.0]])  # std (1, 0): only weight 0 counts, mean|g| = 2 -> 2/1
    assert math.isclose(zico_from_grads([g]), math.log(2.0))
    assert math.isclose(zico_from_grads([g, np.ones((2, 3))]), math.log(2.0))  # all std 0: layer skipped
    empty = zico_from_grads([np.ones((2, 3)), np.zeros((2, 2))])  # every layer skipped: an empty sum, not 0
    assert math.isnan(empty) and "empty" in reason_of(empty)


def test_meco_min_eigenvalue_by_hand():
    correlated = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    assert abs(min_eig_channel_corr(correlated)) < 1e-12
    orthogonal = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    assert math.isclose(min_eig_channel_corr(orthogonal), 1.0)


def test_meco_channel_corr_is_the_same_for_either_layout():
    """A channels-last feature map's sample reaches corrcoef as the same contiguous float64 matrix."""
    from zeronas.proxies.meco import channel_corr

    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    nhwc = x.contiguous(memory_format=torch.channels_last)
    a, b = channel_corr(x[0]), channel_corr(nhwc[0])
    assert torch.equal(a, b) and a.dtype == torch.float64 and a.shape == (16, 16)
    assert torch.allclose(a, torch.corrcoef(x[0].reshape(16, -1).double()))


def test_swap_counts_distinct_neuron_patterns():
    acts = torch.tensor([[1.0, 0.0, 2.0, 3.0], [0.0, 0.0, 1.0, 5.0]])  # neuron patterns 10, 00, 11, 11
    assert swap_from_activations(acts) == 3
    many = torch.rand(70, 5) * (torch.arange(5) % 2)  # more samples than fit in one integer
    assert swap_from_activations(many) == 2


def test_swap_packed_counts_match_the_row_count():
    # every path (bincount for <= 20 samples, unique on codes above, row unique when signs can be negative)
    # must agree with counting the distinct rows of sign(acts)^T directly
    g = torch.Generator().manual_seed(0)
    for samples in (1, 16, 20, 21, 40):
        acts = torch.relu(torch.randn(samples, 3000, generator=g))
        acts[:, :500] = acts[:, 500:1000]  # repeated patterns
        direct = torch.unique(torch.sign(acts).T, dim=0).shape[0]
        assert swap_from_activations(acts) == direct
        assert count_distinct_codes(pack_sign_codes(acts), samples) == direct
    signed = torch.tensor([[1.0, -1.0, -2.0], [0.0, 0.0, 0.0]])  # -1 and 0 differ, so not post-ReLU bits
    assert pack_sign_codes(signed) is None
    assert swap_from_activations(signed) == 2


# ---- TE-NAS / TEG-NAS -----------------------------------------------------------------------------------
def test_ntk_of_linear_model_is_k_x_xt():
    torch.manual_seed(0)
    model = nn.Linear(4, 3, bias=False)
    x = torch.randn(5, 4)
    theta = ntk(model, x)
    assert torch.allclose(theta, 3 * (x @ x.T).double(), atol=1e-5)
    assert math.isclose(condition_number(torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64))), 4.0)
    zero = condition_number(torch.zeros(2, 2, dtype=torch.float64))
    assert math.isnan(zero) and "NTK is 0" in reason_of(zero)
    singular = condition_number(torch.diag(torch.tensor([0.0, 4.0], dtype=torch.float64)))
    assert math.isnan(singular) and "singular" in reason_of(singular) and "infinite" in reason_of(singular)


def test_per_sample_rows_by_hand_and_a_jacobian_too_large_for_memory_is_refused_first(monkeypatch):
    from zeronas.proxies import base

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.unused = nn.Parameter(torch.ones(2))

        def forward(self, x):
            return self.fc(x)

    torch.manual_seed(0)
    net, x = Net(), torch.randn(5, 4)
    params = [net.fc.weight, net.unused, net.fc.bias]
    rows = base.per_sample_output_grads(net, x, params, aligned=True)
    # d sum_k f_k(x_i) / dW = ones(3) x_i^T, / db = ones(3); the unused parameter keeps its place as None
    assert torch.allclose(rows[0], torch.ones(5, 3, 1).mul(x[:, None, :]).reshape(5, 12))
    assert rows[1] is None and torch.equal(rows[2], torch.ones(5, 3))
    # 5 rows x 15 float32 values = 300 bytes: refused under 375 bytes free, before any backward pass
    monkeypatch.setattr(base, "free_memory", lambda device: 370)
    with pytest.raises(UserError, match=r"batch of 5 over 15 parameters .* lower --set ntk_cond.batch_size$"):
        base.per_sample_output_grads(net, x, [net.fc.weight, net.fc.bias], lower="--set ntk_cond.batch_size")
    with pytest.raises(UserError, match="lower --batch-size or --set ntk_cond.batch_size"):
        get_proxy("ntk_cond").fn(TinyCtx(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), torch.randn(5, 3, 2, 2)))
    monkeypatch.setattr(base, "free_memory", lambda device: 380)
    assert len(base.per_sample_output_grads(net, x, [net.fc.weight, net.fc.bias])) == 2


def test_linear_regions_count_sign_patterns():
    assert count_distinct_rows(np.array([[1, 0, 1], [1, 0, 1], [0, 0, 1]])) == 2
    conv = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        conv[0].weight.fill_(1.0)
    x = torch.tensor([1.0, -1, 1, -1, 1, -1, 1, -1, 1]).view(1, 1, 3, 3)
    crops = torch.cat([x, 2 * x, -x, x.abs()])  # patterns: p, p, not-p, all-on -> 3 regions
    assert count_distinct_rows(activation_patterns(conv, [crops])) == 3


def test_ntk_regression_mse_by_hand():
    gx = [torch.eye(2)]
    tx = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert ntk_regression_mse(gx, gx, tx, tx) == pytest.approx(0.0, abs=1e-12)  # interpolates itself
    gy = [torch.tensor([[0.0, 0.0], [0.0, 0.0]])]  # orthogonal to train: predicts 0
    ty_c = tx - tx.mean(0)
    assert ntk_regression_mse(gx, gy, tx, tx) == pytest.approx((ty_c ** 2).sum(1).mean().item())
    bad = ntk_regression_mse([], [], tx, tx)  # no gradient reaches the cell parameters: TEG-NAS's "bad" arch
    assert math.isnan(bad) and "gradient w.r.t. the cell parameters is 0" in reason_of(bad)


# ---- AZ-NAS components ----------------------------------------------------------------------------------------
def test_az_expressivity_of_isotropic_features_is_log_c():
    C = 4
    f = torch.eye(C).repeat(2, 1) * torch.tensor([1.0] * C + [-1.0] * C).view(-1, 1)  # covariance = I/4
    f = f.view(2 * C, C, 1, 1)
    assert math.isclose(expressivity_of(f), math.log(C), rel_tol=1e-6)


def test_az_trainability_identity_block_is_minus_inf():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    y = x * 1.0
    assert trainability_of(x, y, torch.Generator().manual_seed(0)) == -math.inf
    assert "identity" in reason_of(trainability_of(x, y, torch.Generator().manual_seed(0)))
    x = torch.randn(64, 3, 16, 16, requires_grad=True)
    z = 2 * x  # Jacobian 2I: s = 2 (up to Rademacher noise ~1/sqrt(16384)) -> -2 - 1/2 + 2
    assert trainability_of(x, z, torch.Generator().manual_seed(0)) == pytest.approx(-0.5, abs=0.05)


def test_az_trainability_zero_jacobian_is_undefined_not_the_epsilon_floor():
    """A block whose output ignores its input has s = 0: -s - 1/s has no value, and the reference's
    1/(s + 1e-6) would turn it into -999998, a number made by the floor alone."""
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    v = trainability_of(x, x * 0.0, torch.Generator().manual_seed(0))
    assert math.isnan(v) and "-999998" in reason_of(v)
    v = trainability_of(x, torch.zeros(2, 3, 4, 4), torch.Generator().manual_seed(0))  # not even connected
    assert math.isnan(v) and "Jacobian is 0" in reason_of(v)
    e = expressivity_of(torch.zeros(4, 3, 2, 2))  # a constant feature: 0/0 entropy
    assert math.isnan(e) and "constant" in reason_of(e)


def test_untracked_running_stats_is_the_network_built_without_them():
    """AZ-NAS's network is built with track_running_stats=False; zeronas unsets them on the built network (so
    every space can run it): the same weights and, in train and eval mode, the same outputs to the bit."""
    from zeronas.proxies.az_nas import untrack_running_stats
    from zeronas.proxies.context import apply_init

    sp = zn.spaces.space("nb201")
    arch = sp.parse(BEST)
    nets = []
    for opts in ({"track_running_stats": False}, {}):
        torch.manual_seed(3)
        nets.append(apply_init(sp.build(arch, **opts), "kaiming"))
    ref, ours = nets[0], untrack_running_stats(nets[1])
    assert all(torch.equal(a, b) for a, b in zip(ref.parameters(), ours.parameters()))
    x = torch.randn(4, 3, 32, 32)
    for mode in (True, False):
        ref.train(mode), ours.train(mode)
        with torch.no_grad():
            assert torch.equal(ref(x)[1], ours(x)[1])


@pytest.mark.parametrize("sp", ["macro", "darts", "nb301", "nb101"])
def test_az_nas_runs_on_every_built_in_space(sp):
    """It used to abort the whole call on spaces whose build takes no track_running_stats keyword."""
    s = zn.spaces.space(sp)
    recs = zn.score(s.sample(0), proxies=["az_expressivity", "az_trainability", "params"], space=sp, data="none")
    assert [r.error for r in recs] == [None] * 3
    assert all(math.isfinite(r.value) for r in recs)


def test_an_inapplicable_proxy_is_recorded_and_the_others_scored(monkeypatch):
    from zeronas.proxies import az_nas
    from zeronas.proxies.base import Inapplicable

    def lacks(ctx, **_):
        raise Inapplicable("AZ-NAS needs per-cell features, which space nb201 does not expose")

    monkeypatch.setattr(az_nas, "az_components", lacks)
    recs = zn.score(BEST, proxies=["az_expressivity", "params"], data="none")
    assert math.isnan(recs[0].value) and recs[0].error.startswith("inapplicable: AZ-NAS needs per-cell features")
    assert recs[1].error is None and recs[1].value > 0


def test_an_inapplicable_proxy_is_not_run_again_on_the_same_space(monkeypatch):
    """Inapplicability is a verdict on the space: a Scorer runs the proxy once (a correlate over 500 NB101 archs
    used to build 500 networks for AZ-NAS to refuse), and every later arch gets the same record."""
    from zeronas.proxies import az_nas
    from zeronas.proxies.base import Inapplicable
    from zeronas.scoring import Scorer

    calls = []

    def lacks(ctx, **_):
        calls.append(ctx.space.format(ctx.arch))
        raise Inapplicable("AZ-NAS needs per-cell features, which space nb201 does not expose")

    monkeypatch.setattr(az_nas, "az_components", lacks)
    sc = Scorer("nb201", ["az_expressivity", "params"], data="none")
    recs = [sc.score_arch(sc.space.sample(i)) for i in range(3)]
    assert len(calls) == 1
    for r in recs:
        assert r[0].error == "inapplicable: AZ-NAS needs per-cell features, which space nb201 does not expose"
        assert math.isnan(r[0].value) and r[1].value > 0


# ---- the whole registry on a real NB201 network ---------------------------------------------------------------
HAND_TESTED = {"nwot", "das", "das_d", "das_na", "das_layerwise", "snip", "grad_norm", "plain", "fisher", "grasp",
               "synflow", "zeros", "jacob_cov", "epe_nas", "params", "flops", "l2_norm", "zen", "zico", "meco",
               "swap", "ntk_cond", "linear_regions", "teg_mse", "az_expressivity", "az_trainability",
               "az_progressivity", "synflow_bn"}


def test_every_proxy_has_a_hand_test_and_metadata():
    assert set(list_proxies()) <= HAND_TESTED
    for name in list_proxies():
        p = get_proxy(name)
        assert p.direction in (1, -1) and p.description and p.reference


@pytest.mark.slow
def test_every_proxy_scores_a_real_nb201_network(fake_images):
    cheap = {"swap": {"repeats": 2}, "ntk_cond": {"batch_size": 8}}
    scorer = zn.Scorer("nb201", "all", images=fake_images, heldout=fake_images, batch_size=16, options=cheap)
    recs = {r.proxy: r for r in scorer.score_arch(BEST)}
    assert set(recs) == set(list_proxies())
    for r in recs.values():
        assert r.error is None and math.isfinite(r.value), (r.proxy, r.value, r.error)
        assert r.protocol["torch"] and r.protocol["seed"] == 0 and r.protocol_hash
    assert get_proxy("ntk_cond").direction == -1 and get_proxy("teg_mse").direction == -1
    assert recs["params"].value == 1073466


def test_scores_are_deterministic_and_seed_dependent(fake_images):
    def run(seed):
        return [r.value for r in zn.Scorer("nb201", "nwot,snip,synflow", images=fake_images, batch_size=8,
                                           seed=seed).score_arch(BEST)]

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_fixed_isomorph_member_scores_every_member_alike(fake_images):
    """Isomorphs get other init weights, so 'asked' can give each member its own snip; 'fixed' measures the
    class's representative for any member, and leaves proxies that do not share a class untouched."""
    space = zn.space("nb201")
    members = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_3x3~0|none~1|none~2|",
               "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|"]
    rep = space.format(space.representative(space.parse(members[0])))

    def run(rule, arch):
        scorer = zn.Scorer("nb201", "snip,nwot", images=fake_images, batch_size=8, isomorph_member=rule)
        return {r.proxy: r for r in scorer.score_arch(arch)}

    asked = [run("asked", m) for m in members]
    fixed = [run("fixed", m) for m in members]
    assert asked[0]["snip"].value != asked[1]["snip"].value  # the spread 'fixed' removes
    assert fixed[0]["snip"].value == fixed[1]["snip"].value == run("asked", rep)["snip"].value
    assert all(f["snip"].arch == rep for f in fixed)
    assert fixed[0]["snip"].canonical == asked[0]["snip"].canonical  # same class key, other protocol
    assert fixed[0]["snip"].protocol_hash != asked[0]["snip"].protocol_hash
    for a, f, m in zip(asked, fixed, members):
        assert f["nwot"].value == a["nwot"].value and f["nwot"].arch == m
        assert f["nwot"].protocol_hash == a["nwot"].protocol_hash
    with pytest.raises(zn.UserError, match="^unknown isomorph_member= 'first'; choose one of: asked, fixed$"):
        zn.Scorer("nb201", "snip", images=fake_images, isomorph_member="first")


def test_channels_last_memory_format_is_its_own_protocol_at_values_within_float_rounding(fake_images):
    """--memory-format channels-last: NHWC weights, the same proxies up to float rounding (train-mode BN sums in
    another order; params has no float work at all), other store keys; an unknown layout is one line."""
    arch = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
    proxies = "params,synflow,snip,nwot"
    nchw = zn.Scorer("nb201", proxies, images=fake_images, batch_size=8)
    nhwc = zn.Scorer("nb201", proxies, images=fake_images, batch_size=8, memory_format="channels-last")
    for scorer, last in ((nchw, False), (nhwc, True)):
        w = next(m.weight for m in scorer.context(arch).model().modules()
                 if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and m.in_channels > 1)
        assert w.is_contiguous(memory_format=torch.channels_last) is last and w.is_contiguous() is not last
    a = {r.proxy: r for r in nchw.score_arch(arch)}
    b = {r.proxy: r for r in nhwc.score_arch(arch)}
    assert b["params"].value == a["params"].value
    assert b["synflow"].value == pytest.approx(a["synflow"].value, rel=1e-12)  # no BN statistics: float64 reorder
    for p in ("snip", "nwot"):
        assert b[p].value == pytest.approx(a[p].value, rel=1e-3) and b[p].error is None
    for p in ("synflow", "snip", "nwot"):
        assert "memory_format" not in a[p].protocol and b[p].protocol["memory_format"] == "channels-last"
        assert a[p].protocol_hash != b[p].protocol_hash
    assert a["params"].protocol_hash == b["params"].protocol_hash  # it reads no tensor: one key for both layouts
    assert zn.Scorer("nb201", "snip", images=fake_images, memory_format=torch.channels_last).memory_format == \
        "channels-last"  # torch's own name for it, as a PyTorch user tries first
    with pytest.raises(zn.UserError, match="^unknown memory_format= 'nhwc'; choose one of: contiguous, "
                                           "channels-last$"):
        zn.Scorer("nb201", "snip", images=fake_images, memory_format="nhwc")
    given = zn.space("nb201").build(zn.space("nb201").parse(arch))  # weights= are laid out so too, values kept
    c = {r.proxy: r for r in nhwc.score_arch(arch, weights=given)}
    assert c["snip"].error is None and c["snip"].protocol["memory_format"] == "channels-last"
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in given.parameters() if p.dim() == 4)


def test_channels_last_pooling_gradient_hook_leaves_batched_gradients_working():
    """The hook that keeps global pooling's gradient channels-last must not break vmap-batched backward passes
    (torch cannot ask a layout inside vmap): the per-sample gradients equal the NCHW network's."""
    from zeronas.proxies.context import to_channels_last

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = torch.randn(3, 3, 6, 6, requires_grad=True)

    def batched_grads(model):
        out = model(x)
        eye = torch.eye(2)[:, None, :].expand(2, 3, 2)  # one backward per output unit, batched
        return torch.autograd.grad(out, x, eye, is_grads_batched=True)[0]

    want = batched_grads(net)
    got = batched_grads(to_channels_last(net))
    assert net[2]._zeronas_cl_grad and torch.allclose(got, want, atol=1e-6)
    assert to_channels_last(net) is net and len(net[2]._forward_pre_hooks) == 1  # one hook however often applied


def test_bn_mode_metadata_is_what_runs(fake_images):
    """Record every BN call during each proxy and check it against the proxy's declared BN mode."""
    scorer = zn.Scorer("nb201", "all", images=fake_images, heldout=fake_images, batch_size=8,
                       options={"swap": {"repeats": 1}, "ntk_cond": {"batch_size": 4}})
    ctx = scorer.context(BEST)
    for spec in scorer.proxies:
        seen = []

        def hook(module, inputs, output, seen=seen):
            seen.append((module.training, module.track_running_stats, torch.equal(inputs[0], output)))

        model = ctx.model()
        handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        ctx.cache.clear()
        original_build = ctx.build

        def build(*a, original_build=original_build, handles=handles, hook=hook, **k):
            net = original_build(*a, **k)  # networks a proxy builds itself (thin nets, AZ-NAS) get the hook too
            handles.extend(m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.BatchNorm2d))
            return net

        ctx.build = build
        spec.fn(ctx, **scorer.options[spec.name])
        ctx.build = original_build
        for h in handles:
            h.remove()
        if spec.bn_mode == "n/a" or not seen:
            continue
        if spec.bn_mode == "bypass":
            assert all(same for _, _, same in seen), spec.name
        elif spec.bn_mode == "no-track":
            assert all(train and not track for train, track, _ in seen), spec.name
        else:  # train / default: batch statistics
            assert all(train for train, _, _ in seen), spec.name


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                  "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
                                  "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|"])
def test_degenerate_cells_never_crash(fake_images, arch):
    """All-none and dead-path cells: every proxy gives a number or NaN/inf, never an exception."""
    cheap = {"swap": {"repeats": 1}, "ntk_cond": {"batch_size": 4}}
    recs = zn.Scorer("nb201", "all", images=fake_images, heldout=fake_images, batch_size=8,
                     options=cheap).score_arch(arch)
    assert all(r.error is None for r in recs), [(r.proxy, r.error) for r in recs if r.error]


def test_isomorph_sharing_flag_matches_what_dead_branches_do(fake_images):
    """Two isomorphic cells (node 1 dead in both, fed by different ops) have different parameter counts, so
    params (and other structure-counting proxies) must not share values across isomorphs."""
    a = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
    b = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
    assert space.canonical(a) == space.canonical(b)
    assert get_proxy("params").shares_isomorphs is False and get_proxy("nwot").shares_isomorphs is False
    pa = zn.score(a, ["params"], data="none")[0].value
    pb = zn.score(b, ["params"], data="none")[0].value
    assert pa != pb
    assert get_proxy("snip").shares_isomorphs and get_proxy("synflow").shares_isomorphs


def test_shared_loss_gradient_gives_the_values_of_separate_passes(fake_images):
    """snip, grad_norm, plain, fisher (and grasp at T=1) share one backward pass: exactly the numbers each
    computes alone."""
    names = ["snip", "grad_norm", "plain", "fisher", "grasp"]
    arch = zn.space("nb201").sample(3)
    kw = dict(images=fake_images, batch_size=16, build_options={"C": 8, "N": 1})
    together = {r.proxy: r.value for r in zn.Scorer("nb201", ",".join(names), **kw).score_arch(arch)}
    alone = {p: zn.Scorer("nb201", p, **kw).score_arch(arch)[0].value for p in names}
    assert together == alone and all(math.isfinite(v) for v in alone.values())


# ---- numerical honesty: every NaN/inf has a reason; values made by a floor or by construction are undefined ----
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
DEGENERATE = {
    "all-none": ALL_NONE,
    "all-skip": "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "all-pool": "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "dead-convs": "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",  # NB201 index 120
    "identity-cell": "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
}
SMALL = {"C": 4, "N": 1}  # the same stem / cell / reduction / lastact structure, cheaper


@pytest.fixture(scope="module")
def degenerate_records():
    """Every proxy on each degenerate arch (batch 8) and on the all-none arch with the smallest batch (2)."""
    rng = np.random.default_rng(0)
    images = ImageSet("cifar10", "train", rng.integers(0, 256, size=(300, 32, 32, 3), dtype=np.uint8),
                      rng.integers(0, 10, size=300).astype(np.int64), "synthetic", "random")
    out = {}
    for batch in (8, 2):
        cheap = {"swap": {"repeats": 1}, "ntk_cond": {"batch_size": min(4, batch)}}
        scorer = zn.Scorer("nb201", "all", images=images, heldout=images, batch_size=batch, options=cheap,
                           build_options=SMALL)
        for name, arch in DEGENERATE.items():
            if batch == 8 or name == "all-none":
                out[(name, batch)] = {r.proxy: r for r in scorer.score_arch(arch)}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("proxy", list_proxies())
def test_every_non_finite_value_has_a_reason(degenerate_records, proxy):
    for (name, batch), recs in degenerate_records.items():
        r = recs[proxy]
        assert r.error is None, (name, batch, r.error)  # degenerate cells never crash a proxy
        if not math.isfinite(r.value):
            assert r.reason and len(r.reason) > 20, (name, batch, r.value)
        else:
            assert r.reason is None, (name, batch, r.value, r.reason)


# Hand-derived for the all-none cell: the output is the classifier bias whatever the input, no weight's gradient
# reaches the loss, every ReLU input and every cell's feature is constant (zero).
ALL_NONE_EXPECTED = {
    "nwot": (-math.inf, "share one ReLU code"), "das": (-math.inf, "share one ReLU code"),
    "das_d": (-math.inf, "share one ReLU code"), "das_layerwise": (-math.inf, "singular kernel"),
    "jacob_cov": (math.nan, ZERO_JACOBIAN), "epe_nas": (math.nan, ZERO_JACOBIAN),
    "ntk_cond": (math.nan, "the NTK is 0"), "teg_mse": (math.nan, "gradient w.r.t. the cell parameters is 0"),
    "zen": (-math.inf, "do not depend on the input"), "zico": (math.nan, "empty"),
    "az_expressivity": (-math.inf, "constant"), "az_progressivity": (-math.inf, "constant"),
    "az_trainability": (math.nan, "-999998"),
    # defined, and 0: no weight carries a gradient or a synaptic path from the input
    "snip": (0.0, None), "grad_norm": (0.0, None), "plain": (0.0, None), "grasp": (0.0, None),
    "synflow": (0.0, None), "synflow_bn": (0.0, None), "zeros": (0.0, None),
}


@pytest.mark.slow
@pytest.mark.parametrize("batch", [8, 2])
def test_all_none_cell_gives_the_hand_derived_outcome(degenerate_records, batch):
    recs = degenerate_records[("all-none", batch)]
    for proxy, (value, why) in ALL_NONE_EXPECTED.items():
        r = recs[proxy]
        if math.isnan(value):
            assert math.isnan(r.value), (proxy, r.value)
        else:
            assert r.value == value, (proxy, r.value)
        assert (r.reason is None) if why is None else (why in r.reason), (proxy, r.reason)
    assert recs["az_trainability"].value != -999998  # the epsilon floor is never reported as a number
    assert "cells.0" in recs["az_trainability"].reason  # the first cell after the stem already ignores its input


@pytest.mark.slow
def test_identity_block_keeps_the_references_minus_inf_with_its_reason(degenerate_records):
    r = degenerate_records[("identity-cell", 8)]["az_trainability"]
    assert r.value == -math.inf and "identity blocks" in r.reason


def test_undefined_is_a_float_that_carries_its_reason():
    u = Undefined("why not")
    assert math.isnan(u) and reason_of(u) == "why not" and reason_of(1.0) is None
    v = pickle.loads(pickle.dumps(Undefined("log 0", -math.inf)))
    assert v == -math.inf and reason_of(v) == "log 0"
    assert type(float(v)) is float and reason_of(v + 1.0) is None  # arithmetic drops it: proxies pass it on


def test_scorer_never_leaves_a_non_finite_value_without_a_reason(monkeypatch):
    from zeronas.proxies import base

    for name, fn in (("bare_nan", lambda ctx: math.nan), ("told_inf", lambda ctx: Undefined("told so", math.inf))):
        monkeypatch.setitem(base._REGISTRY, name, base.ProxySpec(name, fn, 1, "none", "n/a", description="t",
                                                                 reference="t"))
    recs = {r.proxy: r for r in zn.Scorer("nb201", "bare_nan,told_inf", data="none").score_arch(BEST)}
    assert math.isnan(recs["bare_nan"].value) and recs["bare_nan"].error is None
    assert recs["bare_nan"].reason.startswith("non-finite value (nan) from bare_nan")
    assert recs["told_inf"].value == math.inf and recs["told_inf"].reason == "told so"
    assert type(recs["told_inf"].value) is float and recs["told_inf"].to_dict()["reason"] == "told so"


def test_min_batch_is_declared_and_enforced_before_any_work(fake_images):
    declared = {p: get_proxy(p).min_batch for p in list_proxies() if get_proxy(p).min_batch > 1}
    assert declared == {p: 2 for p in ("nwot", "das", "das_d", "das_layerwise", "jacob_cov", "epe_nas", "ntk_cond",
                                       "teg_mse", "swap")}
    assert all(get_proxy(p).min_batch_why for p in declared)

    def refused(proxies, **kw):
        with pytest.raises(zn.UserError) as err:
            zn.Scorer("nb201", proxies, images=fake_images, **kw)
        assert "\n" not in str(err.value)
        return str(err.value)

    msg = refused("nwot", batch_size=1)
    # the Scorer class checks its keywords at the edge, naming them as the API does (batch_size=, options=)
    assert msg.startswith("proxy nwot needs a batch of at least 2 images (got batch_size=1) because the kernel "
                          "compares")
    assert "more proxies" in refused("all", batch_size=1)
    assert "needs a batch of at least 2 images (got options={'ntk_cond': {'batch_size': 1}})" in refused(
        "ntk_cond", batch_size=8, options={"ntk_cond": {"batch_size": 1}})
    assert "needs a batch of at least 2 images (got options={'swap': {'samples': 1}})" in refused(
        "swap", batch_size=8, options={"swap": {"samples": 1}})
    assert "needs its option num_batches at least 2 (got options={'zico': {'num_batches': 1}})" in refused(
        "zico", batch_size=8, options={"zico": {"num_batches": 1}})
    # proxies defined for one sample run with one
    recs = zn.Scorer("nb201", "params,snip,synflow", images=fake_images, batch_size=1,
                     build_options=SMALL).score_arch(BEST)
    assert all(math.isfinite(r.value) and r.reason is None for r in recs)


# ---- data-free scoring with a named dataset, and stand-in images, as correlate does ------------------------------
def test_named_dataset_without_images_still_sets_the_network(tmp_path):
    """No images at all: data-free proxies score the dataset's network (classes, input size), as correlate
    would; a proxy that needs images is refused with the dataset's own message."""
    c100 = zn.Scorer("nb201", "params,flops", data="cifar100", data_dir=tmp_path)
    in16 = zn.Scorer("nb201", "params,flops", data="imagenet16-120", data_dir=tmp_path)
    assert (c100.num_classes, c100.input_size, c100.images) == (100, 32, None)
    assert (in16.num_classes, in16.input_size, in16.images) == (120, 16, None)
    assert "imagenet16-120 images not found" in in16.data_note and "16px" in in16.data_note
    a = {r.proxy: r for r in c100.score_arch(BEST)}
    b = {r.proxy: r for r in in16.score_arch(BEST)}
    assert b["params"].value - a["params"].value == 65 * 20  # Linear(64, k): 65 parameters per class
    assert b["flops"].protocol["input_size"] == 16 and b["flops"].value < a["flops"].value / 3  # a quarter the pixels
    with pytest.raises(zn.errors.DataNotFound, match="cifar100 train images not found"):
        zn.Scorer("nb201", "nwot", data="cifar100", data_dir=tmp_path)  # nothing to stand in either


@needs_cifar
def test_missing_dataset_images_are_stood_in_as_correlate_does(tmp_path):
    (tmp_path / "cifar10").symlink_to(CIFAR.parent)
    sc = zn.Scorer("nb201", "nwot,params", data="imagenet16-120", data_dir=tmp_path, batch_size=8)
    assert (sc.stands_in_for, sc.input_size, sc.num_classes) == ("imagenet16-120", 16, 120)
    assert sc.images.x.shape[1:3] == (16, 16) and "CIFAR-10 images (resized to 16px) stand in" in sc.data_note
    proto = sc.protocol(get_proxy("nwot"))
    assert proto["data"]["stands_in_for"] == "imagenet16-120" and "data" not in sc.protocol(get_proxy("params"))
    same = zn.Scorer("nb201", "nwot,params", data="imagenet16-120", data_dir=tmp_path, batch_size=8, stand_in=True)
    assert same.protocol(get_proxy("nwot")) == proto  # exactly the protocol correlate (stand_in=True) records
    recs = {r.proxy: r for r in sc.score_arch(BEST)}  # the records say so too (a user's trial: notes were [])
    assert recs["nwot"].notes == [sc.data_note] and recs["params"].notes == []


def test_jacob_cov_and_epe_nas_share_one_jacobian_bit_for_bit(fake_images):
    """epe_nas reads the Jacobian jacob_cov computed for the same arch: the same values as a pass of its own."""
    def run(proxies):
        scorer = zn.Scorer("nb201", proxies, images=fake_images, batch_size=8)
        return {r.proxy: r.value for r in scorer.score_arch(BEST)}

    both = run("jacob_cov,epe_nas")
    assert both["epe_nas"] == run("epe_nas")["epe_nas"] and both["jacob_cov"] == run("jacob_cov")["jacob_cov"]


@pytest.mark.parametrize("name,members", [("zeronas-v1", "nwot,params"), ("ensemble:nwot+synflow", "nwot,synflow"),
                                          ("ensemble:zeronas-v1+synflow", "nwot,params,synflow"),
                                          ("az_nas", "az_expressivity,az_progressivity,az_trainability,flops")])
def test_scoring_an_ensemble_names_it_and_its_members(name, members):
    """An ensemble ranks a set: 'score' used to call it an unknown proxy."""
    import re

    with pytest.raises(zn.UserError, match=f"{re.escape(name)} is a rank ensemble.*proxies=\'{members}\'$"):
        zn.score(BEST, proxies=["params", name], data="none")


def test_scoring_an_ensemble_with_an_unknown_member_names_that_member():
    """The advice 'score its members: proxies=params,nope' passed the unknown member on."""
    with pytest.raises(zn.UserError, match="^unknown proxy 'nope'; available: "):
        zn.score(BEST, proxies="ensemble:params+nope", data="none")


def test_a_count_given_as_a_whole_float_is_the_count():
    """swap.repeats=2.0 passed the type check and then crashed the proxy as a float (review)."""
    from zeronas.scoring import Scorer

    sc = Scorer("nb201", ["zen"], data="none", options={"zen": {"repeats": 2.0, "bn_momentum": None}})
    assert sc.options["zen"]["repeats"] == 2 and type(sc.options["zen"]["repeats"]) is int
    from zeronas.scoring import _option_kind

    assert _option_kind(zn.get_proxy("swap"), "repeats") is int
    assert _option_kind(zn.get_proxy("ntk_cond"), "batch_size") is int  # default None, annotated int | None


# ---- proxy options: bounds from the definitions, checked before any work ----------------------------------
@pytest.mark.parametrize("proxy, options, expected", [
    ("grasp", {"temperature": 0.0}, "needs its option temperature above 0"),
    ("grasp", {"temperature": -1.0}, "needs its option temperature above 0"),
    ("zen", {"bn_momentum": 2.0}, "needs its option bn_momentum above 0 and at most 1"),
    ("zen", {"mixup_gamma": 0.0}, "needs its option mixup_gamma above 0"),
    ("zen", {"repeats": 0}, "needs its option repeats at least 1"),
    ("swap", {"mu": 5.0}, "takes its options mu and sigma together (got --set swap.mu=5.0 without sigma)"),
    ("swap", {"sigma": 5.0}, "takes its options mu and sigma together (got --set swap.sigma=5.0 without mu)"),
    ("swap", {"mu": 1.0, "sigma": 0.0}, "needs its option sigma above 0"),
    ("linear_regions", {"crop": 0}, "needs its option crop at least 1"),
    ("linear_regions", {"samples": 0}, "needs its option samples at least 1"),
    ("meco", {"input_size": 0}, "needs its option input_size at least 1"),
])
def test_proxy_options_outside_their_definition_are_named(proxy, options, expected):
    """Values that gave NaN without a reason (grasp T=0, zen momentum 2), a raw ZeroDivisionError (swap sigma 0),
    a torch shape error (crop 0), or were silently ignored (swap mu alone) are one line naming the option."""
    spec = get_proxy(proxy)
    why = spec.check_options({**spec.defaults, **options}, 64)
    assert why is not None and expected in why, why
    assert spec.check_options(dict(spec.defaults), 64) is None


def test_meco_input_sizes_a_space_cannot_take_are_refused_when_the_scorer_is_made():
    """Each space's networks reduce the input (BN needs more than one value per channel): nb201 takes 8 but not
    4 (and sides that are multiples of 4), macro not 8; said once, naming the option, not per arch."""
    for space, size, fragment in (("nb201", 4, "cannot take a 1x3x4x4 input"), ("nb201", 7, "multiples of 4"),
                                  ("macro", 8, "cannot take a 1x3x8x8 input")):
        with pytest.raises(UserError) as exc:
            zn.Scorer(space, "meco", data="none", options={"meco": {"input_size": size}})
        # (the API names it as options={'meco': {'input_size': ...}}, the CLI as --set meco.input_size=...)
        assert fragment in str(exc.value) and f"'input_size': {size}" in str(exc.value), str(exc.value)
    rec = zn.Scorer("nb201", "meco", data="none", options={"meco": {"input_size": 8}}).score_arch(BEST)[0]
    assert rec.error is None and math.isfinite(rec.value)


def test_an_option_for_a_proxy_not_asked_for_is_refused():
    with pytest.raises(UserError, match=r"^proxy zen was given option\(s\) repeats but is not among the proxies "
                                        r"asked for \(params\): add it to the proxies or drop its options$"):
        zn.Scorer("nb201", "params", data="none", options={"zen": {"repeats": 2}})


@needs_cifar
def test_options_too_large_for_the_images_name_the_option():
    with pytest.raises(UserError, match=r"'batch_size': 100000}}: 10000 cifar10 images are loaded, too few"):
        zn.Scorer("nb201", "ntk_cond", data="cifar10", options={"ntk_cond": {"batch_size": 100000}})
    with pytest.raises(UserError, match=r"'crop': 33}}: the crops are cut from the 32x32 images"):
        zn.Scorer("nb201", "linear_regions", data="cifar10", options={"linear_regions": {"crop": 33}})


def test_meco_is_the_same_when_its_eigenvalues_are_taken_in_small_groups(monkeypatch):
    """meco batches eigvalsh over the pending correlation matrices and flushes them past PENDING_BYTES (a wide
    user model would hold gigabytes): the value does not depend on where the flushes fall."""
    import zeronas.proxies.meco as meco_module

    whole = zn.Scorer("nb201", "meco", data="none").score_arch(BEST)[0].value
    monkeypatch.setattr(meco_module, "PENDING_BYTES", 1)  # every matrix flushed on its own
    assert zn.Scorer("nb201", "meco", data="none").score_arch(BEST)[0].value == whole


def test_a_proxy_s_default_batch_larger_than_the_images_is_skipped_under_all_and_named_as_a_default():
    """A newcomer trial: 'all' on 12 images of one's own failed outright, blaming '--set swap.samples=16', an
    option never given. Under 'all' swap is left out and said; asked for by name, the error names its default."""
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8), np.arange(12) % 3)
    s = zn.Scorer("nb201", "all", data=data, batch_size=8, num_classes=3)
    assert "swap" in s.skipped and "swap" not in [p.name for p in s.proxies]
    assert s.skip_notes["swap"].startswith("swap's default samples (16): 12 ")
    assert s.skip_notes["swap"].endswith("too few for one batch of 16; pass --set swap.samples=N with N <= 12")
    with pytest.raises(UserError, match=r"^swap's default samples \(16\): 12 .* with N <= 12$"):
        zn.Scorer("nb201", "swap", data=data, batch_size=8, num_classes=3)
    with pytest.raises(UserError, match=r"--set swap.samples=20: 12 .* lower it|'samples': 20}}: 12 .* lower it"):
        zn.Scorer("nb201", "swap", data=data, batch_size=8, num_classes=3, options={"swap": {"samples": 20}})
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    rec = {r.proxy: r for r in zn.score(net, proxies="swap,params", data=data, batch_size=8)}
    assert rec["swap"].error.startswith("refused: swap's default samples (16)")
    assert rec["params"].value == 3 * 4 * 9 + 4 + 4 * 3 + 3


def test_code_gram_product_choice_is_made_once_per_process(monkeypatch):
    """The int8-or-float32 choice is timed once and cached: a second call reads the cache, not the clock."""
    from zeronas.proxies import naswot

    monkeypatch.setattr(naswot, "_INT_MM", [])
    first = naswot._int_mm_wins()
    assert isinstance(first, bool) and naswot._INT_MM == [first]
    monkeypatch.setattr(naswot, "_best_of", lambda fn, reps=3: pytest.fail("timed again"))
    assert naswot._int_mm_wins() is first


@pytest.mark.parametrize("sp", ["nb201", "macro"])
def test_az_components_are_the_same_asked_alone_or_together(sp):
    """Expressivity alone skips the block Jacobians (a third of the cost on NB201); every component must still
    be the value it has when all three are scored together, in any order (the Rademacher draws follow the
    inputs)."""
    arch = BEST if sp == "nb201" else zn.spaces.space(sp).sample(3)
    names = ["az_expressivity", "az_progressivity", "az_trainability"]

    def values(order):
        return {r.proxy: r.value for r in zn.score(arch, proxies=order, space=sp, data="none")}

    together = values(names)
    assert all(math.isfinite(v) for v in together.values())
    assert values(names[::-1]) == together
    for n in names:
        assert values([n]) == {n: together[n]}


def test_az_expressivity_without_trainability_in_the_plan_keeps_no_graph():
    """A plan without az_trainability runs the forward without autograd's graph (less memory and time); asked
    for trainability afterwards anyway, the context repeats the forward with the graph, and every value equals
    that of a context that kept it from the start."""
    from zeronas.proxies import az_nas
    from zeronas.proxies.context import ScoringContext

    sp = zn.spaces.space("nb201")
    lean = ScoringContext(sp, BEST, batch_size=8, num_classes=10, input_size=32)
    lean.planned = frozenset({"az_expressivity", "nwot"})
    full = ScoringContext(sp, BEST, batch_size=8, num_classes=10, input_size=32)
    first = dict(az_nas.az_components(lean, trainability=False))
    assert "az_graph" not in lean.cache and "az_trainability" not in first
    both = az_nas.az_components(full)
    assert first == {k: both[k] for k in ("az_expressivity", "az_progressivity")}
    assert az_nas.az_components(lean, trainability=True) == both


def test_scoring_in_a_log_prints_progress_lines(capsys):
    """A newcomer trial: 'zeronas score --proxies all' runs for minutes on a CPU, and in a log (no terminal)
    printed nothing until the end. It now prints the proxy that runs, at most every ``every`` seconds (0: at
    each proxy), on stderr; stdout stays the table's."""
    import io

    import zeronas as zn

    sc = zn.Scorer("nb201", "params,flops", data="none")
    log = io.StringIO()
    archs = [zn.space("nb201").sample(i) for i in range(2)]
    recs = sc._score_logged(archs, every=0, stream=log)
    assert [r.proxy for r in recs] == ["params", "flops"] * 2
    lines = log.getvalue().splitlines()
    assert [line.split(" elapsed")[0] for line in lines] == [
        "scoring arch 1/2, params (1/4 proxy runs),", "scoring arch 1/2, flops (2/4 proxy runs),",
        "scoring arch 2/2, params (3/4 proxy runs),", "scoring arch 2/2, flops (4/4 proxy runs),"]
    assert [r.value for r in sc.score(archs, progress=True)] == [r.value for r in recs]
    assert capsys.readouterr().out == ""


def test_jacobian_proxies_run_numpy_blas_on_one_thread(monkeypatch):
    """jacob_cov's and EPE-NAS's B x B algebra runs with numpy's BLAS on the calling thread only (OpenBLAS's
    idle helpers spin after each call they share, taking a core from parallel scoring workers), and the
    limit is lifted after: seen from inside np.corrcoef through threadpoolctl, the value unchanged."""
    import threadpoolctl  # a dependency of zeronas

    from zeronas.proxies import jacobian

    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    if not blas:
        pytest.skip("numpy links no BLAS threadpoolctl can see")
    before = [i["num_threads"] for i in blas]
    seen, corrcoef = [], np.corrcoef

    def watched(*args, **kwargs):
        seen.append([i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"])
        return corrcoef(*args, **kwargs)

    J = np.random.default_rng(0).normal(size=(6, 40))
    expected = jacob_cov_from_jacobian(J), epe_from_jacobian(J, np.array([0, 0, 1, 1, 2, 2]), 3)
    monkeypatch.setattr(jacobian.np, "corrcoef", watched)
    got = jacob_cov_from_jacobian(J), epe_from_jacobian(J, np.array([0, 0, 1, 1, 2, 2]), 3)
    assert got == expected
    assert len(seen) == 4 and all(n == [1] * len(blas) for n in seen)
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"] == before


def test_batch_size_is_in_the_protocol_of_every_synthetic_input_proxy_whose_value_it_moves(tmp_path):
    """A store answers by protocol: a proxy whose noise holds --batch-size images (zen, AZ-NAS) stored at one
    batch size must not be read back for another (it was: zen 187.657 at batch 64 returned for batch 16). The
    kind, every proxy on synthetic input: the batch size is keyed exactly where it moves the value."""
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    synthetic = [n for n in list_proxies() if get_proxy(n).data in ("ones", "noise", "none")]
    assert {"zen", "meco", "synflow", "az_expressivity", "params"} <= set(synthetic)
    kw = dict(data="none", build_options={"C": 8, "N": 1})
    values = {b: {r.proxy: r for r in zn.Scorer("nb201", synthetic, batch_size=b, **kw).score_arch(arch)}
              for b in (4, 6)}
    for name in synthetic:
        moved = values[4][name].value != values[6][name].value
        keyed = values[4][name].protocol_hash != values[6][name].protocol_hash
        spec = get_proxy(name)
        assert moved == keyed == spec.noise_batch == spec.reads_batch_size(spec.defaults), name
    assert {n for n in synthetic if get_proxy(n).noise_batch} >= {"zen", "az_expressivity"}
    store = str(tmp_path / "s.db")
    first = zn.score(arch, proxies="zen", batch_size=6, store=store, **kw)
    again = zn.score(arch, proxies="zen", batch_size=4, store=store, **kw)
    assert first[0].value == values[6]["zen"].value and again[0].value == values[4]["zen"].value


def test_a_batch_size_no_asked_proxy_reads_is_said_in_a_note(tmp_path, capsys):
    """--batch-size (and bench build's --proxy-batch) given where no asked proxy reads a batch changes nothing:
    a note says so (a loop over proxies at one batch size is a normal script, so not an error); where one
    proxy reads it, nothing is said."""
    from zeronas.cli import app
    from zeronas.scoring import unread_batch_size

    assert unread_batch_size("synflow,meco", 8) == (
        "--batch-size 8 changes no value here: it sets the images per batch of proxies on real images and the "
        "noise batch of zen and AZ-NAS, and synflow, meco read no such batch")
    assert unread_batch_size("ntk_cond", 8, {"ntk_cond": {"batch_size": 4}}).endswith(
        "ntk_cond reads no such batch (--set ntk_cond.batch_size=N sets its own)")
    assert unread_batch_size("ntk_cond", 8) is None  # its own option unset: --batch-size is its batch
    assert unread_batch_size("synflow", 8, train_steps=2) is None  # the fast training's batches read it
    for names in ("nwot", "zen", "synflow,zico", "all", "linear_regions,nwot"):
        assert unread_batch_size(names, 8) is None, names
    assert unread_batch_size("linear_regions", 8) is not None  # its crops are its own count
    from typer.testing import CliRunner

    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    out = CliRunner().invoke(app, ["score", "--arch", arch, "--proxies", "synflow,params", "--data", "none",
                                   "--batch-size", "8"])
    assert out.exit_code == 0 and "note: --batch-size 8 changes no value here" in " ".join(out.output.split())
    out = CliRunner().invoke(app, ["score", "--arch", arch, "--proxies", "synflow", "--data", "none"])
    assert out.exit_code == 0 and "changes no value" not in out.output


def test_seed_and_init_no_asked_proxy_reads_are_said_and_the_layout_note_only_where_it_applies():
    """A user trial: --seed/--init with params and flops alone (they count the structure) changed nothing without
    a word, and search's channels-last note was printed for a params-only search."""
    from typer.testing import CliRunner

    from zeronas.cli import app
    from zeronas.scoring import unread_weights

    assert unread_weights("params,flops", 3, "kaiming") == (
        "--seed 3 and --init kaiming change no value here: params, flops count the network's structure, whatever "
        "its weights")
    assert unread_weights("params", 0, "xavier") == ("--init xavier changes no value here: params counts the "
                                                      "network's structure, whatever its weights")
    assert unread_weights("params,l2_norm", 3, "kaiming") is None  # l2_norm reads the weights' values
    assert unread_weights("params", 0, "torch-default") is None  # the defaults: nothing was given
    # by hand: the two values really do not move
    a = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    v = [zn.score([a], "params,flops", data="none", seed=s, init=i) for s, i in ((0, "torch-default"),
                                                                                   (3, "kaiming"))]
    assert [r.value for r in v[0]] == [r.value for r in v[1]]
    out = CliRunner().invoke(app, ["score", "--arch", a, "--proxies", "params", "--seed", "3"])
    assert out.exit_code == 0 and "note: --seed 3 changes no value here" in " ".join(out.output.split())
    out = CliRunner().invoke(app, ["score", "--arch", a, "--proxies", "params", "--data", "none", "--data-dir",
                                   "."])
    assert out.exit_code == 0 and "note: --data-dir . reads nothing here" in " ".join(out.output.split())
    for proxy, said in (("params", False), ("ensemble:params+synflow", True)):
        out = CliRunner().invoke(app, ["search", "--method", "random", "--budget", "2", "--proxy", proxy, "--data",
                                       "none", "--memory-format", "channels-last"])
        assert out.exit_code == 0 and ("channels-last layout" in out.output) == said, out.output


def test_score_names_each_record_by_the_arch_asked_and_fixed_members_resume_through_a_store(tmp_path):
    """A Python user's trial: with isomorph_member='fixed' (or a store that held an isomorph) a class-sharing
    proxy's records were named after the member scored, so two asked isomorphs' records could not be told
    apart; and 'fixed' with a store refused a run that had only params left to score ('params shares no score
    across isomorphs: drop it')."""
    a = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|"
    c = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|"  # isomorphic to a
    sp = zn.space("nb201")
    assert sp.canonical(sp.parse(a)) == sp.canonical(sp.parse(c))
    kw = dict(proxies=["synflow", "params"], data="none")
    plain = zn.score([a, c], **kw)
    assert [(r.arch, r.scored) for r in plain] == [(a, None)] * 2 + [(c, None)] * 2
    for extra in (dict(store=str(tmp_path / "s.db")), dict(isomorph_member="fixed"),
                  dict(isomorph_member="fixed", store=str(tmp_path / "f.db"))):
        zn.score([a], **kw, **extra)  # a store then holds a's class; c has only params left to score
        recs = zn.score([a, c, a], **kw, **extra)
        assert [r.arch for r in recs] == [a, a, c, c, a, a], extra
        syn = [r for r in recs if r.proxy == "synflow"]
        assert len({r.value for r in syn}) == 1 and syn[1].scored not in (None, c), extra
        assert all(r.scored is None for r in recs if r.proxy == "params")


def test_a_real_proxy_option_given_a_whole_number_is_one_store_key_with_its_float():
    """A Python user's trial: das lam=64 and lam=64.0 gave one value under two protocol hashes (and the CLI's
    --set das.lam=64 the int one), so a store scored the same setting twice."""
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    kw = dict(data="none", build_options={"C": 8, "N": 1})
    recs = [zn.Scorer("nb201", "zen", options={"zen": {"mixup_gamma": v}}, **kw).score_arch(arch)[0]
            for v in (1, 1.0)]
    assert recs[0].protocol_hash == recs[1].protocol_hash and recs[0].protocol["options"]["mixup_gamma"] == 1.0
    assert type(recs[0].protocol["options"]["mixup_gamma"]) is float
    counts = [zn.Scorer("nb201", "zen", options={"zen": {"repeats": v}}, **kw).protocol(get_proxy("zen"))
              for v in (2, 2.0)]
    assert counts[0] == counts[1] and type(counts[0]["options"]["repeats"]) is int  # a count stays an int


def test_fast_training_keys_its_images_and_batch_for_every_proxy(fake_images):
    """A review: with train_steps, synflow, meco and params (no images of their own) were keyed without the
    images and batch size the network was trained on: batch 8 and 16 gave 1.99e11 and 1.91e11 under one hash."""
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    kw = dict(train_steps=2, build_options={"C": 8, "N": 1})
    a, b = (zn.Scorer("nb201", "synflow", images=fake_images, batch_size=n, **kw).score_arch(arch)[0] for n in (8, 16))
    assert a.value != b.value and a.protocol_hash != b.protocol_hash
    assert a.protocol["fast_training"]["data"]["batch_size"] == 8
    other = ImageSet("cifar10", "train", fake_images.x[::-1].copy(), fake_images.y[::-1].copy(), "synthetic", "rev")
    c = zn.Scorer("nb201", "synflow", images=other, batch_size=8, **kw).score_arch(arch)[0]
    assert c.protocol_hash != a.protocol_hash
    plain = zn.Scorer("nb201", "synflow", images=fake_images, batch_size=8).protocol(get_proxy("synflow"))
    assert "fast_training" not in plain and "data" in plain  # without training: keys as before
