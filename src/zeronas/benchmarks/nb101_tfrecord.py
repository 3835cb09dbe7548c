"""Convert the official NAS-Bench-101 file (``nasbench_only108.tfrecord``, or ``nasbench_full.tfrecord``)
into the compact ``nasbench101/nb101_main.csv.gz`` table, without TensorFlow.

File layout (TensorFlow's TFRecord framing, ``tensorflow/core/lib/io/record_writer.cc``): records one after
another, each ``uint64 length`` (little endian), ``uint32 masked_crc32c(length bytes)``, ``length`` data
bytes, ``uint32 masked_crc32c(data)``; ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32)`` and
crc32c is CRC-32 with the Castagnoli polynomial (reflected 0x82F63B78).

Each record's data is UTF-8 JSON (``nasbench/api.py``, ``NASBench.__init__``)::

    [module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]

``raw_adjacency`` is the pruned V x V matrix as V*V digits (row-major), ``raw_operations`` the V op names
joined by ``,``, ``raw_metrics`` a base64 ``ModelMetrics`` protobuf (``nasbench/lib/model_metrics.proto``):
field 1 repeated ``EvaluationData`` (1 current_epoch, 2 training_time, 3 train_accuracy,
4 validation_accuracy, 5 test_accuracy: doubles; 6 checkpoint_path: string), field 2
``trainable_parameters`` (int32), field 3 ``total_time`` (double). As the official API,
``evaluation_data[2]`` is the end of training ([0] at init, [1] halfway). Every cell has 3 repeats per epoch
budget; the table keeps the 108-epoch ones and averages them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
import time
from pathlib import Path

from .. import paths
from ..errors import UserError
from .nb101 import MAIN_TABLE
from .table import check_convert_target, write_converted

EPOCHS = 108
HEADER = ("module_hash", "adjacency_rowmajor", "ops", "mean_val_acc", "mean_test_acc", "mean_train_acc",
          "repeats", "trainable_parameters", "train_time_s")
_FIX = "download the official file again (https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord)"


# ---- crc32c ---------------------------------------------------------------------------------------------
def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def _crc32c_py(data: bytes) -> int:
    crc, table = 0xFFFFFFFF, _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _fast_crc():
    """A compiled crc32c when one is installed (the pure-Python one takes minutes on the 500 MB file)."""
    try:
        import google_crc32c

        return google_crc32c.value
    except ImportError:
        pass
    try:
        import crc32c

        return crc32c.crc32c
    except ImportError:
        return _crc32c_py


crc32c = _fast_crc()


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C of ``data`` (uint32)."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_bytes(payload: bytes) -> bytes:
    """One TFRecord-framed record (used to write test files in the official layout)."""
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked_crc(length)) + payload + struct.pack("<I", masked_crc(payload))


def looks_like_tfrecord(path: Path) -> bool:
    """True when the first 12 bytes are a TFRecord length and its valid masked CRC."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return len(head) == 12 and struct.unpack("<I", head[8:])[0] == masked_crc(head[:8])


def read_records(path: Path):
    """Yield ``(record_number, data)`` for every record, checking both CRCs. A file that is not TFRecord,
    ends inside a record or fails a CRC is a one-line UserError naming the record."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        k = 0
        while True:
            head = f.read(12)
            if not head:
                return
            if len(head) < 12:
                raise UserError(f"{path} is truncated: record {k + 1} ends after {len(head)} of its 12 header "
                                f"bytes; {_FIX}")
            if struct.unpack("<I", head[8:])[0] != masked_crc(head[:8]):
                if k == 0:
                    raise UserError(f"{path} is not a TFRecord file (the first record's length check fails); "
                                    f"pass the official nasbench_only108.tfrecord")
                raise UserError(f"{path}: record {k + 1} has a damaged header (length CRC mismatch); {_FIX}")
            (length,) = struct.unpack("<Q", head[:8])
            if length > size - f.tell() - 4:  # before reading: a damaged length could ask for exabytes
                raise UserError(f"{path} is truncated inside record {k + 1} (wants {length:,} bytes, "
                                f"{max(0, size - f.tell() - 4):,} are left); {_FIX}")
            data = f.read(length)
            tail = f.read(4)
            if len(data) < length or len(tail) < 4:
                raise UserError(f"{path} is truncated inside record {k + 1} (wants {length} bytes); {_FIX}")
            if struct.unpack("<I", tail)[0] != masked_crc(data):
                raise UserError(f"{path}: record {k + 1} fails its CRC check (damaged); {_FIX}")
            k += 1
            yield k, data


# ---- protobuf wire format ---------------------------------------------------------------------------------
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def proto_fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)`` of one protobuf message: varints as int, fixed64 as the
    little-endian double, length-delimited as bytes, fixed32 as the float. Groups (wire types 3, 4) and
    anything malformed raise ValueError."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            if i + 8 > len(buf):
                raise ValueError("truncated fixed64")
            (value,) = struct.unpack_from("<d", buf, i)
            i += 8
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated length-delimited field")
            value = buf[i:i + n]
            i += n
        elif wire == 5:
            if i + 4 > len(buf):
                raise ValueError("truncated fixed32")
            (value,) = struct.unpack_from("<f", buf, i)
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, wire, value


EVAL_FIELDS = {1: "current_epoch", 2: "training_time", 3: "train_accuracy", 4: "validation_accuracy",
               5: "test_accuracy"}


def decode_model_metrics(buf: bytes) -> dict:
    """``ModelMetrics`` -> ``{'evaluation_data': [dict, ...], 'trainable_parameters': int, 'total_time': float}``."""
    out = {"evaluation_data": [], "trainable_parameters": None, "total_time": None}
    for field, wire, value in proto_fields(buf):
        if field == 1 and wire == 2:
            ev = {}
            for f2, w2, v2 in proto_fields(value):
                if f2 in EVAL_FIELDS and w2 == 1:
                    ev[EVAL_FIELDS[f2]] = v2
                elif f2 == 6 and w2 == 2:
                    ev["checkpoint_path"] = v2.decode("utf-8", "replace")
            out["evaluation_data"].append(ev)
        elif field == 2 and wire == 0:
            value &= 0xFFFFFFFFFFFFFFFF
            out["trainable_parameters"] = value - (1 << 64) if value >= 1 << 63 else value  # int32 sign
        elif field == 3 and wire == 1:
            out["total_time"] = value
    return out


# ---- encoder (tests build files in the official layout with it) ---------------------------------------------
def _enc_varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_model_metrics(evaluations: list[dict], trainable_parameters: int, total_time: float) -> bytes:
    """The inverse of ``decode_model_metrics`` (field numbers of ``model_metrics.proto``)."""
    out = bytearray()
    for ev in evaluations:
        msg = bytearray()
        for num, name in EVAL_FIELDS.items():
            if name in ev:
                msg += _enc_varint(num << 3 | 1) + struct.pack("<d", ev[name])
        out += _enc_varint(1 << 3 | 2) + _enc_varint(len(msg)) + msg
    out += _enc_varint(2 << 3 | 0) + _enc_varint(trainable_parameters)
    out += _enc_varint(3 << 3 | 1) + struct.pack("<d", total_time)
    return bytes(out)


def official_record(module_hash: str, epochs: int, matrix, ops, metrics: bytes) -> bytes:
    """One record's data as the official file stores it (JSON list; ops joined by ',')."""
    adjacency = "".join(str(int(v)) for row in matrix for v in row)
    return json.dumps([module_hash, epochs, adjacency, ",".join(ops),
                       base64.b64encode(metrics).decode("ascii")]).encode("utf-8")


# ---- conversion ---------------------------------------------------------------------------------------------
def convert_nb101(source: str | Path, out_dir: str | Path, progress: bool = False, replace: bool = False) -> dict:
    """Write ``<out_dir>/nasbench101/nb101_main.csv.gz`` (+ ``nb101_main.source.json``): one row per cell
    (graph hash) with its 108-epoch results averaged over the repeats (accuracies in percent). Returns the
    provenance dict (``table``, ``archs``, ``archs_with_results``, ``records``, ``hash_mismatches``: cells
    whose stored hash differs from ``zeronas.spaces.nb101``'s recomputation, expected 0). A table already there
    is replaced only when it came from the same file, or with ``replace``."""
    from ..spaces import space as get_space
    from ..spaces.nb101 import graph_hash, labels_of

    source, out_dir = Path(source), Path(out_dir)
    if not source.is_file():
        raise UserError(f"{source} is not a file; pass the official nasbench_only108.tfrecord")
    t0 = time.perf_counter()
    source_sha256 = paths.file_sha256(source)
    check_convert_target(out_dir / MAIN_TABLE, source, source_sha256, replace)
    sp = get_space("nb101")
    cells: dict[str, dict] = {}
    records = mismatches = 0
    for k, data in _progress(read_records(source), progress, source):
        try:
            module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = json.loads(data.decode("utf-8"))
            epochs = int(epochs)
            metrics = decode_model_metrics(base64.b64decode(raw_metrics, validate=True))
            module_hash, raw_adjacency, raw_operations = str(module_hash), str(raw_adjacency), str(raw_operations)
        except (ValueError, TypeError, UnicodeDecodeError, binascii.Error) as exc:
            raise UserError(f"{source}: record {k} is not a NAS-Bench-101 record ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:100]}); {_FIX}") from None
        records += 1
        if epochs != EPOCHS:
            continue  # nasbench_full.tfrecord also holds the 4, 12 and 36-epoch budgets
        evals = metrics["evaluation_data"]
        if len(evals) < 3 or metrics["trainable_parameters"] is None:
            raise UserError(f"{source}: record {k} ({module_hash}) has {len(evals)} evaluations, not the "
                            f"official 3 (init, halfway, final), or no parameter count; {_FIX}")
        cell = cells.get(module_hash)
        if cell is None:
            ops = raw_operations.split(",")
            n = len(ops)
            if len(raw_adjacency) != n * n:
                raise UserError(f"{source}: record {k} ({module_hash}) has {len(raw_adjacency)} adjacency digits "
                                f"for {n} ops; {_FIX}")
            try:
                arch = sp.parse(f"{raw_adjacency}:{'|'.join(ops)}")
            except UserError as exc:
                raise UserError(f"{source}: record {k} ({module_hash}) holds an invalid cell ({exc}); the file is "
                                f"damaged or not the official one: {_FIX}") from None
            computed = graph_hash(arch.matrix, labels_of(arch.ops))
            mismatches += computed != module_hash
            if metrics["trainable_parameters"] <= 0:
                raise UserError(f"{source}: record {k} ({module_hash}) has {metrics['trainable_parameters']} "
                                f"trainable parameters; {_FIX}")
            cell = cells[module_hash] = {"arch": sp.format(arch), "params": metrics["trainable_parameters"],
                                         "raw": (raw_adjacency, raw_operations), "first": k, "hash": computed,
                                         "val": [], "test": [], "train": [], "time": []}
        elif cell["raw"] != (raw_adjacency, raw_operations) and cell["hash"] != _hash_of(
                sp, raw_adjacency, raw_operations):  # a repeat may be written otherwise, not be another cell
            what = "an invalid cell" if _hash_of(sp, raw_adjacency, raw_operations) is None else "another cell"
            raise UserError(f"{source}: record {k} gives hash {module_hash} {what} than record {cell['first']} did; "
                            f"{_FIX}")
        final = evals[2]
        if metrics["trainable_parameters"] != cell["params"]:
            raise UserError(f"{source}: record {k} ({module_hash}) has {metrics['trainable_parameters']} trainable "
                            f"parameters, record {cell['first']} {cell['params']}; {_FIX}")
        for name in ("validation_accuracy", "test_accuracy", "train_accuracy", "training_time"):
            if name not in final:
                raise UserError(f"{source}: record {k} ({module_hash}) has no final {name}; {_FIX}")
            value = final[name]
            if name == "training_time":
                if not 0.0 <= value < math.inf:
                    raise UserError(f"{source}: record {k} ({module_hash}) has training_time {value!r}; {_FIX}")
            elif not 0.0 <= value <= 1.0:  # NaN fails too; the file stores fractions
                raise UserError(f"{source}: record {k} ({module_hash}) has {name} {value!r}, outside 0..1 (the "
                                f"file stores fractions); {_FIX}")
        cell["val"].append(final.get("validation_accuracy", math.nan))
        cell["test"].append(final.get("test_accuracy", math.nan))
        cell["train"].append(final.get("train_accuracy", math.nan))
        cell["time"].append(final.get("training_time", math.nan))
    if not cells:
        raise UserError(f"{source} holds no {EPOCHS}-epoch results ({records} records); pass the official "
                        f"nasbench_only108.tfrecord")
    table_rows = ([module_hash, *c["arch"].split(":"), _mean(c["val"], 100), _mean(c["test"], 100),
                   _mean(c["train"], 100), len(c["val"]), c["params"], _mean(c["time"], 1)]
                  for module_hash, c in cells.items())
    return write_converted(out_dir / MAIN_TABLE, list(HEADER), table_rows, source, source_sha256, t0,
                           records=records, archs=len(cells), archs_with_results=len(cells), epochs=EPOCHS,
                           hash_mismatches=mismatches)


def _hash_of(sp, raw_adjacency: str, raw_operations: str) -> str | None:
    from ..spaces.nb101 import graph_hash, labels_of

    try:
        arch = sp.parse(f"{raw_adjacency}:{'|'.join(raw_operations.split(','))}")
    except UserError:
        return None
    return graph_hash(arch.matrix, labels_of(arch.ops))


def _mean(values, scale) -> str:
    vals = [v for v in values if not math.isnan(v)]
    return f"{scale * sum(vals) / len(vals):.6g}" if vals else ""


def _progress(items, enabled, source: Path, every: float = 30.0):
    """A bar on a terminal; otherwise (a log) one line every ``every`` seconds with the share read and an ETA."""
    import sys

    if not enabled:
        yield from items
        return
    total = max(1, source.stat().st_size)
    if not sys.stderr.isatty():
        t0 = last = time.perf_counter()
        done = 0
        for k, data in items:
            yield k, data
            done += len(data) + 16
            now = time.perf_counter()
            if now - last >= every:
                last = now
                eta = (now - t0) * (total - done) / max(done, 1)
                print(f"converting {source.name}: {done / total:.0%} of {total / 2**20:.0f} MiB, {now - t0:.0f} s "
                      f"elapsed, ETA {eta:.0f} s", file=sys.stderr, flush=True)
        return
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task("converting", total=total)
        for k, data in items:
            yield k, data
            bar.advance(task, len(data) + 16)
