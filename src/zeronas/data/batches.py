"""Deterministic batches of real images, and the synthetic inputs of data-free proxies."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .datasets import ImageSet


@dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    meta: dict = field(default_factory=dict)

    def to(self, device) -> Batch:
        return Batch(self.x.to(device), self.y.to(device), self.meta)


def normalize(x_nhwc: np.ndarray, mean, std) -> torch.Tensor:
    """NHWC images -> NCHW float32 ``(x - mean) / std`` per channel; uint8 pixels are scaled to [0, 1] first,
    float images (user data) are taken in their own units (their mean/std are in those units too)."""
    # contiguous NCHW: channels-last inputs crash depthwise-conv backward passes on CPU (torch 2.13, DARTS ops)
    with warnings.catch_warnings():  # read-only (memory-mapped) images: this tensor is only read, never written
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc))
    x = x.permute(0, 3, 1, 2).contiguous().float()
    if x_nhwc.dtype == np.uint8:
        x = x.div_(255)  # .float() copied the uint8 pixels: dividing in place is safe
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - m) / s


def select_indices(n: int, batch_size: int, seed: int, index: int = 0) -> np.ndarray:
    """The ``index``-th batch of a seeded permutation: same seed, same images, on every machine."""
    if batch_size * (index + 1) > n:
        raise ValueError(f"{n} images cannot give batch {index} of size {batch_size}")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[batch_size * index: batch_size * (index + 1)]


def make_batch(images: ImageSet, batch_size: int, seed: int = 0, index: int = 0) -> Batch:
    from ..errors import UserError

    if batch_size * (index + 1) > len(images):
        raise UserError(f"{images.dataset} {images.split} has {len(images)} images, too few for "
                        f"{index + 1} batch(es) of {batch_size}; lower --batch-size")
    idx = select_indices(len(images), batch_size, seed, index)
    xs, ys = images.x[idx], images.y[idx]
    digest = hashlib.sha256(np.ascontiguousarray(xs).tobytes() + ys.astype(np.int64).tobytes()).hexdigest()
    meta = {"dataset": images.dataset, "split": images.split, "source": images.source,
            "fidelity": images.fidelity, "batch_size": batch_size, "seed": seed, "batch_index": index,
            "sha256": digest}
    info = images.info
    return Batch(normalize(xs, info.mean, info.std), torch.from_numpy(ys.astype(np.int64)), meta)


def ones_input(shape, dtype=torch.float32, device="cpu") -> torch.Tensor:
    return torch.ones(shape, dtype=dtype, device=device)


def noise_input(shape, seed: int = 0, dtype=torch.float32, device="cpu") -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype).to(device)
