"""NASWOT (v2, Mellor et al. ICML 2021): log|det K_H| of the ReLU-code Hamming kernel."""

from __future__ import annotations

import math
import time

import torch

from .base import Undefined, hooks, once_per_tensor, register, relu_modules
from .shared_pass import Tap, register_tap, shared

TWO_CODES = "the kernel compares the ReLU codes of different inputs (with one input it is N_A for any network)"


def hamming_kernels(model, x: torch.Tensor, per_layer: bool = False, by_name: bool = True):
    """K_H[i, j] = sum over ReLU units of 1[c_i == c_j], c = (ReLU input > 0), plus per-layer (K_l, N_l).
    ``by_name`` hooks modules as the reference code does (see ``relu_modules``).

    C C^T + (1-C)(1-C)^T = N_l - r_i - r_j + 2 (C C^T)_ij with r_i = (C C^T)_ii: one 0/1 matrix product
    (``active_gram``). It holds integers <= N_l, exact; the rest, and the sum over layers, is float64.
    """
    K = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64, device=x.device)
    layers: list[tuple[torch.Tensor, int]] = []
    with hooks(kernel_hooks(model, K, layers if per_layer else None, x.device, by_name)), torch.no_grad():
        model(x)
    return K, layers


def kernel_hooks(model, K: torch.Tensor, layers: list | None, device, by_name: bool = True) -> list:
    """Forward pre-hooks on the ReLU modules that add each one's Hamming kernel to ``K`` (and ``(k, n)`` to
    ``layers`` when given). Modules fed the very same tensor (a ``ReLUConvBN`` and the ReLU inside it, or
    several edges leaving one cell node) get the same kernel, computed once per forward pass: it is a
    function of that tensor alone, so the sum is unchanged to the last bit."""
    hook = kernel_hook(K, layers, device)
    return [m.register_forward_pre_hook(hook) for m in relu_modules(model, by_name)]


_INT_MM: list[bool] = []  # whether torch._int_mm gives C C^T exactly, and faster than float32, on this CPU


def _int_mm_exact() -> bool:
    """torch 2.13's CPU ``_int_mm`` returns garbage for an inner size of 1, and older torch may lack it: it is
    used only where it matches the float product on codes of several sizes, checked once per process."""
    ok = hasattr(torch, "_int_mm")
    g = torch.Generator().manual_seed(0)
    for b, n in ((2, 2), (5, 3), (64, 147), (17, 1030)) if ok else ():
        c = torch.rand(b, n, generator=g) > 0.5
        try:
            ok = torch.equal(torch._int_mm(c.view(torch.int8), c.view(torch.int8).T).double(),
                             (c.double() @ c.double().T))
        except (RuntimeError, NotImplementedError):
            ok = False
        if not ok:
            break
    return ok


def _best_of(fn, reps: int = 3) -> float:
    fn()  # warm-up: first-call allocation and kernel choice are not the product's cost
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _int_mm_wins() -> bool:
    """Whether code_gram and active_gram take the int8 product on this CPU: where it is exact and faster than
    float32 on a code matrix of an NB201 layer's size (64 x 4096), timed once per process (about 0.1 s). Both
    products give the same integers, so the choice moves time only, never a value. It is a matter of the host:
    on an earlier host int8 was about 3x faster; on an AVX2-only AMD EPYC (no VNNI) it was about 25x slower,
    26 ms per NB201 layer and 60 % of an nwot+meco arch's time."""
    if not _INT_MM:
        ok = _int_mm_exact()
        if ok:
            c = torch.rand(64, 4096, generator=torch.Generator().manual_seed(0)) > 0.5
            c8 = c.view(torch.int8)
            ok = _best_of(lambda: torch._int_mm(c8, c8.T)) < _best_of(lambda: (lambda f: f @ f.T)(c.float()))
        _INT_MM.append(ok)
    return _INT_MM[0]


def _takes_int8(c: torch.Tensor) -> bool:
    return c.device.type == "cpu" and 2 <= c.shape[1] < 2**31 and _int_mm_wins()


def _float_dtype(c: torch.Tensor) -> torch.dtype:
    """float32 on the CPU while n < 2^24 (integer sums stay exact, and the CPU has no TF32), else float64."""
    return torch.float32 if c.device.type == "cpu" and c.shape[1] < 2**24 else torch.float64


def _int8_gram(c: torch.Tensor) -> torch.Tensor:
    c8 = c.contiguous().view(torch.int8)  # bool codes read as int8 without a copy
    return torch._int_mm(c8, c8.T).double()


def code_gram(c: torch.Tensor) -> torch.Tensor:
    """c: 0/1 codes [B, n] (bool); C C^T in float64 [B, B]: integers <= n, exact.

    On a CPU where it is faster (``_int_mm_wins``) an int8 product accumulated in int32 (exact below 2^31
    units; the bool codes are read as int8 without a copy); else float32 while n < 2^24 (exact: integers, and
    no TF32 on CPU), else float64."""
    if _takes_int8(c):
        return _int8_gram(c)
    cf = c.to(_float_dtype(c))
    return (cf @ cf.T).double()


def units(t: torch.Tensor) -> torch.Tensor:
    """t [B, ...] (at least 2-d) as [B, n] (n: units per sample): a view of a contiguous tensor, and of a
    channels-last [B, C, H, W] one read in its memory order (H, W, C); other layouts are copied into t's
    logical order, as ``flatten(1)`` does. Only for sums over units, which do not depend on the units' order;
    C C^T of integer codes is exact in any order."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        t = t.permute(0, 2, 3, 1)
    return t.flatten(1)


def active_gram(t: torch.Tensor) -> torch.Tensor:
    """t: a ReLU's input [B, ...] (at least 2-d, any real dtype); C C^T [B, B] (float64, exact integers) of its
    codes C = (t > 0) per sample (NaN counts as inactive), equal to ``code_gram((t > 0).flatten(1))``. The
    codes are written straight into the product's dtype, in the memory order of a contiguous or channels-last
    t (``units``): no layout copy and no bool-to-float pass (on a 2-core AMD EPYC, one thread, about half the
    time of codes, flatten and cast; the product itself is most of what is left:
    ``benchmarks/nwot_gram.py``)."""
    x = units(t.detach())
    if _takes_int8(x):
        return _int8_gram(x > 0)
    c = torch.empty(x.shape, dtype=_float_dtype(x), device=x.device)
    torch.gt(x, 0, out=c)
    return (c @ c.T).double()


def kernel_hook(K: torch.Tensor, layers: list | None, device):
    def layer_kernel(t):
        n = t.shape[1:].numel()
        g = active_gram(t)  # units active in both inputs
        r = g.diagonal()  # units active per input
        return n - r[:, None] - r[None, :] + 2 * g, n  # + units inactive in both

    kernel = once_per_tensor(layer_kernel)

    def hook(module, inputs):
        k, n = kernel(inputs[0])
        K.add_(k)
        if layers is not None:
            layers.append((k, n))

    return hook


def _attach_kernel(model, x: torch.Tensor, state: dict) -> list:
    state["K"] = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64, device=x.device)
    state["layers"] = []
    return kernel_hooks(model, state["K"], state["layers"], x.device)


register_tap(Tap("hamming", frozenset({"nwot", "das_d", "das_na", "das", "das_layerwise"}), "none", _attach_kernel,
                 lambda ctx, model, x, y, out, state, retain_graph: (state["K"], state["layers"])))


def shared_kernel(ctx, proxy: str):
    """The train-mode Hamming kernel of batch 0 and its per-layer parts, computed once per architecture for
    nwot and the DAS metrics (in the forward pass the loss-gradient and Jacobian proxies share, when asked)."""
    return shared(ctx, "hamming", proxy)


def singular_why(K: torch.Tensor) -> str:
    """Why a Hamming kernel is singular: inputs i and j share their code exactly when K[i, j] == K[i, i]."""
    B = K.shape[0]
    if K[0, 0].item() == 0:
        return "there is no ReLU unit (N_A = 0)"
    same = K == K.diagonal()[:, None]
    distinct = torch.unique(same, dim=0).shape[0]  # rows of an equivalence relation: one per class
    if distinct == 1:
        return (f"all {B} inputs share one ReLU code: no ReLU input depends on the image (e.g. every path from "
                f"the input is 'none')")
    if distinct < B:
        return f"the {B} inputs have only {distinct} distinct ReLU codes (inputs the ReLUs cannot tell apart)"
    return f"its rank is below {B} although all {B} ReLU codes differ"


def logdet(K: torch.Tensor, what: str = "K_H") -> float:
    """log|det K|; ``Undefined(-inf)`` with the cause when K is singular (duplicate codes), never a silent 0."""
    sign, logabs = torch.linalg.slogdet(K)
    if sign.item() == 0:
        return Undefined(f"{what} is singular (log det = -inf): {singular_why(K)}", -math.inf)
    return logabs.item()


@register("nwot", direction=1, data="batch", bn_mode="train", dtype="float64", min_batch=2, min_batch_why=TWO_CODES,
          needs=("relu",),
          reference="Mellor et al., ICML 2021 (NASWOT v2); BayesWatch/nas-without-training",
          description="log|det K_H|, Hamming kernel of ReLU codes over one batch (train mode)")
def nwot(ctx) -> float:
    K, _ = shared_kernel(ctx, "nwot")
    return logdet(K)
