"""Write CIFAR-10 images from the shared data folder as an image folder (root/<class>/<n>.png, the torchvision
ImageFolder layout), e.g. for ``zeronas score --model ... --data /tmp/c10folder``.

    python benchmarks/make_imagefolder.py --out /tmp/c10folder --per-class 20 [--split train|test] [--data-dir D]

Takes the first ``--per-class`` images of each class from the JPEG q75 arrays (lossless PNG files of those
pixels). Refuses to write into a non-empty folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from zeronas.data import load_images
from zeronas.errors import int_at_least, run_script

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path,
                    help="the image folder written (one subfolder of PNGs per class)")
    ap.add_argument("--per-class", type=int_at_least(1), default=20, help="images per class (default: %(default)s)")
    ap.add_argument("--split", choices=("train", "test"), default="train",
                    help="CIFAR-10 split the images come from (default: %(default)s)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="data folder (default: $ZERONAS_DATA, else ../shared/data)")
    args = ap.parse_args(argv)
    if args.per_class < 1:
        ap.error("--per-class must be at least 1")
    if args.out.exists() and any(args.out.iterdir()):
        ap.error(f"{args.out} is not empty; give a new folder")
    images = load_images("cifar10", args.split, args.data_dir)
    for label, name in enumerate(CLASSES):
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(np.flatnonzero(images.y == label)[: args.per_class]):
            Image.fromarray(images.x[i]).save(folder / f"{k:05d}.png")
    print(f"wrote {args.per_class} x {len(CLASSES)} images ({images.fidelity}) to {args.out}")


if __name__ == "__main__":
    run_script(main)
