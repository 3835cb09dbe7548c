"""Candidate operations shared by the cell-based spaces, and the mixed edge that holds them."""

from __future__ import annotations

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv -> BN, the NB201 / DARTS convolution block."""

    def __init__(self, C_in, C_out, kernel_size, stride=1, padding=0, dilation=1, affine=True,
                 track_running_stats=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )


class AvgPool(nn.Module):
    """3x3 average pooling (count_include_pad=False, as in NB201 and DARTS)."""

    def __init__(self, stride=1):
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x):
        if (x.device.type == "cpu" and x.dim() == 4 and not (torch.is_grad_enabled() and x.requires_grad)
                and not torch.jit.is_tracing()):
            # CPU pooling of NCHW tensors is 2-4x slower than of channels-last ones, which give the very same
            # values (each output sums its window in the same order); without autograd only, since the
            # channels-last backward is no faster and would hand channels-last gradients upstream. Not while
            # tracing (export): a traced graph must not depend on the grad mode of the run that checks it
            y = self.pool(x.contiguous(memory_format=torch.channels_last))
            return y.contiguous()
        return self.pool(x)


class ResNetBasicBlock(nn.Module):
    """The NB201 reduction block: two 3x3 ReLUConvBN plus an avg-pool + 1x1 conv shortcut."""

    def __init__(self, C_in, C_out, stride=2, affine=True, track_running_stats=True):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, 1, affine, track_running_stats)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(C_in, C_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class MixedEdge(nn.Module):
    """One cell edge holding one or more candidate ops.

    ``op_index[k]`` is the index, in the space's op list, of ``ops[k]``. A discrete network has a single
    op per edge and ignores mixing weights; a supernet edge computes ``sum_o w[o] * op_o(x)`` and skips
    ops whose weight is exactly zero (their contribution and their gradient w.r.t. any weight is zero,
    except the gradient w.r.t. that op's own weight, which callers that need it must request with
    ``keep_zero=True``). The ``none`` op is never instantiated: it contributes nothing.
    """

    def __init__(self, ops: list[tuple[int, nn.Module]]):
        super().__init__()
        self.op_index = [i for i, _ in ops]
        self.ops = nn.ModuleList([m for _, m in ops])

    def forward(self, x, weights=None, active=None):
        if weights is None:
            if len(self.ops) != 1:
                raise RuntimeError("a mixed edge with several ops needs mixing weights")
            return self.ops[0](x)
        out = None
        for k, op in enumerate(self.ops):
            i = self.op_index[k]
            if active is not None and not active[i]:
                continue
            y = weights[i] * op(x)
            out = y if out is None else out + y
        return out


def edge_sum(terms):
    """Sum of a node's incoming edge outputs; ``None`` entries are zero edges."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else out + t
    return out
