"""Candidate operations shared by the cell-based spaces, and the mixed edge that holds them."""

from __future__ import annotations

import time

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
    return (x.device.type == "cpu" and x.dim() == 4 and _layout(x) is not None and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export())


def _layout(x: torch.Tensor):
    if x.is_contiguous():
        return torch.contiguous_format
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else None


def _window_span(n_out: int, n_in: int, k_offset: int, stride: int, padding: int) -> tuple[int, int, int]:
    """Outputs o in [lo, hi) whose window element ``k_offset`` falls inside the input (0 <= o*s - p + d < n),
    and the input index of the first one."""
    lo = max(0, -(-(padding - k_offset) // stride))
    hi = min(n_out, (n_in - 1 + padding - k_offset) // stride + 1)
    return lo, max(lo, hi), lo * stride - padding + k_offset


_COUNTS: dict = {}


def _window_counts(shape, k: int, s: int, p: int, dtype) -> torch.Tensor:
    """[Ho, Wo] number of input elements in each output's window (count_include_pad=False), cached per shape."""
    key = (*shape[-2:], k, s, p, dtype)
    if key not in _COUNTS:
        (H, W), (Ho, Wo) = shape[-2:], _pool_out(shape, k, s, p)
        rows = torch.tensor([min(o * s - p + k, H) - max(o * s - p, 0) for o in range(Ho)])
        cols = torch.tensor([min(o * s - p + k, W) - max(o * s - p, 0) for o in range(Wo)])
        _COUNTS[key] = (rows[:, None] * cols[None, :]).to(dtype)
    return _COUNTS[key]


def _pool_out(shape, k: int, s: int, p: int) -> tuple[int, int]:
    return (shape[-2] + 2 * p - k) // s + 1, (shape[-1] + 2 * p - k) // s + 1


def _slices(shape, out_shape, k: int, s: int, p: int, reverse: bool = False):
    """Per window offset (di, dj): (output region, input strided region) it pairs, in row-major offset order
    (reversed: the order in which torch's backward reaches one input from its outputs)."""
    (H, W), (Ho, Wo) = shape[-2:], out_shape[-2:]
    offsets = range(k - 1, -1, -1) if reverse else range(k)
    for di in offsets:
        h0, h1, ih = _window_span(Ho, H, di, s, p)
        for dj in offsets:
            w0, w1, iw = _window_span(Wo, W, dj, s, p)
            if h1 > h0 and w1 > w0:
                yield ((..., slice(h0, h1), slice(w0, w1)),
                       (..., slice(ih, ih + (h1 - h0 - 1) * s + 1, s), slice(iw, iw + (w1 - w0 - 1) * s + 1, s)))


def _shifted_sum_pool(x: torch.Tensor, k: int, s: int, p: int) -> torch.Tensor:
    """avg_pool2d(x, k, s, p, count_include_pad=False) as k*k strided-slice adds: each output adds its window in
    torch's CPU kernel order (row-major, out-of-range elements skipped; 0 + x is exact) and is divided by the
    same count, so the values are torch's to the last bit (``tests/test_nb201_space.py``). x's layout is kept."""
    out = torch.empty((*x.shape[:2], *_pool_out(x.shape, k, s, p)), dtype=x.dtype,
                      memory_format=_layout(x)).zero_()
    for o, i in _slices(x.shape, out.shape, k, s, p):
        out[o] += x[i]
    return out.div_(_window_counts(x.shape, k, s, p, x.dtype))


def _shifted_sum_pool_backward(grad: torch.Tensor, x_shape, layout, k: int, s: int, p: int) -> torch.Tensor:
    """avg_pool2d_backward by strided-slice adds: each input sums grad/count of the outputs whose window holds
    it, in torch's order (outputs row-major, i.e. window offsets descending), so again the very same bits."""
    share = grad / _window_counts(x_shape, k, s, p, grad.dtype)
    gin = torch.empty(x_shape, dtype=grad.dtype, memory_format=layout).zero_()
    for o, i in _slices(x_shape, grad.shape, k, s, p, reverse=True):
        gin[i] += share[o]
    return gin


def _kernel_pool(x: torch.Tensor, k: int, s: int, p: int) -> torch.Tensor:
    """torch's pooling kernel on a channels-last copy (its NCHW CPU kernel is 2-4x slower for the same bits)."""
    out = F.avg_pool2d(x.contiguous(memory_format=torch.channels_last), k, s, p, count_include_pad=False)
    return out.contiguous(memory_format=_layout(x))


def _kernel_pool_backward(grad: torch.Tensor, x_shape, layout, k: int, s: int, p: int) -> torch.Tensor:
    # the backward reads the input's shape and layout only, never its values: an uninitialised stand-in
    stand_in = torch.empty(x_shape, dtype=grad.dtype, memory_format=torch.channels_last)
    g = torch.ops.aten.avg_pool2d_backward(grad.contiguous(memory_format=torch.channels_last), stand_in,
                                           [k, k], [s, s], [p, p], False, False, None)
    return g.contiguous(memory_format=layout)


_POOL_PICK: dict = {}  # (direction, shape, k, s, p, dtype, layout, threads) -> the faster of the two exact ways


def _faster(key, candidates):
    """The quicker of two ways to the same bits, timed once per key on the call's own tensors (best of two
    runs each, after a warm-up): which one wins is a matter of the host and of the shape (on a 2-core AMD EPYC
    the slice adds were 3x quicker at 64x16x32x32 and 2x slower at 64x64x8x8)."""
    if key not in _POOL_PICK:
        best = {}
        for name, fn in candidates.items():
            fn()
            times = []
            for _ in range(2):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            best[name] = min(times)
        _POOL_PICK[key] = min(best, key=best.get)
    return candidates[_POOL_PICK[key]]


class _CpuAvgPool(torch.autograd.Function):
    """avg_pool2d (count_include_pad=False) of a CPU tensor, forward and backward, computed the quicker of two
    exact ways: torch's kernel on a channels-last copy, or k*k strided-slice adds in torch's summation order.
    Both give nn.AvgPool2d's values and gradients to the last bit (``tests/test_nb201_space.py``); output and
    input gradient keep the input's layout. A backward that builds a graph (GraSP's Hessian-vector product)
    takes PyTorch's own backward, whose derivative autograd knows.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        k, s, p = kernel_size, stride, padding
        layout = _layout(x)
        ctx.args = (tuple(x.shape), layout, k, s, p)
        key = ("forward", tuple(x.shape), k, s, p, x.dtype, layout, torch.get_num_threads())
        return _faster(key, {"kernel": lambda: _kernel_pool(x, k, s, p),
                             "slices": lambda: _shifted_sum_pool(x, k, s, p)})()

    @staticmethod
    def backward(ctx, grad):
        shape, layout, k, s, p = ctx.args
        if torch.is_grad_enabled():
            stand_in = torch.empty(shape, dtype=grad.dtype, memory_format=layout)
            g = torch.ops.aten.avg_pool2d_backward(grad, stand_in, [k, k], [s, s], [p, p], False, False, None)
            return g, None, None, None
        key = ("backward", shape, k, s, p, grad.dtype, layout, torch.get_num_threads())
        return _faster(key, {"kernel": lambda: _kernel_pool_backward(grad, shape, layout, k, s, p),
                             "slices": lambda: _shifted_sum_pool_backward(grad, shape, layout, k, s, p)})(), \
            None, None, None


class AvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` with a square kernel and count_include_pad=False whose CPU forward and backward run
    the quicker of two exact ways (same values, 2-4x faster; see ``_CpuAvgPool``)."""

    def __init__(self, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__(kernel_size, stride=stride, padding=padding, count_include_pad=False)

    def forward(self, x):
        if _cpu_pool_fast_path(x):
            return _CpuAvgPool.apply(x, self.kernel_size, self.stride, self.padding)
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
