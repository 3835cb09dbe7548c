import numpy as np
import pytest
import torch

from zeronas import paths
from zeronas.data import ImageSet

SHARED = paths.find(["nasbench201/nb201_main.csv.gz"])
CIFAR = paths.find(["cifar10/cifar10_train10k_jpegq75.npz", "cifar-10-batches-py/data_batch_1"])

needs_table = pytest.mark.skipif(SHARED is None, reason="NB201 table not found: set ZERONAS_DATA to the data folder")
needs_cifar = pytest.mark.skipif(CIFAR is None, reason="CIFAR-10 images not found: set ZERONAS_DATA to the data folder")

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture
def fake_images():
    """Random uint8 'CIFAR-10' images: lets every proxy run without the data folder."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(300, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=300).astype(np.int64)
    return ImageSet("cifar10", "train", x, y, "synthetic", "random")


class TinyCtx:
    """The parts of ScoringContext a proxy uses, around a hand-made model and inputs."""

    def __init__(self, model, x=None, y=None, num_classes=10, input_shape=None, heldout=None):
        self._model, self._x, self._y, self._heldout = model, x, y, heldout
        self._state = {k: v.clone() for k, v in model.state_dict().items()}
        self.num_classes, self.cache, self.notes = num_classes, {}, []
        self.device, self.seed, self.batch_size = torch.device("cpu"), 0, 0 if x is None else len(x)
        self._input_shape = input_shape

    def model(self, dtype=torch.float32):
        self._model.to(dtype).load_state_dict(self._state)
        self._model.train().zero_grad(set_to_none=True)
        return self._model

    def batch(self, index=0, size=None, proxy=""):
        from zeronas.data import Batch

        return Batch(self._x, self._y)

    def heldout_batch(self, index=0, size=None, proxy=""):
        from zeronas.data import Batch

        return Batch(*self._heldout)

    def input_shape(self, batch=1):
        return (batch, *self._input_shape)

    def generator(self, offset=0):
        return torch.Generator().manual_seed(offset)


def make_image_folder(root, classes=("cat", "dog"), per_class=3, size=(12, 10)):
    """root/<class>/<i>.png of seeded random pixels: the ImageFolder layout the user-data tests read."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root
