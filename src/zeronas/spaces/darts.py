"""The DARTS CNN search space (Liu et al., ICLR 2019).

A cell has two inputs (the outputs of the two previous cells) and 4 intermediate nodes; node i may take
any of the i + 2 earlier states. The supernet carries all 8 ops on all 14 edges of both cell types
(normal, reduction); a discrete architecture (a ``Genotype``) keeps 2 incoming edges per node with one
op each, and concatenates the intermediate nodes. Networks stack N cells with reductions at N/3 and 2N/3.

Edges are numbered as in DARTS: node 0 takes edges 0-1, node 1 edges 2-4, node 2 edges 5-8, node 3 edges
9-13; supernet mixing weights are a [28, 8] tensor, rows 0-13 normal and 14-27 reduction.
"""

from __future__ import annotations

import ast
import json
import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..errors import UserError, shown
from .base import SearchSpace, arch_text, as_rng, register_space
from .ops import AvgPool2d, MixedEdge, ReLUConvBN

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
       "dil_conv_5x5")
STEPS = 4
CONCAT = (2, 3, 4, 5)
# (node, input) per edge of one cell, DARTS order
CELL_EDGES = tuple((node, inp) for node in range(STEPS) for inp in range(node + 2))
NODE_EDGES = ((0, 2), (2, 5), (5, 9), (9, 14))  # edge index range of each node
EDGES = tuple(("normal", n, i) for n, i in CELL_EDGES) + tuple(("reduce", n, i) for n, i in CELL_EDGES)


class Genotype(NamedTuple):
    """The DARTS genotype: per cell 8 (op, input) pairs, two per node in node order, and the concat list."""

    normal: tuple
    normal_concat: tuple
    reduce: tuple
    reduce_concat: tuple


# ---- ops ---------------------------------------------------------------------------------------------
class SepConv(nn.Sequential):
    def __init__(self, C_in, C_out, k, stride, padding, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, k, stride, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False), nn.BatchNorm2d(C_in, affine=affine), nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, k, 1, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False), nn.BatchNorm2d(C_out, affine=affine))


class DilConv(nn.Sequential):
    def __init__(self, C_in, C_out, k, stride, padding, dilation, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, k, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False), nn.BatchNorm2d(C_out, affine=affine))


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1x1 convs (for skips out of a reduction). The offset
    branch pads one zero row/column first: identical to DARTS on even sizes, and defined on odd ones (TE-NAS's
    3x3 linear-region inputs)."""

    def __init__(self, C_in, C_out, affine=True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def make_op(name: str, C: int, stride: int, affine: bool, search: bool = False) -> nn.Module:
    """An op of the space; ``search`` adds the non-affine BN that the DARTS supernet puts after pooling."""
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (nn.MaxPool2d(3, stride, padding=1) if name == "max_pool_3x3"
                else AvgPool2d(3, stride, padding=1))
        return nn.Sequential(pool, nn.BatchNorm2d(C, affine=False)) if search else pool
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)
    if name == "sep_conv_3x3":
        return SepConv(C, C, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(C, C, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(C, C, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(C, C, 5, stride, 4, 2, affine)
    raise ValueError(f"no module for op {shown(name)}")


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of a path with probability ``drop_prob`` and rescale the rest (DARTS training)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


# ---- cells and networks -----------------------------------------------------------------------------
class _CellBase(nn.Module):
    def __init__(self, C_pp, C_p, C, reduction, reduction_prev, affine):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(C_pp, C, affine) if reduction_prev
                            else ReLUConvBN(C_pp, C, 1, 1, 0, affine=affine))
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, affine=affine)


class DartsCell(_CellBase):
    """A discrete cell from a genotype (evaluation network). ``search_ops``: the ops as the DARTS search
    network builds them (non-affine BN, BN after pooling), as NAS-Bench-Suite-Zero's NB301 network has them."""

    def __init__(self, genotype: Genotype, C_pp, C_p, C, reduction, reduction_prev, search_ops=False):
        super().__init__(C_pp, C_p, C, reduction, reduction_prev, affine=True)
        pairs = genotype.reduce if reduction else genotype.normal
        self.concat = tuple(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.inputs = [i for _, i in pairs]
        self.ops = nn.ModuleList(make_op(op, C, 2 if reduction and i < 2 else 1, not search_ops, search=search_ops)
                                 for op, i in pairs)
        self.multiplier = len(self.concat)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(STEPS):
            total = 0
            for k in (2 * node, 2 * node + 1):
                h = self.ops[k](states[self.inputs[k]])
                if self.training and drop_prob > 0 and not isinstance(self.ops[k], nn.Identity):
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class DartsSearchCell(_CellBase):
    """A supernet cell: all ops on all 14 edges, mixed by a [14, 8] weight tensor."""

    def __init__(self, C_pp, C_p, C, reduction, reduction_prev, ops=OPS):
        super().__init__(C_pp, C_p, C, reduction, reduction_prev, affine=False)
        self.edges = nn.ModuleList()
        for _, inp in CELL_EDGES:
            stride = 2 if reduction and inp < 2 else 1
            self.edges.append(MixedEdge([(OPS.index(o), make_op(o, C, stride, False, search=True))
                                         for o in ops if o != "none"]))
        self.multiplier = STEPS

    def forward(self, s0, s1, weights, active=None):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(STEPS):
            lo, hi = NODE_EDGES[node]
            out = None
            for e in range(lo, hi):
                y = self.edges[e](states[CELL_EDGES[e][1]], weights[e], None if active is None else active[e])
                if y is not None:
                    out = y if out is None else out + y
            if out is None:  # every incoming op is `none`: a zero state of the right shape
                ref = states[1]
                out = torch.zeros_like(ref[:, :, ::2, ::2] if self.reduction else ref)
            states.append(out)
        return torch.cat(states[-STEPS:], dim=1)


class AuxiliaryHead(nn.Module):
    """The DARTS CIFAR auxiliary classifier (input 8x8 at 2/3 depth)."""

    def __init__(self, C, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def _layout(N: int):
    """Per cell: reduction or not (reductions at N//3 and 2N//3). N < 3 would make every cell a reduction
    cell, so the normal cell would be neither trained nor searched: a UserError."""
    if N < 3:
        raise UserError(f"a DARTS network of N={N} cells has reduction cells at N//3 and 2N//3 only, so no normal "
                        "cell: use --N 3 or more")
    return [i in (N // 3, 2 * N // 3) for i in range(N)]


def _make_stem(stem: bool, in_channels: int, C_stem: int) -> nn.Module:
    if stem:
        return nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
    if in_channels != C_stem:
        raise ValueError("without a stem the input must have stem_multiplier * C channels")
    return nn.Identity()


def _stack_cells(make_cell, C: int, C_stem: int, layout) -> tuple[nn.ModuleList, list[int]]:
    """Cells of the NASNet macro structure (channels double at each reduction; every cell sees the two previous
    outputs) and the output channels after each cell."""
    cells, outs = nn.ModuleList(), []
    C_pp, C_p, C_curr, reduction_prev = C_stem, C_stem, C, False
    for reduction in layout:
        if reduction:
            C_curr *= 2
        cell = make_cell(C_pp, C_p, C_curr, reduction, reduction_prev)
        cells.append(cell)
        reduction_prev = reduction
        C_pp, C_p = C_p, cell.multiplier * C_curr
        outs.append(C_p)
    return cells, outs


class DartsNetwork(nn.Module):
    """The DARTS CIFAR evaluation network (``NetworkCIFAR``): stem 3C, N cells, optional auxiliary head and
    drop-path. ``forward`` returns the logits; ``forward_with_aux`` also the auxiliary logits (training)."""

    def __init__(self, genotype: Genotype, C=36, N=20, num_classes=10, auxiliary=False, drop_path_prob=0.0,
                 stem_multiplier=3, *, stem=True, depth=None, in_channels=3, search_ops=False):
        super().__init__()
        self.genotype, self.drop_path_prob = genotype, drop_path_prob
        C_stem = stem_multiplier * C
        self.stem = _make_stem(stem, in_channels, C_stem)
        self.cells, outs = _stack_cells(lambda *a: DartsCell(genotype, *a, search_ops=search_ops), C, C_stem,
                                        _layout(N)[:depth])
        self.aux_at = 2 * N // 3
        self.auxiliary_head = (AuxiliaryHead(outs[self.aux_at], num_classes)
                               if auxiliary and self.aux_at < len(outs) else None)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(outs[-1], num_classes)

    def cell_features(self, x):
        """Features after the stem and after every cell (AZ-NAS)."""
        feats = [self.stem(x)]
        s0 = s1 = feats[0]
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            feats.append(s1)
        return feats

    def forward_pre_gap(self, x):
        """Features right before global average pooling (Zen-NAS)."""
        return self.cell_features(x)[-1]

    def forward_with_aux(self, x):
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_at and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux

    def forward(self, x):
        return self.forward_with_aux(x)[0]


_PIECES: dict[tuple, tuple[int, int, int]] = {}


def _head(C: int, num_classes: int) -> nn.Module:
    """What follows the last cell, as ``DartsNetwork`` counts it: global pooling and the classifier."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, num_classes))


def _piece(make, args: tuple, shape: tuple[int, int]) -> tuple[int, int, int]:
    """(parameters, FLOPs, output height) of the module ``make(*args)``, on one square input of ``shape``
    (channels, height), counted once per process."""
    from ..counting import count_flops, count_params

    full = (make.__qualname__, *args, *shape)
    if full not in _PIECES:
        with torch.random.fork_rng(devices=[]):  # a piece's init must not move the caller's random stream
            module = make(*args)
        x = torch.zeros(1, shape[0], shape[1], shape[1])
        flops = count_flops(module, x)
        with torch.no_grad():
            hw = module(x).shape[-1]
        _PIECES[full] = (count_params(module), flops, hw)
    return _PIECES[full]


class DartsSupernet(nn.Module):
    """The DARTS search network (``model_search.Network``): C=16, N=8 cells, every op on every edge, mixed
    by ``softmax(arch_alpha)`` over unmasked ops unless an explicit [28, 8] weight tensor is passed."""

    def __init__(self, C=16, N=8, num_classes=10, stem_multiplier=3, ops=OPS, *, stem=True, depth=None,
                 in_channels=3):
        super().__init__()
        C_stem = stem_multiplier * C
        self.stem = _make_stem(stem, in_channels, C_stem)
        self.cells, outs = _stack_cells(lambda *a: DartsSearchCell(*a, ops), C, C_stem, _layout(N)[:depth])
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(outs[-1], num_classes)
        self.arch_alpha = nn.Parameter(torch.zeros(len(EDGES), len(OPS)), requires_grad=False)
        self.register_buffer("op_mask", torch.tensor([[op in ops for op in OPS]] * len(EDGES)))

    def mixing_weights(self) -> torch.Tensor:
        return torch.softmax(self.arch_alpha.masked_fill(~self.op_mask, float("-inf")), dim=-1)

    def forward(self, x, weights=None):
        weights = self.mixing_weights() if weights is None else weights
        active = (weights != 0).tolist()
        half = len(CELL_EDGES)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            lo = half if cell.reduction else 0
            s0, s1 = s1, cell(s0, s1, weights[lo:lo + half], active[lo:lo + half])
        return self.classifier(self.global_pooling(s1).flatten(1))


# ---- genotype text ----------------------------------------------------------------------------------
_HINT = ("expected e.g. \"Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...8 pairs], "
         "normal_concat=[2, 3, 4, 5], reduce=[...8 pairs], reduce_concat=[2, 3, 4, 5])\" or the same as JSON")


def _literal(node, text):
    """A literal, or ``range(a, b)`` as the DARTS code writes concat lists."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "range":
        return list(range(*[_literal(a, text) for a in node.args]))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise UserError(f"malformed genotype {shown(text)}: only literals are allowed; {_HINT}") from None


def _node_index(i, bad: str) -> int:
    """A node index as written: a whole number (True or 3.5 or '3' are not one, and are not rounded to one)."""
    if isinstance(i, bool) or not (isinstance(i, (int, np.integer)) or (isinstance(i, float) and i.is_integer())):
        raise UserError(f"{bad} has node index {i!r}, which is not a whole number; {_HINT}")
    return int(i)


def _check_cell(pairs, concat, which, text) -> tuple[tuple, tuple]:
    bad = f"malformed genotype {shown(text)}: {which}"
    try:
        pairs = tuple((str(op), _node_index(i, bad)) for op, i in pairs)
        concat = tuple(_node_index(c, bad + "_concat") for c in concat)
    except (TypeError, ValueError):
        raise UserError(f"{bad} must be a list of (op, input) pairs; {_HINT}") from None
    if len(pairs) != 2 * STEPS:
        raise UserError(f"{bad} has {len(pairs)} (op, input) pairs, a DARTS cell needs {2 * STEPS}; {_HINT}")
    for k, (op, i) in enumerate(pairs):
        node = k // 2
        if op not in OPS or op == "none":
            raise UserError(f"{bad}: unknown op {op!r}; ops are {', '.join(OPS[1:])}")
        if not 0 <= i < node + 2:
            raise UserError(f"{bad}: node {node} cannot take input {i} (allowed 0..{node + 1})")
    if not concat or any(c not in CONCAT for c in concat) or len(set(concat)) != len(concat):
        raise UserError(f"{bad}_concat {list(concat)} must be distinct intermediate nodes from {list(CONCAT)}")
    return pairs, concat


def parse_genotype(text: str) -> Genotype:
    """Read the DARTS ``Genotype(...)`` string (``range(2, 6)`` allowed) or the JSON form."""
    text = arch_text("DARTS", text).strip()
    if text.startswith("{"):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"malformed genotype JSON: {exc}; {_HINT}") from None
    else:
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError:
            raise UserError(f"malformed genotype {shown(text)}: not a Python expression; {_HINT}") from None
        if not (isinstance(tree, ast.Call) and getattr(tree.func, "id", None) == "Genotype" and not tree.args):
            raise UserError(f"malformed genotype {shown(text)}: expected Genotype(normal=..., ...); {_HINT}")
        d = {kw.arg: _literal(kw.value, text) for kw in tree.keywords}
    extra = [k for k in d if k not in Genotype._fields] if isinstance(d, dict) else []
    if extra:  # a field the network would never read: a typo or another tool's genotype, not ignored
        raise UserError(f"malformed genotype {shown(text)}: unknown field {', '.join(map(str, extra))}; a "
                        f"Genotype has {', '.join(Genotype._fields)}")
    missing = [k for k in Genotype._fields if k not in d]
    if missing:
        raise UserError(f"malformed genotype {shown(text)}: missing {', '.join(missing)}; {_HINT}")
    normal, normal_concat = _check_cell(d["normal"], d["normal_concat"], "normal", text)
    reduce, reduce_concat = _check_cell(d["reduce"], d["reduce_concat"], "reduce", text)
    return Genotype(normal, normal_concat, reduce, reduce_concat)


def format_genotype(g: Genotype) -> str:
    def cell(pairs):
        return "[" + ", ".join(f"('{op}', {i})" for op, i in pairs) + "]"

    return (f"Genotype(normal={cell(g.normal)}, normal_concat={list(g.normal_concat)}, "
            f"reduce={cell(g.reduce)}, reduce_concat={list(g.reduce_concat)})")


def genotype_json(g: Genotype) -> str:
    return json.dumps({"normal": [list(p) for p in g.normal], "normal_concat": list(g.normal_concat),
                       "reduce": [list(p) for p in g.reduce], "reduce_concat": list(g.reduce_concat)})


# ---- the space --------------------------------------------------------------------------------------
@register_space
class DartsSpace(SearchSpace):
    """DARTS CNN space. ``build`` defaults to the proxy-scoring network (C=16, N=8: the network Zero-Cost-PT
    validates candidates on); pass ``C=36, N=20, auxiliary=True, drop_path_prob=0.2`` for the evaluation
    network of the DARTS recipe (``zeronas train`` does)."""

    name = "darts"
    index_table = "nb301"  # NAS-Bench-301's 725 genotypes are DARTS genotypes: --index N trains/exports row N
    ops = OPS
    supernet_only_ops = ("none",)  # a supernet edge's candidate; a genotype's 8 chosen ops never include it
    edges = EDGES
    num_edges = len(EDGES)
    default_supernet = {"C": 16, "N": 8}
    edge_weighted = False
    arch_allows_none = False
    # TE-NAS's linear-region network: C=1, no stem, the first 2 cells (normal, reduction) of a 1-per-stage net
    thin_supernet = {"C": 1, "N": 5, "stem": False, "depth": 2, "in_channels": 1, "stem_multiplier": 1}

    def parse(self, text: str) -> Genotype:
        return parse_genotype(text)

    def format(self, arch) -> str:
        return format_genotype(self.coerce(arch))

    def coerce(self, arch):
        if isinstance(arch, str):
            return parse_genotype(arch)
        if isinstance(arch, Genotype):
            return arch
        if isinstance(arch, tuple) and len(arch) == 4:
            return Genotype(*arch)
        raise UserError(f"not a DARTS genotype: {shown(arch)}")

    def canonical(self, arch) -> str:
        """The two inputs of a node are unordered: sort each node's pairs (and the concat lists)."""
        g = self.coerce(arch)

        def cell(pairs):
            return tuple(p for k in range(STEPS) for p in sorted(pairs[2 * k:2 * k + 2], key=lambda t: (t[1], t[0])))

        return format_genotype(Genotype(cell(g.normal), tuple(sorted(g.normal_concat)), cell(g.reduce),
                                        tuple(sorted(g.reduce_concat))))

    def enumerate(self):
        raise UserError(f"the DARTS space has {self.size():.2e} architectures and cannot be enumerated; "
                        "use --sample N")

    def size(self) -> int:
        per_cell = math.prod(math.comb(n + 2, 2) * (len(OPS) - 1) ** 2 for n in range(STEPS))
        return per_cell ** 2

    def _sample_cell(self, rng):
        pairs = []
        for node in range(STEPS):
            for i in sorted(rng.choice(node + 2, 2, replace=False).tolist()):
                pairs.append((OPS[1 + int(rng.integers(len(OPS) - 1))], int(i)))
        return tuple(pairs)

    def sample(self, rng=None) -> Genotype:
        rng = as_rng(rng)
        return Genotype(self._sample_cell(rng), CONCAT, self._sample_cell(rng), CONCAT)

    def mutate(self, arch, rng=None) -> Genotype:
        """Change one op or one input of one node of one cell."""
        rng = as_rng(rng)
        g = self.coerce(arch)
        which = "normal" if rng.integers(2) == 0 else "reduce"
        pairs = list(getattr(g, which))
        k = int(rng.integers(len(pairs)))
        op, i = pairs[k]
        node, other = k // 2, pairs[k ^ 1][1]
        if rng.integers(2) == 0:
            op = rng.choice([o for o in OPS[1:] if o != op]).item()
        else:
            choices = [j for j in range(node + 2) if j not in (i, other)]
            if choices:
                i = int(rng.choice(choices))
            else:
                op = rng.choice([o for o in OPS[1:] if o != op]).item()
        pairs[k] = (op, i)
        return g._replace(**{which: tuple(pairs)})

    build_defaults = {"C": 16, "N": 8, "search_ops": False}

    def build(self, arch, C=None, N=None, num_classes=10, auxiliary=False, drop_path_prob=0.0, search_ops=None,
              **options) -> DartsNetwork:
        """The DARTS evaluation network of genotype ``arch`` (C, N and search_ops default to
        ``build_defaults``; ``search_ops=True`` builds the ops as the DARTS search network does: non-affine
        BN, BN after pooling). Any other option is a UserError naming the valid ones."""
        from ..validation import check_keywords

        check_keywords(options, ["C", "N", "num_classes", "auxiliary", "drop_path_prob", "search_ops"],
                       f"the {self.name} space's build")
        d = self.build_defaults
        return DartsNetwork(self.coerce(arch), d["C"] if C is None else C, d["N"] if N is None else N, num_classes,
                            auxiliary, drop_path_prob,
                            search_ops=d["search_ops"] if search_ops is None else search_ops)

    def count(self, arch, C=None, N=None, num_classes=10, image_size=32) -> tuple[int, int]:
        """(parameters, FLOPs for one image) of ``build(arch, C, N, num_classes)`` without building it: the
        network is a sum of pieces (stem, each cell's two preprocessing blocks and eight ops, pooling and
        classifier) whose counts depend on a few sizes only, so each piece is built and counted once per
        process (``zeronas.counting``: ``count_params``, ``count_flops``) and the network's counts are
        their sum, equal to counting the built network (``tests/test_darts_space.py``) in microseconds
        instead of 0.3-0.8 s for DARTS's 20-cell evaluation network. Auxiliary head excluded, as DARTS
        reports its 3.3M."""
        g, d = self.coerce(arch), self.build_defaults
        C, N = d["C"] if C is None else C, d["N"] if N is None else N
        search = d["search_ops"]
        C_stem = 3 * C
        params, flops, hw = _piece(_make_stem, (True, 3, C_stem), (3, image_size))
        C_pp, C_p, C_curr, reduction_prev, hw_pp, hw_p = C_stem, C_stem, C, False, hw, hw
        for reduction in _layout(N):
            C_curr *= 2 if reduction else 1
            counts = [_piece(FactorizedReduce, (C_pp, C_curr), (C_pp, hw_pp)) if reduction_prev
                      else _piece(ReLUConvBN, (C_pp, C_curr, 1, 1, 0), (C_pp, hw_pp)),
                      _piece(ReLUConvBN, (C_p, C_curr, 1, 1, 0), (C_p, hw_p))]
            pairs = g.reduce if reduction else g.normal
            hw_cell = None  # the nodes' size: that of node 0's first edge, which leaves an input
            for op, i in pairs:
                stride = 2 if reduction and i < 2 else 1
                counts.append(_piece(make_op, (op, C_curr, stride, not search, search),
                                     (C_curr, hw_p if i < 2 else hw_cell)))
                hw_cell = hw_cell or counts[-1][2]
            params += sum(c[0] for c in counts)
            flops += sum(c[1] for c in counts)
            concat = g.reduce_concat if reduction else g.normal_concat
            C_pp, C_p, reduction_prev, hw_pp, hw_p = C_p, len(concat) * C_curr, reduction, hw_p, hw_cell
        head = _piece(_head, (C_p, num_classes), (C_p, hw_p))
        return params + head[0], flops + head[1]

    def build_thin(self, arch, **kwargs) -> DartsNetwork:
        """TE-NAS's linear-region network for one genotype (see ``thin_supernet``)."""
        return DartsNetwork(self.coerce(arch), **self.thin_supernet, num_classes=kwargs.get("num_classes", 10))

    def supernet(self, C=16, N=8, num_classes=10, **kwargs) -> DartsSupernet:
        return DartsSupernet(C, N, num_classes, **kwargs)

    def cell_edge_groups(self) -> list[list[int]]:
        half = len(CELL_EDGES)
        return [list(range(half)), list(range(half, 2 * half))]

    def topology_groups(self) -> list[list[int]]:
        """Nodes with more than 2 possible inputs (3, 4, 5), in both cells: 2 of their edges are kept."""
        return [list(range(h + lo, h + hi)) for h in (0, len(CELL_EDGES)) for lo, hi in NODE_EDGES if hi - lo > 2]

    def from_edge_scores(self, scores: torch.Tensor) -> Genotype:
        """DARTS ``_parse`` on any [28, 8] op scores (higher = keep; masked ops -inf): per edge the best
        non-``none`` op, per node the 2 incoming edges whose best op scores highest."""
        scores = scores.detach().clone().double()
        scores[:, OPS.index("none")] = -math.inf
        cells = []
        for half in (0, len(CELL_EDGES)):
            pairs = []
            for lo, hi in NODE_EDGES:
                best = [(float(scores[half + e].max()), e) for e in range(lo, hi)]
                keep = sorted(e for _, e in sorted(best, key=lambda t: -t[0])[:2])
                pairs += [(OPS[int(scores[half + e].argmax())], CELL_EDGES[e][1]) for e in keep]
            cells.append(tuple(pairs))
        return Genotype(cells[0], CONCAT, cells[1], CONCAT)


@register_space
class NB301Space(DartsSpace):
    """The DARTS space as NAS-Bench-301 / NAS-Bench-Suite-Zero build it for zero-cost scoring (NASLib
    ``NasBench301SearchSpace``): C=32 (channels 32/64/128, stem 96), 8 cells with reductions at cells 2 and 5,
    cell ops with non-affine BN and BN after pooling, no auxiliary head. ``build`` equals NASLib's parameter
    count on every genotype of the 725-genotype Suite-Zero table (``tests/test_nb301.py``). Ground truth:
    ``zeronas.benchmarks.nb301`` (the NB301 surrogate's accuracy). Everything else is the DARTS space."""

    name = "nb301"
    build_defaults = {"C": 32, "N": 8, "search_ops": True}
    search_as = "darts"  # the space a search of these genotypes runs on

    def why_not(self, method: str) -> str | None:
        return (f"nb301 is the DARTS space built for scoring against NAS-Bench-301; search with --space "
                f"{self.search_as} (the same genotypes) and rank or look up the answers with --space nb301")


def count_parameters(model: nn.Module, exclude_auxiliary: bool = True) -> int:
    """Parameters as DARTS reports them (``count_parameters_in_MB`` leaves out the auxiliary head)."""
    return sum(p.numel() for n, p in model.named_parameters() if not (exclude_auxiliary and "auxiliary" in n))


def random_genotypes(n: int, seed: int = 0) -> list[Genotype]:
    space, rng = DartsSpace(), np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]

