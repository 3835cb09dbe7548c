"""FreeDARTS's ``code`` protocol (the released notebooks' ZEROS) and its ``bn-bypass`` alternative."""

import collections
import copy
import sys

import pytest
import torch
from torch import nn

import zeronas as zn
from zeronas.errors import UserError
from zeronas.proxies.zeros import connection_sensitivity_code
from zeronas.search import search
from zeronas.search.freedarts import code_supernet

darts = zn.space("darts")
nb201 = zn.space("nb201")


class OneEdge(nn.Module):
    """One edge mixing identity, a conv and a BN by ``weights`` (the supernets' ``forward(x, weights=W)``)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(3)
        with torch.no_grad():
            self.conv.weight.copy_(-torch.arange(81.0).reshape(3, 3, 3, 3) / 81)  # negative: |theta| shows

    def forward(self, x, weights):
        w = weights[0]
        return (w[0] * x + w[1] * self.conv(x) + w[2] * self.bn(x)).flatten(1)


def test_code_score_is_raw_alpha_times_hand_gradient():
    """R = a0 sum(1) + a1 sum(conv_|W|(1)) + a2 sum(BN_train(1)): linear in the raw alpha (no softmax), so
    dR/da_o is the op's output sum; BN in train mode maps the constant image to 0 (eval mode would not)."""
    model = OneEdge()
    alpha = torch.tensor([[0.003, -0.002, 0.001]])
    scores, r = connection_sensitivity_code(model, alpha, (1, 3, 4, 4))
    ones = torch.ones(1, 3, 4, 4)
    conv_sum = nn.functional.conv2d(ones, model.conv.weight.detach().abs(), padding=1).sum()
    expected = torch.stack([0.003 * ones.sum(), 0.002 * conv_sum, torch.tensor(0.0)])
    assert torch.allclose(scores[0], expected, rtol=1e-5, atol=1e-9)
    assert r == pytest.approx(0.003 * 48 - 0.002 * float(conv_sum), rel=1e-5)


def test_code_score_matches_finite_differences_on_a_darts_supernet():
    """On a real (tiny) DARTS supernet, |alpha dR/dalpha| equals alpha times a central difference of R in
    the raw alpha (float64, same |theta| and train-mode BN)."""
    from zeronas.proxies.synflow import linearized

    sup, alpha = code_supernet(darts, 0, 2, 3, 10)
    alpha = alpha.double()
    scores, _ = connection_sensitivity_code(sup, alpha, (1, 3, 8, 8), dtype=torch.float64)
    net = linearized(copy.deepcopy(sup), torch.float64).train()
    x = torch.ones(1, 3, 8, 8, dtype=torch.float64)
    h = 1e-7
    for e, o in [(3, 1), (20, 7)]:
        up, down = alpha.clone(), alpha.clone()
        up[e, o] += h
        down[e, o] -= h
        with torch.no_grad():
            d = (net(x, weights=up).sum() - net(x, weights=down).sum()) / (2 * h)
        assert scores[e, o].item() == pytest.approx(abs(alpha[e, o].item() * d.item()), rel=1e-4)


def test_code_protocol_leaves_the_callers_supernet_untouched():
    sup, alpha = code_supernet(darts, 0, 2, 3, 10)
    sup.eval()
    before = {k: v.clone() for k, v in sup.state_dict().items()}
    connection_sensitivity_code(sup, alpha, (1, 3, 8, 8))
    after = sup.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # signs, BN statistics, dtype all kept
    assert not sup.training and next(sup.parameters()).dtype == torch.float32


def test_code_protocol_mixes_ops_and_differs_across_seeds():
    genos = [darts.parse(search("darts", "freedarts", protocol="code", seed=s, C=4, N=3).arch) for s in (0, 1)]
    for g in genos:
        ops = collections.Counter(op for op, _ in g.normal + g.reduce)
        assert len(ops) >= 3 and "none" not in ops  # not one op on every edge
    assert genos[0] != genos[1]


def test_default_protocols_and_record():
    r = search("darts", "freedarts", seed=0, C=2, N=3)
    assert r.protocol["protocol"] == "code" and r.protocol["mixing"] == "raw alpha, no softmax"
    assert r.protocol["dtype"] == "float32" and r.protocol["alpha_abs"] is False
    assert isinstance(r.protocol["R"], float)
    r = search("nb201", "freedarts", seed=0, C=4, N=1)
    assert r.protocol["protocol"] == "code" and r.protocol["alpha_init"] == "random"
    assert r.protocol["alpha_abs"] is True and "none" not in nb201.parse(r.arch)  # NB201's alpha is in the state dict
    r = search("nb201", "freedarts", seed=0, C=4, N=1, protocol="bn-bypass")
    assert r.protocol["protocol"] == "bn-bypass" and r.protocol["alpha_init"] == "zero"


@pytest.mark.parametrize("bad, match", [(float("nan"), "NaN/inf on 28 of 28 edges"),
                                        (0.0, "0 for every op on every edge")])
def test_code_protocol_refuses_scores_it_cannot_rank(monkeypatch, bad, match):
    """The released NB201 notebook's NaN scores made its argmax pick `none` everywhere: here it is an error."""
    def fake(model, alpha, shape, **kw):
        return torch.full(alpha.shape, bad), bad

    monkeypatch.setattr(sys.modules["zeronas.search.freedarts"], "connection_sensitivity_code", fake)
    with pytest.raises(UserError, match=match) as e:
        search("darts", "freedarts", protocol="code", seed=0, C=2, N=3)
    assert "\n" not in str(e.value) and "bn-bypass" in str(e.value)


def test_notebook_run_with_alpha_one_overflows_and_is_refused():
    """alpha = 1 (the stored NB201 notebook run): the features reach ~3e19 and their squares overflow float32
    in the last BN; the scores carry no ranking and the check says so."""
    from zeronas.search.freedarts import _check_code_scores

    sup, alpha = code_supernet(nb201, 4, 16, 5, 10, alpha_init="ones")  # the notebook's C=16, N=5
    scores, r = connection_sensitivity_code(sup, alpha, (1, 3, 32, 32), abs_alpha=True)
    assert not bool((scores[:, 1:] > 0).all() and torch.isfinite(scores).all())
    mask = torch.ones_like(scores, dtype=torch.bool)
    mask[:, 0] = False
    with pytest.raises(UserError, match="FreeDARTS protocol 'code'"):
        _check_code_scores(scores, mask, r, "nb201")


def test_unknown_protocol_is_a_one_line_error():
    from zeronas.search.freedarts import freedarts

    with pytest.raises(UserError, match="--protocol must be code or bn-bypass for freedarts, not 'paper'") as e:
        freedarts(darts, protocol="paper", C=2, N=3)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="code.*bn-bypass") as e:  # the same through search()
        search("darts", "freedarts", seed=0, protocol="paper")
    assert "\n" not in str(e.value)


def test_code_protocol_refuses_alpha_zero():
    with pytest.raises(UserError, match="alpha = 0 switches every op off") as e:
        search("darts", "freedarts", seed=0, C=2, N=3, protocol="code", alpha_init="zero")
    assert "\n" not in str(e.value)


def test_bn_bypass_protocol_unchanged():
    """The float64, BN-bypassed variant still runs as before (uniform weights; random logits on request)."""
    for alpha_init in ("zero", "random"):
        r = search("nb201", "freedarts", protocol="bn-bypass", alpha_init=alpha_init, seed=0, C=4, N=1)
        assert r.protocol["protocol"] == "bn-bypass" and r.protocol["dtype"] == "float64"
        assert all(v > 0 for v in r.proxy_values.values())


def test_zeros_points_to_a_search_that_runs():
    """On nb301, zeros said "use 'zeronas search --space nb301 --method freedarts'", which is refused: every
    space where zeros is inapplicable with that advice names a space freedarts runs on."""
    import re

    from zeronas.proxies.base import Inapplicable, get_proxy
    from zeronas.search.base import check_method_on_space
    from zeronas.spaces import list_spaces, space

    advised = 0
    for name in list_spaces():
        sp = space(name)
        if not hasattr(sp, "ops") or not hasattr(sp, "edges") or sp.edge_weighted:
            continue

        class Ctx:
            pass

        ctx = Ctx()
        ctx.space = sp
        try:
            get_proxy("zeros").fn(ctx)
        except Inapplicable as exc:
            m = re.search(r"zeronas search --space (\S+) --method (\w+)", str(exc))
            assert m, exc
            check_method_on_space(space(m.group(1)), m.group(2))  # raises if the advice is refused
            advised += 1
    assert advised >= 2  # darts and nb301 at least
