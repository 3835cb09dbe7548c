"""Proxies evaluated on a supernet with explicit mixing weights (Zero-Cost-PT, TE-NAS pruning)."""

from __future__ import annotations

import torch
from torch import nn

from ..proxies.context import ScoringContext


class WeightedSupernet(nn.Module):
    """A supernet bound to one [E, O] mixing-weight tensor, so any proxy sees a plain ``forward(x)``."""

    def __init__(self, supernet: nn.Module, weights: torch.Tensor):
        super().__init__()
        self.net = supernet
        self.register_buffer("mix", weights.detach().clone())

    def forward(self, x):
        return self.net(x, weights=self.mix.to(x.dtype))

    def forward_pre_gap(self, x):
        return self.net.forward_pre_gap(x, weights=self.mix.to(x.dtype))


class SupernetContext(ScoringContext):
    """A ScoringContext whose network is a given supernet under given weights, restored before each proxy."""

    def __init__(self, space, supernet, weights, batch, *, mode="eval", **kwargs):
        super().__init__(space, space.sample(0), **kwargs)
        self._bound = WeightedSupernet(supernet, weights)
        self._state = {k: v.detach().clone() for k, v in self._bound.state_dict().items()}
        self._mode = mode
        self._fixed_batch = batch

    def model(self, dtype=torch.float32):
        m = self._bound.to(dtype)
        m.load_state_dict(self._state)
        m.train(self._mode == "train")
        m.zero_grad(set_to_none=True)
        return m

    def batch(self, index=0, size=None, proxy=""):
        return self._fixed_batch


class TEContext:
    """The fixed setting TE-NAS and TEG-NAS measure supernets in.

    ``repeat`` independent pairs of supernets, built once: a ``C``x``N`` one for the NTK (and the TEG-NAS
    regression error) and TE-NAS's 1-channel, 1-cell, stem-less one for linear regions. Per repeat, a
    training batch and the 3x3 crops for linear regions. ``shared_batch`` gives every repeat the same first
    batch (TEG-NAS's ``num_batch=1`` reuse); otherwise repeat r draws its own (TE-NAS). ``init`` is
    ``torch-default`` (what both official codes actually run: their Kaiming init never matches) or
    ``kaiming`` (what they intend).
    """

    def __init__(self, space, scorer, *, repeat=3, batch_size=64, C=16, N=5, init="torch-default", seed=0,
                 lr_samples=1000, lr_batches=3, shared_batch=False, heldout=False):
        from ..data import make_batch
        from ..errors import UserError
        from ..proxies.context import apply_init

        if init not in ("torch-default", "kaiming"):
            raise UserError(f"--init must be torch-default or kaiming, not {init!r}")
        if scorer.images is None:
            raise UserError("this method needs training images (NTK and linear regions); pass --data cifar10")
        self.space, self.device, self.num_classes = space, scorer.device, scorer.num_classes
        self.pairs = []
        for r in range(repeat):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed * 1000 + r)
                big = space.supernet(C=C, N=N, num_classes=self.num_classes).to(self.device)
                thin = space.supernet(**space.thin_supernet, num_classes=self.num_classes).to(self.device)
                apply_init(big, "kaiming-fanout" if init == "kaiming" else "torch-default")
                apply_init(thin, "kaiming" if init == "kaiming" else "torch-default")
            self.pairs.append((big, thin))
        self.batches, self.crops, self.heldout = [], [], []
        for r in range(repeat):
            b = 0 if shared_batch else r
            ctx = ScoringContext(space, space.sample(0), images=scorer.images, seed=seed + b, device=self.device)
            self.batches.append(make_batch(scorer.images, batch_size, seed + b, 0).to(self.device))
            self.crops.append(list(ctx.crops(lr_samples * lr_batches, 3, 1).split(lr_samples)))
            if heldout:
                held = scorer._heldout() or scorer.images
                self.heldout.append(make_batch(held, batch_size, seed + b, 1 if held is scorer.images else 0)
                                    .to(self.device))
        # what the measurements depend on beyond the method's settings: the images (a stand-in says so) and the
        # classifier's width; it keys stored measurements, so a CIFAR-100 search never replays a CIFAR-10 one
        self.data = {**scorer._data_protocol, "num_classes": scorer.num_classes, "input_size": scorer.input_size}

    @staticmethod
    def weights_for(mask: torch.Tensor) -> torch.Tensor:
        """Uniform mixing weights over the ops a boolean [E, O] mask keeps (softmax of 0 / -inf); an edge with
        no op left (DARTS topology) is all zero."""
        w = torch.softmax(torch.zeros(mask.shape).masked_fill(~mask, float("-inf")), dim=-1)
        return torch.nan_to_num(w, nan=0.0)

    def measure(self, mask: torch.Tensor, r: int, mse: bool = False) -> dict:
        """kappa (NTK condition number, NaN when singular), R (linear regions) and, with ``mse``, the TEG-NAS
        kernel-regression error of the supernet restricted to ``mask``, on repeat ``r``."""
        import math

        from torch.nn.functional import one_hot

        from ..proxies.base import gram, per_sample_output_grads
        from ..proxies.tenas import activation_patterns, condition_number, count_distinct_rows, ntk_regression_mse

        big, thin = self.pairs[r]
        w = self.weights_for(mask).to(self.device)
        wide = WeightedSupernet(big, w).train()
        x = self.batches[r].x
        names = [n for n, p in wide.named_parameters() if p.requires_grad and ("weight" in n or (mse and "cell" in n))]
        params = dict(wide.named_parameters())
        gx = per_sample_output_grads(wide, x, [params[n] for n in names], aligned=True, lower="--batch-size")
        # one Jacobian of the training batch serves both the NTK (weights) and the regression (cell parameters)
        theta = gram([g for n, g in zip(names, gx) if "weight" in n and g is not None])
        out = {"kappa": math.nan if theta is None else condition_number(theta)}
        codes = activation_patterns(WeightedSupernet(thin, w).train(), self.crops[r])
        out["regions"] = float(count_distinct_rows(codes)) if codes.shape[1] else 1.0
        if mse:
            cell = [n for n in names if "cell" in n]
            y = self.heldout[r]
            gy = per_sample_output_grads(wide, y.x, [params[n] for n in cell], aligned=True,
                                        lower="--batch-size")
            keep = [i for i, n in enumerate(cell) if gy[i] is not None]
            gxc = [g for n, g in zip(names, gx) if "cell" in n]
            k = self.num_classes
            out["mse"] = ntk_regression_mse([gxc[i] for i in keep], [gy[i] for i in keep],
                                            one_hot(self.batches[r].y, k), one_hot(y.y, k))
        return out
