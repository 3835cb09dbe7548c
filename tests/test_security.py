"""No code runs from a file zeronas reads, and a damaged file is a one-line error.

Every reader gets a hostile file whose pickle calls a payload that would create a marker file: the marker
must never appear, and the command line must exit 2 with one ``error:`` line on stderr and no traceback.
"""

import bz2
import io
import os
import pickle
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from zeronas.errors import UserError

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


class System:
    """Reduces to ``os.system('touch MARKER')``: what the fault report used."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


class Touch:
    """Reduces to ``pathlib.Path.touch(MARKER)``: no shell involved."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return (Path.touch, (self.marker,))


class NestedTorchLoad:
    """Reduces to ``torch.storage._load_from_bytes(b)``, a tensor-rebuild helper that runs a non-weights-only
    ``torch.load`` on ``b``; ``b`` holds a payload. An allow-list admitting that helper runs the payload."""

    def __init__(self, marker):
        buf = io.BytesIO()
        torch.save({"w": System(marker)}, buf)
        self.blob = buf.getvalue()

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.blob,))


PAYLOADS = {"os.system": System, "Path.touch": Touch}


def test_the_payloads_are_live(tmp_path):
    """Without the safe readers each payload does run: the tests below would notice a regression."""
    for i, make in enumerate([System, Touch, NestedTorchLoad]):
        m = tmp_path / f"ran{i}"
        pickle.loads(pickle.dumps(make(m)))
        assert m.exists(), make.__name__


@pytest.fixture
def marker(tmp_path):
    m = tmp_path / "PWNED"
    yield m
    assert not m.exists(), "a payload ran"


def run_cli(args, tmp_path):
    """``python -m zeronas.cli ARGS`` in a scratch folder with its own cache; no shared data folder is found."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "ZERONAS_DATA": str(tmp_path / "no-data"),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "zeronas.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)


def assert_one_line_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    assert res.stderr.startswith("error:") and res.stderr.count("\n") == 1, res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)


def write_pickle(path, obj, protocol=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def write_pbz2(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bz2.compress(pickle.dumps(obj)))


def good_cifar10(root, n=8):
    rng = np.random.default_rng(0)
    for name in CIFAR10_BATCHES:
        write_pickle(root / "cifar-10-batches-py" / name,
                     {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [1] * n})


# ---- checkpoints -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", PAYLOADS)
def test_export_refuses_a_hostile_checkpoint(tmp_path, marker, kind):
    evil = tmp_path / "evil_ckpt.pt"
    torch.save({"identity": PAYLOADS[kind](marker)}, evil)
    res = run_cli(["export", "--arch", ARCH, "--checkpoint", evil, "--out", tmp_path / "m.json"], tmp_path)
    assert_one_line_error(res, "evil_ckpt.pt", "safe loader refuses")
    assert not (tmp_path / "m.json").exists()


def test_export_refuses_the_nested_torch_load_trick(tmp_path, marker):
    evil = tmp_path / "nested.pt"
    torch.save({"identity": {"space": "nb201"}, "model": NestedTorchLoad(marker)}, evil)
    res = run_cli(["export", "--arch", ARCH, "--checkpoint", evil, "--out", tmp_path / "m.json"], tmp_path)
    assert_one_line_error(res, "torch.storage._load_from_bytes")


def test_train_resume_refuses_a_hostile_checkpoint(tmp_path, marker):
    data = tmp_path / "data"
    good_cifar10(data, n=16)
    run = tmp_path / "D"
    run.mkdir()
    torch.save({"identity": System(marker)}, run / "checkpoint.pt")
    res = run_cli(["train", "--arch", ARCH, "--out", run, "--data-dir", data, "--epochs", "1", "--C", "4", "--N",
                   "1", "--batch-size", "8"], tmp_path)
    assert_one_line_error(res, "checkpoint.pt", "safe loader refuses", "--no-resume")
    assert not (run / "summary.json").exists()


@pytest.mark.parametrize("content", [b"", b"garbage", "cut"], ids=["zero-byte", "garbage", "truncated"])
def test_damaged_checkpoints_are_one_line_errors(tmp_path, content):
    from zeronas.export import export

    ckpt = tmp_path / "checkpoint.pt"
    if content == "cut":
        buf = io.BytesIO()
        torch.save({"identity": {}, "model": {"w": torch.ones(100)}}, buf)
        content = buf.getvalue()[: len(buf.getvalue()) // 2]
    ckpt.write_bytes(content)
    with pytest.raises(UserError) as err:
        export("nb201", ARCH, "json", tmp_path / "m.json", checkpoint=ckpt)
    assert "\n" not in str(err.value) and str(ckpt) in str(err.value)
    res = run_cli(["export", "--arch", ARCH, "--checkpoint", ckpt, "--out", tmp_path / "m.json"], tmp_path)
    assert_one_line_error(res, "checkpoint.pt")


def test_a_plain_pickle_given_as_a_torch_file_is_one_line_with_no_torch_warning(tmp_path):
    """torch.load warns in two lines ("Detected pickle protocol 4 ...") before refusing a plain pickle: the
    user saw that above zeronas's one-line error (export, train --resume and data convert all load this way)."""
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(pickle.dumps({"model": {"w": [1.0]}}, protocol=4))
    res = run_cli(["export", "--arch", ARCH, "--checkpoint", ckpt, "--out", tmp_path / "m.json"], tmp_path)
    assert_one_line_error(res, "checkpoint.pt")
    assert "Warning" not in res.stderr and not (tmp_path / "m.json").exists()


def test_a_loadable_checkpoint_of_another_kind_is_a_one_line_error(tmp_path):
    from zeronas.export import export

    for i, obj in enumerate([{"identity": "x"}, [1, 2], {"identity": {"space": "nb201", "arch": ARCH, "build": {}},
                                                         "model": {}, "optimizer": {}, "epoch": 1}]):
        ckpt = tmp_path / f"c{i}.pt"
        torch.save(obj, ckpt)
        with pytest.raises(UserError, match="is not a zeronas checkpoint"):
            export("nb201", ARCH, "json", tmp_path / "m.json", checkpoint=ckpt)


# ---- dataset pickles -----------------------------------------------------------------------------------------

FAMILIES = {
    "cifar10": ["cifar-10-batches-py/" + n for n in CIFAR10_BATCHES],
    "cifar100": ["cifar-100-python/train", "cifar-100-python/test"],
    "imagenet16-120": [f"ImageNet16/train_data_batch_{i}" for i in range(1, 11)] + ["ImageNet16/val_data"],
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", PAYLOADS)
def test_data_refuses_hostile_dataset_pickles(tmp_path, marker, family, kind):
    from zeronas.data import load_images

    evil = tmp_path / "evil_data"
    for rel in FAMILIES[family]:
        write_pickle(evil / rel, PAYLOADS[kind](marker), protocol=2)
    with pytest.raises(UserError, match="refusing to unpickle") as err:
        load_images(family, "test", data_dir=evil)
    assert "\n" not in str(err.value)
    res = run_cli(["data", "--data-dir", evil], tmp_path)
    assert_one_line_error(res, "refusing to unpickle", "re-download" if family != "imagenet16-120" else "copy")


def test_a_payload_inside_a_valid_looking_batch_is_refused(tmp_path, marker):
    from zeronas.data import load_images

    good_cifar10(tmp_path)
    write_pickle(tmp_path / "cifar-10-batches-py" / "test_batch",
                 {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1], "filenames": [Touch(marker)]})
    with pytest.raises(UserError, match=r"refusing to unpickle pathlib\.\w*Path\.touch"):
        load_images("cifar10", "test", data_dir=tmp_path)


def test_refused_modules_are_not_even_imported(tmp_path):
    from zeronas.safe_io import numpy_arrays, safe_pickle_load

    if "this" in sys.modules:
        pytest.skip("module 'this' already imported")
    with pytest.raises(UserError, match="refusing to unpickle this.s"):
        safe_pickle_load(io.BytesIO(b"\x80\x02cthis\ns\n."), numpy_arrays(), what="a test file", fix="none",
                         name="mem")
    assert "this" not in sys.modules  # importing it prints the Zen of Python: find_class never imports


@pytest.mark.parametrize("family", FAMILIES)
def test_damaged_dataset_pickles_are_one_line_errors(tmp_path, family):
    from zeronas.data import load_images

    rng = np.random.default_rng(0)
    size = 16 if family == "imagenet16-120" else 32
    labels = "fine_labels" if family == "cifar100" else "labels"
    good = pickle.dumps({"data": rng.integers(0, 256, (4, 3 * size * size), dtype=np.uint8), labels: [1] * 4},
                        protocol=2)
    rels = FAMILIES[family]
    for rel in rels:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(good)
    target = tmp_path / rels[-1]  # the test split
    cuts = sorted({0, 1, 2, 10, len(good) // 3, len(good) // 2, len(good) - 1} | set(range(0, len(good), 97)))
    noise = np.random.default_rng(7).integers(0, 256, 300, dtype=np.uint8).tobytes()
    bad = [good[:n] for n in cuts] + [b"garbage", noise, b"\x80\x02" + noise, good.replace(b"u1", b"O\x00")]
    for content in bad:
        target.write_bytes(content)
        with pytest.raises(UserError) as err:
            load_images(family, "test", data_dir=tmp_path)
        assert "\n" not in str(err.value) and str(target) in str(err.value), str(err.value)
    target.write_bytes(b"")
    assert_one_line_error(run_cli(["data", "--data-dir", tmp_path], tmp_path), rels[-1].split("/")[-1])


def test_dataset_pickles_of_another_layout_are_one_line_errors(tmp_path):
    from zeronas.data import load_images

    good_cifar10(tmp_path)
    target = tmp_path / "cifar-10-batches-py" / "test_batch"
    for obj, needle in [([1, 2], "holds a list"), ({"labels": [1]}, "no 'data'"),
                        ({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}, "not uint8 rows of 3072"),
                        ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "not uint8 rows"),
                        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "not 2 integers"),
                        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, "outside 0..9")]:
        write_pickle(target, obj)
        with pytest.raises(UserError, match=needle):
            load_images("cifar10", "test", data_dir=tmp_path)


# ---- npz files -------------------------------------------------------------------------------------------

NPZ = {"npz": ("cifar10/cifar10_test_jpegq75.npz", ("x", "y")),
       "lossless": ("cifar10/cifar10_lossless_subset.npz", ("x_test", "y_test")),
       "jpeg": ("cifar10/cifar10_all_jpegq75_bytes.npz", ("jpeg", "offsets", "split", "y"))}


@pytest.mark.parametrize("source", NPZ)
def test_npz_object_arrays_are_never_unpickled(tmp_path, marker, source, monkeypatch):
    from zeronas.data import load_images

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rel, keys = NPZ[source]
    (tmp_path / "cifar10").mkdir()
    arrays = {k: np.array([System(marker), 1], dtype=object) for k in keys}
    np.savez(tmp_path / rel, **arrays)
    with pytest.raises(UserError, match="object .pickled. array") as err:
        load_images("cifar10", "test", data_dir=tmp_path, source=source)
    assert "\n" not in str(err.value)


def test_npz_object_array_via_cli(tmp_path, marker):
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10" / "cifar10_train10k_jpegq75.npz", x=np.array([System(marker)], dtype=object),
             y=np.zeros(1, np.int64))
    assert_one_line_error(run_cli(["data", "--data-dir", tmp_path], tmp_path), "cifar10_train10k_jpegq75.npz")


def test_zero_byte_npz_is_a_one_line_error(tmp_path):
    """The fault report: a zero-byte file printed 'Aborted.' and exited 1."""
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar10_train10k_jpegq75.npz").write_bytes(b"")
    res = run_cli(["data", "--data-dir", tmp_path], tmp_path)
    assert_one_line_error(res, "cifar10_train10k_jpegq75.npz", "damaged")
    assert "Aborted" not in res.stderr + res.stdout


@pytest.mark.parametrize("source", ["npz", "lossless"])
def test_damaged_npz_files_are_one_line_errors(tmp_path, source):
    from zeronas.data import load_images

    rel, keys = NPZ[source]
    path = tmp_path / rel
    path.parent.mkdir()
    rng = np.random.default_rng(0)
    np.savez_compressed(path, **{keys[0]: rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
                                 keys[1]: np.arange(20) % 10})
    good = path.read_bytes()
    assert len(load_images("cifar10", "test", data_dir=tmp_path, source=source)) == 20
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0xFF
    npy = io.BytesIO()
    np.save(npy, np.zeros(3))
    bad = [good[:n] for n in sorted({0, 1, 30, len(good) // 2, len(good) - 10} | set(range(0, len(good), 499)))]
    bad += [b"garbage", bytes(flipped), npy.getvalue()]
    for content in bad:
        path.write_bytes(content)
        with pytest.raises(UserError) as err:
            load_images("cifar10", "test", data_dir=tmp_path, source=source)
        assert "\n" not in str(err.value) and str(path) in str(err.value), str(err.value)
    np.savez(path, **{keys[0]: np.zeros((2, 32, 32, 3), np.uint8)})  # a key missing
    with pytest.raises(UserError, match=f"lacks the array.s. {keys[1]}"):
        load_images("cifar10", "test", data_dir=tmp_path, source=source)
    np.savez(path, **{keys[0]: np.zeros((2, 16, 16, 3), np.uint8), keys[1]: np.zeros(2, np.int64)})
    with pytest.raises(UserError, match="not uint8 images of shape"):
        load_images("cifar10", "test", data_dir=tmp_path, source=source)


def write_jpeg_bytes(path, n=6, corrupt=None, size=32):
    from PIL import Image

    rng = np.random.default_rng(0)
    blobs = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG", quality=75)
        blob = buf.getvalue()
        blobs.append(blob[: len(blob) // 4] if i == corrupt else blob)
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(path, jpeg=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets,
             split=np.array([0, 1] * (n // 2)), y=np.arange(n) % 10)


def test_jpeg_bytes_file_damage_is_a_one_line_error(tmp_path, monkeypatch):
    from zeronas.data import load_images

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "cifar10").mkdir()
    path = tmp_path / NPZ["jpeg"][0]
    write_jpeg_bytes(path)
    im = load_images("cifar10", "test", data_dir=tmp_path, source="jpeg")
    assert im.x.shape == (3, 32, 32, 3)
    cache = next((tmp_path / "cache" / "zeronas").glob("cifar10_jpeg_test_*.npz"))
    cache.write_bytes(cache.read_bytes()[:50])  # our own cache, cut by a kill: decoded again
    assert np.array_equal(load_images("cifar10", "test", data_dir=tmp_path, source="jpeg").x, im.x)
    for kwargs, needle in [(dict(corrupt=3), "image 3 is not a readable 32x32 JPEG"),
                           (dict(size=64), "64x64 pixels, not 32x32")]:
        write_jpeg_bytes(path, **kwargs)
        with pytest.raises(UserError, match=needle) as err:
            load_images("cifar10", "test", data_dir=tmp_path, source="jpeg")
        assert "\n" not in str(err.value)
    np.savez(path, jpeg=np.zeros(10, np.uint8), offsets=np.array([0, 5, 50]), split=np.array([0, 1]),
             y=np.array([0, 1]))
    with pytest.raises(UserError, match="do not fit together"):
        load_images("cifar10", "test", data_dir=tmp_path, source="jpeg")


# ---- the benchmark converter ---------------------------------------------------------------------------------

def test_convert_refuses_a_hostile_pth(tmp_path, marker):
    for name, obj in [("evil.pth", {"meta_archs": System(marker), "arch2infos": {}}),
                      ("nested.pth", {"meta_archs": [], "arch2infos": {0: NestedTorchLoad(marker)}})]:
        torch.save(obj, tmp_path / name)
        res = run_cli(["data", "convert", tmp_path / name, "--out", tmp_path / "x"], tmp_path)
        assert_one_line_error(res, name, "safe loader refuses")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("make", [System, Touch, NestedTorchLoad], ids=["os.system", "Path.touch", "nested"])
def test_convert_refuses_a_hostile_pickle_pbz2(tmp_path, marker, make):
    evil = tmp_path / "evil.pickle.pbz2"
    write_pbz2(evil, {"meta_archs": ["x"] * 15625, "arch2infos": {0: {"200": make(marker)}}})
    res = run_cli(["data", "convert", evil, "--out", tmp_path / "x"], tmp_path)
    assert_one_line_error(res, "refusing to unpickle", "evil.pickle.pbz2")
    if make is NestedTorchLoad:
        assert "torch.storage._load_from_bytes" in res.stderr


def test_convert_refuses_tensors_in_a_pickle_pbz2(tmp_path):
    """A plainly pickled tensor rebuilds its storage through a nested torch.load: refused, not loaded."""
    from zeronas.benchmarks.convert import convert

    src = tmp_path / "t.pickle.pbz2"
    write_pbz2(src, {"meta_archs": ["x"] * 15625, "arch2infos": {0: {"200": {"w": torch.ones(2)}}}})
    with pytest.raises(UserError, match=r"refusing to unpickle torch\."):
        convert(src, tmp_path / "x")


@pytest.mark.parametrize("where", ["meta", "per-arch"])
def test_convert_refuses_a_hostile_simple_folder(tmp_path, marker, where):
    import zeronas as zn

    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    archs = [zn.space("nb201").format(a) for a in zn.space("nb201").enumerate()]
    write_pbz2(folder / "meta.pickle.pbz2", {"meta_archs": archs, "x": System(marker) if where == "meta" else 0})
    write_pbz2(folder / "000000.pickle.pbz2", {"200": System(marker)})
    res = run_cli(["data", "convert", folder, "--out", tmp_path / "x"], tmp_path)
    assert_one_line_error(res, "refusing to unpickle", "meta.pickle.pbz2" if where == "meta" else "000000")


@pytest.mark.parametrize("suffix", [".pth", ".pickle.pbz2"])
def test_damaged_benchmark_files_are_one_line_errors(tmp_path, suffix):
    from zeronas.benchmarks.convert import convert

    src = tmp_path / f"NB{suffix}"
    obj = {"meta_archs": ["a"] * 50, "arch2infos": {i: {"200": {"x": float(i)}} for i in range(50)}}
    if suffix == ".pth":
        buf = io.BytesIO()
        torch.save(obj, buf)
        good = buf.getvalue()
    else:
        good = bz2.compress(pickle.dumps(obj))
    for content in [b"", b"garbage", good[: len(good) // 2], good[:-5], good[:40]]:
        src.write_bytes(content)
        with pytest.raises(UserError) as err:
            convert(src, tmp_path / "x")
        msg = str(err.value)
        assert "\n" not in msg and str(src) in msg and "download the official file again" in msg, msg
    src.write_bytes(b"")
    assert_one_line_error(run_cli(["data", "convert", src, "--out", tmp_path / "x"], tmp_path), src.name)


def test_convert_refuses_results_of_another_layout(tmp_path):
    import zeronas as zn
    from zeronas.benchmarks.convert import convert

    archs = [zn.space("nb201").format(a) for a in zn.space("nb201").enumerate()]
    src = tmp_path / "odd.pickle.pbz2"
    for infos, needle in [([1, 2], "not a dict"), ({"x": {}}, "not architecture indexes"),
                          ({3: {"200": {"dataset_seed": 5}}}, "architecture 3 do not have")]:
        write_pbz2(src, {"meta_archs": archs, "arch2infos": infos})
        with pytest.raises(UserError, match=needle):
            convert(src, tmp_path / "x")


# ---- the allow-lists themselves -------------------------------------------------------------------------------

def test_allow_lists_hold_nothing_that_loads_or_runs():
    """Every entry, named: adding one means adding it here after checking it cannot load a pickle or run code."""
    import numpy as np

    from zeronas.benchmarks import convert
    from zeronas.safe_io import CONTAINERS, numpy_arrays, numpy_for_torch

    arrays = numpy_arrays()
    expected = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
        (f"{m}.{sub}", n) for m in ("numpy.core", "numpy._core")
        for sub, n in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))}
    assert set(arrays) <= expected and {("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct")} <= set(arrays)
    assert set(CONTAINERS) == {("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"),
                               ("__builtin__", "set"), ("__builtin__", "frozenset")}
    assert set(convert._PBZ2_ALLOWED) == set(arrays) | set(CONTAINERS)
    every = [*arrays.values(), *CONTAINERS.values(), *convert._PBZ2_ALLOWED.values()]
    every += [e[0] if isinstance(e, tuple) else e for e in numpy_for_torch()]
    for obj in every:
        where = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}"
        assert not where.startswith(("torch", "pickle", "os", "subprocess", "builtins.eval", "builtins.exec")), where
        assert "load" not in where.lower(), where
    assert all(isinstance(e, type) and issubclass(e, np.dtype) or isinstance(e, tuple) for e in numpy_for_torch())
    # _codecs.encode is admitted only as latin-1 text -> bytes
    from zeronas.safe_io import safe_pickle_load

    with pytest.raises(UserError, match="damaged"):
        safe_pickle_load(io.BytesIO(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x03\x00\x00\x00hex\x86R."),
                         arrays, what="a test file", fix="none", name="mem")


def test_official_layouts_still_load(tmp_path):
    """What the allow-lists must admit: numpy arrays/scalars pickled under numpy 1.x and 2.x names, protocols
    2 and 5, sets and OrderedDicts."""
    from collections import OrderedDict

    from zeronas.safe_io import CONTAINERS, numpy_arrays, safe_pickle_load

    obj = {"a": np.arange(6, dtype=np.uint8).reshape(2, 3), "b": np.float64(1.5), "c": {1, 2},
           "d": OrderedDict(x=frozenset([3])), "e": b"raw", "f": (1, "s", None, True)}
    allowed = {**numpy_arrays(), **CONTAINERS}
    for protocol in (2, 4, 5):
        blob = pickle.dumps(obj, protocol=protocol)
        for old_name in (False, True):
            data = blob.replace(b"numpy._core", b"numpy.core") if old_name and protocol == 2 else blob
            got = safe_pickle_load(io.BytesIO(data), allowed, what="a test file", fix="none", name="mem")
            assert np.array_equal(got["a"], obj["a"]) and got["b"] == 1.5 and got["c"] == {1, 2}
            assert got["d"] == obj["d"] and got["e"] == b"raw" and got["f"] == obj["f"]


def test_pth_with_numpy_1_names_still_loads(tmp_path):
    """Official .pth files were written under numpy 1.x: their numpy scalars say numpy.core.multiarray."""
    from zeronas.safe_io import numpy_for_torch, safe_torch_load

    buf = io.BytesIO()
    torch.save({"acc": np.float64(93.5), "arr": np.arange(3), "plain": [1.0, "x"]}, buf)
    src, out = zipfile.ZipFile(io.BytesIO(buf.getvalue())), tmp_path / "old.pth"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            z.writestr(info.filename, data.replace(b"numpy._core.", b"numpy.core.") if info.filename.endswith(
                "data.pkl") else data)
    got = safe_torch_load(out, what="a test file", fix="none", extra_globals=numpy_for_torch())
    assert got["acc"] == 93.5 and list(got["arr"]) == [0, 1, 2] and got["plain"] == [1.0, "x"]
