"""Each proxy against a value derived by hand, plus invariance/sanity properties."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import zeronas as zn
from zeronas.proxies import get_proxy, list_proxies
from zeronas.proxies.az_nas import expressivity_of, trainability_of
from zeronas.proxies.das import decompose
from zeronas.proxies.jacobian import K_EPS, epe_from_jacobian, jacob_cov_from_jacobian
from zeronas.proxies.meco import min_eig_channel_corr
from zeronas.proxies.naswot import hamming_kernels, logdet
from zeronas.proxies.size import count_flops
from zeronas.proxies.swap import count_distinct_codes, pack_sign_codes, swap_from_activations
from zeronas.proxies.tenas import activation_patterns, condition_number, count_distinct_rows, ntk, ntk_regression_mse
from zeronas.proxies.zeros import connection_sensitivity
from zeronas.proxies.zico import zico_from_grads

from .conftest import BEST, TinyCtx

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


def test_nwot_hooks_relu_named_modules_like_the_reference():
    net = space.build(BEST, C=4, N=1)
    n_relu = sum(isinstance(m, nn.ReLU) for m in net.modules())
    n_named = sum("ReLU" in type(m).__name__ for m in net.modules())
    assert n_named > n_relu  # ReLUConvBN blocks are counted as in BayesWatch/NASLib


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
    same = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])  # corrcoef = all ones: eigenvalues 0 and 2
    expected = -(math.log(k) + 1 / k + math.log(2 + k) + 1 / (2 + k))
    assert math.isclose(jacob_cov_from_jacobian(same), expected, rel_tol=1e-6)
    assert math.isnan(jacob_cov_from_jacobian(np.array([[1.0, 1.0], [1.0, 2.0]])))  # constant row


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
    assert zico_from_grads([np.ones((2, 3))]) == 0.0  # all std 0: layer skipped


def test_meco_min_eigenvalue_by_hand():
    correlated = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    assert abs(min_eig_channel_corr(correlated)) < 1e-12
    orthogonal = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    assert math.isclose(min_eig_channel_corr(orthogonal), 1.0)


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
    assert math.isnan(condition_number(torch.zeros(2, 2, dtype=torch.float64)))


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
    x = torch.randn(64, 3, 16, 16, requires_grad=True)
    z = 2 * x  # Jacobian 2I: s = 2 (up to Rademacher noise ~1/sqrt(16384)) -> -2 - 1/2 + 2
    assert trainability_of(x, z, torch.Generator().manual_seed(0)) == pytest.approx(-0.5, abs=0.05)


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
    with pytest.raises(zn.UserError, match="isomorph member"):
        zn.Scorer("nb201", "snip", images=fake_images, isomorph_member="first")


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
