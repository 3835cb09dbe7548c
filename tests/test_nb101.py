"""NAS-Bench-101 space, ground-truth loader and official-file converter.

Published figures checked here:
* 2,694,282 trainable parameters for the Inception-like cell of the nasbench README, as stored in the
  benchmark under its isomorph (google-research/nasbench, NASBench.ipynb "Basic usage" output:
  ``trainable_parameters: 2694282``);
* ``compute_vertex_channels`` cases of google-research/nasbench ``nasbench/tests/model_builder_test.py``;
* hash (in)equalities of ``nasbench/tests/graph_util_test.py``;
* with the data folder: NASLib's ``params`` column (millions) for all 500 cells of the NAS-Bench-Suite-Zero table.
"""

import base64
import gzip
import itertools
import json
import struct

import numpy as np
import pytest
from typer.testing import CliRunner

import zeronas.spaces.nb101  # noqa: F401  (registers the space)
from zeronas import paths
from zeronas.benchmarks import load_ground_truth
from zeronas.benchmarks.convert import convert
from zeronas.benchmarks.nb101 import NB101Table, load_nb101
from zeronas.benchmarks.nb101_tfrecord import (
    _crc32c_py,
    decode_model_metrics,
    encode_model_metrics,
    masked_crc,
    official_record,
    tfrecord_bytes,
)
from zeronas.cli import app, main
from zeronas.errors import UserError
from zeronas.spaces import list_spaces, space
from zeronas.spaces.nb101 import (
    NB101Arch,
    count_parameters,
    graph_hash,
    labels_of,
    prune,
    vertex_channels,
)

from .conftest import CIFAR

ZC = paths.find(["nasbench101/nb101_zc_proxies_nbsz500_cifar10.csv.gz"])
needs_nb101 = pytest.mark.skipif(ZC is None, reason="NB101 500-cell table not found: set ZERONAS_DATA to the "
                                                    "data folder")
runner = CliRunner()
SP = space("nb101")
I, O, C3, C1, MP = "input", "output", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"

# the README's Inception-like cell, as queried, and the isomorph the benchmark stores for it (NASBench.ipynb)
INCEPTION = ([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
             [I, C1, C3, C3, C3, MP, O])
STORED = ([[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
           [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
          [I, C3, C1, MP, C3, C3, O])


def _s(matrix, ops):
    return "".join(str(v) for row in matrix for v in row) + ":" + "|".join(ops)


def _permute(matrix, ops, order):
    """The same cell with vertex order[k] moved to position k."""
    n = len(ops)
    return [[matrix[order[i]][order[j]] for j in range(n)] for i in range(n)], [ops[v] for v in order]


# ---- strings, validity ----------------------------------------------------------------------------------------
def test_space_is_registered_and_listed():
    assert "nb101" in list_spaces() and SP.size() == 423_624
    res = runner.invoke(app, ["spaces"])
    assert res.exit_code == 0 and "nb101: 423624 architectures" in res.output


def test_parse_format_round_trip_and_small_cells():
    for cell in (INCEPTION, STORED, ([[0, 1], [0, 0]], [I, O]), ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [I, MP, O])):
        text = _s(*cell)
        arch = SP.parse(text)
        assert isinstance(arch, NB101Arch) and SP.format(arch) == text
        assert SP.coerce(cell) == arch and SP.coerce((np.array(cell[0]), cell[1])) == arch


def test_the_modelspec_json_is_read(tmp_path):
    """A newcomer trial: {"matrix", "ops"} (the benchmark's ModelSpec, as NASLib and nasbench write it) was
    refused; it is the same arch as its string, from --arch and from an --arch-file (pretty-printed too)."""
    doc = {"matrix": INCEPTION[0], "ops": INCEPTION[1]}
    assert SP.parse(json.dumps(doc)) == SP.parse(_s(*INCEPTION))
    assert SP.format(SP.parse(json.dumps(doc, indent=2))) == _s(*INCEPTION)
    (tmp_path / "cell.json").write_text(json.dumps(doc, indent=2))
    res = CliRunner().invoke(app, ["score", "--space", "nb101", "--arch-file", str(tmp_path / "cell.json"),
                                   "-p", "params", "--data", "none"])
    assert res.exit_code == 0 and "2.69428e+06" in res.output, res.output
    for bad, words in (('{"matrix": [[0, 1], [0, 0]]}', "needs exactly the keys matrix and ops"),
                       ('{"matrix": [[0, 1], [0, 0]], "ops": "input|output"}', "a list of op names"),
                       ('{"matrix": [[0, 2], [0, 0]], "ops": ["input", "output"]}', "only 0 and 1"),
                       # a short row: was "is not an arch string, an NB101Arch or a (matrix, ops) pair"
                       ('{"matrix": [[0, 1], [0]], "ops": ["input", "output"]}',
                        "the matrix's rows differ in length (2, 1); give 2 rows of 2 entries"),
                       ('{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]', "not valid JSON")):
        with pytest.raises(UserError) as exc:
            SP.parse(bad)
        assert words in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


@pytest.mark.parametrize("text, words", [
    ("0101:input|output|x", "4 adjacency digits"),
    ("01:input|output", "2 adjacency digits"),
    ("0120:input|output", "0/1 digits"),
    ("0100input|output", "exactly one ':'"),
    (_s([[0, 1], [0, 0]], [I, "conv5x5"]), "unknown op 'conv5x5'"),
    (_s([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, "sep_conv_3x3", O]), "unknown op"),
    (_s([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [C3, C3, O]), "first op must be 'input'"),
    (_s([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, O, O]), "inside the cell"),
    (_s([[0, 1, 0], [0, 0, 0], [0, 1, 0]], [I, C3, O]), "strictly upper triangular"),
    (_s([[1, 1], [0, 0]], [I, O]), "strictly upper triangular"),
    (_s([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [I, C3, O]), "disconnected"),
    (_s([[0] * 8 for _ in range(8)], [I] + [C3] * 6 + [O]), "8 vertices"),
    # all 10 forward edges of a 5-vertex chain-plus-skips: every vertex on an input-output path
    (_s([[1 if j > i else 0 for j in range(5)] for i in range(5)], [I, C3, C3, C3, O]), "10 edges"),
])
def test_bad_cells_are_one_line_user_errors(text, words):
    with pytest.raises(UserError) as exc:
        SP.parse(text)
    msg = str(exc.value)
    assert words in msg and "\n" not in msg


def test_nine_edges_counted_after_pruning():
    # 10 edges, but 4 -> 5 joins two dangling vertices: the benchmark counts the 9 edges of the pruned spec
    m = [[0, 1, 1, 1, 0, 0, 1], [0, 0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 1, 0], [0] * 7, [0] * 7]
    arch = SP.parse(_s(m, [I, C3, C3, C3, C3, C3, O]))
    assert arch.num_edges == 10 and prune(arch).num_edges == 9 and prune(arch).num_vertices == 5


def test_cli_bad_arch_exits_2_with_one_line(capsys):
    for bad in ("BAD", _s([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [I, C3, O]),
                _s([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, "conv7x7", O])):
        with pytest.raises(SystemExit) as exc:
            main(["score", "--space", "nb101", "--arch", bad, "--proxies", "params", "--data", "none"])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and err.startswith("error:") and len(err.splitlines()) == 1, err
        assert "NB101 arch" in err


# ---- isomorphism ------------------------------------------------------------------------------------------------
def test_graph_hash_reference_cases():
    """The (in)equalities of nasbench's graph_util_test.test_hash_module."""
    diamond = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert graph_hash(diamond, [-1, 1, 2, -2]) == graph_hash(diamond, [-1, 2, 1, -2])
    m1 = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    m2 = [[0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    m3 = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    h1 = graph_hash(m1, [-1, 1, 2, 3, -2])
    assert h1 == graph_hash(m2, [-1, 2, 3, 1, -2]) == graph_hash(m3, [-1, 2, 1, 3, -2])
    assert graph_hash(m1, [-1, 2, 3, 1, -2]) != h1 and graph_hash(m1, [-1, 2, 1, 3, -2]) != h1
    chain = [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert graph_hash(chain, [-1, 1, 0, 0, -2]) != graph_hash(chain, [-1, 0, 0, 1, -2])
    tri = [[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert graph_hash(tri, [-1, 1, 0, -2]) != graph_hash(tri, [-1, 0, 1, -2])
    assert len(h1) == 32 and all(c in "0123456789abcdef" for c in h1)


def test_permuted_vertex_orderings_share_the_hash():
    a = SP.parse(_s(*INCEPTION))
    assert SP.canonical(a) == SP.canonical(STORED)  # the benchmark stores this isomorph under the same key
    n = len(INCEPTION[1])
    seen = 0
    for perm in itertools.permutations(range(1, n - 1)):
        m, ops = _permute(*INCEPTION, (0, *perm, n - 1))
        if any(m[i][j] for i in range(n) for j in range(i + 1)):
            continue  # not upper triangular in this order
        assert SP.canonical((m, ops)) == SP.canonical(a)
        seen += 1
        if seen <= 3:  # the fixed member is the same from any ordering
            assert SP.representative((m, ops)) == SP.representative(a)
    assert seen > 5
    other = (INCEPTION[0], [I, C3, C3, C3, C3, MP, O])  # one op changed: another cell
    assert SP.canonical(other) != SP.canonical(a)


def test_dangling_vertices_are_pruned_and_hash_as_the_pruned_cell():
    m = [[0, 1, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
         [0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
    ops = [I, C3, MP, C1, C1, C3, O]  # 3 -> 4 leads nowhere; 5 is reached from nowhere
    arch = SP.parse(_s(m, ops))
    pruned = prune(arch)
    assert pruned.matrix == ((0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))
    assert pruned.ops == (I, C3, MP, O)
    assert SP.canonical(arch) == SP.canonical(pruned) == graph_hash(pruned.matrix, labels_of(pruned.ops))
    assert SP.count_parameters(arch) == SP.count_parameters(pruned)


# ---- networks and parameter counts ------------------------------------------------------------------------------
def test_vertex_channels_reference_cases():
    """nasbench/tests/model_builder_test.py."""
    lin = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert vertex_channels(8, 16, lin) == [8, 16, 16, 16] and vertex_channels(16, 8, lin) == [16, 8, 8, 8]
    assert vertex_channels(1, 5, [[0, 1], [0, 0]]) == [1, 5]
    fork = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert vertex_channels(8, 8, fork) == [8, 4, 4, 8] and vertex_channels(8, 15, fork) == [8, 8, 7, 15]
    three = [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert vertex_channels(8, 8, three) == [8, 3, 3, 2, 8]
    maxed = [[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert vertex_channels(8, 8, maxed) == [8, 4, 4, 4, 8]


def test_full_size_parameter_count_matches_the_benchmark():
    """2,694,282: NASBench.ipynb's query of the README cell (google-research/nasbench)."""
    assert SP.count_parameters(STORED) == 2_694_282
    assert SP.count_parameters(INCEPTION) == 2_694_282  # no uneven channel split in this class
    net = SP.build(STORED)  # built (not run): the module's own count agrees with the closed form
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 2_694_282


def test_closed_form_equals_the_built_network_and_forward_runs():
    import torch

    rng = np.random.default_rng(3)
    opts = dict(C=8, N=1, num_classes=5)
    for k in range(4):
        arch = SP.sample(rng)
        net = SP.build(arch, **opts)
        assert sum(p.numel() for p in net.parameters()) == SP.count_parameters(arch, **opts)
        if k == 0:  # one forward: shapes through the three stacks (8 -> 16 -> 32 channels, 16 -> 8 -> 4 px)
            feats = net.cell_features(torch.randn(2, 3, 16, 16))
            assert [tuple(f.shape[1:]) for f in feats] == [(8, 16, 16), (8, 16, 16), (16, 8, 8), (32, 4, 4)]
            out = net.classifier(net.global_pooling(feats[-1]).flatten(1))
            assert out.shape == (2, 5) and torch.isfinite(out).all()
    # input -> output only: one 1x1 projection per cell
    two = SP.parse("0100:input|output")
    assert count_parameters(two, C=8, N=1, stacks=1, num_classes=2) == (27 * 8 + 16) + (8 * 8 + 16) + (8 * 2 + 2)
    assert SP.build(two, C=8, N=1, stacks=1)(torch.randn(1, 3, 8, 8)).shape == (1, 10)


def test_build_rejects_unknown_options():
    with pytest.raises(UserError, match="unknown NB101 build option.*'channels'.*valid: num_classes, C, N"):
        SP.build(STORED, channels=16)
    with pytest.raises(UserError, match="positive integer"):
        SP.build(STORED, C=0)
    with pytest.raises(UserError, match="no supernet for nb101"):
        SP.supernet()
    with pytest.raises(UserError, match="does not enumerate"):
        SP.enumerate()


# ---- sampling, mutation ---------------------------------------------------------------------------------------
def test_sampling_gives_valid_varied_cells():
    rng = np.random.default_rng(0)
    archs = [SP.sample(rng) for _ in range(60)]
    for a in archs:
        assert a.num_vertices == 7 and SP.parse(SP.format(a)) == a  # parse re-checks every rule
        assert prune(a).num_edges <= 9
    assert len({SP.canonical(a) for a in archs}) > 30
    assert SP.sample(5) == SP.sample(5)


def test_mutation_is_valid_and_changes_the_cell():
    rng = np.random.default_rng(1)
    arch = SP.parse(_s(*INCEPTION))
    for _ in range(40):
        new = SP.mutate(arch, rng)
        assert SP.is_valid(new) and SP.canonical(new) != SP.canonical(arch)
        arch = new
    with pytest.raises(UserError, match="2-vertex"):
        SP.mutate("0100:input|output", rng)


# ---- the official file converter -------------------------------------------------------------------------------
def _cells():
    return [STORED, ([[0, 1], [0, 0]], [I, O]), ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [I, MP, O])]


def _write_official(path, cells, epochs=(108,), extra=b""):
    """A file in the official nasbench_only108.tfrecord layout: 3 repeats per cell and epoch budget."""
    out = bytearray()
    for c, (m, ops) in enumerate(cells):
        arch = SP.parse(_s(m, ops))
        h = SP.canonical(arch)
        for e in epochs:
            for r in range(3):
                acc = 0.5 + 0.1 * c + 0.01 * r + (0 if e == 108 else -0.3)
                evals = [{"current_epoch": 0.0, "training_time": 0.0, "train_accuracy": 0.1,
                          "validation_accuracy": 0.1, "test_accuracy": 0.1},
                         {"current_epoch": e / 2, "training_time": 50.0, "train_accuracy": acc - 0.1,
                          "validation_accuracy": acc - 0.1, "test_accuracy": acc - 0.1},
                         {"current_epoch": float(e), "training_time": 100.0 + r, "train_accuracy": 1.0,
                          "validation_accuracy": acc, "test_accuracy": acc - 0.02}]
                metrics = encode_model_metrics(evals, SP.count_parameters(arch), 120.0)
                out += tfrecord_bytes(official_record(h, e, m, ops, metrics))
    path.write_bytes(bytes(out) + extra)
    return path


def test_crc32c_and_protobuf_round_trip():
    assert _crc32c_py(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720, B.4)
    assert masked_crc(b"") == 0xA282EAD8  # crc32c('') = 0, masked
    evals = [{"current_epoch": 108.0, "validation_accuracy": 0.93, "test_accuracy": 0.92}]
    back = decode_model_metrics(encode_model_metrics(evals, 2_694_282, 1.5))
    assert back == {"evaluation_data": evals, "trainable_parameters": 2_694_282, "total_time": 1.5}


def test_convert_official_layout_to_table(tmp_path):
    src = _write_official(tmp_path / "nasbench_only108.tfrecord", _cells(), epochs=(4, 108))
    info = convert(src, tmp_path / "data")
    assert info["archs"] == 3 and info["records"] == 18 and info["hash_mismatches"] == 0
    table = load_nb101(tmp_path / "data")
    assert isinstance(table, NB101Table) and table.path.name == "nb101_main.csv.gz" and len(table) == 3
    assert table.arch_str[0] == _s(*STORED)
    # mean of the three 108-epoch repeats (0.50, 0.51, 0.52) in percent; the 4-epoch records are left out
    assert table.column("mean_val_acc")[0] == pytest.approx(51.0)
    assert table.column("mean_test_acc")[0] == pytest.approx(49.0)
    assert table.column("trainable_parameters")[0] == 2_694_282
    assert table.column("train_time_s")[0] == pytest.approx(101.0) and table.column("repeats")[0] == 3
    assert table.target_column("cifar10", "test") == "mean_test_acc"
    assert table.target_column("cifar10", "valid") == "mean_val_acc"
    meta = json.loads((tmp_path / "data" / "nasbench101" / "nb101_main.source.json").read_text())
    assert meta["source_sha256"] == info["source_sha256"] and meta["epochs"] == 108
    for arch in table.arch_str:
        SP.parse(arch)


def test_convert_cli_writes_the_table(tmp_path):
    src = _write_official(tmp_path / "nasbench_only108.tfrecord", _cells())
    res = runner.invoke(app, ["data", "convert", str(src), "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "3 of 3 archs" in res.output and (tmp_path / "d" / "nasbench101" / "nb101_main.csv.gz").exists()
    # 'zeronas data' lists the converted table (it used to show NB201 and Macro tables only)
    res = runner.invoke(app, ["data", "--data-dir", str(tmp_path / "d")], env={"COLUMNS": "300"})
    line = next(ln for ln in res.output.splitlines() if "NAS-Bench-101 table" in ln)
    assert "nb101_main.csv.gz" in line
    assert "not found" in next(ln for ln in res.output.splitlines() if "NAS-Bench-301 table" in ln)


def _cli_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def test_convert_errors_are_one_line(tmp_path, capsys):
    good = _write_official(tmp_path / "good.tfrecord", _cells()).read_bytes()
    wrong = tmp_path / "wrong.tfrecord"
    wrong.write_bytes(b"PK\x03\x04 this is a zip, not a tfrecord" * 3)
    assert "not a TFRecord file" in _cli_error(["data", "convert", str(wrong), "--out", str(tmp_path / "o")], capsys)
    short = tmp_path / "short.tfrecord"
    short.write_bytes(good[:-30])
    assert "truncated inside record 9" in _cli_error(["data", "convert", str(short), "--out", str(tmp_path / "o")],
                                                     capsys)
    header_cut = tmp_path / "cut.tfrecord"
    header_cut.write_bytes(good + good[:5])
    assert "truncated: record 10" in _cli_error(["data", "convert", str(header_cut), "--out", str(tmp_path / "o")],
                                                capsys)
    bad = bytearray(good)
    bad[30] ^= 0xFF  # a byte inside the first record's data
    flipped = tmp_path / "flipped.tfrecord"
    flipped.write_bytes(bytes(bad))
    assert "record 1 fails its CRC check" in _cli_error(["data", "convert", str(flipped), "--out",
                                                         str(tmp_path / "o")], capsys)
    junk = tmp_path / "junk.tfrecord"
    junk.write_bytes(tfrecord_bytes(b'{"not": "a list"}'))
    assert "record 1 is not a NAS-Bench-101 record" in _cli_error(["data", "convert", str(junk), "--out",
                                                                   str(tmp_path / "o")], capsys)
    # a record in the official framing whose metrics protobuf is cut short
    cut_pb = base64.b64encode(encode_model_metrics([{"test_accuracy": 0.9}], 5, 1.0)[:-3]).decode()
    rec = json.dumps(["0" * 32, 108, "0100", "input,output", cut_pb]).encode()
    badpb = tmp_path / "badpb.tfrecord"
    badpb.write_bytes(tfrecord_bytes(rec))
    assert "not a NAS-Bench-101 record" in _cli_error(["data", "convert", str(badpb), "--out", str(tmp_path / "o")],
                                                      capsys)
    assert not (tmp_path / "o" / "nasbench101" / "nb101_main.csv.gz").exists()


def _one_cell_file(path, m=None, ops=None, h=None, params=None, acc=0.9, copies=1, extra=()):
    m, ops = (STORED if m is None else (m, ops))
    arch_h = h or SP.canonical(SP.parse(_s(*STORED)))
    evals = [{"validation_accuracy": 0.1, "test_accuracy": 0.1}, {"validation_accuracy": 0.5, "test_accuracy": 0.5},
             {"current_epoch": 108.0, "training_time": 100.0, "train_accuracy": 1.0, "validation_accuracy": acc,
              "test_accuracy": acc}]
    if acc is None:  # a final evaluation without its accuracies
        evals[2] = {"current_epoch": 108.0, "training_time": 100.0}
    metrics = encode_model_metrics(evals, 1000 if params is None else params, 1.0)
    recs = [tfrecord_bytes(official_record(arch_h, 108, m, ops, metrics)) for _ in range(copies)]
    recs += [tfrecord_bytes(official_record(arch_h, 108, m2, ops2, metrics)) for m2, ops2 in extra]
    path.write_bytes(b"".join(recs))
    return str(path)


def test_convert_refuses_impossible_values_and_cells_naming_file_and_record(tmp_path, capsys):
    """Values a real file cannot hold are a damaged file (they used to become a 500 % accuracy in the table)."""
    out = ["--out", str(tmp_path / "o")]
    for acc in (5.0, -0.3, float("nan")):
        err = _cli_error(["data", "convert", _one_cell_file(tmp_path / "a.tfrecord", acc=acc), *out], capsys)
        assert "a.tfrecord: record 1" in err and "outside 0..1" in err and "download the official file" in err
    err = _cli_error(["data", "convert", _one_cell_file(tmp_path / "p.tfrecord", params=-5), *out], capsys)
    assert "record 1" in err and "-5 trainable parameters" in err
    err = _cli_error(["data", "convert", _one_cell_file(tmp_path / "t.tfrecord", acc=None), *out], capsys)
    assert "record 1" in err and "has no final validation_accuracy" in err
    m = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    err = _cli_error(["data", "convert", _one_cell_file(tmp_path / "op.tfrecord", m, [I, "conv5x5", O]), *out],
                     capsys)
    assert "op.tfrecord: record 1" in err and "invalid cell" in err and "conv5x5" in err
    # a second cell under the first one's hash; an isomorphic rewrite of the same cell is a repeat, not a clash
    other = ([[0, 1], [0, 0]], [I, O])
    err = _cli_error(["data", "convert", _one_cell_file(tmp_path / "h.tfrecord", copies=2, extra=[other]), *out],
                     capsys)
    assert "record 3 gives hash" in err and "than record 1" in err
    # a length field with a valid CRC asking for 2^63 bytes: no OverflowError, no out-of-memory
    big = struct.pack("<Q", 2**63 + 5)
    huge = tmp_path / "huge.tfrecord"
    huge.write_bytes(big + struct.pack("<I", masked_crc(big)) + b"x" * 20)
    err = _cli_error(["data", "convert", str(huge), *out], capsys)
    assert "truncated inside record 1 (wants 9,223,372,036,854,775,813 bytes, 16 are left)" in err
    # a folder named like the file is named as not a file (it was taken for a NATS folder)
    (tmp_path / "d.tfrecord").mkdir()
    assert "is not a file; pass the official nasbench_only108.tfrecord" in _cli_error(
        ["data", "convert", str(tmp_path / "d.tfrecord"), *out], capsys)
    assert not (tmp_path / "o").exists()


def test_convert_says_when_hashes_differ_and_accepts_isomorphic_repeats(tmp_path):
    m, ops = STORED
    order = list(range(len(ops)))
    order[1], order[2] = order[2], order[1]  # the same cell with two inner vertices swapped
    pm, pops = _permute(m, ops, order)
    src = _one_cell_file(tmp_path / "iso.tfrecord", copies=2, extra=[(pm, pops)])
    res = runner.invoke(app, ["data", "convert", src, "--out", str(tmp_path / "o")])
    assert res.exit_code == 0 and "1 of 1 archs" in res.output and "differs" not in res.output, res.output
    res = runner.invoke(app, ["data", "convert", _one_cell_file(tmp_path / "x.tfrecord", h="f" * 32),
                              "--out", str(tmp_path / "o2")], env={"COLUMNS": "300"})
    assert res.exit_code == 0 and "1 of 1 cells carry a hash that differs" in " ".join(res.output.split())


def test_tfrecord_framing_is_the_official_one():
    rec = tfrecord_bytes(b"abc")
    (length,) = struct.unpack("<Q", rec[:8])
    assert length == 3 and rec[12:15] == b"abc" and len(rec) == 8 + 4 + 3 + 4


# ---- ground truth and correlate ---------------------------------------------------------------------------------
def test_loader_refuses_damaged_tables(tmp_path):
    d = tmp_path / "nasbench101"
    d.mkdir()
    with gzip.open(d / "nb101_zc_proxies_nbsz500_cifar10.csv.gz", "wt") as f:
        f.write("adjacency_rowmajor,ops,val_acc\n0100,input|output,90.0\n01,input|output,91.0\n")
    with pytest.raises(UserError, match="row 3, column 'adjacency_rowmajor'"):
        load_nb101(tmp_path)
    with gzip.open(d / "nb101_zc_proxies_nbsz500_cifar10.csv.gz", "wt") as f:
        f.write("adjacency_rowmajor,ops,val_acc\n0100,input|output,90.0\n")
    with pytest.raises(UserError, match="1 rows, want 500"):
        load_nb101(tmp_path)


@needs_nb101
def test_zc_table_parses_and_params_match_naslib():
    table = load_ground_truth("nb101")
    if table.path.name != "nb101_zc_proxies_nbsz500_cifar10.csv.gz":
        table = load_nb101(table="zc")
    assert len(table) == 500 and table.target_column("cifar10", "valid") == "val_acc"
    assert table.target_column("cifar10") == "val_acc"  # no test accuracy in this table: its own is the target
    # ... but an explicit test metric is never answered with validation accuracy
    with pytest.raises(UserError, match=r"has validation accuracy only; use --metric valid, or leave --metric out"):
        table.target_column("cifar10", "test")
    assert set(table.reference_proxies()) >= {"synflow", "params", "snip"}
    ref = table.column("params")
    ours = np.array([SP.count_parameters(a) for a in table.arch_str]) / 1e6
    assert np.abs(ours - ref).max() < 1e-6  # NASLib's params proxy, 6 decimals: every cell agrees
    with pytest.raises(UserError, match="CIFAR-10 accuracy only"):
        table.target_column("cifar100")


@needs_nb101
def test_correlate_nb101_resumes_from_the_store(tmp_path):
    store = tmp_path / "z.db"
    args = ["correlate", "--space", "nb101", "--proxies", "params", "--sample", "4", "--store", str(store),
            "--workers", "1", "--data-dir", str(ZC.parent.parent)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "nb101 cifar10: 4 archs" in res.output and "target val_acc" in res.output
    assert "scored now: 4" in res.output
    # without --metric the target is this table's validation accuracy: said, not silent
    assert "has validation accuracy only" in " ".join(res.output.split())
    res = runner.invoke(app, args[:4] + ["params,zeros"] + args[5:])  # a proxy with nothing to read on NB101
    assert res.exit_code == 0, res.output
    assert "zeros does not apply here (zeros needs a cell space with per-edge ops" in " ".join(res.output.split())
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "scored now: 0" in res.output, res.output


@needs_nb101
def test_a_sample_larger_than_the_table_names_the_table_not_the_space(tmp_path):
    """A newcomer trial: '--sample 600' said 'outside 3..500 (the size of nb101)'; NB101 has 423,624 cells, 500 is
    its table's, and nothing is written."""
    from zeronas.correlate import correlate

    with pytest.raises(UserError) as exc:
        correlate(space="nb101", proxies="params", sample=600, store=tmp_path / "z.db", data_dir=ZC.parent.parent)
    assert str(exc.value) == ("sample=600 is outside 3..500 (the archs of the nb101 table "
                              "nb101_zc_proxies_nbsz500_cifar10.csv.gz, a sample of the space's 423,624); use 'all' "
                              "for every arch")
    assert not (tmp_path / "z.db").exists()


@needs_nb101
def test_a_search_names_the_accuracy_it_shows_and_writes_null_for_archs_outside_the_table(tmp_path):
    """A newcomer trial: NB101's trajectory column read 'cifar10' (it is the table's val_acc) and an arch outside
    the 500-cell table was written as the string "nan"."""
    res = runner.invoke(app, ["search", "--space", "nb101", "--method", "rea", "--proxy", "params", "--data", "none",
                              "--budget", "12", "--out", str(tmp_path / "s"), "--data-dir", str(ZC.parent.parent)])
    assert res.exit_code == 0, res.output
    assert "C10 val_acc" in res.output and "cifar10" not in res.output, res.output
    doc = json.loads((tmp_path / "s" / "result.json").read_text())
    assert doc["benchmark"]["target"] == "val_acc"
    accs = [p["cifar10"] for p in doc["trajectory"]]
    assert None in accs and all(a is None or isinstance(a, float) for a in accs), accs
    table = load_nb101(ZC.parent.parent)
    for p in doc["trajectory"]:  # a value where the table has the arch (up to isomorphism), null where it has not
        i = table.find(p["arch"], lambda a: SP.canonical(SP.parse(a)))
        assert p["cifar10"] == (None if i is None else float(table.column("val_acc")[i]))


def test_naslib_nb101_init_draws_conv_kaiming_fanout_and_linear_n_0_001():
    """NASLib's NB101 model: conv weights N(0, 2 / (k*k*C_out)), linear N(0, 0.01), biases 0, BN 1/0."""
    import math

    import torch
    from torch import nn

    from zeronas.proxies.context import apply_init

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 256, 3, bias=False), nn.BatchNorm2d(256), nn.Flatten(), nn.Linear(4096, 512))
    with torch.no_grad():
        net[1].weight.fill_(3.0)
    apply_init(net, "naslib-nb101")
    conv, lin = net[0].weight, net[3].weight
    assert abs(conv.std().item() / math.sqrt(2 / (3 * 3 * 256)) - 1) < 0.01  # 147,456 draws: std within 1%
    assert abs(lin.std().item() / 0.01 - 1) < 0.01 and abs(lin.mean().item()) < 1e-4
    assert torch.all(net[3].bias == 0) and torch.all(net[1].weight == 1) and torch.all(net[1].bias == 0)


def test_cell_proxies_are_inapplicable_on_nb101_not_errors(capsys):
    """zeros (per-edge mixing weights) and linear_regions (TE-NAS's thin net) have nothing to read on NB101:
    recorded as inapplicable and listed under the table, the other proxies scored."""
    arch = SP.format(SP.sample(0))
    recs = zeronas.score(arch, proxies=["params", "zeros"], space="nb101", data="none")
    assert recs[0].error is None and recs[1].error.startswith("inapplicable: zeros needs a cell space")
    if CIFAR is not None:  # linear_regions reads image crops
        rec = zeronas.score(arch, proxies=["linear_regions"], space="nb101", data="cifar10")[0]
        assert rec.error.startswith("inapplicable: linear_regions needs TE-NAS's thin cell network")
    with pytest.raises(SystemExit) as exc:
        main(["score", "--space", "nb101", "--arch", arch, "--proxies", "params,zeros", "--data", "none"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "not applicable on nb101 (1):" in out and "zeros: inapplicable: zeros needs a cell space" in out


@needs_nb101
def test_a_protocol_preset_on_nb101_points_to_nasbench_suite_zero_s_settings(tmp_path):
    """The presets are NAS-Bench-201's; on nb101 the refusal names the settings that read the table as NASLib
    did (its rows are NAS-Bench-Suite-Zero's own sample), which --help did not say (a newcomer's trial)."""
    from zeronas.correlate import correlate
    from zeronas.errors import UserError

    with pytest.raises(UserError, match=r"drop protocol= for nb101; its table is NAS-Bench-Suite-Zero's own nb101 "
                                        r"sample: .*init=.naslib-nb101. reads it with NASLib"):
        correlate(space="nb101", protocol="suite-zero", store=tmp_path / "s.db")
