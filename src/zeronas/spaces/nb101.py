"""NAS-Bench-101 (Ying et al., ICML 2019): cells of at most 7 vertices and 9 edges, 423,624 unique graphs.

A cell ("module") is a DAG given by an upper-triangular adjacency matrix over V <= 7 vertices, vertex 0 the
input and vertex V-1 the output, and one op per vertex: ``input``, ``output`` and, inside, one of
``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3``.

**Arch string** (``parse``/``format``): ``<adjacency>:<ops>`` where ``<adjacency>`` is the V*V matrix in
row-major order as 0/1 digits and ``<ops>`` the V op names joined by ``|``, e.g. the Inception-like cell of
the benchmark's README::

    0111010000000100000010000100000000100000010000000:input|conv1x1-bn-relu|conv3x3-bn-relu|conv3x3-bn-relu|conv3x3-bn-relu|maxpool3x3|output

These are the two columns ``adjacency_rowmajor`` and ``ops`` of NAS-Bench-Suite-Zero's NB101 table joined
by ``:``; ``format(parse(s)) == s`` for every such string. The arch keeps the matrix as given (dangling
vertices included), as the benchmark's ``ModelSpec.original_matrix`` does.

The benchmark's ``ModelSpec`` written as JSON, ``{"matrix": [[0, 1, ...], ...], "ops": ["input", ...,
"output"]}``, is read too (``format`` writes the string form).

**Validity** (the official ``nasbench.api.NASBench._check_spec`` and ``ModelSpec``): a square, strictly
upper-triangular 0/1 matrix with 2..7 vertices, first op ``input``, last op ``output``, only the three
interior ops in between, and input connected to output. Vertices that lie on no input-to-output path are
pruned (``ModelSpec._prune``); the 9-edge limit applies to the pruned matrix, as in the benchmark.

**Isomorphism**: ``canonical`` is the benchmark's own graph hash (``graph_util.hash_module`` on the pruned
spec, labels -1 input, -2 output, 0/1/2 the interior ops in ``config['available_ops']`` order), the key of
the official ``nasbench_only108.tfrecord``. Written here from the algorithm's description: each vertex
starts from the MD5 of ``str((out_degree, in_degree, label))``; V times, a vertex's hash becomes the MD5 of
its in-neighbours' hashes (sorted, concatenated) ``|`` its out-neighbours' hashes (sorted, concatenated)
``|`` its own hash; the fingerprint is the MD5 of ``str(sorted(hashes))``.

**Network** (``nasbench/lib/model_builder.py``): stem conv3x3 (128) + BN + ReLU, 3 stacks of 3 cells,
2x2 max pool (stride 2) and doubled channels before stacks 2 and 3, global average pool, dense layer. In a
cell, the output's channels are split among the vertices feeding the output (``compute_vertex_channels``;
the remainder goes one channel each to the first of them) and concatenated there; other vertices take the
largest channel count of their successors; the cell input reaches a vertex through a 1x1 conv-BN-ReLU
projection; interior inputs are summed, truncated to the vertex's channels where they carry one more.
Trainable parameter counts equal the benchmark's (2,694,282 for the README's Inception-like cell in the
official NASBench.ipynb output) and NASLib's ``params`` for all 500 cells of the NAS-Bench-Suite-Zero table
(both tested).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import UserError, shown
from .base import SearchSpace, arch_text, as_rng, register_space

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
# order of the benchmark's config['available_ops']: the hash labels are indices into it
OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
ALL_OPS = (INPUT, OUTPUT, *OPS)
MAX_VERTICES = 7
MAX_EDGES = 9
NUM_GRAPHS = 423_624  # unique (hash) graphs in NAS-Bench-101 (Ying et al. 2019, section 2.2)
STEM_CHANNELS = 128
NUM_STACKS = 3
CELLS_PER_STACK = 3
# TF batch norm of the benchmark: momentum 0.997 (decay of the running mean) = PyTorch momentum 0.003
BN_EPS, BN_MOMENTUM = 1e-5, 0.003
BUILD_OPTIONS = ("num_classes", "C", "N", "stacks", "in_channels", "track_running_stats")
EXAMPLE = ("0111010000000100000010000100000000100000010000000:input|conv1x1-bn-relu|conv3x3-bn-relu|"
           "conv3x3-bn-relu|conv3x3-bn-relu|maxpool3x3|output")


@dataclass(frozen=True)
class NB101Arch:
    """One cell: ``matrix[i][j] == 1`` is an edge i -> j (V x V, V = len(ops)); ``ops[0] == 'input'``,
    ``ops[-1] == 'output'``. Immutable and hashable; build one through ``NB101Space.coerce``/``parse``,
    which check the rules."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))


def _fail(text, problem: str) -> UserError:
    return UserError(f"NB101 arch {shown(text)}: {problem}; expected '<V*V adjacency digits, row-major>:<V ops "
                     f"joined by |>' with V <= {MAX_VERTICES}, e.g. {EXAMPLE!r}, or the JSON "
                     '{"matrix": [[0, 1, ...], ...], "ops": ["input", ..., "output"]}')


def live_vertices(matrix) -> list[int]:
    """Vertices on some input -> output path (those ``ModelSpec._prune`` keeps), ascending. Empty when the
    output cannot be reached from the input."""
    n = len(matrix)
    from_input, to_output = {0}, {n - 1}
    for v in range(1, n):  # upper triangular: one forward pass settles reachability
        if any(matrix[u][v] and u in from_input for u in range(v)):
            from_input.add(v)
    for v in range(n - 2, -1, -1):
        if any(matrix[v][w] and w in to_output for w in range(v + 1, n)):
            to_output.add(v)
    if n - 1 not in from_input:
        return []
    return sorted(from_input & to_output)


def prune(arch: NB101Arch) -> NB101Arch:
    """The cell with its dangling vertices removed (``nasbench.lib.model_spec.ModelSpec._prune``): only
    vertices that lie on an input -> output path remain, in their original order. The arch must be
    connected (``NB101Space.coerce`` checks it)."""
    keep = live_vertices(arch.matrix)
    matrix = tuple(tuple(arch.matrix[i][j] for j in keep) for i in keep)
    return NB101Arch(matrix, tuple(arch.ops[i] for i in keep))


def graph_hash(matrix, labels) -> str:
    """The NAS-Bench-101 graph fingerprint (``graph_util.hash_module``): an MD5 hex string that isomorphic
    labelled DAGs share. ``matrix``: V x V 0/1 (upper triangular); ``labels``: V ints. See the module
    docstring for the algorithm; the string formats (tuple and list ``str``) are part of it."""
    n = len(labels)

    def md5(text: str) -> str:
        return hashlib.md5(text.encode("utf-8")).hexdigest()

    preds = [[u for u in range(n) if matrix[u][v]] for v in range(n)]
    succs = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    hashes = [md5(str((len(succs[v]), len(preds[v]), int(labels[v])))) for v in range(n)]
    for _ in range(n):
        hashes = [md5("".join(sorted(hashes[u] for u in preds[v])) + "|"
                      + "".join(sorted(hashes[w] for w in succs[v])) + "|" + hashes[v]) for v in range(n)]
    return md5(str(sorted(hashes)))


def labels_of(ops) -> list[int]:
    return [-1] + [OPS.index(op) for op in ops[1:-1]] + [-2]


def vertex_channels(c_in: int, c_out: int, matrix) -> list[int]:
    """Channels of every vertex of a pruned cell (``model_builder.compute_vertex_channels``): the output's
    ``c_out`` channels are split evenly among the vertices feeding it, the remainder one each to the first
    ones; every other interior vertex takes the largest count of the interior vertices it feeds."""
    n = len(matrix)
    ch = [0] * n
    ch[0], ch[n - 1] = c_in, c_out
    if n == 2:
        return ch
    fan_in = sum(matrix[v][n - 1] for v in range(1, n - 1))
    share, extra = divmod(c_out, fan_in)
    for v in range(1, n - 1):
        if matrix[v][n - 1]:
            ch[v] = share + (1 if extra > 0 else 0)
            extra -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            ch[v] = max([ch[v]] + [ch[w] for w in range(v + 1, n - 1) if matrix[v][w]])
    return ch


class ConvBnRelu(nn.Sequential):
    """``base_ops.conv_bn_relu``: kxk conv ('same' padding, no bias), batch norm, ReLU.

    Named as in the PyTorch NB101 ports (NASLib, nasbench_pytorch): NASWOT and DAS hook every module whose
    type name contains "ReLU" (``relu_modules(by_name=True)``), and a block called ``ConvBNReLU`` would add
    the codes of its *conv input* (the raw image, for the stem) to the kernel and to N_A."""

    def __init__(self, c_in, c_out, k, track_running_stats=True):
        super().__init__(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False),
                         nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM,
                                        track_running_stats=track_running_stats),
                         nn.ReLU(inplace=False))


class NB101Cell(nn.Module):
    """One module of ``model_builder.build_module`` for a pruned cell: [B, c_in, H, W] -> [B, c_out, H, W]."""

    def __init__(self, arch: NB101Arch, c_in: int, c_out: int, track_running_stats=True):
        super().__init__()
        m, n = arch.matrix, arch.num_vertices
        self.matrix, self.n = m, n
        self.channels = vertex_channels(c_in, c_out, m)
        self.ops = nn.ModuleList()
        self.projections = nn.ModuleDict()  # str(vertex) -> 1x1 projection of the cell input
        for t in range(1, n):
            if m[0][t]:
                self.projections[str(t)] = ConvBnRelu(c_in, self.channels[t], 1, track_running_stats)
        for t in range(1, n - 1):
            op = arch.ops[t]
            if op == MAXPOOL3X3:
                self.ops.append(nn.MaxPool2d(3, stride=1, padding=1))
            else:
                k = 3 if op == CONV3X3 else 1
                self.ops.append(ConvBnRelu(self.channels[t], self.channels[t], k, track_running_stats))

    def forward(self, x):
        m, n, ch = self.matrix, self.n, self.channels
        tensors = [x]
        concat = []
        for t in range(1, n - 1):
            # a predecessor may carry one channel more (uneven split): keep the first ones, as the reference
            terms = [tensors[s][:, :ch[t]] for s in range(1, t) if m[s][t]]
            if m[0][t]:
                terms.append(self.projections[str(t)](x))
            y = self.ops[t - 1](terms[0] if len(terms) == 1 else sum(terms))
            tensors.append(y)
            if m[t][n - 1]:
                concat.append(y)
        if not concat:  # input -> output only
            return self.projections[str(n - 1)](x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, dim=1)
        if m[0][n - 1]:
            out = out + self.projections[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """The NAS-Bench-101 training network (``model_builder.build_model_fn``) for one pruned cell.

    Input [B, in_channels, H, W] -> logits [B, num_classes]. ``C``: stem channels (128 in the benchmark),
    ``stacks`` x ``N`` cells (3 x 3), channels doubled after each 2x2/2 max pool between stacks.
    """

    def __init__(self, arch: NB101Arch, num_classes=10, C=STEM_CHANNELS, N=CELLS_PER_STACK, stacks=NUM_STACKS,
                 in_channels=3, track_running_stats=True):
        super().__init__()
        self.stem = ConvBnRelu(in_channels, C, 3, track_running_stats)
        layers, channels, c_prev = [], C, C
        for s in range(stacks):
            if s > 0:
                # TF 'same' max pooling pads at the end: ceil_mode gives the same output size for odd inputs
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                channels *= 2
            for _ in range(N):
                layers.append(NB101Cell(arch, c_prev, channels, track_running_stats))
                c_prev = channels
        self.layers = nn.ModuleList(layers)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def cell_features(self, x):
        """Features after the stem and after every cell (AZ-NAS), with gradients kept."""
        feats = [self.stem(x)]
        h = feats[0]
        for layer in self.layers:
            h = layer(h)
            if isinstance(layer, NB101Cell):
                feats.append(h)
        return feats

    def searchable_parameters(self) -> list[nn.Parameter]:
        """The cells' parameters (TEG-NAS's NTK uses the searched part only)."""
        return [p for p in self.layers.parameters() if p.requires_grad]

    def forward_pre_gap(self, x):
        h = self.stem(x)
        for layer in self.layers:
            h = layer(h)
        return h

    def forward(self, x):
        return self.classifier(self.global_pooling(self.forward_pre_gap(x)).flatten(1))


def count_parameters(arch: NB101Arch, num_classes=10, C=STEM_CHANNELS, N=CELLS_PER_STACK, stacks=NUM_STACKS,
                     in_channels=3) -> int:
    """Trainable parameters of ``NB101Network(prune(arch), ...)`` in closed form, without building it:
    conv kxk c->d: k*k*c*d (no bias); batch norm: 2*d (gamma, beta); dense: c*classes + classes.
    ``arch`` must be pruned."""
    def cbr(k, c, d):
        return k * k * c * d + 2 * d

    m, n = arch.matrix, arch.num_vertices
    total = cbr(3, in_channels, C)
    channels, c_prev = C, C
    for s in range(stacks):
        if s > 0:
            channels *= 2
        for _ in range(N):
            ch = vertex_channels(c_prev, channels, m)
            total += sum(cbr(1, c_prev, ch[t]) for t in range(1, n) if m[0][t])
            for t in range(1, n - 1):
                if arch.ops[t] != MAXPOOL3X3:
                    total += cbr(3 if arch.ops[t] == CONV3X3 else 1, ch[t], ch[t])
            c_prev = channels
    return total + c_prev * num_classes + num_classes


@register_space
class NB101Space(SearchSpace):
    name = "nb101"
    # 2: the conv-BN-ReLU block no longer has "ReLU" in its class name, so NASWOT/DAS hook only real ReLUs
    # (revision 1 also hooked the block's input); part of every nb101 score's protocol
    network_revision = 2
    ops = OPS
    edge_weighted = False  # vertex-labelled cells: per-edge proxies (zeros) and supernet searches do not apply
    arch_allows_none = False

    # ---- strings and validity ----------------------------------------------------------------------
    def parse(self, text: str) -> NB101Arch:
        """``'<adjacency digits>:<op|op|...>'`` -> a checked ``NB101Arch``; UserError (one line) otherwise."""
        raw = arch_text("NB101", text)
        s = raw.strip()
        if s.startswith("{"):  # the benchmark's ModelSpec as JSON: {"matrix": [[0, 1, ...], ...], "ops": [...]}
            return self._parse_json(raw)
        if s.count(":") != 1:
            raise _fail(raw, "needs exactly one ':' between the adjacency digits and the ops")
        adj, ops_text = (part.strip() for part in s.split(":"))
        ops = tuple(op.strip() for op in ops_text.split("|"))
        if not adj or any(c not in "01" for c in adj):
            raise _fail(raw, "the adjacency must be 0/1 digits")
        n = len(ops)
        if len(adj) != n * n:
            root = int(round(len(adj) ** 0.5))
            why = (f"a {root}x{root} matrix" if root * root == len(adj) else "not a square matrix")
            raise _fail(raw, f"{len(adj)} adjacency digits ({why}) for {n} ops; a V-vertex cell needs V*V "
                             f"digits and V ops")
        matrix = tuple(tuple(int(adj[i * n + j]) for j in range(n)) for i in range(n))
        return self._check(matrix, ops, raw)

    def _parse_json(self, raw: str) -> NB101Arch:
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _fail(raw, f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(doc, dict) or sorted(doc) != ["matrix", "ops"]:
            keys = ", ".join(map(str, doc)) if isinstance(doc, dict) else type(doc).__name__
            raise _fail(raw, f"as JSON needs exactly the keys matrix and ops (the benchmark's ModelSpec), got {keys}")
        if not isinstance(doc["ops"], list) or not isinstance(doc["matrix"], list):
            raise _fail(raw, "as JSON needs a list of rows for matrix and a list of op names for ops")
        return self.coerce((doc["matrix"], doc["ops"]))

    def format(self, arch) -> str:
        arch = self.coerce(arch)
        return "".join(str(v) for row in arch.matrix for v in row) + ":" + "|".join(arch.ops)

    def coerce(self, arch) -> NB101Arch:
        """An arch string, an ``NB101Arch`` or a ``(matrix, ops)`` pair (nested lists or a numpy matrix)."""
        if isinstance(arch, str):
            return self.parse(arch)
        if isinstance(arch, NB101Arch):
            return self._check(arch.matrix, arch.ops, arch)
        try:
            matrix, ops = arch
            if isinstance(matrix, (list, tuple)) and all(isinstance(r, (list, tuple)) for r in matrix):
                lengths = [len(r) for r in matrix]
                if len(set(lengths)) > 1:  # numpy refuses a ragged list with a ValueError of its own
                    raise _fail(arch, f"the matrix's rows differ in length ({', '.join(map(str, lengths))}); give "
                                      f"{len(matrix)} rows of {len(matrix)} entries")
            rows = np.asarray(matrix)
            if rows.ndim != 2 or rows.shape[0] != rows.shape[1]:
                raise _fail(arch, f"the matrix must be square, got shape {rows.shape}")
            if not np.isin(rows, (0, 1)).all():
                raise _fail(arch, "the matrix must hold only 0 and 1")
            matrix = tuple(tuple(int(v) for v in row) for row in rows.tolist())
            ops = tuple(str(op) for op in ops)
        except (TypeError, ValueError):
            raise _fail(arch, "is not an arch string, an NB101Arch or a (matrix, ops) pair") from None
        return self._check(matrix, ops, arch)

    def _check(self, matrix, ops, shown) -> NB101Arch:
        n = len(ops)
        if len(matrix) != n or any(len(row) != n for row in matrix):
            raise _fail(shown, f"the matrix is not {n}x{n} for {n} ops")
        if not 2 <= n <= MAX_VERTICES:
            raise _fail(shown, f"{n} vertices; a cell has 2 to {MAX_VERTICES}")
        bad = [op for op in ops if op not in ALL_OPS]
        if bad:
            raise _fail(shown, f"unknown op {bad[0]!r}; ops are {', '.join(ALL_OPS)}")
        if ops[0] != INPUT or ops[-1] != OUTPUT:
            raise _fail(shown, "the first op must be 'input' and the last 'output'")
        inner = [op for op in ops[1:-1] if op in (INPUT, OUTPUT)]
        if inner:
            raise _fail(shown, f"{inner[0]!r} inside the cell; interior ops are {', '.join(OPS)}")
        below = [(i, j) for i in range(n) for j in range(i + 1) if matrix[i][j]]
        if below:
            i, j = below[0]
            raise _fail(shown, f"edge {i}->{j} is on or below the diagonal; the matrix must be strictly upper "
                               f"triangular")
        arch = NB101Arch(tuple(tuple(row) for row in matrix), tuple(ops))
        if not live_vertices(arch.matrix):
            raise _fail(shown, "the output is not reachable from the input (disconnected cell)")
        edges = prune(arch).num_edges
        if edges > MAX_EDGES:
            raise _fail(shown, f"{edges} edges on input-to-output paths; NAS-Bench-101 allows at most {MAX_EDGES}")
        return arch

    def is_valid(self, arch) -> bool:
        try:
            self.coerce(arch)
        except UserError:
            return False
        return True

    # ---- isomorphism ---------------------------------------------------------------------------------
    def prune(self, arch) -> NB101Arch:
        """``arch`` without its dangling vertices (the spec the benchmark hashes, builds and trains)."""
        return prune(self.coerce(arch))

    def canonical(self, arch) -> str:
        """The benchmark's graph hash of the pruned cell (``ModelSpec.hash_spec``): the ``module_hash`` key of
        ``nasbench_only108.tfrecord``, shared by isomorphic cells and by cells that differ only in
        dangling vertices."""
        p = self.prune(arch)
        return graph_hash(p.matrix, labels_of(p.ops))

    def representative(self, arch) -> NB101Arch:
        """A fixed member of ``arch``'s class: the pruned cell's vertex ordering (input first, output last,
        edges pointing forward) with the smallest arch string. Every isomorphic cell yields the same one."""
        p = self.prune(arch)
        n = p.num_vertices
        best = None
        for perm in itertools.permutations(range(1, n - 1)):
            order = (0, *perm, n - 1)  # order[k] = old vertex placed at position k
            pos = {v: k for k, v in enumerate(order)}
            if any(p.matrix[u][v] and pos[u] > pos[v] for u in range(n) for v in range(n)):
                continue
            cand = NB101Arch(tuple(tuple(p.matrix[order[i]][order[j]] for j in range(n)) for i in range(n)),
                             tuple(p.ops[v] for v in order))
            text = self.format(cand)
            if best is None or text < best[0]:
                best = (text, cand)
        return best[1]

    # ---- enumeration and sampling --------------------------------------------------------------------
    def enumerate(self):
        raise UserError(f"NAS-Bench-101 has {NUM_GRAPHS:,} unique cells behind 2^21 x 3^5 labelled matrices; "
                        f"zeronas does not enumerate it: use --sample N (or the benchmark table's archs)")

    def size(self) -> int:
        """Unique cells up to isomorphism (the benchmark's 423,624 hashes), not labelled matrices."""
        return NUM_GRAPHS

    def sample(self, rng=None) -> NB101Arch:
        """A uniform random valid 7-vertex labelled cell by rejection (as the benchmark's notebook and
        NASLib's ``sample_random_architecture``): every upper-triangular bit and interior op uniform, redrawn
        until the cell is valid. Uniform over labelled specs, so classes with many labellings come up more
        often."""
        rng = as_rng(rng)
        n = MAX_VERTICES
        while True:
            bits = rng.integers(0, 2, size=(n, n))
            matrix = tuple(tuple(int(bits[i, j]) if j > i else 0 for j in range(n)) for i in range(n))
            ops = (INPUT, *(OPS[k] for k in rng.integers(0, len(OPS), size=n - 2)), OUTPUT)
            if self.is_valid((matrix, ops)):
                return NB101Arch(matrix, ops)

    def mutate(self, arch, rng=None) -> NB101Arch:
        """The benchmark notebook's ``mutate_spec`` (mutation rate 1): on the cell as given, each
        upper-triangular edge flips with probability 1/V and each interior op is redrawn (another op) with
        probability 1/(V-2); redrawn until the cell is valid and its graph hash differs from ``arch``'s (a
        flip on a dangling vertex alone would change nothing)."""
        rng = as_rng(rng)
        arch = self.coerce(arch)
        n, key = arch.num_vertices, self.canonical(arch)
        if n == 2:
            raise UserError("a 2-vertex NB101 cell (input -> output) has no vertex or edge that can mutate "
                            "into another valid cell")
        for _ in range(10_000):
            m = [list(row) for row in arch.matrix]
            ops = list(arch.ops)
            for i in range(n - 1):
                for j in range(i + 1, n):
                    if rng.random() < 1.0 / n:
                        m[i][j] = 1 - m[i][j]
            for v in range(1, n - 1):
                if rng.random() < 1.0 / (n - 2):
                    others = [op for op in OPS if op != ops[v]]
                    ops[v] = others[int(rng.integers(len(others)))]
            cand = (tuple(map(tuple, m)), tuple(ops))
            if self.is_valid(cand):
                new = NB101Arch(*cand)
                if self.canonical(new) != key:
                    return new
        raise UserError(f"no valid mutation of NB101 cell {self.format(arch)!r} found in 10,000 draws")

    # ---- networks --------------------------------------------------------------------------------------
    def build(self, arch, **options) -> NB101Network:
        """The benchmark's network for the pruned cell. Options: ``num_classes`` (10), ``C`` stem channels
        (128), ``N`` cells per stack (3), ``stacks`` (3), ``in_channels`` (3), ``track_running_stats``
        (True). An unknown option is a UserError naming the valid ones."""
        unknown = sorted(set(options) - set(BUILD_OPTIONS))
        if unknown:
            raise UserError(f"unknown NB101 build option(s) {', '.join(map(repr, unknown))}; valid: "
                            f"{', '.join(BUILD_OPTIONS)}")
        for key in ("num_classes", "C", "N", "stacks", "in_channels"):
            if key in options and (not isinstance(options[key], (int, np.integer)) or options[key] < 1):
                raise UserError(f"NB101 build option {key} must be a positive integer, not {options[key]!r}")
        return NB101Network(self.prune(arch), **options)

    def count_parameters(self, arch, **options) -> int:
        """Trainable parameters of ``build(arch, **options)`` without building it (see ``count_parameters``)."""
        unknown = sorted(set(options) - set(BUILD_OPTIONS))
        if unknown:
            raise UserError(f"unknown NB101 build option(s) {', '.join(map(repr, unknown))}; valid: "
                            f"{', '.join(BUILD_OPTIONS)}")
        options.pop("track_running_stats", None)
        return count_parameters(self.prune(arch), **options)

    def supernet(self, **options) -> nn.Module:
        raise UserError("no supernet for nb101: its cells differ in graph, not only in ops; supernet searches "
                        "(te-nas, zero-cost-pt, freedarts) run on nb201 and darts")

    def why_not(self, method: str) -> str | None:
        """Why a search method does not run on this space (one clause), or None when zeronas has no reason."""
        if method in ("te-nas", "teg-rea", "teg-reinforce", "zero-cost-pt", "freedarts"):
            return ("it needs a weight-sharing supernet of mixed ops, and NB101 cells differ in graph (adjacency), "
                    "not only in ops")
        return None
