"""The forward pass nwot, the loss-gradient proxies and the Jacobian proxies share (proxies/shared_pass.py)
gives each proxy the very value its own pass gives, and runs once per architecture."""

import math

import numpy as np
import pytest
import torch

import zeronas as zn
from zeronas.proxies import shared_pass

FAMILIES = ["nwot", "das", "das_layerwise", "snip", "grad_norm", "plain", "fisher", "grasp", "jacob_cov", "epe_nas"]
ARCHS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
         "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|skip_connect~1|none~2|",
         # no path from the input: J = 0 (jacob_cov undefined) and every code alike (nwot singular)
         "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"]


def _values(records):
    return {(r.arch, r.proxy): (r.value, r.reason) for r in records}


def _same(a, b) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_shared_forward_gives_every_proxy_its_own_pass_value(fake_images):
    together = _values(zn.Scorer("nb201", FAMILIES, images=fake_images, batch_size=16).score(ARCHS))
    alone = {}
    for p in FAMILIES:
        alone.update(_values(zn.Scorer("nb201", [p], images=fake_images, batch_size=16).score(ARCHS)))
    assert together.keys() == alone.keys()
    for k in alone:  # bit-identical, reasons included
        assert _same(together[k][0], alone[k][0]) and together[k][1] == alone[k][1], (k, together[k], alone[k])
    assert not math.isfinite(together[(ARCHS[2], "jacob_cov")][0])


@pytest.fixture
def passes(monkeypatch):
    """The taps of every shared forward pass run while the test runs, one sorted list per pass."""
    calls = []
    real = shared_pass.run

    def counting(ctx, taps, proxy):
        calls.append(sorted(t.key for t in taps))
        return real(ctx, taps, proxy)

    monkeypatch.setattr(shared_pass, "run", counting)
    return calls


def test_one_forward_per_architecture_for_all_three_families(fake_images, passes):
    calls = passes
    zn.Scorer("nb201", "nwot,snip,fisher,jacob_cov,synflow", images=fake_images, batch_size=8).score_arch(ARCHS[0])
    assert calls == [["hamming", "input_jacobian", "loss_grads"]]
    calls.clear()
    zn.Scorer("nb201", "nwot", images=fake_images, batch_size=8).score_arch(ARCHS[0])  # nwot alone: no backward
    assert calls == [["hamming"]]


def test_fisher_counts_the_loss_backward_only(fake_images):
    """The Jacobian backward runs through the same graph after the loss backward: fisher's gradient hooks must
    not add its gradients (that would change fisher whenever jacob_cov is asked too)."""
    with_jac = _values(zn.Scorer("nb201", "fisher,jacob_cov", images=fake_images, batch_size=8).score_arch(ARCHS[0]))
    alone = _values(zn.Scorer("nb201", "fisher", images=fake_images, batch_size=8).score_arch(ARCHS[0]))
    key = (ARCHS[0], "fisher")
    assert with_jac[key] == alone[key] and np.isfinite(alone[key][0]) and alone[key][0] > 0


def test_a_context_without_a_plan_computes_only_what_is_asked(fake_images):
    scorer = zn.Scorer("nb201", "snip", images=fake_images, batch_size=8)
    ctx = scorer.context(ARCHS[0])  # no plan(): e.g. a supernet or a user's own loop
    zn.get_proxy("snip").fn(ctx)
    assert "loss_grads" in ctx.cache and "hamming" not in ctx.cache and "input_jacobian" not in ctx.cache
    before = torch.is_grad_enabled()
    zn.get_proxy("nwot").fn(ctx)
    assert "hamming" in ctx.cache and torch.is_grad_enabled() == before


def test_fisher_asked_of_a_pass_planned_without_it_is_recomputed_right(fake_images):
    """A pass planned for snip alone skips fisher's hooks; fisher asked afterwards runs its own pass."""
    from zeronas.proxies.shared_pass import plan

    scorer = zn.Scorer("nb201", "fisher", images=fake_images, batch_size=8)
    expected = scorer.score_arch(ARCHS[0])[0].value
    ctx = scorer.context(ARCHS[0])
    plan(ctx, ["snip"])
    snip = zn.get_proxy("snip").fn(ctx)
    assert ctx.cache["loss_grads"][1] is None
    assert zn.get_proxy("fisher").fn(ctx) == expected
    assert zn.get_proxy("snip").fn(ctx) == snip


def test_a_failing_family_fails_alone(fake_images, monkeypatch):
    """A loss backward that raises (e.g. labels a user's network cannot take; a space's network with too few
    outputs is now refused before scoring) fails snip and grad_norm, not nwot or jacob_cov, which share its
    forward pass."""
    import dataclasses

    def boom(*args, **kwargs):
        raise IndexError("Target 7 is out of bounds.")

    monkeypatch.setitem(shared_pass.TAPS, "loss_grads", dataclasses.replace(shared_pass.TAPS["loss_grads"],
                                                                             finish=boom))
    alone = {p: zn.Scorer("nb201", [p], images=fake_images, batch_size=8).score_arch(ARCHS[0])[0]
             for p in ("nwot", "jacob_cov")}
    together = {r.proxy: r for r in zn.Scorer("nb201", "nwot,snip,jacob_cov,grad_norm", images=fake_images,
                                              batch_size=8).score_arch(ARCHS[0])}
    for p in ("nwot", "jacob_cov"):
        assert together[p].error is None and together[p].value == alone[p].value
    assert "IndexError" in together["snip"].error and together["grad_norm"].error == together["snip"].error


def test_gradient_families_work_inside_a_callers_no_grad(fake_images):
    expected = _values(zn.Scorer("nb201", "snip,jacob_cov", images=fake_images, batch_size=8).score_arch(ARCHS[0]))
    with torch.no_grad():
        got = _values(zn.Scorer("nb201", "snip,jacob_cov", images=fake_images, batch_size=8).score_arch(ARCHS[0]))
    assert got == expected and all(math.isfinite(v) for v, _ in got.values())


def test_grasp_at_another_temperature_does_not_plan_the_loss_pass(fake_images):
    scorer = zn.Scorer("nb201", "nwot,grasp", images=fake_images, batch_size=8, options={"grasp": {"temperature": 2.0}})
    ctx = scorer.context(ARCHS[0])
    shared_pass.plan(ctx, ["nwot", "grasp"], scorer.options)
    assert ctx.planned == frozenset({"nwot"})
    shared_pass.plan(ctx, ["nwot", "grasp"], {"grasp": {"temperature": 1.0}})
    assert ctx.planned == frozenset({"nwot", "grasp"})


def test_a_users_model_shares_the_pass_across_its_proxies(passes):
    from torch import nn

    from zeronas.models import ModelScorer

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 4))
    x = torch.randn(32, 3, 16, 16)
    data = (x, torch.arange(32) % 4)
    recs = {r.proxy: r.value for r in ModelScorer(model, ["nwot", "snip", "fisher", "jacob_cov"], data=data,
                                                  batch_size=8).score_model()}
    assert passes == [["hamming", "input_jacobian", "loss_grads"]]
    for p, v in recs.items():  # each as it would be alone
        (alone,) = ModelScorer(model, [p], data=data, batch_size=8).score_model()
        assert alone.value == v, p


def test_meco_counts_a_shared_output_tensor_once_per_module():
    """meco sums min-eig over every module's output; a container returns its last child's very tensor, whose
    eigenvalue is computed once and counted twice, as per-module evaluation would."""
    from torch import nn

    from zeronas.proxies.meco import meco, min_eig_channel_corr

    torch.manual_seed(0)
    inner = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    model = nn.Sequential(inner, nn.Conv2d(4, 6, 1))

    class Ctx:
        device = torch.device("cpu")

        def model(self):
            return model

        def generator(self, offset=0):
            return torch.Generator().manual_seed(offset)

    x = torch.randn((1, 3, 8, 8), generator=Ctx().generator(23))
    with torch.no_grad():
        conv1 = inner[0](x)
        relu = inner[1](conv1)
        conv2 = model[1](relu)
    # forward hooks fire as modules finish: conv1, relu, inner (the ReLU's very tensor), conv2, model (conv2's)
    expected = sum(min_eig_channel_corr(t[0]) for t in (conv1, relu, relu, conv2, conv2))
    assert meco(Ctx(), input_size=8) == expected
