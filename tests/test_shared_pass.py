"""The forward pass nwot, the loss-gradient proxies and the Jacobian proxies share (proxies/shared_pass.py)
gives each proxy the very value its own pass gives, and runs once per architecture."""

import math

import numpy as np
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


def test_one_forward_per_architecture_for_all_three_families(fake_images, monkeypatch):
    calls = []
    real = shared_pass.run

    def counting(ctx, taps, proxy):
        calls.append(sorted(t.key for t in taps))
        return real(ctx, taps, proxy)

    monkeypatch.setattr(shared_pass, "run", counting)
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
