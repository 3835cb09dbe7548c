"""Image datasets from their standard on-disk formats.

CIFAR-10/100: the python pickle batches of the official archive (what torchvision also reads).
CIFAR-10 also from the ``cifar10/*.npz`` files of the shared data folder (decoded JPEG q75 arrays, JPEG
bytes, and a lossless 3,000-image subset). ImageNet16-120: the pickle batches of its official release.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import DataNotFound, UserError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    url: str | None


DATASETS = {
    "cifar10": DatasetInfo("cifar10", 10, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                           "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": DatasetInfo("cifar100", 100, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    "imagenet16-120": DatasetInfo("imagenet16-120", 120, 16,
                                  tuple(v / 255 for v in (122.68, 116.66, 104.01)),
                                  tuple(v / 255 for v in (63.22, 61.26, 65.09)), None),
}


def dataset_info(name: str) -> DatasetInfo:
    key = name.lower().replace("_", "-")
    key = {"imagenet16": "imagenet16-120", "in16": "imagenet16-120", "c10": "cifar10", "c100": "cifar100"}.get(key, key)
    if key not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of: cifar10, cifar100, ImageNet16-120")
    return DATASETS[key]


@dataclass
class ImageSet:
    """uint8 NHWC images with int64 labels, plus where they came from and how faithful they are."""

    dataset: str
    split: str
    x: np.ndarray
    y: np.ndarray
    source: str
    fidelity: str  # "lossless" or a description of the loss

    def __len__(self) -> int:
        return len(self.y)

    @property
    def info(self) -> DatasetInfo:
        return DATASETS[self.dataset]


# Folder names the loaders look for: a source path is recorded from the last of them on, so the same files
# give the same protocol (and store key) wherever the data folder lies.
_DATA_FOLDERS = ("cifar10", "cifar100", "cifar-10-batches-py", "cifar-100-python", "ImageNet16")


def portable_source(source: str) -> str:
    """``/any/where/cifar10/x.npz`` -> ``cifar10/x.npz``: the part of a source path that names the files."""
    parts = Path(source).parts
    starts = [i for i, part in enumerate(parts) if part in _DATA_FOLDERS]
    return "/".join(parts[starts[-1]:]) if starts else Path(source).name


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _from_pickles(files: list[Path], label_key: str, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for f in files:
        d = _unpickle(f)
        xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, size, size))
        ys.append(np.asarray(d[label_key], dtype=np.int64))
    x = np.concatenate(xs).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.concatenate(ys)


def _decode_jpegs(npz: Path, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode the JPEG-bytes file once and cache the arrays (decoding 50k images takes ~10 s)."""
    cache = paths.cache_dir() / f"cifar10_jpeg_{'train' if split == 0 else 'test'}_{paths.file_sha256(npz)[:12]}.npz"
    if cache.exists():
        d = np.load(cache)
        return d["x"], d["y"]
    from PIL import Image

    d = np.load(npz)
    jpeg, offsets, sel = d["jpeg"], d["offsets"], np.flatnonzero(d["split"] == split)
    x = np.stack([np.asarray(Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB"))
                  for i in sel])
    y = d["y"][sel].astype(np.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, y=y)
    return x, y


def _missing(dataset: str, split: str, data_dir, looked_for: list[str]) -> DataNotFound:
    info = DATASETS[dataset]
    fetch = f" or download the official archive ({info.url}) and unpack it there" if info.url else ""
    return DataNotFound(
        f"{dataset} {split} images not found (looked for {', '.join(looked_for)} in {paths.searched(data_dir)}); "
        f"pass --data-dir DIR or set ZERONAS_DATA to a folder holding them{fetch}"
    )


def load_images(dataset: str, split: str = "train", data_dir=None, source: str = "auto") -> ImageSet:
    """Load a dataset split. ``source``: ``auto`` (best available), ``pickle``, ``npz`` (JPEG q75 arrays),
    ``jpeg`` (all 50k/10k images from the JPEG bytes file), ``lossless`` (the exact 2,000/1,000 subset)."""
    info = dataset_info(dataset)
    if split not in ("train", "test"):
        raise UserError(f"unknown split {split!r}; use 'train' or 'test'")
    name = info.name
    if name == "cifar10":
        pickles = ([f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] if split == "train"
                   else ["cifar-10-batches-py/test_batch"])
        if source in ("auto", "pickle"):
            found = [paths.find([p, f"cifar10/{p}"], data_dir) for p in pickles]
            if all(found):
                x, y = _from_pickles(found, "labels")
                return ImageSet(name, split, x, y, str(found[0].parent), "lossless")
            if source == "pickle":
                raise _missing(name, split, data_dir, pickles)
        npz_name = "cifar10/cifar10_train10k_jpegq75.npz" if split == "train" else "cifar10/cifar10_test_jpegq75.npz"
        if source in ("auto", "npz"):
            p = paths.find([npz_name], data_dir)
            if p is not None:
                d = np.load(p)
                what = "first 10,000 train images" if split == "train" else "full test set"
                return ImageSet(name, split, d["x"], d["y"].astype(np.int64), str(p), f"JPEG q75 ({what})")
        if source in ("auto", "jpeg"):
            p = paths.find(["cifar10/cifar10_all_jpegq75_bytes.npz"], data_dir)
            if p is not None:
                x, y = _decode_jpegs(p, 0 if split == "train" else 1)
                return ImageSet(name, split, x, y, str(p), "JPEG q75 (all images)")
        if source in ("auto", "lossless"):
            p = paths.find(["cifar10/cifar10_lossless_subset.npz"], data_dir)
            if p is not None:
                d = np.load(p)
                return ImageSet(name, split, d[f"x_{split}"], d[f"y_{split}"].astype(np.int64), str(p),
                                "lossless (subset: first 2,000 train / 1,000 test images)")
        if source not in ("auto", "pickle", "npz", "jpeg", "lossless"):
            raise UserError(f"unknown source {source!r}; use auto, pickle, npz, jpeg or lossless")
        raise _missing(name, split, data_dir, pickles + [npz_name])
    if name == "cifar100":
        rel = "cifar-100-python/" + ("train" if split == "train" else "test")
        p = paths.find([rel, f"cifar100/{rel}"], data_dir)
        if p is None:
            raise _missing(name, split, data_dir, [rel])
        x, y = _from_pickles([p], "fine_labels")
        return ImageSet(name, split, x, y, str(p), "lossless")
    # ImageNet16-120: 1000-class ImageNet16 batches, keeping labels 1..120 (labels are 1-based).
    rels = ([f"ImageNet16/train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["ImageNet16/val_data"])
    found = [paths.find([r], data_dir) for r in rels]
    if not all(found):
        raise _missing(name, split, data_dir, rels)
    x, y = _from_pickles(found, "labels", size=16)
    keep = (y >= 1) & (y <= 120)
    return ImageSet(name, split, x[keep], y[keep] - 1, str(found[0].parent), "lossless")


def download(dataset: str, data_dir=None, url: str | None = None) -> Path:
    """Fetch and unpack a dataset's official archive into the data folder (CIFAR-10/100)."""
    import tarfile
    import urllib.request

    info = dataset_info(dataset)
    url = url or info.url
    if url is None:
        raise UserError(f"{info.name} has no public download; place its files under the data folder by hand")
    dest = paths.data_dir(data_dir)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / Path(url).name
    try:
        urllib.request.urlretrieve(url, archive)
    except OSError as exc:
        raise UserError(f"could not download {url} ({exc}); fetch it by hand and unpack it into {dest}") from None
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"{archive} is not a valid archive ({exc}); delete it and retry") from None
    archive.unlink()
    return dest
