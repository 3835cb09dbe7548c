"""Datasets (CIFAR-10/100, ImageNet16-120 from their standard formats), batches and synthetic inputs."""

from .batches import Batch, make_batch, noise_input, ones_input
from .datasets import DATASETS, ImageSet, dataset_info, load_images

__all__ = ["DATASETS", "ImageSet", "dataset_info", "load_images", "Batch", "make_batch", "ones_input",
           "noise_input"]
