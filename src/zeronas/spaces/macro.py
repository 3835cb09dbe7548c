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

from torch import nn

from ..errors import UserError
from .base import SearchSpace, as_rng, register_space

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


class MacroNetwork(nn.Module):
    def __init__(self, ops: tuple[str, ...], num_classes=10, in_channels=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, STEM_CHANNELS, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(STEM_CHANNELS), nn.ReLU(inplace=False))
        layers, C, k = [], STEM_CHANNELS, 0
        for depth in STAGES:
            for i in range(depth):
                C_out = C * 2 if i == 0 else C
                layers.append(make_layer(ops[k], C, C_out, 2 if i == 0 else 1))
                C, k = C_out, k + 1
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.Conv2d(C, HEAD_CHANNELS, 1, bias=False), nn.BatchNorm2d(HEAD_CHANNELS),
                                  nn.ReLU(inplace=False))
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


@register_space
class MacroSpace(SearchSpace):
    name = "macro"
    ops = OPS
    edge_weighted = False  # no cell edges: per-edge proxies (zeros) and supernet searches do not apply
    arch_allows_none = False

    def parse(self, text: str) -> tuple[str, ...]:
        code = str(text).strip()
        if len(code) != NUM_LAYERS or any(c not in "012" for c in code):
            raise UserError(f"NAS-Bench-Macro arch {text!r} must be {NUM_LAYERS} digits from 0 (identity), "
                            f"1 (MB3_K3), 2 (MB6_K5), e.g. '01220012'")
        return tuple(OPS[int(c)] for c in code)

    def format(self, arch) -> str:
        return "".join(str(OPS.index(op)) for op in self.coerce(arch))

    def coerce(self, arch):
        if isinstance(arch, str):
            return self.parse(arch)
        arch = tuple(arch)
        if len(arch) != NUM_LAYERS or any(op not in OPS for op in arch):
            raise UserError(f"a NAS-Bench-Macro arch is {NUM_LAYERS} ops from {OPS}, got {arch!r}")
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

    def supernet(self, **options) -> nn.Module:
        raise UserError("the NAS-Bench-Macro space has no supernet in zeronas yet; supernet searches "
                        "(te-nas, zero-cost-pt, freedarts) run on nb201 and darts")
