"""NAS-Bench-Macro (Su et al., CVPR 2021): 3^8 = 6,561 MobileNet-like networks on CIFAR-10.

An architecture is 8 digits, one per searchable layer: ``0`` = identity, ``1`` = MobileNetV2 inverted
residual with expansion 3 and a 3x3 depthwise kernel, ``2`` = expansion 6 and 5x5. The network is
stem (3x3 conv, 32 channels, BN, ReLU) -> 3 stages of 2, 3, 3 layers whose first layer halves the
resolution and doubles the channels (64, 128, 256) -> 1x1 conv to 1280, BN, ReLU -> GAP -> linear.
An identity in a stage's first layer becomes a strided 1x1 conv + BN (shapes must change there).
Parameter counts equal the benchmark's ``params`` column for all 6,561 archs (tested).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from ..errors import UserError, shown
from .base import SearchSpace, arch_text, as_rng, register_space
from .ops import MixedEdge

OPS = ("identity", "mb3_k3", "mb6_k5")
STAGES = (2, 3, 3)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_LAYERS = sum(STAGES)


class Downsample(nn.Sequential):
    """What an identity layer becomes where the stage changes resolution and width."""

    def __init__(self, C_in, C_out, stride):
        super().__init__(nn.Conv2d(C_in, C_out, 1, stride=stride, bias=False), nn.BatchNorm2d(C_out))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, BN, ReLU, kxk depthwise, BN, ReLU, 1x1 project, BN (+ input)."""

    def __init__(self, C_in, C_out, stride, expansion, kernel):
        super().__init__()
        hidden = C_in * expansion
        self.conv = nn.Sequential(
            nn.Conv2d(C_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=False),
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(inplace=False),
            nn.Conv2d(hidden, C_out, 1, bias=False), nn.BatchNorm2d(C_out))
        self.residual = stride == 1 and C_in == C_out

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


def make_layer(op: str, C_in: int, C_out: int, stride: int) -> nn.Module:
    if op == "identity":
        return nn.Identity() if stride == 1 and C_in == C_out else Downsample(C_in, C_out, stride)
    expansion, kernel = {"mb3_k3": (3, 3), "mb6_k5": (6, 5)}[op]
    return InvertedResidual(C_in, C_out, stride, expansion, kernel)


def layer_shapes(C: int = STEM_CHANNELS) -> list[tuple[int, int, int]]:
    """(C_in, C_out, stride) of the 8 searchable layers after a ``C``-channel stem: each stage's first layer
    halves the resolution and doubles the width."""
    shapes = []
    for depth in STAGES:
        for i in range(depth):
            shapes.append((C, C * 2 if i == 0 else C, 2 if i == 0 else 1))
            C = shapes[-1][1]
    return shapes


def _stem(in_channels: int, C: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C),
                         nn.ReLU(inplace=False))


def _head(C: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(C, HEAD_CHANNELS, 1, bias=False), nn.BatchNorm2d(HEAD_CHANNELS),
                         nn.ReLU(inplace=False))


class MacroNetwork(nn.Module):
    def __init__(self, ops: tuple[str, ...], num_classes=10, in_channels=3):
        super().__init__()
        self.stem = _stem(in_channels, STEM_CHANNELS)
        shapes = layer_shapes(STEM_CHANNELS)
        self.layers = nn.ModuleList(make_layer(op, *shape) for op, shape in zip(ops, shapes))
        self.head = _head(shapes[-1][1])
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def cell_features(self, x):
        """Features after the stem and after every block (AZ-NAS). Shape-keeping identity layers are not
        blocks (a shallower network), so they add no feature rather than an identity Jacobian."""
        feats = [self.stem(x)]
        for layer in self.layers:
            if not isinstance(layer, nn.Identity):
                feats.append(layer(feats[-1]))
        return feats

    def searchable_parameters(self) -> list[nn.Parameter]:
        """The searched layers' parameters (TEG-NAS's NTK uses the searched part only)."""
        return [p for p in self.layers.parameters() if p.requires_grad]

    def forward_pre_gap(self, x):
        return self.head(self.cell_features(x)[-1])

    def forward(self, x):
        return self.classifier(self.global_pooling(self.forward_pre_gap(x)).flatten(1))


class MacroSupernet(nn.Module):
    """The chain of mixed layers Zero-Cost-PT searches NAS-Bench-Macro with: every searchable layer holds its
    3 candidates (identity or its strided 1x1 stand-in, MB3_K3, MB6_K5) and outputs ``sum_o w[l, o] op_o(x)``
    (ops of weight exactly 0 are skipped, as on the NB201 supernet). ``C`` is the stem width (32 in the
    benchmark; the stages get 2C, 4C, 8C, the head stays 1280 wide). ``arch_alpha`` [8, 3] are the logits;
    ``forward(x, weights)`` takes any explicit [8, 3] mixing weights (one-hot rows give a discrete network
    of the benchmark's structure at width ``C``). Input [B, in_channels, H, W] -> logits [B, num_classes].
    """

    def __init__(self, C=STEM_CHANNELS, num_classes=10, in_channels=3):
        super().__init__()
        self.stem = _stem(in_channels, C)
        shapes = layer_shapes(C)
        self.layers = nn.ModuleList(MixedEdge([(o, make_layer(op, *shape)) for o, op in enumerate(OPS)])
                                    for shape in shapes)
        self.head = _head(shapes[-1][1])
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)
        self.arch_alpha = nn.Parameter(torch.zeros(NUM_LAYERS, len(OPS)), requires_grad=False)

    def mixing_weights(self) -> torch.Tensor:
        return torch.softmax(self.arch_alpha, dim=-1)

    def forward_pre_gap(self, x, weights=None):
        w = self.mixing_weights() if weights is None else weights
        active = (w != 0).tolist()
        h = self.stem(x)
        for layer, w_l, a_l in zip(self.layers, w, active):
            h = layer(h, w_l, a_l)
        return self.head(h)

    def forward(self, x, weights=None):
        return self.classifier(self.global_pooling(self.forward_pre_gap(x, weights)).flatten(1))


@register_space
class MacroSpace(SearchSpace):
    name = "macro"
    ops = OPS
    # no per-edge mixing weights in a discrete network (zeros does not apply); the supernet mixes per layer
    edge_weighted = False
    arch_allows_none = False
    default_supernet = {"C": STEM_CHANNELS}

    def parse(self, text: str) -> tuple[str, ...]:
        code = arch_text("NAS-Bench-Macro", text).strip()
        if len(code) != NUM_LAYERS or any(c not in "012" for c in code):
            raise UserError(f"NAS-Bench-Macro arch {shown(text)} must be {NUM_LAYERS} digits from 0 (identity), "
                            f"1 (MB3_K3), 2 (MB6_K5), e.g. '01220012'")
        return tuple(OPS[int(c)] for c in code)

    def format(self, arch) -> str:
        return "".join(str(OPS.index(op)) for op in self.coerce(arch))

    def coerce(self, arch):
        if isinstance(arch, str):
            return self.parse(arch)
        if not isinstance(arch, (tuple, list)):  # a number too: '01220012' as an int loses its leading 0
            raise UserError(f"not a NAS-Bench-Macro arch: {shown(arch)}; give its code as a string of {NUM_LAYERS} "
                            f"digits from 0 (identity), 1 (MB3_K3), 2 (MB6_K5), e.g. '01220012', or "
                            f"{NUM_LAYERS} ops from {OPS}")
        arch = tuple(arch)
        if len(arch) != NUM_LAYERS or any(op not in OPS for op in arch):
            raise UserError(f"a NAS-Bench-Macro arch is {NUM_LAYERS} ops from {OPS}, got {shown(arch)}")
        return arch

    def canonical(self, arch) -> str:
        """Identities after a stage's first layer are no-ops, so only the order of the other blocks
        matters: '12 100 000' and '12 010 000' compute the same function."""
        code, out, k = self.format(arch), [], 0
        for depth in STAGES:
            stage = code[k:k + depth]
            rest = stage[1:].replace("0", "")
            out.append(stage[0] + rest + "0" * (depth - 1 - len(rest)))
            k += depth
        return "".join(out)

    def enumerate(self):
        return itertools.product(OPS, repeat=NUM_LAYERS)

    def size(self) -> int:
        return len(OPS) ** NUM_LAYERS

    def sample(self, rng=None):
        rng = as_rng(rng)
        return tuple(OPS[i] for i in rng.integers(0, len(OPS), size=NUM_LAYERS))

    def mutate(self, arch, rng=None):
        rng = as_rng(rng)
        arch = list(self.coerce(arch))
        k = int(rng.integers(NUM_LAYERS))
        choices = [op for op in OPS if op != arch[k]]
        arch[k] = choices[int(rng.integers(len(choices)))]
        return tuple(arch)

    def build(self, arch, num_classes=10, **options) -> MacroNetwork:
        """The benchmark network of ``arch``; any other option is a UserError naming the valid ones."""
        from ..validation import check_keywords

        check_keywords(options, ["num_classes"], "the macro space's build")
        return MacroNetwork(self.coerce(arch), num_classes)

    # ---- the supernet (Zero-Cost-PT) ------------------------------------------------------------------
    def supernet(self, C=STEM_CHANNELS, N=None, num_classes=10, in_channels=3) -> MacroSupernet:
        """The chain of mixed layers (``MacroSupernet``) with a ``C``-channel stem. ``N`` exists for the
        cell spaces' signature only: the benchmark's depth is fixed (8 layers), so any N is a UserError."""
        if N is not None:
            raise UserError(f"the NAS-Bench-Macro supernet has the benchmark's fixed 8 layers; --N does not apply "
                            f"(got {N})")
        if not isinstance(C, int) or C < 1:
            raise UserError(f"the NAS-Bench-Macro supernet's stem width C must be a positive integer, not {C!r}")
        return MacroSupernet(C, num_classes, in_channels)

    def cell_edge_groups(self) -> list[list[int]]:
        """The 8 searchable layers, decided one at a time by Zero-Cost-PT."""
        return [list(range(NUM_LAYERS))]

    def from_edge_scores(self, scores: torch.Tensor) -> tuple[str, ...]:
        """The best op of every layer by an [8, 3] score (removed ops -inf)."""
        return tuple(OPS[i] for i in scores.argmax(1).tolist())

    def why_not(self, method: str) -> str | None:
        """Why a search method does not run on this space (one clause), or None when zeronas has no reason."""
        if method in ("te-nas", "teg-rea", "teg-reinforce"):
            return ("zeronas runs TE-NAS/TEG-NAS only where their papers did, on NB201/DARTS cell supernets with "
                    "a thin stem-less twin for linear regions; macro has no such twin")
        if method == "freedarts":
            return "FreeDARTS's ZEROS differentiates per-edge mixing weights of a cell network, which macro has not"
        return None
