"""Proxy registry and the shared helpers every proxy family uses.

A proxy is a function ``fn(ctx, **options) -> float`` registered with metadata: direction (+1 higher is
better, -1 lower is better), the data it needs, the BN mode it runs in, its dtype, defaults and the smallest
batch its definition allows. The ``ScoringContext`` (see ``context.py``) gives it the network (built once per
architecture and restored to its initial weights for every proxy) and the inputs. A value that is NaN or
+-inf is returned as ``Undefined(reason, value)``, so the record says why.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from ..errors import UserError, shown

DATA_KINDS = ("batch", "batches", "batch+heldout", "ones", "noise", "crops", "none")
BN_MODES = ("train", "bypass", "no-track", "default", "n/a")


class Undefined(float):
    """A proxy value that is NaN (undefined) or +-inf for a stated ``reason``.

    It is a float, so code that only wants the number (searches, helpers) keeps working unchanged; the
    Scorer records the reason with the value. Arithmetic on it gives a plain float: a proxy that combines
    values must pass the reason on itself."""

    reason: str

    def __new__(cls, reason: str, value: float = math.nan):
        self = super().__new__(cls, value)
        self.reason = reason
        return self

    def __reduce__(self):  # process pools pickle it
        return (Undefined, (self.reason, float(self)))


class Inapplicable(Exception):  # noqa: N818  (a verdict on the network, not a fault)
    """Raised by a proxy that does not apply to this space's networks (they lack what the definition reads:
    a verdict on the space, never on one arch); the Scorer records the proxy as ``error = INAPPLICABLE +
    message``, scores the others, and does not run the proxy again on that space."""


INAPPLICABLE = "inapplicable: "  # how a record's error says its proxy does not apply (Scorer, models)


VERDICTS = (INAPPLICABLE.rstrip(": "), "refused")  # error prefixes that say a proxy does not apply: not failures


def is_verdict(error: str | None) -> bool:
    """Whether a record's error says its proxy does not apply (a verdict a rerun keeps), not that it failed."""
    return error is not None and error.startswith(VERDICTS)


def inapplicable_reason(error: str | None) -> str | None:
    """Why a record's proxy does not apply, from its error; None for any other error or none."""
    return error.removeprefix(INAPPLICABLE) if error is not None and error.startswith(INAPPLICABLE) else None


def reason_of(value) -> str | None:
    """The reason an ``Undefined`` value carries; None for a plain number."""
    return getattr(value, "reason", None)


# What a proxy can need from a network beyond images (``ProxySpec.needs``), each with the phrase a refusal
# uses. Built-in spaces offer all of them; ``zeronas.models.inspect_model`` says which a user's module offers.
NEEDS = {
    "relu": "nn.ReLU modules (it reads ReLU on/off codes; GELU, SiLU, ReLU6 and functional F.relu give none)",
    "bn": "batch-norm layers",
    "conv_linear": "nn.Conv2d or nn.Linear layers (it sums over their weights)",
    "params": "trainable parameters (it differentiates the output with respect to them)",
    "classifier": "a classifier output (one tensor [batch, classes])",
    "tensor_output": "one output tensor (it sums the network's output; a tuple or dict output has no one sum)",
    "pre_gap": "features before a final global average pooling (one nn.AdaptiveAvgPool2d to 1x1)",
    "mixing_weights": "a cell network with per-edge op mixing weights (a built-in cell space's)",
    "cell_features": "a cell_features(x) method giving per-cell (or per-stage) features, as built-in cell spaces have",
    "thin_network": "TE-NAS's thin cell network (a built-in cell space's build_thin)",
    "cell_params": "cell parameters (a built-in cell space's searchable parameters)",
    "any_size": "a network that takes meco's own square noise input (its input_size option: 64 px by default)",
}


@dataclass(frozen=True)
class ProxySpec:
    name: str
    fn: Callable
    direction: int
    data: str
    bn_mode: str
    dtype: str = "float32"
    defaults: dict = field(default_factory=dict)
    description: str = ""
    reference: str = ""
    family: str = ""
    # True when the value depends only on the function the network computes, so isomorphic archs may share
    # it. False (the default) for proxies that also see dead branches and ops fed by zero nodes (params,
    # flops, ReLU-code kernels, hooks on every module, BN statistics of every layer).
    shares_isomorphs: bool = False
    # The smallest batch the definition allows (below it the value is constant or undefined whatever the
    # network), why, and the option that sets this proxy's batch instead of --batch-size (None: --batch-size).
    min_batch: int = 1
    min_batch_why: str = ""
    batch_option: str | None = None
    # Options bounded by the definition: {option: Bound}; and groups of options given together or not at all.
    bounds: dict = field(default_factory=dict)
    together: tuple = ()
    # setup_check(scorer, options) -> one line or None: a check of the options against the scorer's space and
    # data, run once when a Scorer is made (e.g. meco's input size on networks that reduce it)
    setup_check: Callable | None = None
    # What it needs from the network (keys of NEEDS); a user's module lacking one is not scored with it.
    needs: frozenset = frozenset()
    # A user's proxy (``proxies.plugin``): a digest of its file, part of every score's protocol, so that the
    # scores stored by an edited version are not read back ("" for the built-in proxies: their keys unchanged)
    revision: str = ""
    # True when its synthetic input (Gaussian noise) holds --batch-size images: the batch size is then part of
    # its protocol, as it is of every proxy on real images (meco's one noise image and synflow's ones do not)
    noise_batch: bool = False
    # True when the value depends on the architecture alone (params, flops): not on the weights' values, so
    # neither --seed nor --init moves it
    weight_free: bool = False

    @property
    def needs_images(self) -> bool:
        return self.data in ("batch", "batches", "batch+heldout", "crops")

    @property
    def reads_tensors(self) -> bool:
        """Whether the value comes from tensors run through the network (so their layout's rounding reaches
        it); params, flops and l2_norm read only the weights' shapes or values."""
        return self.data != "none"

    def reads_batch_size(self, options: dict) -> bool:
        """Whether the scorer's batch size (--batch-size) reaches the value under ``options``: real images in
        batches of it (unless its own batch option is set), or noise of that many images (``noise_batch``)."""
        if self.noise_batch:
            return True
        if self.data not in ("batch", "batches", "batch+heldout"):  # crops, ones, one noise image, none
            return False
        return not (self.batch_option and options.get(self.batch_option) is not None)

    def batch_used(self, options: dict, batch_size: int) -> int:
        """The batch this proxy runs on under ``options`` and the scorer's ``batch_size``."""
        own = options.get(self.batch_option) if self.batch_option else None
        return batch_size if own is None else own

    def check_options(self, options: dict, batch_size: int, batch_flag: str = "--batch-size") -> str | None:
        """Why these settings cannot give a defined value (one line), or None when they can. ``batch_flag``:
        the option that set ``batch_size`` where it was given (``bench build``'s is --proxy-batch)."""
        used = self.batch_used(options, batch_size)
        if used < self.min_batch:
            got = f"--set {self.name}.{self.batch_option}={used}" if self.batch_option else f"{batch_flag} {used}"
            return (f"proxy {self.name} needs a batch of at least {self.min_batch} images (got {got}) "
                    f"because {self.min_batch_why}")
        for opt, bound in self.bounds.items():
            if options.get(opt) is not None and not bound.holds(options[opt]):
                return (f"proxy {self.name} needs its option {opt} {bound.text()} (got --set "
                        f"{self.name}.{opt}={options[opt]}) because {bound.why}")
        for group in self.together:
            given = [o for o in group if options.get(o) is not None]
            if given and len(given) < len(group):
                missing = [o for o in group if o not in given]
                return (f"proxy {self.name} takes its options {' and '.join(group)} together (got --set "
                        f"{self.name}.{given[0]}={options[given[0]]} without {', '.join(missing)}): alone "
                        f"{'it is' if len(given) == 1 else 'they are'} not used; give "
                        f"{' and '.join(f'--set {self.name}.{o}=...' for o in missing)}, or drop it")
        return None


class Bound(NamedTuple):
    """An option's allowed values by its definition: ``low`` <= value (``low_open``: <) and value <= ``high``;
    ``why`` ends the message of a value outside."""
    low: float | None = None
    high: float | None = None
    why: str = ""
    low_open: bool = False

    def holds(self, value) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def text(self) -> str:
        low = None if self.low is None else f"{'above' if self.low_open else 'at least'} {self.low:g}"
        high = None if self.high is None else f"at most {self.high:g}"
        return " and ".join(t for t in (low, high) if t)


_REGISTRY: dict[str, ProxySpec] = {}


def register(name: str, *, direction: int, data: str, bn_mode: str, dtype: str = "float32", defaults=None,
             description: str = "", reference: str = "", shares_isomorphs: bool = False, min_batch: int = 1,
             min_batch_why: str = "", batch_option: str | None = None, min_options: dict | None = None, needs=(),
             bounds: dict | None = None, together=(), setup_check: Callable | None = None, noise_batch: bool = False,
             weight_free: bool = False):
    """Register a proxy. ``min_options`` {option: (minimum, why)} is shorthand for ``bounds``
    {option: Bound(minimum, why=why)}; ``together``: groups of options that mean nothing alone."""
    if data not in DATA_KINDS or bn_mode not in BN_MODES or direction not in (1, -1):
        raise ValueError(f"bad metadata for proxy {name}")
    if set(needs) - set(NEEDS):
        raise ValueError(f"proxy {name}: unknown needs {sorted(set(needs) - set(NEEDS))}")
    if noise_batch and data != "noise":
        raise ValueError(f"proxy {name}: noise_batch is for proxies on synthetic noise")
    if min_batch < 1 or (min_batch > 1 and not min_batch_why):
        raise ValueError(f"proxy {name}: a minimum batch above 1 needs its reason")

    def deco(fn):
        _REGISTRY[name] = ProxySpec(name, fn, direction, data, bn_mode, dtype, dict(defaults or {}),
                                    description or (fn.__doc__ or "").strip().split("\n")[0], reference,
                                    fn.__module__.rsplit(".", 1)[-1], shares_isomorphs, min_batch, min_batch_why,
                                    batch_option, needs=frozenset(needs),
                                    bounds={**{o: Bound(low, why=why) for o, (low, why) in (min_options or {}).items()},
                                            **(bounds or {})},
                                    together=tuple(tuple(g) for g in together), setup_check=setup_check,
                                    noise_batch=noise_batch, weight_free=weight_free)
        return fn

    return deco


def _load_all():
    from . import (  # noqa: F401  (each module registers its proxies)
        az_nas,
        das,
        gradient,
        jacobian,
        meco,
        naswot,
        size,
        swap,
        synflow,
        tenas,
        zen,
        zeros,
        zico,
    )


def get_proxy(name: str) -> ProxySpec:
    """The ``ProxySpec`` of a registered proxy (``list_proxies()``), or of your own one named
    ``path/to/file.py:function``; UserError (one line) for an unknown name, listing the known ones."""
    _load_all()
    if isinstance(name, str) and ":" in name and not name.startswith("ensemble:"):
        from .plugin import load_proxy  # a user's proxy, path/to/file.py:function (again once it is edited)

        return load_proxy(name)
    if isinstance(name, str) and name.endswith(".py"):
        raise UserError(f"proxy {shown(name)}: a proxy of your own is named path/to/file.py:function; add "
                        f"':' and the function's name")
    if name not in _REGISTRY:
        from .ensembles import ENSEMBLES

        raise UserError(f"unknown proxy {shown(name)}; available: {', '.join(sorted(_REGISTRY))}; and, in correlate "
                        f"and search, the ensembles {', '.join(sorted(ENSEMBLES))} or ensemble:a+b; or your own, "
                        "path/to/file.py:function")
    return _REGISTRY[name]


def list_proxies() -> list[str]:
    """The names of zeronas's built-in proxies, sorted (what ``proxies="all"`` asks; ``zeronas proxies`` lists
    them with their data, direction and source)."""
    _load_all()
    return sorted(_REGISTRY)


# ---- helpers shared by the proxy families ------------------------------------------------------

def weight_layers(model: nn.Module) -> list[nn.Module]:
    """Conv and linear layers: the layers whose weights foresight-style metrics sum over."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def relu_modules(model: nn.Module, by_name: bool = False) -> list[nn.Module]:
    """``nn.ReLU`` modules; ``by_name=True`` follows the NASWOT reference code, which hooks every module whose
    type name contains "ReLU" and so also counts NB201's ``ReLUConvBN`` blocks (their input is the inner
    ReLU's input: those codes enter the kernel twice)."""
    if by_name:
        return [m for m in model.modules() if "ReLU" in type(m).__name__]
    return [m for m in model.modules() if isinstance(m, nn.ReLU)]


def floats(tensors) -> list[float]:
    """Each one-element tensor as a Python float, read back in one transfer: on a GPU one host sync where
    ``.item()`` per tensor (per layer) costs one each. The same values as ``.item()``: mixed float dtypes are
    promoted to the wider one, which is exact."""
    ts = [t.reshape(()) for t in tensors]
    return torch.stack(ts).tolist() if ts else []


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController  # scans the loaded libraries: once per process

    return ThreadpoolController()


def numpy_blas_on_this_thread():
    """A context in which numpy's BLAS (OpenBLAS or MKL, as loaded) runs on the calling thread only.

    The proxies' numpy algebra is on B x B matrices (B: the batch, e.g. a 64 x 64 ``corrcoef`` of a 64 x 3,072
    Jacobian), too small to gain from a second thread, and OpenBLAS's helper threads busy-wait after each call
    they take part in: measured on NB201 at batch 64 (1 torch thread, 2 cores), each jacob_cov cost another
    core about 110 ms of spinning, CPU that parallel scoring workers need (``benchmarks/whole_space.py``).
    A single thread computes the same products (OpenBLAS splits the output, not the inner sums); torch's own
    threads are untouched. Through threadpoolctl; a no-op where it finds no BLAS."""
    return _blas_controller().limit(limits=1, user_api="blas")


def once_per_tensor(fn):
    """``fn(tensor)`` memoised on the tensor's identity and version (an in-place change bumps the version), for
    hooks on modules that are fed, or return, the very same tensor (a ReLUConvBN and its inner ReLU, edges
    leaving one cell node, a container and its last child): the value is computed once and may be counted
    per module. The tensor is kept so its id stays unique while the memo lives."""
    seen: dict = {}

    def call(t):
        key = (id(t), t._version)
        hit = seen.get(key)
        if hit is None or hit[0] is not t:
            hit = seen[key] = (t, fn(t))
        return hit[1]

    return call


@contextlib.contextmanager
def bn_bypassed(model: nn.Module):
    """Batch norm replaced by identity (foresight's ``bn=False``), restored on exit."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.forward = _identity
    try:
        yield model
    finally:
        for m in bns:
            del m.forward


def _identity(x):
    return x


@contextlib.contextmanager
def hooks(handles: list):
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()


def gaussian_init(model: nn.Module, generator: torch.Generator | None = None):
    """Zen-NAS / SWAP re-initialisation: conv and linear weights ~ N(0, 1), biases 0, BN affine 1/0."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator, dtype=m.weight.dtype))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


def cross_entropy_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One forward/backward of the mean cross-entropy; returns the loss."""
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach()


def free_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device``: CUDA's free memory plus what torch's caching allocator holds
    unused; else the least of Linux's ``MemAvailable`` and a cgroup's limit less its usage (a container or a
    batch job's share); None where the system does not say."""
    if device.type == "cuda":
        return (torch.cuda.mem_get_info(device)[0] + torch.cuda.memory_reserved(device)
                - torch.cuda.memory_allocated(device))
    found = []
    try:
        with open("/proc/meminfo") as f:
            found += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    v1 = "/sys/fs/cgroup/memory/memory."
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2, then v1
                         (v1 + "limit_in_bytes", v1 + "usage_in_bytes")):
        try:
            with open(limit) as f, open(usage) as g:
                cap = f.read().strip()
                if cap.isdigit() and int(cap) < 1 << 60:  # 'max' or v1's huge number: no limit
                    found.append(max(0, int(cap) - int(g.read().strip())))
                    break
        except (OSError, ValueError):
            pass
    return min(found) if found else None


def check_jacobian_memory(B: int, params: list[torch.Tensor], device: torch.device, lower: str) -> None:
    """Refuse, before the work, a batch whose per-sample gradients (B rows of every parameter) need more than
    80 % of the free memory: the process would otherwise be killed by the system with no message, after
    minutes of backward passes. ``lower``: the option to lower, named in the message.

    Raises UserError."""
    count = sum(p.numel() for p in params)
    need = B * sum(p.numel() * p.element_size() for p in params)
    free = free_memory(device)
    if free is not None and need > 0.8 * free:
        raise UserError(f"per-sample gradients of a batch of {B} over {count:,} parameters need about "
                        f"{need / 2**30:.1f} GiB, more than 80 % of the {free / 2**30:.1f} GiB free on {device.type}: "
                        f"lower {lower}")


def per_sample_output_grads(model: nn.Module, x: torch.Tensor, params: list[torch.Tensor],
                            aligned: bool = False, lower: str = "the batch size") -> list[torch.Tensor]:
    """Row i: gradient of sum_k f_k(x_i) w.r.t. ``params``, from one forward of the whole batch (BN in train
    mode couples the samples, as in the TE-NAS code), so each row costs a full backward pass. On CUDA one
    vectorised backward (``is_grads_batched``) is used; on CPU a loop is ~2.5x faster than vmap.
    Parameters the output does not reach are dropped, or with ``aligned`` kept as ``None`` entries.

    Memory: B x (number of parameters) values, checked first (``check_jacobian_memory``: a UserError naming
    ``lower``, the option that sets B)."""
    check_jacobian_memory(len(x), params, x.device, lower)
    out = model(x)
    B = out.shape[0]
    if not out.requires_grad:  # the output does not depend on any parameter asked for
        return [None] * len(params) if aligned else []
    grads = None
    if out.device.type == "cuda":
        eye = torch.zeros((B, *out.shape), dtype=out.dtype, device=out.device)
        eye[torch.arange(B), torch.arange(B)] = 1.0
        try:
            grads = torch.autograd.grad(out, params, grad_outputs=eye, is_grads_batched=True, allow_unused=True,
                                        retain_graph=True)
        except RuntimeError:
            grads = None
    if grads is None:  # rows written into place: stacking a list of rows would hold the Jacobian twice
        grads = [None] * len(params)
        for i in range(B):
            row = torch.autograd.grad(out[i].sum(), params, retain_graph=i < B - 1, allow_unused=True)
            for k, g in enumerate(row):
                if g is not None:
                    if grads[k] is None:
                        grads[k] = g.new_zeros((B, *g.shape))
                    grads[k][i] = g
    rows = [None if g is None else g.reshape(B, -1) for g in grads]
    return rows if aligned else [g for g in rows if g is not None]


def gram(blocks: list[torch.Tensor], other: list[torch.Tensor] | None = None) -> torch.Tensor:
    """sum_k A_k B_k^T in float64, block by block (never materialises the full Jacobian in float64).
    With no blocks (no parameter reached the output) the Gram matrix is the zero matrix."""
    other = blocks if other is None else other
    if not blocks:
        return None
    out = None
    for a, b in zip(blocks, other):
        g = a.double() @ b.double().T
        out = g if out is None else out + g
    return out
