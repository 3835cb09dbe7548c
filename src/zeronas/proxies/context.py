"""What a proxy sees: the architecture's network (built once, restored before each proxy) and its inputs."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from ..data import Batch, ImageSet, make_batch
from ..data.batches import normalize
from ..errors import UserError

INITS = ("torch-default", "kaiming", "kaiming-fanout", "naslib-nb101", "normal", "xavier")
# How the networks' 4-d tensors are laid out: "contiguous" (NCHW, the reference codes' layout) or "channels-last"
# (NHWC: on the CPU no layout copies around pooling and faster convolutions, but train-mode BatchNorm reduces its
# statistics in another order, so BN-dependent values move in the 3rd-8th digit; benchmarks/memory_format.py).
MEMORY_FORMATS = ("contiguous", "channels-last")


def apply_init(model: nn.Module, init: str) -> nn.Module:
    """Re-initialise conv/linear weights (biases 0; BN affine 1/0). ``torch-default`` leaves PyTorch's init;
    ``kaiming`` / ``kaiming-fanout``: Kaiming-normal (ReLU gain) over fan-in / fan-out; ``naslib-nb101``: conv
    Kaiming-normal fan-out, linear N(0, 0.01), the ``_initialize_weights`` of NASLib's NAS-Bench-101 model
    (naslib/search_spaces/nasbench101/model.py, from the nasbench_pytorch port; torchvision's VGG does the
    same); ``normal``: N(0, 1); ``xavier``: Xavier-normal. Raises UserError for another name."""
    if init == "torch-default":
        return model
    if init not in INITS:
        raise UserError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if init == "kaiming":
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                elif init == "kaiming-fanout" or (init == "naslib-nb101" and isinstance(m, nn.Conv2d)):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif init == "naslib-nb101":
                    nn.init.normal_(m.weight, 0.0, 0.01)
                elif init == "normal":
                    nn.init.normal_(m.weight)
                else:
                    nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    return model


def _grad_channels_last(module, inputs):
    """The gradient that global pooling hands back to a channels-last tensor, made channels-last too: torch
    returns it NCHW, and every elementwise backward that then mixes the two layouts (the last ReLU's, the last
    BN's) runs 10-30x slower on the CPU. The layout changes, not a value."""
    x = inputs[0] if inputs else None
    if torch.is_tensor(x) and x.requires_grad and x.dim() == 4:
        x.register_hook(_as_channels_last)


def _as_channels_last(g):
    try:
        return g.contiguous(memory_format=torch.channels_last)
    except RuntimeError:  # inside vmap (batched gradients) torch cannot ask the layout: the gradient as it is
        return None


def layout_name(value):
    """The layout name for ``torch.channels_last`` / ``torch.contiguous_format`` (a PyTorch user's first try);
    anything else as it is (checked against ``MEMORY_FORMATS`` by the caller)."""
    return {torch.channels_last: "channels-last", torch.contiguous_format: "contiguous"}.get(value, value) \
        if isinstance(value, torch.memory_format) else value


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def to_channels_last(model: nn.Module, what: str = "the network") -> nn.Module:
    """``model`` with its 4-d parameters and buffers in channels-last layout (in place, as ``Module.to``; other
    tensors, e.g. a Conv3d's 5-d weight, stay as they are), and on the CPU global pooling's gradient kept
    channels-last (``_grad_channels_last``, once per module). Raises UserError (one line) if torch refuses."""
    try:
        model = model._apply(_nhwc)  # Module.to(memory_format=) refuses a model holding any 5-d tensor
    except RuntimeError as exc:
        raise UserError(f"{what} cannot be laid out channels-last ({str(exc).splitlines()[0][:120]}); drop "
                        "--memory-format channels-last") from None
    on_cpu = all(t.device.type == "cpu" for t in itertools.chain(model.parameters(), model.buffers()))
    for m in model.modules() if on_cpu else ():
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and not getattr(m, "_zeronas_cl_grad", False):
            m.register_forward_pre_hook(_grad_channels_last)
            m._zeronas_cl_grad = True
    return model


DEFAULT_TRAIN_LR = 0.1  # DAS's fast training (SGD, Nesterov momentum 0.9, weight decay 5e-4)


class ScoringContext:
    """Per-architecture scoring state shared by all proxies of one ``score`` call.

    ``model()`` builds the network once (seeded, ``init`` applied, then trained ``train_steps`` SGD steps when
    asked: DAS's fast-training strategy) and afterwards hands back the same
    module restored to those initial weights, in train mode with no gradients, so proxies never see each
    other's changes and the network is never built twice. ``cache`` lets proxies that share a forward pass
    compute it once: nwot and the DAS metrics, the loss-gradient family and the Jacobian family, all in one
    forward when ``planned`` names them (``shared_pass.plan``); also the AZ-NAS components.
    """

    def __init__(self, space, arch, *, images: ImageSet | None = None, heldout: ImageSet | None = None,
                 num_classes: int = 10, input_size: int = 32, batch_size: int = 64, seed: int = 0,
                 init: str = "torch-default", device: str | torch.device = "cpu", build_options=None,
                 train_steps: int = 0, train_lr: float = DEFAULT_TRAIN_LR, memory_format: str = "contiguous"):
        self.space, self.arch = space, space.coerce(arch)
        if memory_format not in MEMORY_FORMATS:  # (Scorer names it to users; this guards other callers)
            raise UserError(f"unknown memory format {memory_format!r}; choose one of: {', '.join(MEMORY_FORMATS)}")
        self.memory_format = memory_format
        self.images, self.heldout = images, heldout
        self.num_classes, self.input_size = num_classes, input_size
        self.batch_size, self.seed, self.init = batch_size, seed, init
        self.device = torch.device(device)
        self.build_options = dict(build_options or {})
        self.cache: dict = {}
        self.planned: frozenset = frozenset()  # the proxies a score call will ask (shared_pass.plan); empty: unknown
        self.notes: list[str] = []
        self._model: nn.Module | None = None
        self._state: dict | None = None
        self._handed_out = False  # model() gave the network to a proxy since it was built or its weights set
        self._batches: dict = {}
        self.train_steps, self.train_lr = train_steps, train_lr
        self.training: dict = {}  # what fast training did: steps, losses, seconds

    # ---- networks --------------------------------------------------------------------------------
    def build(self, init: str | None = None, seed_offset: int = 0, builder=None, **options) -> nn.Module:
        """A new network for this arch, seeded; ``builder`` defaults to ``space.build``."""
        builder = builder or self.space.build
        opts = {"num_classes": self.num_classes, **self.build_options, **options}
        rule = self.init if init is None else init
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + seed_offset)
            model = builder(self.arch, **opts)
            if rule != "torch-default" and getattr(self.space, "plugin", False):
                # a plug-in's init draws start at the seed whatever its construction drew, as a --model's (a copy
                # draws nothing): one module gets one set of weights by either route (built-in spaces keep theirs)
                torch.manual_seed(self.seed + seed_offset)
            apply_init(model, rule)
        model = model.to(self.device)
        if self.memory_format == "channels-last":  # 4-d weights NHWC: activations follow through the convolutions
            model = to_channels_last(model, f"the {self.space.name} network")
        return model

    def model(self, dtype: torch.dtype = torch.float32) -> nn.Module:
        if self._model is None:
            self._model = self.build()
            if self.train_steps:  # DAS fast training: proxies see the briefly trained weights
                from ..train import fast_train

                self.training = fast_train(self._model, self.require_images("fast training"), self.train_steps,
                                           batch_size=self.batch_size, lr=self.train_lr, seed=self.seed)
            self._state = {k: v.detach().clone() for k, v in self._model.state_dict().items()}
        m = self._model
        if any(t.dtype != dtype for t in itertools.chain(m.parameters(), m.buffers()) if t.is_floating_point()):
            m.to(dtype)  # Module.to walks every module even when nothing changes: only when needed
        if self._handed_out:  # a proxy may have changed it: restore the initial weights (as load_state_dict)
            with torch.no_grad():
                for name, t in m.state_dict().items():
                    t.copy_(self._state[name])
        self._handed_out = True
        m.train()
        m.requires_grad_(True)
        m.zero_grad(set_to_none=True)
        return m

    def use_weights(self, model: nn.Module) -> None:
        """Score ``model`` as it is (e.g. after some training) instead of building the network at init; with
        ``memory_format`` channels-last its layout is made so (in place: the values stay)."""
        if self.memory_format == "channels-last":
            model = to_channels_last(model, "the given network")
        self._model = model
        self._state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._handed_out = False
        self.cache.clear()  # passes shared between proxies were made on the previous weights

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1000003 + offset)

    # ---- inputs -----------------------------------------------------------------------------------
    def require_images(self, proxy: str) -> ImageSet:
        if self.images is None:
            raise UserError(f"proxy {proxy!r} needs real images; pass --data cifar10 (or another dataset) "
                            f"with the data folder available, or choose data-free proxies")
        return self.images

    def batch(self, index: int = 0, size: int | None = None, proxy: str = "") -> Batch:
        size = size or self.batch_size
        key = ("train", index, size)
        if key not in self._batches:
            self._batches[key] = make_batch(self.require_images(proxy), size, self.seed, index).to(self.device)
        return self._batches[key]

    def heldout_batch(self, index: int = 0, size: int | None = None, proxy: str = "") -> Batch:
        size = size or self.batch_size
        key = ("heldout", index, size)
        if key not in self._batches:
            if self.heldout is None:
                raise UserError(f"proxy {proxy!r} needs held-out images: a named dataset's test split in the data "
                                f"folder, or with your own images --heldout (other images of yours)")
            self._batches[key] = make_batch(self.heldout, size, self.seed, index).to(self.device)
        return self._batches[key]

    def use_batch(self, batch: Batch, index: int = 0) -> None:
        """Make ``batch`` this context's batch ``index`` (for callers that feed their own batches)."""
        self._batches = {**self._batches, ("train", index, len(batch.y)): batch.to(self.device)}
        self.cache.clear()

    def crops(self, n: int, size: int = 3, channels: int = 1, proxy: str = "") -> torch.Tensor:
        """TE-NAS linear-region inputs: normalised real images, a random size x size crop, random channel(s)."""
        key = ("crops", n, size, channels)
        if key not in self._batches:
            images = self.require_images(proxy)
            rng = np.random.default_rng(self.seed)
            idx = rng.choice(len(images), size=n, replace=len(images) < n)
            full = normalize(images.x[idx], images.info.mean, images.info.std)
            H, W = full.shape[-2:]
            top = rng.integers(0, H - size + 1, n)
            left = rng.integers(0, W - size + 1, n)
            chan = np.stack([rng.choice(full.shape[1], channels, replace=False) for _ in range(n)])
            out = torch.stack([full[i, chan[i]][:, top[i]:top[i] + size, left[i]:left[i] + size] for i in range(n)])
            self._batches[key] = out.to(self.device)
        return self._batches[key]

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        h, w = (self.input_size, self.input_size) if isinstance(self.input_size, int) else self.input_size
        return (batch, 3, h, w)  # (the user's images may be non-square)
