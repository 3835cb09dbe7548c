"""Your own images: an image folder (the torchvision ``ImageFolder`` layout), numpy arrays, or a torch
``Dataset`` / ``DataLoader``. Each becomes a :class:`UserImages`, an ``ImageSet`` whose normalisation is the
per-channel mean/std of its own pixels and which carries a content hash; both go into the scoring protocol.

Pixels are kept as read: uint8 NHWC (image folders, uint8 arrays; scaled to [0, 1] before normalising) or
float32 NHWC (float NCHW arrays and tensors, in their own units). Labels are int64 in 0..classes-1. At most
``max_images`` images are kept (a seeded subset, chosen before any image is decoded). Every problem (a broken
image, an empty folder, mismatched labels) is a one-line ``UserError``; no file is written.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .datasets import DatasetInfo, ImageSet

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
MAX_IMAGES = 2048  # enough for every proxy's batches (64, zico 2 x 64); bounds memory for large images
MAX_SIDE = 4096  # a larger image is refused before decoding (a forged header cannot make us decode a giant)


@dataclass
class UserImages(ImageSet):
    """An ``ImageSet`` with its own ``info`` (classes, size, mean/std measured on it) and content hash."""

    meta: DatasetInfo
    classes: tuple = ()
    content_sha256: str = ""
    note: str = ""  # how they were read, where a reader of the values should know it (a shuffling loader)

    @property
    def info(self) -> DatasetInfo:
        return self.meta

    @property
    def size_hw(self) -> tuple[int, int]:
        return int(self.x.shape[1]), int(self.x.shape[2])

    @property
    def channels(self) -> int:
        return int(self.x.shape[3])

    def protocol(self) -> dict:
        """What the scoring protocol records about these images."""
        return {"classes": len(self.classes) or self.meta.num_classes, "image_hw": list(self.size_hw),
                "channels": self.channels, "pixels": str(self.x.dtype), "images": len(self),
                "mean": [round(v, 6) for v in self.meta.mean], "std": [round(v, 6) for v in self.meta.std],
                "content_sha256": self.content_sha256[:16]}


def make_user_images(x: np.ndarray, y: np.ndarray, name: str, source: str, fidelity: str,
                     classes: tuple = ()) -> UserImages:
    """Wrap checked NHWC images ``x`` (uint8 or float32) and int labels ``y``: measure mean/std, hash."""
    x = np.ascontiguousarray(x)
    y = np.asarray(y).astype(np.int64)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    flat = x.reshape(-1, x.shape[-1])
    mean = np.zeros(x.shape[-1])
    sq = np.zeros(x.shape[-1])
    for i in range(0, len(flat), 1 << 20):  # float64 sums in chunks: no float64 copy of all pixels
        chunk = flat[i:i + (1 << 20)].astype(np.float64) / scale
        mean += chunk.sum(0)
        sq += (chunk * chunk).sum(0)
    mean /= len(flat)
    std = np.sqrt(np.maximum(sq / len(flat) - mean * mean, 0.0))
    std = np.where(std > 1e-6, std, 1.0)  # a constant channel: (x - mean) is 0 anyway; avoid dividing by 0
    digest = hashlib.sha256(f"{x.dtype}{x.shape}".encode() + x.tobytes() + y.tobytes()).hexdigest()
    h, w = x.shape[1], x.shape[2]
    n_classes = len(classes) or int(y.max()) + 1
    info = DatasetInfo(name, n_classes, h if h == w else (h, w), tuple(map(float, mean)), tuple(map(float, std)),
                       None)
    return UserImages(name, "train", x, y, source, fidelity, info, tuple(classes), digest)


def _subset(n: int, max_images: int, seed: int) -> np.ndarray:
    if n <= max_images:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_images, replace=False))


def _check_labels(y, n: int, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"{where}: {n} images but labels of shape {tuple(y.shape)}; give one integer label per image")
    if len(y) and y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise UserError(f"{where}: labels are {y.dtype}, not integers (class indices 0..classes-1)")
    if len(y) and y.min() < 0:
        raise UserError(f"{where}: labels run from {y.min()}; class indices start at 0")
    return y.astype(np.int64)


def from_arrays(x, y, name: str = "arrays", max_images: int = MAX_IMAGES, seed: int = 0) -> UserImages:
    """``x``: uint8 NHWC [N, H, W, C] or float NCHW [N, C, H, W] (C = 1 or 3); ``y``: N int labels >= 0."""
    x = np.asarray(x)
    where = f"data {name}"
    if x.ndim != 4 or len(x) == 0:
        raise UserError(f"{where}: images of shape {tuple(x.shape)}; give x as uint8 NHWC [N, H, W, C] or float "
                        "NCHW [N, C, H, W] with N >= 1")
    y = _check_labels(y, len(x), where)
    total = len(x)
    idx = _subset(total, max_images, seed)
    x, y = x[idx], y[idx]
    if x.dtype == np.uint8:
        channels = x.shape[3]
    elif x.dtype.kind == "f":
        channels = x.shape[1]
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=np.float32)
        if not np.all(np.isfinite(x)):
            raise UserError(f"{where}: the images hold NaN or inf values")
    else:
        raise UserError(f"{where}: images are {x.dtype}; give uint8 NHWC or float NCHW images")
    if channels not in (1, 3):
        layout = "NHWC" if x.dtype == np.uint8 else "NCHW"
        raise UserError(f"{where}: {channels} channels in {layout} images of shape {tuple(np.asarray(x).shape)}; "
                        "give uint8 images as NHWC and float images as NCHW, with 1 or 3 channels")
    kept = f" ({len(idx)} of {total})" if len(idx) < total else ""
    return make_user_images(x, y, name, name, f"as given{kept}")


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder_files(root, classes=None) -> tuple[Path, tuple, list[Path], list[int]]:
    """(root, class names, image files, labels) of an ``ImageFolder`` layout; one-line errors for another."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"image folder {str(root)!r} {'is a file' if root.exists() else 'does not exist'}; give a "
                        "folder laid out as root/<class>/<image files>")
    folders = _class_folders(root)
    if not folders:
        loose = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f" ({len(loose)} images lie directly in it: move them into one folder per class)" if loose else ""
        raise UserError(f"image folder {str(root)!r} has no class folders{hint}; lay it out as root/<class>/<images> "
                        "(the torchvision ImageFolder layout)")
    names = tuple(p.name for p in folders)
    _need_classes(root, folders)
    if classes is not None and set(classes) != set(names):
        missing, extra = sorted(set(classes) - set(names)), sorted(set(names) - set(classes))
        raise UserError(f"image folder {str(root)!r}: its class folders do not match the classes given (missing: "
                        f"{', '.join(missing) or '-'}; not expected: {', '.join(extra) or '-'})")
    if classes is not None:
        names = tuple(sorted(classes))
        folders = [root / n for n in names]
    files, labels = [], []
    for label, folder in enumerate(folders):
        # hidden files and folders (macOS ._x.png, .ipynb_checkpoints/) are not the class's images
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        if not found:
            raise UserError(f"image folder {str(root)!r}: class folder {folder.name!r} holds no images ("
                            f"{', '.join(IMAGE_SUFFIXES)}); remove it or add its images")
        files += found
        labels += [label] * len(found)
    return root, names, files, labels


def folder_layout(root, max_images: int = MAX_IMAGES, seed: int = 0) -> tuple[tuple, tuple[int, int]]:
    """(class names, (H, W)) that :func:`image_folder` with the same ``max_images`` and ``seed`` gives, read from
    the image headers only (nothing decoded): what a network for these images takes (``zeronas export``)."""
    from PIL import Image

    root, names, files, _ = _folder_files(root)
    sizes = []
    for i in _subset(len(files), max_images, seed):
        try:
            with Image.open(files[i]) as im:
                sizes.append((im.size[1], im.size[0]))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise UserError(f"{files[i]}: not a readable image ({type(exc).__name__}); replace or remove it") from None
    return names, Counter(sizes).most_common(1)[0][0]


TRAIN_MAX_IMAGES = 100_000  # training reads every image of a folder up to this many
TRAIN_MAX_BYTES = 6 << 30  # and refuses a folder whose decoded pixels would not fit in memory
TEST_SHARE = 0.2  # a folder without train/ and test/ (or val/) subfolders: this share of each class is held out
SPLIT_SEED = 0  # that split is the same for every run, so their test accuracies compare


def folder_label(path) -> str:
    """``folder:NAME`` for an image folder, NAME its resolved name (``.`` is named by the folder it is)."""
    return f"folder:{Path(path).expanduser().resolve().name}"


def is_image_folder(data) -> bool:
    """Whether ``data`` names an existing folder rather than a dataset (a dataset's name wins)."""
    from .datasets import is_dataset_name

    if not isinstance(data, (str, os.PathLike)):
        return False
    return not is_dataset_name(data) and Path(str(data)).expanduser().is_dir()


def shadowed_folder_note(data) -> str:
    """A note when ``data`` names a dataset and a folder of that name is here too (the dataset is read: a name means
    the same wherever it is given); "" otherwise."""
    from .datasets import is_dataset_name

    if not isinstance(data, (str, os.PathLike)) or not is_dataset_name(data):
        return ""
    text = str(data)
    if not Path(text).expanduser().is_dir():
        return ""
    try:  # an image folder's layout (class folders of images), not e.g. the dataset's own files
        _folder_files(Path(text).expanduser())
    except UserError:
        return ""
    return (f"{text} names the dataset {text} and a folder here: the dataset is read; give the folder as "
            f"./{text} (or its full path) to read your images")


def _split_dirs(root: Path, need_test: bool = True) -> tuple[Path, Path | None] | None:
    """(train, test) subfolders of ``root`` when it holds ``train/`` and ``test/`` (or ``val/``), each with class
    folders of its own; None for one ImageFolder."""
    train = root / "train"
    test = next((root / n for n in ("test", "val") if (root / n).is_dir() and _class_folders(root / n)), None)
    if not train.is_dir() or not _class_folders(train):  # (classes that happen to be called train and test)
        return None
    if test is None and not need_test:  # the proxies and an export read train/ alone
        return train, None
    if test is None:  # read as one ImageFolder, its classes would be 'train' and 'test': never meant
        beside = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
        what = (f"its {beside.name}/ holds no class folders (unlabelled images?)" if beside is not None
                else "there is no test/ or val/ beside it")
        raise UserError(f"image folder {str(root)!r}: train/ holds class folders but {what}; give test/<class>/ "
                        "(or val/<class>/) beside train/, or put the class folders directly in the folder")
    return train, test


def folder_network(root, training: bool = False) -> tuple[tuple, tuple[int, int]]:
    """(class names, (H, W)) of the network trained or exported for an image folder: its class folders (of
    ``train/`` in a train/test layout) and its most common image size, read from headers only: among the
    images :func:`user_images` reads (what a search scored), or with ``training`` among those
    :func:`folder_splits` reads (what ``zeronas train`` trains on)."""
    root = Path(root).expanduser()
    dirs = _split_dirs(root, need_test=training)
    pick = {"max_images": TRAIN_MAX_IMAGES, "seed": SPLIT_SEED} if training else {}
    return folder_layout(dirs[0] if dirs else root, **pick)


def network_for(data, training: bool = False) -> tuple[str, int, tuple[int, int]]:
    """(label, classes, (H, W)) of the network built for ``data``, a dataset's name or an image folder, without
    decoding an image: the dataset's, or the folder's ``folder_label``, class folders and most common image size
    (``folder_network``: with ``training``, as ``zeronas train`` reads the folder). The one place train, its
    refine reads, export and ``--model`` resolve it. Errors: UserError (one line) for an unknown dataset or a
    folder of another layout."""
    from .datasets import dataset_info

    if is_image_folder(data):
        names, hw = folder_network(data, training=training)
        return folder_label(data), len(names), hw
    info = dataset_info(str(data))
    return info.name, info.num_classes, (info.image_size, info.image_size)


def folder_split_sizes(root, max_images: int = TRAIN_MAX_IMAGES) -> tuple[int, int]:
    """(train, test) image counts that :func:`folder_splits` gives, from the file listing alone."""
    root = Path(root).expanduser()
    dirs = _split_dirs(root)
    if dirs:
        return tuple(min(len(_folder_files(d)[2]), max_images) for d in dirs)
    _, _, files, labels = _folder_files(root)
    keep = np.bincount(np.asarray(labels)[_subset(len(files), max_images, SPLIT_SEED)])
    test = sum(int(math.ceil(TEST_SHARE * c)) if c >= 2 else 0 for c in keep)
    return int(keep.sum()) - test, test


_SPLIT_CACHE: dict = {}  # the last folder split read: every training read of a refining search reuses it


def folder_splits(root, max_images: int = TRAIN_MAX_IMAGES) -> tuple[UserImages, UserImages, str]:
    """:func:`_folder_splits`, decoded once per folder as it stands: the cached split is reused while the image
    files (names, sizes, modification times) are unchanged."""
    root = Path(root).expanduser()
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    stats = [(str(p), p.stat()) for p in files]
    key = (str(root.resolve()), max_images, tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats))
    if key not in _SPLIT_CACHE:
        _SPLIT_CACHE.clear()
        _SPLIT_CACHE[key] = _folder_splits(root, max_images)
    return _SPLIT_CACHE[key]


def _folder_splits(root, max_images: int = TRAIN_MAX_IMAGES) -> tuple[UserImages, UserImages, str]:
    """(train, test, how) images of a folder for training. ``root/train`` and ``root/test`` (or ``root/val``),
    each an ImageFolder with the same classes, are used as they are; one ImageFolder is split per class by a
    fixed seeded draw (``SPLIT_SEED``): ``TEST_SHARE`` of each class's images (at least one of a class with two
    or more) are the test set, the same for every run. Test images are resized to the train images' size.
    Errors: UserError (one line) for a layout, image or class problem, or pixels too many for memory."""
    root = Path(root).expanduser()
    dirs = _split_dirs(root)
    for folder in dirs or (root,):
        _, names, files, _ = _folder_files(folder)
        _, hw = folder_layout(folder, max_images=min(len(files), 256))
        # decoded uint8 pixels twice (the images read, then stacked) and once more as float32 tensors
        need = min(len(files), max_images) * hw[0] * hw[1] * 3 * (2 + 4)
        if need > TRAIN_MAX_BYTES:
            raise UserError(f"image folder {str(folder)!r}: {len(files):,} images of {hw[0]}x{hw[1]} px need about "
                            f"{need / 2**30:.1f} GiB of memory to train on (decoded, then as float32), more than "
                            f"the {TRAIN_MAX_BYTES / 2**30:.0f} GiB zeronas allows; resize them (e.g. to 32x32 or "
                            "64x64) or keep fewer")
    if dirs:
        names = [tuple(p.name for p in _class_folders(d)) for d in dirs]
        if set(names[0]) != set(names[1]):
            only = [sorted(set(a) - set(b)) for a, b in ((names[0], names[1]), (names[1], names[0]))]
            raise UserError(f"image folder {str(root)!r}: {dirs[0].name}/ and {dirs[1].name}/ hold different class "
                            f"folders (only in {dirs[0].name}/: {', '.join(only[0]) or '-'}; only in "
                            f"{dirs[1].name}/: {', '.join(only[1]) or '-'}); give both the same classes")
        train = image_folder(dirs[0], max_images=max_images, seed=SPLIT_SEED, name=str(root))
        test = image_folder(dirs[1], classes=train.classes, max_images=max_images, seed=SPLIT_SEED,
                            image_size=train.size_hw, name=str(root))
        how = [f"{dirs[0].name}/ and {dirs[1].name}/ subfolders"]
        if dirs[1].name == "test" and (root / "val").is_dir():
            how.append("val/ is not used (test/ is)")
        if "resized" in test.fidelity:
            how.append(f"test {test.fidelity.split(', ', 1)[-1]}")
        return train, test, "; ".join(how)
    whole = image_folder(root, max_images=max_images, seed=SPLIT_SEED)
    rng = np.random.default_rng(SPLIT_SEED)
    test_idx = []
    for label in range(len(whole.classes)):
        members = np.flatnonzero(whole.y == label)
        k = int(math.ceil(TEST_SHARE * len(members))) if len(members) >= 2 else 0
        test_idx += rng.permutation(members)[:k].tolist()
    is_test = np.zeros(len(whole), bool)
    is_test[test_idx] = True
    if is_test.all() or not is_test.any():
        raise UserError(f"image folder {str(root)!r} holds {len(whole)} images: too few to hold out a test set "
                        f"({TEST_SHARE:.0%} of each class); add images, or give train/ and test/ subfolders")
    name, fid = folder_label(root), whole.fidelity
    train = make_user_images(whole.x[~is_test], whole.y[~is_test], name, str(root), fid, whole.classes)
    test = make_user_images(whole.x[is_test], whole.y[is_test], name, str(root), fid, whole.classes)
    # the share is rounded up per class, so a small folder holds out more than TEST_SHARE: the count is said
    how = (f"{int(is_test.sum())} of {len(whole)} images held out ({TEST_SHARE:.0%} of each class, rounded up; seed "
           f"{SPLIT_SEED}, the same every run)")
    alone = [c for label, c in enumerate(whole.classes) if int((whole.y == label).sum()) < 2]
    if alone:  # said: a class never tested
        how += f"; {', '.join(alone[:5])}{' ...' if len(alone) > 5 else ''} with one image, none of it held out"
    return train, test, how


def _need_classes(root: Path, folders: list[Path]) -> None:
    """A classifier needs two classes: one class folder trains a network that is always right, and scores
    label-based proxies on a loss that is 0 for every network. A lone folder holding class folders of its own
    (root/data/<class>/) is the layout one level too deep, said with the path to give."""
    if len(folders) >= 2:
        return
    inner = _class_folders(folders[0])
    if len(inner) >= 2:
        shown = ", ".join(p.name for p in inner[:4]) + (", ..." if len(inner) > 4 else "")
        raise UserError(f"image folder {str(root)!r} holds one folder, {folders[0].name!r}, and it holds "
                        f"{len(inner)} folders ({shown}): if those are the classes, give {str(folders[0])!r}")
    raise UserError(f"image folder {str(root)!r} holds one class folder ({folders[0].name}): a classifier "
                    "needs at least two classes; add a folder per class")


def image_folder(root, classes=None, max_images: int = MAX_IMAGES, seed: int = 0, image_size=None,
                 name: str | None = None) -> UserImages:
    """``root/<class>/<image>`` (torchvision ``ImageFolder``): classes are the sorted subfolder names, labels their
    positions. ``classes``: the class names expected (a different set is an error). Images are read with PIL and
    converted to RGB; ``image_size`` (int or (H, W)) resizes them all, otherwise images of another size than the
    most common one are resized to it (recorded in the fidelity). ``name``: the folder the user named, when
    ``root`` is its ``train/`` subfolder (the set is named and sourced by it). Hidden files and folders are
    skipped."""
    given = name
    root, names, files, labels = _folder_files(root, classes)
    idx = _subset(len(files), max_images, seed)
    images = [_read_image(files[i]) for i in idx]
    y = np.asarray(labels, dtype=np.int64)[idx]
    if image_size is not None:
        target = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    else:
        target = Counter(im.shape[:2] for im in images).most_common(1)[0][0]
    resized = sum(im.shape[:2] != tuple(target) for im in images)
    if resized:
        from PIL import Image

        images = [im if im.shape[:2] == tuple(target) else
                  np.asarray(Image.fromarray(im).resize((target[1], target[0]), Image.BILINEAR)) for im in images]
    fidelity = f"image files ({len(images)} of {len(files)})" if len(images) < len(files) else "image files"
    if resized:
        fidelity += f", {resized} resized to {target[0]}x{target[1]}"
    named = Path(given).expanduser() if given else root
    out = make_user_images(np.stack(images), y, folder_label(named), str(named), fidelity, names)
    if resized and image_size is None:  # the folder's own mix of sizes, made one without being asked: said
        out.note = (f"{resized} of the {len(images)} images read from {folder_label(named)} are not "
                    f"{target[0]}x{target[1]} (its most common size) and were resized to it (bilinear)")
    return out


WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # Pillow's 16-bit grey (PNG, TIFF) and 32-bit integer


def rgb8(im, where) -> np.ndarray:
    """A PIL image as [H, W, 3] uint8 RGB. 16-bit grey (modes I;16*, and I as Pillow opens 16-bit PNG/TIFF, when a
    value exceeds 255) is scaled by 255/65535: Pillow's own ``convert("RGB")`` clips it at 255, which turns an
    ordinary 16-bit image white. Raises UserError (naming ``where``) for 32-bit float pixels and integers outside
    0..65535, which have no range to scale from."""
    if im.mode in WIDE_MODES:
        a = np.asarray(im)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if im.mode == "I" and 0 <= lo and hi <= 255:  # 32-bit integers holding 8-bit values (a PIL image from an
            return np.repeat(a.astype(np.uint8)[..., None], 3, axis=2)  # int array): as convert("RGB") reads them
        if lo < 0 or hi > 65535:
            raise UserError(f"{where}: {im.mode} pixels range over {lo}..{hi}, outside the 16-bit 0..65535 this "
                            "reader scales to 8 bits; save it as an 8- or 16-bit image")
        g = np.rint(a.astype(np.float64) * (255 / 65535)).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if im.mode == "F":
        raise UserError(f"{where}: 32-bit float pixels (mode F) have no fixed range to read as colours; save it as "
                        "an 8- or 16-bit image")
    return np.asarray(im.convert("RGB"))


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            if max(im.size) > MAX_SIDE:
                raise ValueError(f"{im.size[0]}x{im.size[1]} pixels, larger than {MAX_SIDE} a side")
            return rgb8(im, path)
    except UserError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"{path}: not a readable image ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); "
                        "replace or remove it") from None


def from_torch(data, max_images: int = MAX_IMAGES, seed: int = 0) -> UserImages:
    """A torch ``Dataset`` (items ``(image, label)``, image a tensor [C, H, W] or a PIL image) or a
    ``DataLoader`` (batches ``(x [B, C, H, W], y [B])``); reads at most ``max_images`` images."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    name = type(data).__name__
    xs, ys = [], []
    note = ""
    try:
        if isinstance(data, DataLoader):
            count = 0
            shuffles = isinstance(data.sampler, RandomSampler) or isinstance(
                getattr(data.batch_sampler, "sampler", None), RandomSampler)
            # torch's global RNG seeded for the read: a shuffling loader (and random transforms run in it, or
            # its workers' seeds) gives the same images in the same order on every run with this seed
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for i, item in enumerate(data):
                    if not isinstance(item, (tuple, list)) or len(item) < 2:
                        raise UserError(f"DataLoader batch {i} is a {type(item).__name__}, not a pair (images, "
                                        "labels)")
                    xs.append(torch.as_tensor(item[0]))
                    ys.append(torch.as_tensor(item[1]).reshape(-1))
                    count += len(xs[-1])
                    if count >= max_images:
                        break
            sampler = getattr(data.batch_sampler, "sampler", None) or data.sampler
            if shuffles and data.generator is None and getattr(sampler, "generator", None) is None:
                note = (f"the {name} shuffles: it was read with torch's RNG seeded by the seed ({seed}), so this "
                        "seed reads the same images in the same order every run and another seed reads them in "
                        "another order (the values move with it)")
            elif shuffles:
                note = (f"the {name} shuffles with a generator of its own: the images and their order depend on "
                        "that generator's state when it is read, so the values may not repeat; give shuffle=False "
                        "or its dataset for values that repeat")
            if not xs:
                raise UserError(f"the {name} gave no batches")
            x, y = torch.cat(xs)[:max_images], torch.cat(ys)[:max_images]
        else:
            n = len(data)
            if n == 0:
                raise UserError(f"the {name} dataset is empty")
            for i in _subset(n, max_images, seed):
                item = data[int(i)]
                if not isinstance(item, (tuple, list)) or len(item) < 2:
                    raise UserError(f"{name}[{i}] is a {type(item).__name__}, not a pair (image, label)")
                im = item[0]
                if not torch.is_tensor(im):  # a PIL image (no transform): HWC uint8 -> CHW
                    arr = rgb8(im, f"{name}[{i}]") if hasattr(im, "convert") else np.asarray(im)
                    im = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1) if arr.ndim == 3 else arr))
                xs.append(im)
                ys.append(int(item[1]))
            shapes = {tuple(t.shape) for t in xs}
            if len(shapes) > 1:
                raise UserError(f"the {name} dataset gives images of several shapes {sorted(shapes)[:3]}; resize "
                                "them to one size in its transform")
            x, y = torch.stack(xs), torch.tensor(ys)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001  (the user's dataset code failed: one line, not a traceback)
        why = " ".join(str(exc).split())[:150]
        raise UserError(f"reading the {name} failed ({type(exc).__name__}: {why})") from None
    x = x.detach().cpu()
    arr = x.numpy() if x.dtype.is_floating_point else x.float().numpy()
    images = from_arrays(arr.astype(np.float32), y.cpu().numpy(), name=name, max_images=max_images, seed=seed)
    images.note = note
    return images


def user_heldout(heldout, images, seed: int = 0, max_images: int = MAX_IMAGES) -> UserImages:
    """``heldout=`` (other images of the user's, in any form ``user_images`` takes) read with ``images``'s
    classes and a seed of its own, for the proxies that read a held-out batch (teg_mse). Errors: UserError
    (one line) for images of another size than ``images``."""
    held = user_images(heldout, max_images=max_images, seed=seed + 1,
                       classes=getattr(images, "classes", None) or None)
    if images is not None and held.x.shape[1:] != images.x.shape[1:]:
        raise UserError(f"held-out images are {list(held.x.shape[1:])} (HWC), the images "
                        f"{list(images.x.shape[1:])}; give both at one size")
    return held


def user_images(data, max_images: int = MAX_IMAGES, seed: int = 0, classes=None) -> UserImages:
    """Any supported data: a folder path, ``(x, y)`` arrays, a torch Dataset/DataLoader, or an ImageSet."""
    if isinstance(data, ImageSet):
        return data
    if isinstance(data, (str, os.PathLike)):
        dirs = _split_dirs(Path(data).expanduser(), need_test=False)  # train/ (+ test/): the proxies read train/
        if dirs:
            return image_folder(dirs[0], classes=classes, max_images=max_images, seed=seed, name=str(data))
        return image_folder(data, classes=classes, max_images=max_images, seed=seed)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return from_arrays(data[0], data[1], max_images=max_images, seed=seed)
    try:
        from torch.utils.data import DataLoader, Dataset
    except ImportError:  # pragma: no cover
        DataLoader = Dataset = ()
    if isinstance(data, (DataLoader, Dataset)) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        return from_torch(data, max_images=max_images, seed=seed)
    raise UserError(f"data of type {type(data).__name__} is not supported; give an image folder path, (x, y) numpy "
                    "arrays, a torch Dataset or DataLoader")


def searched_network(net: dict) -> tuple:
    """(data, num_classes, input_size, note) to export the network a search scored, from its ``network`` record
    (``SearchResult.network``, result.json's "network"): the recorded class count and input size always (the
    folder may have changed since), and its dataset, or its image folder while it is there (its name, mean/std
    and class names); ``data`` is None for images given in memory (arrays, a torch dataset) and a folder that
    is gone; ``note`` says which, in words."""
    from .datasets import is_dataset_name

    folder = net.get("source") if str(net.get("data")).startswith("folder:") else None
    size = net.get("input_size")
    size = "x".join(map(str, size)) if isinstance(size, list) else size
    data, extra = None, ""
    if folder and Path(folder).expanduser().is_dir():
        data = folder
    elif folder:
        extra = f" (its folder {folder} is gone: no mean/std or class names to record)"
    elif net.get("data") and is_dataset_name(str(net["data"])):
        data = net["data"]
    elif net.get("data"):  # in-memory arrays or a torch dataset: only the class count and size were recorded
        extra = (" (images given in memory: their mean/std recorded, no class names)" if net.get("mean") else
                 " (images given in memory: no mean/std or class names to record)")
    note = f"{net.get('data') or 'data-free'}, {net['num_classes']} classes, {size} px input{extra}"
    return data, net["num_classes"], size, note
