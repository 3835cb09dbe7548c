import pickle

import numpy as np
import pytest
import torch

from zeronas import paths
from zeronas.data import load_images, make_batch, noise_input, ones_input
from zeronas.errors import DataNotFound, UserError

from .conftest import make_image_folder, needs_cifar


def write_cifar10_pickles(root, n=20):
    rng = np.random.default_rng(0)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, size=n))
        with open(d / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
        batches[name] = (data, labels)
    return batches


def test_cifar10_official_pickles(tmp_path):
    batches = write_cifar10_pickles(tmp_path)
    im = load_images("cifar10", "train", data_dir=tmp_path)
    assert im.x.shape == (100, 32, 32, 3) and im.fidelity == "lossless"
    data, labels = batches["data_batch_1"]
    # row layout of the official format: 1024 red, then green, then blue values
    assert np.array_equal(im.x[0, :, :, 0].reshape(-1), data[0, :1024])
    assert np.array_equal(im.x[0, :, :, 2].reshape(-1), data[0, 2048:])
    assert list(im.y[:20]) == labels
    assert len(load_images("cifar10", "test", data_dir=tmp_path)) == 20


def test_cifar100_and_imagenet16_pickles(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "cifar-100-python").mkdir()
    with open(tmp_path / "cifar-100-python" / "train", "wb") as f:
        pickle.dump({"data": rng.integers(0, 256, (7, 3072), dtype=np.uint8), "fine_labels": [99] * 7}, f)
    im = load_images("cifar100", "train", data_dir=tmp_path)
    assert im.x.shape == (7, 32, 32, 3) and im.y.max() == 99 and im.info.num_classes == 100
    (tmp_path / "ImageNet16").mkdir()
    with open(tmp_path / "ImageNet16" / "val_data", "wb") as f:
        pickle.dump({"data": rng.integers(0, 256, (4, 768), dtype=np.uint8), "labels": [1, 120, 121, 999]}, f)
    im = load_images("ImageNet16-120", "test", data_dir=tmp_path)
    assert im.x.shape == (2, 16, 16, 3) and list(im.y) == [0, 119]  # 1-based labels, classes > 120 dropped


def py2_batch(data: np.ndarray, labels: list[int], label_key: bytes = b"labels") -> bytes:
    """A batch as the official archives hold it: Python 2 cPickle protocol 2, byte strings, numpy 1.x names."""
    import struct

    def s(b):
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)

    n, w = data.shape
    out = b"\x80\x02}q\x00(" + s(b"batch_label") + s(b"training batch 1 of 5")
    out += (s(b"data") + b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85" + s(b"b")
            + b"\x87Rq\x03(K\x01K" + bytes([n]) + b"M" + struct.pack("<H", w) + b"\x86cnumpy\ndtype\nq\x04"
            + s(b"u1") + b"K\x00K\x01\x87Rq\x05(K\x03" + s(b"|")
            + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + s(data.tobytes()) + b"tb")
    out += s(label_key) + b"]q\x06(" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return out + b"u."


def test_python2_official_batches_pass_the_restricted_unpickler(tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "cifar-10-batches-py").mkdir()
    data = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (tmp_path / "cifar-10-batches-py" / name).write_bytes(py2_batch(data, [0, 1, 2, 3, 9]))
    im = load_images("cifar10", "test", data_dir=tmp_path)
    assert np.array_equal(im.x[0, :, :, 1].reshape(-1), data[0, 1024:2048]) and list(im.y) == [0, 1, 2, 3, 9]
    (tmp_path / "ImageNet16").mkdir()
    small = rng.integers(0, 256, (3, 768), dtype=np.uint8)
    (tmp_path / "ImageNet16" / "val_data").write_bytes(py2_batch(small, [1, 5, 200]))
    assert list(load_images("imagenet16-120", "test", data_dir=tmp_path).y) == [0, 4]


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(DataNotFound) as exc:
        load_images("cifar100", "train", data_dir=tmp_path)
    msg = str(exc.value)
    assert str(tmp_path) in msg and "ZERONAS_DATA" in msg and "\n" not in msg
    with pytest.raises(UserError):
        load_images("mnist")


def test_env_var_sets_data_dir(tmp_path, monkeypatch):
    write_cifar10_pickles(tmp_path)
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path))
    assert paths.candidate_dirs() == [tmp_path]
    assert len(load_images("cifar10")) == 100


def test_batches_are_deterministic_and_normalised(tmp_path):
    write_cifar10_pickles(tmp_path)
    im = load_images("cifar10", data_dir=tmp_path)
    a, b, c = make_batch(im, 16, seed=3), make_batch(im, 16, seed=3), make_batch(im, 16, seed=4)
    assert torch.equal(a.x, b.x) and a.meta["sha256"] == b.meta["sha256"] != c.meta["sha256"]
    assert not torch.equal(make_batch(im, 16, seed=3, index=1).x, a.x)
    # uniform random pixels, normalised with the CIFAR-10 statistics
    assert abs(a.x[:, 0].mean().item() - (0.5 - 0.4914) / 0.2470) < 0.1
    with pytest.raises(UserError):
        make_batch(im, 1000)


def test_synthetic_inputs():
    assert torch.equal(ones_input((1, 3, 2, 2)), torch.ones(1, 3, 2, 2))
    assert torch.equal(noise_input((2, 3), seed=5), noise_input((2, 3), seed=5))


@needs_cifar
@pytest.mark.data
def test_shared_cifar10_npz_files():
    train = load_images("cifar10", "train")
    assert train.x.shape[1:] == (32, 32, 3) and train.x.dtype == np.uint8 and len(set(train.y.tolist())) == 10
    lossless = load_images("cifar10", "train", source="lossless")
    assert len(lossless) == 2000 and lossless.fidelity.startswith("lossless")
    if "jpeg" in train.fidelity.lower():
        # the JPEG copy of training image 0 is within JPEG noise of the lossless one
        assert np.abs(train.x[0].astype(int) - lossless.x[0].astype(int)).mean() < 15


def test_download_unpacks_official_archive(tmp_path):
    import tarfile

    src = tmp_path / "src"
    write_cifar10_pickles(src)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    from zeronas.data.datasets import download

    dest = tmp_path / "data"
    download("cifar10", dest, url=archive.as_uri())
    assert len(load_images("cifar10", data_dir=dest)) == 100 and not (dest / archive.name).exists()
    with pytest.raises(UserError):
        download("cifar10", dest, url=(tmp_path / "missing.tar.gz").as_uri())


@needs_cifar
def test_the_data_protocol_does_not_depend_on_where_the_data_folder_lies(tmp_path):
    from zeronas.proxies.base import get_proxy
    from zeronas.scoring import Scorer, protocol_hash

    from .conftest import CIFAR

    data_root = next(p for p in CIFAR.parents if p.name in ("cifar10", "cifar-10-batches-py")).parent
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for entry in data_root.iterdir():  # the same files, reached through another folder
        (moved / entry.name).symlink_to(entry)
    hashes = [protocol_hash(Scorer("nb201", ["nwot"], data="cifar10", data_dir=d, batch_size=8, seed=0,
                                   device="cpu").protocol(get_proxy("nwot"))) for d in (data_root, moved)]
    assert hashes[0] == hashes[1]


def test_read_only_images_normalise_without_a_warning():
    """Memory-mapped (read-only) images used to leak torch's 'NumPy array is not writable' warning into train."""
    import warnings

    from zeronas.data.batches import normalize

    a = np.full((2, 4, 4, 3), 51, np.uint8)
    a.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = normalize(a, [0.1, 0.2, 0.3], [0.5, 0.5, 0.5])
    assert x.shape == (2, 3, 4, 4) and torch.allclose(x[:, 1], torch.full((2, 4, 4), (0.2 - 0.2) / 0.5))


def test_a_spaces_scores_on_your_images_are_keyed_by_all_of_them(tmp_path):
    """A user's trial: on the --space path the protocol keyed the user's images by batch 0's digest alone, so a
    store replayed nwot/snip/zico after images outside batch 0 changed (their mean/std and zico's batch 1 did
    change the values). Keyed by their content digest, mean/std and counts now, as --model keys them."""
    from PIL import Image

    import zeronas as zn
    from zeronas.proxies import get_proxy

    root = make_image_folder(tmp_path / "imgs", per_class=8, size=(16, 16))
    before = zn.Scorer("nb201", "nwot", data=str(root), batch_size=4).protocol(get_proxy("nwot"))
    assert before["data"]["content_sha256"] and before["data"]["images"] == 16
    for p in sorted(root.rglob("*.png"))[-3:]:  # three images, whatever batch 0 holds
        Image.new("RGB", (16, 16), (255, 255, 255)).save(p)
    after = zn.Scorer("nb201", "nwot", data=str(root), batch_size=4).protocol(get_proxy("nwot"))
    assert after["data"]["content_sha256"] != before["data"]["content_sha256"]
    assert after["data"]["mean"] != before["data"]["mean"]
