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
