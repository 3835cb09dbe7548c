"""Candidate operations shared by the cell-based spaces, and the mixed edge that holds them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


def _cpu_pool_fast_path(x: torch.Tensor) -> bool:
    # not while tracing (export): a traced graph must not hold a Python-defined op
    return (x.device.type == "cpu" and x.dim() == 4 and x.is_contiguous() and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export())


class _ChannelsLastAvgPool(torch.autograd.Function):
    """avg_pool2d of an NCHW CPU tensor computed on a channels-last copy, forward and backward.

    PyTorch's CPU pooling of NCHW tensors (2.13) is 2-4x slower than of channels-last ones, which give the
    very same values: each output sums its window in the same order and divides by the same count, and the
    backward adds each output's share to the inputs in the same order (``tests/test_spaces.py`` checks
    equality to the last bit). Output and input gradient come back NCHW, so nothing upstream changes layout.
    A backward that builds a graph (GraSP's Hessian-vector product) takes PyTorch's own NCHW backward, whose
    derivative autograd knows.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        xc = x.contiguous(memory_format=torch.channels_last)
        ctx.args = (kernel_size, stride, padding)
        ctx.save_for_backward(x, xc)
        return F.avg_pool2d(xc, kernel_size, stride, padding, count_include_pad=False).contiguous()

    @staticmethod
    def backward(ctx, grad):
        x, xc = ctx.saved_tensors
        k, s, p = ctx.args
        if torch.is_grad_enabled():
            g = torch.ops.aten.avg_pool2d_backward(grad, x, [k, k], [s, s], [p, p], False, False, None)
        else:
            g = torch.ops.aten.avg_pool2d_backward(grad.contiguous(memory_format=torch.channels_last), xc,
                                                   [k, k], [s, s], [p, p], False, False, None).contiguous()
        return g, None, None, None


class AvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` with a square kernel and count_include_pad=False whose CPU forward and backward run
    on a channels-last copy (same values, 2-4x faster; see ``_ChannelsLastAvgPool``)."""

    def __init__(self, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__(kernel_size, stride=stride, padding=padding, count_include_pad=False)

    def forward(self, x):
        if _cpu_pool_fast_path(x):
            return _ChannelsLastAvgPool.apply(x, self.kernel_size, self.stride, self.padding)
        return super().forward(x)


class AvgPool(nn.Module):
    """3x3 average pooling (count_include_pad=False, as in NB201 and DARTS)."""

    def __init__(self, stride=1):
        super().__init__()
        self.pool = AvgPool2d(3, stride=stride, padding=1)

    def forward(self, x):
        return self.pool(x)


class ResNetBasicBlock(nn.Module):
    """The NB201 reduction block: two 3x3 ReLUConvBN plus an avg-pool + 1x1 conv shortcut."""

    def __init__(self, C_in, C_out, stride=2, affine=True, track_running_stats=True):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, 1, affine, track_running_stats)
        self.downsample = nn.Sequential(
            AvgPool2d(2, stride=2, padding=0),
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
