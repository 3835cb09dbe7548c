"""NAS-Bench-201 (NATS-Bench topology) search space.

A cell is a DAG over 4 nodes; each of the 6 edges j<-i (i<j) carries one of 5 ops. The macro network is
stem -> N cells -> reduction block -> N cells -> reduction block -> N cells -> BN-ReLU -> GAP -> linear,
with C, 2C, 4C channels (C=16, N=5 for the benchmark).
"""

from __future__ import annotations

import functools
import itertools
import re

import numpy as np
import torch
from torch import nn

from ..errors import UserError, shown
from .base import SearchSpace, arch_text, as_rng, register_space
from .ops import AvgPool, MixedEdge, ReLUConvBN, ResNetBasicBlock

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in arch-string order
NUM_NODES = 4
_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d+)$")


def make_op(name: str, C: int, affine: bool, track_running_stats: bool) -> nn.Module:
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0, 1, affine, track_running_stats)
    if name == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1, 1, affine, track_running_stats)
    if name == "avg_pool_3x3":
        return AvgPool(stride=1)
    raise ValueError(f"no module for op {name!r}")


class NB201Cell(nn.Module):
    """A cell whose edge ``e`` holds the ops ``edge_ops[e]`` (one op: discrete; several: mixed)."""

    def __init__(self, C: int, edge_ops: list[tuple[str, ...]], affine=True, track_running_stats=True):
        super().__init__()
        self.edges = nn.ModuleList()
        for names in edge_ops:
            ops = [(OPS.index(n), make_op(n, C, affine, track_running_stats)) for n in names if n != "none"]
            self.edges.append(MixedEdge(ops))

    def forward(self, x, weights=None, active=None):
        nodes = [x]
        e = 0
        for j in range(1, NUM_NODES):
            out = None
            for i in range(j):
                edge = self.edges[e]
                if len(edge.ops):
                    w = None if weights is None else weights[e]
                    a = None if active is None else active[e]
                    y = edge(nodes[i], w, a)
                    if y is not None:
                        out = y if out is None else out + y
                e += 1
            # an all-zero node stays a real tensor: a conv after it still adds its BN bias, as in NB201
            nodes.append(torch.zeros_like(x) if out is None else out)
        return nodes[-1]


@functools.lru_cache(maxsize=32)
def _flops_without_edges(h: int, w: int, num_classes: int) -> int:
    """The count of the default NB201 network whose edges are all ``none``: stem, reductions, head."""
    from ..counting import count_flops

    with torch.random.fork_rng(devices=[]):  # the caller's RNG stream is not advanced
        net = NB201Network([("none",)] * len(EDGES), 16, 5, num_classes)
    return count_flops(net, torch.zeros(1, 3, h, w))


class NB201Network(nn.Module):
    """The NB201 macro network around cells with the given per-edge op lists.

    ``stem=False`` and ``depth`` build TE-NAS's thin linear-region network (C=1, N=1, depth=1: a single
    cell fed directly with a one-channel input).
    """

    def __init__(self, edge_ops, C=16, N=5, num_classes=10, *, stem=True, depth=None, in_channels=3,
                 affine=True, track_running_stats=True):
        super().__init__()
        self.stem = (nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(C, track_running_stats=track_running_stats))
                     if stem else nn.Identity())
        if not stem and in_channels != C:
            raise ValueError("without a stem the input must have C channels")
        channels = [C] * N + [C * 2] + [C * 2] * N + [C * 4] + [C * 4] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        if depth is not None:
            channels, reductions = channels[:depth], reductions[:depth]
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in zip(channels, reductions):
            if reduction:
                self.cells.append(ResNetBasicBlock(C_prev, C_curr, 2, affine, track_running_stats))
            else:
                self.cells.append(NB201Cell(C_curr, edge_ops, affine, track_running_stats))
            C_prev = C_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev, affine=affine, track_running_stats=track_running_stats),
                                     nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward_pre_gap(self, x, weights=None):
        """Features right before global average pooling (used by Zen-NAS)."""
        active = None if weights is None else (weights != 0).tolist()
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature, weights, active) if isinstance(cell, NB201Cell) else cell(feature)
        return self.lastact(feature)

    def cell_features(self, x, weights=None):
        """Features after the stem and after every cell (AZ-NAS), with gradients kept."""
        active = None if weights is None else (weights != 0).tolist()
        feats = [self.stem(x)]
        for cell in self.cells:
            feats.append(cell(feats[-1], weights, active) if isinstance(cell, NB201Cell) else cell(feats[-1]))
        return feats

    def forward(self, x, weights=None):
        out = self.global_pooling(self.forward_pre_gap(x, weights))
        return self.classifier(out.flatten(1))


class NB201Supernet(NB201Network):
    """Every op on every edge, mixed by per-edge weights shared by all cells.

    ``arch_alpha`` are the architecture logits and ``op_mask`` marks ops still in the space (pruned ops
    get mask 0). Mixing weights default to ``softmax(alpha)`` over unmasked ops; any explicit [E, O]
    weight tensor can be passed to ``forward`` instead (one-hot weights give the discrete network).
    """

    def __init__(self, C=16, N=5, num_classes=10, *, ops=OPS, **kwargs):
        super().__init__([tuple(ops)] * len(EDGES), C, N, num_classes, **kwargs)
        self.arch_alpha = nn.Parameter(torch.zeros(len(EDGES), len(OPS)), requires_grad=False)
        mask = torch.tensor([[op in ops for op in OPS]] * len(EDGES))
        self.register_buffer("op_mask", mask)

    def mixing_weights(self) -> torch.Tensor:
        logits = self.arch_alpha.masked_fill(~self.op_mask, float("-inf"))
        return torch.softmax(logits, dim=-1)

    def one_hot(self, arch) -> torch.Tensor:
        w = torch.zeros(len(EDGES), len(OPS), device=self.arch_alpha.device)
        for e, op in enumerate(arch):
            w[e, OPS.index(op)] = 1.0
        return w

    def forward_pre_gap(self, x, weights=None):
        return super().forward_pre_gap(x, self.mixing_weights() if weights is None else weights)

    def discrete_state_dict(self, arch) -> dict[str, torch.Tensor]:
        """The weights of the discrete network ``arch`` taken from this supernet (same function)."""
        out = {}
        for name, tensor in self.state_dict().items():
            parts = name.split(".")
            if name in ("arch_alpha", "op_mask"):
                continue
            if len(parts) > 5 and parts[0] == "cells" and parts[2] == "edges" and parts[4] == "ops":
                e, k = int(parts[3]), int(parts[5])
                edge = self.cells[int(parts[1])].edges[e]
                if OPS[edge.op_index[k]] != arch[e]:
                    continue
                parts[5] = "0"
            out[".".join(parts)] = tensor
        return out


@register_space
class NB201Space(SearchSpace):
    name = "nb201"
    input_multiple = 4  # two ResNet reductions: a stride-2 conv beside a 2x2 average pool
    ops = OPS
    edges = EDGES
    num_edges = len(EDGES)
    default_supernet = {"C": 16, "N": 5}
    thin_supernet = {"C": 1, "N": 1, "stem": False, "depth": 1, "in_channels": 1}  # TE-NAS linear regions
    _representatives: dict | None = None  # canonical key -> fixed member, built on first use

    # ---- strings -------------------------------------------------------------------------------
    def parse(self, text: str) -> tuple[str, ...]:
        text = arch_text("NB201", text).strip()
        hint = "expected e.g. '|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|'"
        nodes = text.split("+")
        what = f"NB201 arch string {shown(text)}"
        if len(nodes) != NUM_NODES - 1:
            raise UserError(f"{what} has {len(nodes)} nodes, not 3; {hint}")
        arch = []
        for j, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|")):
                raise UserError(f"{what}: node {j} must be wrapped in '|'; {hint}")
            tokens = node[1:-1].split("|")
            if len(tokens) != j:
                raise UserError(f"{what}: node {j} needs {j} inputs, got {len(tokens)}; {hint}")
            for i, tok in enumerate(tokens):
                m = _TOKEN.match(tok)
                if not m or int(m.group(2)) != i:
                    raise UserError(f"{what}: bad token {shown(tok, 40)} (want 'op~{i}'); {hint}")
                if m.group(1) not in OPS:
                    raise UserError(f"{what}: unknown op {shown(m.group(1), 40)}; ops are {', '.join(OPS)}")
                arch.append(m.group(1))
        return tuple(arch)

    def coerce(self, arch) -> tuple[str, ...]:
        """An arch string, or the native value: the 6 edge ops in arch-string order (a tuple or list)."""
        if isinstance(arch, str):
            return self.parse(arch)
        if isinstance(arch, (tuple, list)) and len(arch) == self.num_edges and all(op in OPS for op in arch):
            return tuple(arch)
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            raise UserError(f"NB201 arch {shown(arch)} is a number: give an arch string (its row of the benchmark "
                            f"table is zeronas.space('nb201').from_index({arch}))")
        raise UserError(f"not an NB201 arch: {shown(arch)}; give an arch string such as "
                        f"'|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|' or "
                        f"its {self.num_edges} edge ops in that order, from {', '.join(OPS)}")

    def format(self, arch) -> str:
        arch = self.coerce(arch)
        parts, e = [], 0
        for j in range(1, NUM_NODES):
            parts.append("|" + "|".join(f"{arch[e + i]}~{i}" for i in range(j)) + "|")
            e += j
        return "+".join(parts)

    # ---- isomorphism ------------------------------------------------------------------------------
    def canonical(self, arch) -> str:
        """The NB201 benchmark's own isomorphism key (its ``to_unique_str(consider_zero=True)`` rule):
        skips are inlined, sums sorted, and a ``none`` edge or an edge out of a node that is a single zero
        term is zero. It never merges cells that differ in function, and gives the published 6,466
        classes over the 15,625 strings."""
        arch = self.coerce(arch)
        nodes = {0: "0"}
        e = 0
        for j in range(1, NUM_NODES):
            terms = []
            for i in range(j):
                op, src = arch[e], nodes[i]
                e += 1
                if op == "none" or src == "#":
                    terms.append("#")
                elif op == "skip_connect":
                    terms.append(src)
                else:
                    terms.append(f"({src})@{op}")
            nodes[j] = "+".join(sorted(terms))
        return nodes[NUM_NODES - 1]

    def cut_off(self, arch) -> bool:
        """Whether no path of non-``none`` edges leads from the cell's input to its output: every cell then
        outputs zeros, the network's prediction does not depend on the image, and the benchmark's accuracy is
        chance (10.00 on CIFAR-10). Such an arch is a valid string but no answer to a search."""
        arch = self.coerce(arch)
        reach, e = {0}, 0
        for j in range(1, NUM_NODES):
            for i in range(j):
                if arch[e] != "none" and i in reach:
                    reach.add(j)
                e += 1
        return NUM_NODES - 1 not in reach

    def representative(self, arch):
        """The class member with the smallest arch string over the whole space (the canonical key is an
        expression, not an arch); the class-to-member map is built once, from all 15,625 strings."""
        if self._representatives is None:
            reps: dict[str, tuple] = {}
            for a in sorted(self.enumerate(), key=self.format):  # the first member seen is the smallest
                reps.setdefault(self.canonical(a), a)
            self._representatives = reps
        return self._representatives[self.canonical(arch)]

    def has_unreachable_ops(self, arch) -> bool:
        """True when some non-``none`` op lies on no input-to-output path (it is computed but cannot reach
        the cell output, or it only ever sees zeros). NAS-Bench-Suite-Zero's released NB201 scores cover
        exactly the 9,445 strings without such ops."""
        arch = self.coerce(arch)
        live = [(i, j) for (j, i), op in zip(EDGES, arch) if op != "none"]
        from_input, to_output = {0}, {NUM_NODES - 1}
        for i, j in sorted(live, key=lambda e: e[1]):
            if i in from_input:
                from_input.add(j)
        for i, j in sorted(live, key=lambda e: -e[0]):
            if j in to_output:
                to_output.add(i)
        return any(i not in from_input or j not in to_output for i, j in live)

    # ---- enumeration and sampling -------------------------------------------------------------
    def enumerate(self):
        return itertools.product(OPS, repeat=len(EDGES))

    def size(self) -> int:
        return len(OPS) ** len(EDGES)

    def sample(self, rng=None):
        rng = as_rng(rng)
        return tuple(OPS[i] for i in rng.integers(0, len(OPS), size=len(EDGES)))

    def mutate(self, arch, rng=None):
        rng = as_rng(rng)
        arch = list(self.coerce(arch))
        e = int(rng.integers(len(EDGES)))
        choices = [op for op in OPS if op != arch[e]]
        arch[e] = choices[int(rng.integers(len(choices)))]
        return tuple(arch)

    def count_params(self, arch, num_classes: int = 10, C: int = 16, N: int = 5, **build) -> int | None:
        """Trainable parameters of ``build(arch)`` without building it: the closed form of the data README
        (73,306 + 65 (k - 10) + sum over C in 16, 32, 64 of 5 (n1 (C^2 + 2C) + n3 (9 C^2 + 2C)), n1 / n3 the
        1x1 / 3x3 conv edges), equal to the built network's count and to NAS-Bench-Suite-Zero's ``params``
        (tested). None for networks the form does not cover (other C, N or build options)."""
        if C != 16 or N != 5 or build:
            return None
        arch = self.coerce(arch)
        n1 = sum(op == "nor_conv_1x1" for op in arch)
        n3 = sum(op == "nor_conv_3x3" for op in arch)
        return 73_306 + 65 * (num_classes - 10) + sum(5 * (n1 * (c * c + 2 * c) + n3 * (9 * c * c + 2 * c))
                                                      for c in (16, 32, 64))

    def count_flops(self, arch, input_size=32, num_classes: int = 10, C: int = 16, N: int = 5,
                    **build) -> int | None:
        """``counting.count_flops`` of ``build(arch)`` at ``input_size`` (an int or (h, w), multiples of 4)
        without building it: the count of the network whose six edges are all ``none`` (counted once per size
        and class count, then kept) plus, per edge op in each of the N cells of the three stages (C_s = C 2^s
        channels on an (h / 2^s) x (w / 2^s) map), C_s h_s w_s (k^2 C_s + 3) for a k x k ReLU-conv-BN (ReLU 1,
        conv k^2 C_s MACs, affine BN 2 per output element), 9 C_s h_s w_s for the 3x3 average pool, 0 for
        skip_connect and none. Equal to the hook count (tests/test_proxies.py). None where the form does
        not apply (other C, N or build options, a size not a multiple of 4)."""
        h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        if C != 16 or N != 5 or build or h % 4 or w % 4:
            return None
        total = _flops_without_edges(h, w, num_classes)
        per_op = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}
        arch = self.coerce(arch)
        for s in range(3):
            c, hw = C << s, (h >> s) * (w >> s)
            for op in arch:
                if op in per_op:
                    total += N * c * hw * (per_op[op] * c + 3)
                elif op == "avg_pool_3x3":
                    total += N * 9 * c * hw
        return total

    def neighbours(self, arch) -> list[tuple[str, ...]]:
        """The 24 archs one edge-op change away (6 edges x 4 other ops), in edge then op order."""
        arch = self.coerce(arch)
        return [arch[:e] + (op,) + arch[e + 1:] for e in range(len(EDGES)) for op in OPS if op != arch[e]]

    # ---- networks ----------------------------------------------------------------------------------
    def build(self, arch, C=16, N=5, num_classes=10, **kwargs) -> NB201Network:
        """The NB201 network of ``arch``; options as ``NB201Network`` takes them, any other a UserError
        naming the valid ones."""
        from ..validation import check_keywords

        check_keywords(kwargs, ["C", "N", "num_classes", "stem", "depth", "in_channels", "affine",
                                "track_running_stats"], "the nb201 space's build")
        arch = self.coerce(arch)
        return NB201Network([(op,) for op in arch], C, N, num_classes, **kwargs)

    def build_thin(self, arch, in_channels=1, **kwargs) -> NB201Network:
        """TE-NAS's linear-region network: C=1, N=1, no stem, one cell."""
        return self.build(arch, C=in_channels, N=1, stem=False, depth=1, in_channels=in_channels, **kwargs)

    def supernet(self, C=16, N=5, num_classes=10, **kwargs) -> NB201Supernet:
        return NB201Supernet(C, N, num_classes, **kwargs)

    def from_edge_scores(self, scores: torch.Tensor) -> tuple[str, ...]:
        """The best op of every edge by an [E, O] score (masked ops -inf)."""
        return tuple(OPS[i] for i in scores.argmax(1).tolist())

    def arch_from_ops(self, ops) -> tuple[str, ...]:
        if len(ops) != len(EDGES) or any(op not in OPS for op in ops):
            raise UserError(f"an NB201 arch is 6 ops from {OPS}, got {shown(ops)}")
        return tuple(ops)


def random_archs(n: int, seed: int = 0) -> list[tuple[str, ...]]:
    space = NB201Space()
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]
