"""A MobileNetV2-style search space as a zeronas plug-in: ``--space examples/mobilenet_space.py:MobileNetSpace``.

The network is MobileNetV2's (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018, arXiv:1801.04381): a 3x3 stem, a fixed first bottleneck (depthwise 3x3, no expansion, 16
channels), six searched stages of inverted residual blocks (1x1 expand, BN, ReLU, k x k depthwise, BN, ReLU,
1x1 linear projection, BN, plus the input when stride 1 and the width is kept) with MobileNetV2's widths 24,
32, 64, 96, 160, 320, a 1x1 conv to 1280 channels, global pooling and a linear classifier.

What is searched, per block and per stage, is the choice set that the MobileNet-like ImageNet spaces of
the training-free NAS papers draw from: the depthwise kernel (3, 5 or 7) and the expansion ratio (3 or 6)
of every block, as in ProxylessNAS's space (Cai et al., ICLR 2019, arXiv:1812.00332), and the depth
(number of blocks) of every stage, from 1 to MobileNetV2's own depth (2, 3, 4, 3, 3, 1), as in
Once-for-All's elastic depth (Cai et al., ICLR 2020, arXiv:1908.09791). Training-free NAS searches
spaces of this family on ImageNet: Zero-Cost-PT (Xiang et al., AAAI 2023, arXiv:2106.06799, its
"MobileNet-like" space), Zen-NAS (Lin et al., ICCV 2021, arXiv:2102.01063), ZiCo (Li et al., ICLR 2023,
arXiv:2301.11300) and AZ-NAS (Lee & Ham, CVPR 2024) under FLOPs budgets. Each paper's exact space differs in
widths, block types and budgets; this file is a compact member of the family, not a reproduction of any one.

Differences from MobileNetV2, chosen so that a search runs in seconds on a CPU:

- ``width_mult = 0.5`` (every width, the 1280-channel head included, halved and rounded to a multiple of 8;
  MobileNetV2 keeps the head at 1280 below width 1.0);
- CIFAR-size inputs (32 px, the data's size): stem stride 1 and the first searched stage at stride 1
  (stage strides 1, 2, 2, 1, 2, 1), the usual CIFAR adaptation; MobileNetV2's ImageNet layout (stem stride 2,
  stage strides 2, 2, 2, 1, 2, 1) is ``MobileNetSpaceImageNet`` below, at full width;
- ReLU instead of ReLU6, so the activation-code proxies (nwot, DAS) and the FLOPs count see ``nn.ReLU``.

Every option is a class attribute: a subclass changes them (``class Wide(MobileNetSpace): width_mult = 1.0``,
then ``--space examples/mobilenet_space.py:Wide``).

An architecture is a string of six stages separated by ``|``, each a comma-separated list of blocks
``k<kernel>e<expansion>``, e.g. ``k3e6,k5e3|k7e6|k3e3,k3e3,k5e6|k5e6|k3e6,k7e3|k5e6``. Its value in Python is a
tuple of stages, each a tuple of ``(kernel, expansion)`` pairs. Different strings are different networks (the
blocks of a stage are applied in order), so ``canonical`` is the string itself.
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

from zeronas.errors import UserError
from zeronas.spaces.base import SearchSpace

# MobileNetV2's searched stages (after the fixed 16-channel first bottleneck): output widths, MobileNetV2's
# number of blocks (the largest depth here), and ImageNet strides
WIDTHS = (24, 32, 64, 96, 160, 320)
MAX_DEPTHS = (2, 3, 4, 3, 3, 1)
IMAGENET = {"stem_stride": 2, "strides": (2, 2, 2, 1, 2, 1)}


def make_divisible(v: float, divisor: int = 8) -> int:
    """MobileNetV2's channel rounding: the nearest multiple of ``divisor``, never below 90% of ``v``."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


class InvertedResidual(nn.Module):
    """1x1 expand (skipped at expansion 1), BN, ReLU, k x k depthwise, BN, ReLU, 1x1 project, BN, + input."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, kernel: int):
        super().__init__()
        hidden = c_in * expansion
        layers = [] if expansion == 1 else [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU()]
        layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU(),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNet(nn.Module):
    def __init__(self, arch, num_classes: int, width_mult: float, stem_stride: int, strides, head: int):
        super().__init__()
        c = make_divisible(32 * width_mult)
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        first = make_divisible(16 * width_mult)
        blocks = [InvertedResidual(c, first, 1, 1, 3)]  # MobileNetV2's fixed t=1 bottleneck
        c = first
        for stage, width, stride in zip(arch, WIDTHS, strides):
            out = make_divisible(width * width_mult)
            for i, (kernel, expansion) in enumerate(stage):
                blocks.append(InvertedResidual(c, out, stride if i == 0 else 1, expansion, kernel))
                c = out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.Conv2d(c, head, 1, bias=False), nn.BatchNorm2d(head), nn.ReLU())
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head, num_classes)

    def cell_features(self, x):
        """Features after the stem and after every block (AZ-NAS reads these)."""
        feats = [self.stem(x)]
        for block in self.blocks:
            feats.append(block(feats[-1]))
        return feats

    def searchable_parameters(self):
        return [p for b in self.blocks[1:] for p in b.parameters()]

    def forward_pre_gap(self, x):
        return self.head(self.cell_features(x)[-1])

    def forward(self, x):
        return self.classifier(self.global_pooling(self.forward_pre_gap(x)).flatten(1))


class MobileNetSpace(SearchSpace):
    """MobileNetV2-style space: per block kernel 3/5/7 and expansion 3/6, per stage depth 1..MobileNetV2's."""

    name = "mobilenet"
    kernels = (3, 5, 7)
    expansions = (3, 6)
    max_depths = MAX_DEPTHS
    width_mult = 0.5
    stem_stride = 1  # CIFAR-size inputs; IMAGENET holds the 224 px layout
    strides = (1, 2, 2, 1, 2, 1)

    # ---- strings ---------------------------------------------------------------------------------------------
    def parse(self, text: str):
        stages = str(text).replace(" ", "").split("|")
        if len(stages) != len(self.max_depths):
            raise UserError(f"a {self.name} arch has {len(self.max_depths)} stages separated by '|', got "
                            f"{len(stages)} in {str(text)[:80]!r}; e.g. {self.example()!r}")
        arch = []
        for s, (stage, depth) in enumerate(zip(stages, self.max_depths)):
            blocks = [b for b in stage.split(",") if b]
            if not 1 <= len(blocks) <= depth:
                raise UserError(f"stage {s + 1} of {self.name} arch {str(text)[:80]!r} has {len(blocks)} blocks; "
                                f"it takes 1 to {depth}")
            out = []
            for b in blocks:
                k, _, e = b.lower().lstrip("k").partition("e")
                if not (k.isdigit() and e.isdigit()) or int(k) not in self.kernels or int(e) not in self.expansions:
                    raise UserError(f"block {b!r} in {self.name} arch {str(text)[:80]!r} is not k<kernel>e<expansion> "
                                    f"with kernel in {self.kernels} and expansion in {self.expansions}, e.g. k5e6")
                out.append((int(k), int(e)))
            arch.append(tuple(out))
        return tuple(arch)

    def format(self, arch) -> str:
        return "|".join(",".join(f"k{k}e{e}" for k, e in stage) for stage in self.coerce(arch))

    def coerce(self, arch):
        if isinstance(arch, str):
            return self.parse(arch)
        return self.parse("|".join(",".join(f"k{k}e{e}" for k, e in stage) for stage in arch))

    def canonical(self, arch) -> str:
        """Blocks apply in order and every choice changes the network: each string is its own class."""
        return self.format(arch)

    def example(self) -> str:
        return "|".join(",".join(["k3e6"] * d) for d in self.max_depths)

    # ---- counting (no enumerate(): billions of networks are not listed) ------------------------------------------
    def size(self) -> int:
        per_block = len(self.kernels) * len(self.expansions)
        return math.prod(sum(per_block ** d for d in range(1, depth + 1)) for depth in self.max_depths)

    # ---- random draws and neighbours -----------------------------------------------------------------------
    def _block(self, rng):
        return int(rng.choice(self.kernels)), int(rng.choice(self.expansions))

    def sample(self, rng=None):
        """Uniform depth per stage, then a uniform kernel and expansion per block."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return tuple(tuple(self._block(rng) for _ in range(int(rng.integers(1, depth + 1))))
                     for depth in self.max_depths)

    def mutate(self, arch, rng=None):
        """One change: a block's kernel, a block's expansion, or a stage one block deeper or shallower."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        arch = [list(stage) for stage in self.coerce(arch)]
        s = int(rng.integers(len(arch)))
        stage, depth = arch[s], self.max_depths[s]
        moves = ["kernel", "expansion"] + (["deeper"] if len(stage) < depth else []) + \
            (["shallower"] if len(stage) > 1 else [])
        move = moves[int(rng.integers(len(moves)))]  # each move gives a different architecture
        if move == "deeper":
            stage.insert(int(rng.integers(len(stage) + 1)), self._block(rng))
        elif move == "shallower":
            stage.pop(int(rng.integers(len(stage))))
        else:
            i = int(rng.integers(len(stage)))
            k, e = stage[i]
            if move == "kernel":
                stage[i] = (int(rng.choice([x for x in self.kernels if x != k])), e)
            else:
                stage[i] = (k, int(rng.choice([x for x in self.expansions if x != e])))
        return tuple(tuple(st) for st in arch)

    # ---- the network ------------------------------------------------------------------------------------------
    def build(self, arch, num_classes: int = 10, **_) -> MobileNet:
        return MobileNet(self.coerce(arch), num_classes, self.width_mult, self.stem_stride, self.strides,
                         make_divisible(1280 * self.width_mult))


class MobileNetSpaceImageNet(MobileNetSpace):
    """The ImageNet layout at full width (300M-MAC-class networks at 224 px): for GPUs, not the CPU demo."""

    name = "mobilenet-imagenet"
    width_mult = 1.0
    stem_stride = IMAGENET["stem_stride"]
    strides = IMAGENET["strides"]
