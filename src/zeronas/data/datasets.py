"""Image datasets from their standard on-disk formats.

CIFAR-10/100: the python pickle batches of the official archive (what torchvision also reads).
CIFAR-10 also from the ``cifar10/*.npz`` files of the shared data folder (decoded JPEG q75 arrays, JPEG
bytes, and a lossless 3,000-image subset). ImageNet16-120: the pickle batches of its official release.
Pickles pass the restricted unpickler of :mod:`zeronas.safe_io` (numpy arrays only), ``.npz`` files are read
without pickle; a damaged or foreign file is a one-line UserError naming it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import DataNotFound, UserError, shown
from ..safe_io import numpy_arrays, safe_npz_load, safe_pickle_load


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


def preprocess_record(mean, std, classes=None) -> dict:
    """How a network trained or scored by zeronas reads its input, for whoever deploys it: RGB pixels scaled
    to [0, 1], then ``(x - mean) / std`` per channel (NCHW); ``classes``: the output index's class names
    (an image folder's sorted class folders), or None where the dataset's label order is its own."""
    return {"input": "RGB, NCHW, pixels / 255, then (x - mean) / std per channel",
            "mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std],
            "classes": list(classes) if classes else None}


_ALIASES = {"imagenet16": "imagenet16-120", "in16": "imagenet16-120", "c10": "cifar10", "c100": "cifar100"}


def is_dataset_name(name) -> bool:
    """Whether ``name`` names a dataset (``dataset_info`` takes it), not a folder or anything else."""
    key = str(name).lower().replace("_", "-")
    return _ALIASES.get(key, key) in DATASETS


def dataset_info(name: str) -> DatasetInfo:
    key = name.lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise UserError(f"unknown dataset {shown(name)}; choose one of: cifar10, cifar100, ImageNet16-120")
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


_BATCH_WHAT = {"cifar10": "an official CIFAR-10 python batch", "cifar100": "an official CIFAR-100 python file",
               "imagenet16-120": "an official ImageNet16 batch"}


def _fix(dataset: str) -> str:
    url = DATASETS[dataset].url
    return (f"delete it and re-download the official archive ({url})" if url
            else "delete it and copy the file of the official release again")


def _unpickle(path: Path, dataset: str) -> dict:
    """A dataset pickle through the restricted unpickler: the official batches are dicts of strings, lists of
    ints and numpy uint8 arrays, so only numpy's array/dtype/scalar rebuilders are admitted; ``latin1`` reads
    the Python-2 strings of the CIFAR archives."""
    d = safe_pickle_load(path, numpy_arrays(), what=_BATCH_WHAT[dataset], fix=_fix(dataset), encoding="latin1")
    if not isinstance(d, dict):
        raise UserError(f"{path} holds a {type(d).__name__}, not the dict of {_BATCH_WHAT[dataset]}; {_fix(dataset)}")
    return d


def _from_pickles(files: list[Path], label_key: str, dataset: str, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for f in files:
        d = _unpickle(f, dataset)
        missing = [k for k in ("data", label_key) if k not in d]
        if missing:
            raise UserError(f"{f} has no {' or '.join(repr(k) for k in missing)}: not {_BATCH_WHAT[dataset]}; "
                            f"{_fix(dataset)}")
        x, y = _check_images(d["data"], d[label_key], f, dataset, rows=3 * size * size)
        xs.append(x.reshape(-1, 3, size, size))
        ys.append(y)
    x = np.concatenate(xs).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.concatenate(ys)


def _check_images(x, y, path: Path, dataset: str, rows: int | None = None,
                  shape: tuple[int, ...] = (32, 32, 3)) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (flat rows of ``rows`` values, or NHWC of ``shape``) and as many integer labels."""
    x, y = np.asarray(x), np.asarray(y)
    want = f"uint8 rows of {rows} pixel values" if rows else f"uint8 images of shape {shape}"
    if x.dtype != np.uint8 or (x.shape[1:] != (rows,) if rows else x.shape[1:] != shape) or len(x) == 0:
        raise UserError(f"{path}: images are {x.dtype} {x.shape}, not {want}; the file is damaged or of another "
                        f"kind: {_fix(dataset)}")
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise UserError(f"{path}: labels are {y.dtype} {y.shape}, not {len(x)} integers; the file is damaged or "
                        f"of another kind: {_fix(dataset)}")
    classes = DATASETS[dataset].num_classes
    if dataset != "imagenet16-120" and (y.min() < 0 or y.max() >= classes):  # ImageNet16 keeps 1..120 itself
        raise UserError(f"{path}: labels run from {y.min()} to {y.max()}, outside 0..{classes - 1} of {dataset}; "
                        f"the file is damaged or of another kind: {_fix(dataset)}")
    return x, y.astype(np.int64)


def _npz(path: Path, keys: tuple[str, ...], what: str) -> dict:
    return safe_npz_load(path, keys, what=what, fix="delete it and copy it again from the shared data folder")


def _decode_jpegs(npz: Path, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode the JPEG-bytes file once and cache the arrays (decoding 50k images takes ~10 s)."""
    cache = paths.cache_dir() / f"cifar10_jpeg_{'train' if split == 0 else 'test'}_{paths.file_sha256(npz)[:12]}.npz"
    if cache.exists():
        try:
            d = _npz(cache, ("x", "y"), "a zeronas decoded-JPEG cache")
            return _check_images(d["x"], d["y"], cache, "cifar10")
        except UserError:
            cache.unlink(missing_ok=True)  # our own cache, e.g. from a killed run: decode again
    from PIL import Image

    d = _npz(npz, ("jpeg", "offsets", "split", "y"), "the CIFAR-10 JPEG-bytes file")
    jpeg, offsets, which, labels = d["jpeg"], d["offsets"], d["split"], d["y"]
    if (jpeg.dtype != np.uint8 or jpeg.ndim != 1 or offsets.ndim != 1 or offsets.dtype.kind not in "iu"
            or len(offsets) != len(which) + 1 or len(labels) != len(which) or np.any(np.diff(offsets) < 0)
            or (len(offsets) and (offsets[0] < 0 or offsets[-1] > len(jpeg)))):
        raise UserError(f"{npz}: 'jpeg', 'offsets', 'split' and 'y' do not fit together; the file is damaged: "
                        "delete it and copy it again from the shared data folder")
    images = []
    for i in np.flatnonzero(which == split):
        try:
            with Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())) as im:
                if im.size != (32, 32):  # checked before decoding: a forged header cannot make us decode a giant
                    raise ValueError(f"{im.size[0]}x{im.size[1]} pixels, not 32x32")
                images.append(np.asarray(im.convert("RGB")))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise UserError(f"{npz}: image {i} is not a readable 32x32 JPEG ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:120]}); the file is damaged: delete it and copy it again "
                            "from the shared data folder") from None
    if not images:
        raise UserError(f"{npz} holds no {'train' if split == 0 else 'test'} images; the file is damaged: delete it "
                        "and copy it again from the shared data folder")
    x, y = np.stack(images), labels[which == split]
    x, y = _check_images(x, y, npz, "cifar10")
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, x=x, y=y)
    tmp.replace(cache)  # a kill leaves no half-written cache behind
    return x, y


def _missing(dataset: str, split: str, data_dir, looked_for: list[str]) -> DataNotFound:
    info = DATASETS[dataset]
    fetch = f" or download the official archive ({info.url}) and unpack it there" if info.url else ""
    return DataNotFound(
        f"{dataset} {split} images not found (looked for {', '.join(looked_for)} in {paths.searched(data_dir)}); "
        f"pass --data-dir DIR or set ZERONAS_DATA to a folder holding them{fetch}"
    )


# Loaded splits, so that a loop of ``zeronas.score(...)`` calls (each making a Scorer) reads and decodes the
# files once: (dataset, split, source, the folders searched and which exist) -> (files' signature, ImageSet).
# A hit is used only while the files it came from are unchanged (path, mtime, size); its arrays are read-only.
_LOADED: dict = {}


def _signature(source: str) -> tuple:
    p = Path(source)
    try:
        files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
        return tuple((str(f), st.st_mtime_ns, st.st_size) for f in files for st in [f.stat()])
    except OSError:
        return ()


def load_images(dataset: str, split: str = "train", data_dir=None, source: str = "auto") -> ImageSet:
    """Load a dataset split. ``source``: ``auto`` (best available), ``pickle``, ``npz`` (JPEG q75 arrays),
    ``jpeg`` (all 50k/10k images from the JPEG bytes file), ``lossless`` (the exact 2,000/1,000 subset).
    Cached in this process while its files are unchanged (the arrays are then shared and read-only)."""
    key = (str(dataset).lower(), split, source,
           tuple((str(d), d.is_dir()) for d in paths.candidate_dirs(data_dir)))
    hit = _LOADED.get(key)
    if hit is not None and hit[1].source and _signature(hit[1].source) == hit[0]:
        return hit[1]
    images = _load_images(dataset, split, data_dir, source)
    images.x.flags.writeable = False
    images.y.flags.writeable = False
    sig = _signature(images.source)
    if sig:
        _LOADED[key] = (sig, images)
    return images


def _load_images(dataset: str, split: str, data_dir, source: str) -> ImageSet:
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
                x, y = _from_pickles(found, "labels", name)
                return ImageSet(name, split, x, y, str(found[0].parent), "lossless")
            if source == "pickle":
                raise _missing(name, split, data_dir, pickles)
        npz_name = "cifar10/cifar10_train10k_jpegq75.npz" if split == "train" else "cifar10/cifar10_test_jpegq75.npz"
        if source in ("auto", "npz"):
            p = paths.find([npz_name], data_dir)
            if p is not None:
                what = "first 10,000 train images" if split == "train" else "full test set"
                d = _npz(p, ("x", "y"), f"the CIFAR-10 JPEG q75 {split} arrays")
                x, y = _check_images(d["x"], d["y"], p, name)
                return ImageSet(name, split, x, y, str(p), f"JPEG q75 ({what})")
        if source in ("auto", "jpeg"):
            p = paths.find(["cifar10/cifar10_all_jpegq75_bytes.npz"], data_dir)
            if p is not None:
                x, y = _decode_jpegs(p, 0 if split == "train" else 1)
                return ImageSet(name, split, x, y, str(p), "JPEG q75 (all images)")
        if source in ("auto", "lossless"):
            p = paths.find(["cifar10/cifar10_lossless_subset.npz"], data_dir)
            if p is not None:
                d = _npz(p, (f"x_{split}", f"y_{split}"), "the CIFAR-10 lossless subset")
                x, y = _check_images(d[f"x_{split}"], d[f"y_{split}"], p, name)
                return ImageSet(name, split, x, y, str(p),
                                "lossless (subset: first 2,000 train / 1,000 test images)")
        if source not in ("auto", "pickle", "npz", "jpeg", "lossless"):
            raise UserError(f"unknown source {source!r}; use auto, pickle, npz, jpeg or lossless")
        raise _missing(name, split, data_dir, pickles + [npz_name])
    if name == "cifar100":
        rel = "cifar-100-python/" + ("train" if split == "train" else "test")
        p = paths.find([rel, f"cifar100/{rel}"], data_dir)
        if p is None:
            raise _missing(name, split, data_dir, [rel])
        x, y = _from_pickles([p], "fine_labels", name)
        return ImageSet(name, split, x, y, str(p), "lossless")
    # ImageNet16-120: 1000-class ImageNet16 batches, keeping labels 1..120 (labels are 1-based).
    rels = ([f"ImageNet16/train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["ImageNet16/val_data"])
    found = [paths.find([r], data_dir) for r in rels]
    if not all(found):
        raise _missing(name, split, data_dir, rels)
    x, y = _from_pickles(found, "labels", name, size=16)
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
