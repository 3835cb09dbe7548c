"""Parameter and FLOP counts of a network, by NAS-Bench-Suite-Zero's rules: used by the size proxies, the
spaces' closed-form counts and the search constraints (torch only, so that any layer may use them)."""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Every parameter of ``model``, frozen ones too (``requires_grad=False``): the network's size, as the
    benchmarks' params columns count it; one count for the params proxy, --max-params and Pareto's params."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, x: torch.Tensor, macs_only: bool = False) -> int:
    """``count_flops_detail``'s count alone (one forward, no operator tracing)."""
    return count_flops_detail(model, x, macs_only, trace=False)[0]


def count_flops_detail(model: nn.Module, x: torch.Tensor, macs_only: bool = False,
                       trace: bool = True) -> tuple[int, int]:
    """Operations of one forward pass, counted as NAS-Bench-Suite-Zero's table does (NASLib's model stats,
    i.e. tensorwatch's per-module rules): conv/linear MACs (+1 per output for a conv bias), BN 2 per element
    (1 without affine), ReLU 1 per element, pooling k*k per output, and adaptive (global) pooling
    (h + 1)(w + 1) per output for an h x w window: that rule's off-by-one, 5,184 for NB201's 64 x 8 x 8
    global pooling at 32 px and 1,600 at 16 px. ``macs_only``: the conv/linear multiply-accumulates and
    nothing else, NAS-Bench-Macro's ``flops`` column (equal on every row checked,
    ``tests/test_search_constraints.py``). Returns (the count for one sample, the multiply-accumulates per
    sample of convolutions and matrix products that ran outside ``nn.Conv2d``/``nn.Linear`` modules and are
    therefore not in the count: ``F.conv2d``/``torch.matmul`` calls, attention; measured by torch's
    ``FlopCounterMode`` when ``trace``, else 0)."""
    total = hooked = 0

    def hook(module, inputs, output):
        nonlocal total, hooked
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += output.numel() * (k + (module.bias is not None and not macs_only))
            hooked += output.numel() * k
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
            hooked += output.numel() * module.in_features
        elif macs_only:
            return
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            total += (2 if module.affine else 1) * output.numel()
        elif isinstance(module, nn.ReLU):
            total += output.numel()
        elif isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
            k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
            total += output.numel() * k * k
        elif isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            total += output.shape[0] * output.shape[1] * adaptive_window_sum(inputs[0].shape[-2:], output.shape[-2:])

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    traced = None
    try:
        with torch.no_grad():
            model.eval()
            if trace:
                from torch.utils.flop_counter import FlopCounterMode

                # eval-mode attention takes torch's fused fast path, which the counter has no formula for
                fast = torch.backends.mha.get_fastpath_enabled()
                torch.backends.mha.set_fastpath_enabled(False)
                try:
                    with FlopCounterMode(display=False) as counter:
                        model(x)
                finally:
                    torch.backends.mha.set_fastpath_enabled(fast)
                traced = counter.get_total_flops() // 2  # (it counts 2 per multiply-accumulate)
            else:
                model(x)
            model.train()
    finally:
        for h in handles:
            h.remove()
    unseen = max(0, traced - hooked) if traced is not None else 0
    return total // x.shape[0], unseen // x.shape[0]


def adaptive_window_sum(size_in, size_out) -> int:
    """Sum over output cells of (rows + 1) * (cols + 1) of each adaptive-pooling window (PyTorch's windows:
    floor(i * n / m) to ceil((i + 1) * n / m)), the table's rule for one channel."""
    def spans(n, m):
        return [-(-(i + 1) * n // m) - (i * n // m) + 1 for i in range(m)]

    rows, cols = spans(size_in[0], size_out[0]), spans(size_in[1], size_out[1])
    return sum(rows) * sum(cols)
