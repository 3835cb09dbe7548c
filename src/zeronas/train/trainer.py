"""Train an architecture of any space with its standard recipe: checkpoints every epoch, resume after a kill,
a JSON-lines log per epoch and a PNG learning curve.

Resumption is exact: every epoch reseeds the shuffling, the augmentation and torch's RNG (drop-path) from
(seed, epoch), so a run killed and resumed ends with the same weights as one that was never stopped (on
the same device). The log is written before the checkpoint; on resume, log lines past the checkpoint's
epoch are dropped, so no epoch is lost or written twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import jsonio
from ..data import load_images
from ..data.batches import normalize
from ..errors import UserError
from ..paths import FolderLock, atomic_path, check_outputs
from ..safe_io import safe_torch_load
from ..scoring import resolve_device
from ..spaces.plugin import portable_source
from ..validation import api


@dataclass
class Recipe:
    """Training hyperparameters; ``RECIPES`` holds each space's published defaults."""

    epochs: int
    batch_size: int
    lr: float
    lr_min: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 3e-4
    cutout: int = 0  # side of the cutout square, 0 = off
    auxiliary_weight: float = 0.0  # DARTS auxiliary-head loss weight, 0 = no auxiliary head
    drop_path_prob: float = 0.0  # DARTS: raised linearly from 0 over the epochs
    grad_clip: float = 0.0  # max grad norm, 0 = off
    C: int | None = 16  # None: the space's network has a fixed width (NAS-Bench-Macro)
    N: int | None = 5  # None: a fixed depth
    optimizer: str = "sgd"  # or "rmsprop-tf": NAS-Bench-101's TensorFlow RMSProp (``RMSpropTF``)

    def replace(self, **overrides) -> Recipe:
        unknown = [k for k in overrides if k not in {f.name for f in dataclasses.fields(self)}]
        if unknown:
            raise UserError(f"unknown training option(s) {', '.join(unknown)}")
        flags = [k for k, v in overrides.items() if isinstance(getattr(self, k), bool) and v is not None
                 and not isinstance(v, bool)]
        if flags:  # nesterov="false" is truthy: it read as True
            raise UserError(f"{flags[0]}= takes True or False, not {overrides[flags[0]]!r}")  # (API only)
        fixed = [k for k in ("C", "N") if overrides.get(k) is not None and getattr(self, k) is None]
        if fixed:  # the value would be recorded and the network built as the benchmark's anyway
            raise UserError(f"--{fixed[0]} does not apply: this space's network has its benchmark's fixed width and "
                            f"depth; drop --{fixed[0]}")
        out = dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})
        if overrides.get("optimizer") == "rmsprop-tf" and overrides.get("nesterov") is None:
            out = dataclasses.replace(out, nesterov=False)  # the recipe's (nb201 SGD's), not asked for: dropped
        if out.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {out.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if out.optimizer == "rmsprop-tf" and out.nesterov:
            raise UserError("--nesterov is SGD's; the rmsprop-tf optimizer has plain momentum: drop --nesterov "
                            "or give --optimizer sgd")
        return out


DARTS_ONLY = ("auxiliary_weight", "drop_path_prob")  # recipe fields only a DARTS network reads
DARTS_ONLY_SPACES = ("darts",)

OPTIMIZERS = ("sgd", "rmsprop-tf")
EVAL_MARGIN = 0.5  # seconds kept for the checkpoint, log and curve after a time-limited run's evaluation
MIN_EVAL_IMAGES = 100  # a time-limited evaluation still reads at least this many test images
ADDED_LATER = {"optimizer": "sgd"}  # Recipe fields added after stores were keyed on recipes: their value then


def recipe_record(recipe: Recipe) -> dict:
    """The recipe as stores key it: a field added later is recorded only where it differs from the value every
    earlier recipe had, so the keys of stores written before it still match."""
    return {k: v for k, v in dataclasses.asdict(recipe).items() if k not in ADDED_LATER or v != ADDED_LATER[k]}

RECIPES = {
    # DARTS train.py: batch 96, SGD 0.025 cosine to 0, momentum 0.9, wd 3e-4, 600 epochs, cutout 16,
    # auxiliary 0.4, drop-path 0.2, grad clip 5, C=36, 20 cells
    "darts": Recipe(epochs=600, batch_size=96, lr=0.025, weight_decay=3e-4, cutout=16, auxiliary_weight=0.4,
                    drop_path_prob=0.2, grad_clip=5.0, C=36, N=20),
    # NAS-Bench-201: batch 256, SGD Nesterov 0.1 cosine to 0, momentum 0.9, wd 5e-4, 200 epochs, crop + flip
    "nb201": Recipe(epochs=200, batch_size=256, lr=0.1, nesterov=True, weight_decay=5e-4, C=16, N=5),
    # NAS-Bench-101 (google-research/nasbench lib/config.py, model_builder.py): batch 256, 108 epochs, cosine to
    # 0, RMSProp with momentum 0.9 and epsilon 1.0, L2 1e-4 on every weight, lr 0.1 x 2 TPU shards = 0.2, crop +
    # flip, stem 128 channels, 3 cells per stack. It trained on 40k of the 50k training images.
    "nb101": Recipe(epochs=108, batch_size=256, lr=0.2, weight_decay=1e-4, optimizer="rmsprop-tf", C=128, N=3),
    # NAS-Bench-Macro (xiusu/NAS-Bench-Macro train/train.py): batch 256, SGD 0.1 cosine to 0, momentum 0.9, wd
    # 5e-4, 50 epochs, crop + flip; the network's width and depth are the benchmark's own
    "macro": Recipe(epochs=50, batch_size=256, lr=0.1, weight_decay=5e-4, C=None, N=None),
}


class RMSpropTF(torch.optim.Optimizer):
    """TensorFlow 1's ``tf.train.RMSPropOptimizer`` with momentum, as NAS-Bench-101 trained with it; PyTorch's
    ``RMSprop`` differs in three ways that matter at epsilon 1.0 (its mean square starts at 0, its epsilon is
    added outside the square root, its rate multiplies the momentum buffer rather than each gradient):
    ``ms = decay ms + (1 - decay) g^2`` (ms starts at 1), ``mom = momentum mom + lr g / sqrt(ms + eps)``,
    ``w -= mom``; ``g`` includes ``weight_decay * w`` (the L2 term of nasbench's loss). Source: TensorFlow
    ``training/rmsprop.py`` and ``ApplyRMSProp``; nasbench ``lib/model_builder.py`` (decay 0.9, eps 1.0)."""

    def __init__(self, params, lr: float, momentum: float = 0.9, decay: float = 0.9, eps: float = 1.0,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, decay=decay, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                state = self.state[p]
                if not state:
                    state["ms"] = torch.ones_like(p)
                    state["mom"] = torch.zeros_like(p)
                ms, mom = state["ms"], state["mom"]
                ms.mul_(group["decay"]).addcmul_(g, g, value=1 - group["decay"])
                mom.mul_(group["momentum"]).addcdiv_(g, ms.add(group["eps"]).sqrt_(), value=group["lr"])
                p.sub_(mom)
        return loss


def read_checkpoint(path: str | Path, fix: str, map_location="cpu") -> dict:
    """A ``zeronas train`` checkpoint through torch's weights-only loader (it holds only tensors, dicts, lists,
    numbers, strings, booleans and None), checked for the parts export and resume use."""
    ckpt = safe_torch_load(path, what="a zeronas checkpoint", fix=fix, map_location=map_location)
    ident = ckpt.get("identity") if isinstance(ckpt, dict) else None
    ok = (isinstance(ident, dict) and isinstance(ident.get("space"), str) and isinstance(ident.get("arch"), str)
          and isinstance(ident.get("build"), dict)
          and type(ident["build"].get("num_classes")) is int and ident["build"]["num_classes"] > 0
          and all(type(ident["build"][k]) is int and ident["build"][k] > 0 for k in ("C", "N") if k in ident["build"])
          and isinstance(ckpt.get("model"), dict)
          and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt["model"].items())
          and isinstance(ckpt.get("optimizer"), dict) and isinstance(ckpt.get("epoch"), int)
          and not isinstance(ckpt.get("epoch"), bool) and ckpt["epoch"] >= 0)
    if not ok:
        raise UserError(f"{path} is not a zeronas checkpoint (it lacks the identity, model, optimizer or epoch "
                        f"that 'zeronas train' writes); {fix}")
    return ckpt


PLUGIN_NEEDS = ("epochs", "batch_size", "lr")  # a plug-in space has no published recipe: these must be given


def base_recipe(space, overrides: dict) -> Recipe:
    """The recipe ``overrides`` replace fields of: a built-in space's published one (``recipe_for``); for a
    plug-in space (no published recipe) one made of the given ``epochs``, ``batch_size`` and ``lr``, every
    other field at ``Recipe``'s default (SGD, momentum 0.9, weight decay 3e-4, cosine to 0, no cutout), width
    and depth its own build's. UserError (one line) naming the missing ones, or a --C/--N given."""
    if not getattr(space, "plugin", False):
        return recipe_for(space.name)
    given = {k: v for k, v in overrides.items() if v is not None}
    missing = [k for k in PLUGIN_NEEDS if k not in given]
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise UserError(f"the plug-in space {space.name} has no published training recipe: give {flags} (every "
                        "other option defaults to SGD, momentum 0.9, weight decay 3e-4, cosine to 0)")
    if given.get("C") is not None or given.get("N") is not None:
        raise UserError(f"--C/--N set the channels and cells of the built-in cell spaces; the plug-in space "
                        f"{space.name} builds its own network: drop them")
    return Recipe(epochs=given["epochs"], batch_size=given["batch_size"], lr=given["lr"], C=None, N=None)


def recipe_for(space_name: str) -> Recipe:
    if space_name not in RECIPES:
        hint = " (NB301 is a benchmark of the darts space: --space darts)" if space_name == "nb301" else ""
        raise UserError(f"no training recipe for the {space_name} space{hint}; known: {', '.join(RECIPES)}")
    return RECIPES[space_name]


def augment(x: torch.Tensor, gen: torch.Generator, cutout: int) -> torch.Tensor:
    """Random crop (zero padding 4), horizontal flip and optional cutout, per image, from ``gen``."""
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    if cutout:
        cy = torch.randint(0, h, (n,), generator=gen)
        cx = torch.randint(0, w, (n,), generator=gen)
        for i in range(n):
            y0, y1 = max(0, cy[i] - cutout // 2), min(h, cy[i] + cutout // 2)
            x0, x1 = max(0, cx[i] - cutout // 2), min(w, cx[i] + cutout // 2)
            out[i, :, y0:y1, x0:x1] = 0
    return out


def _subset(images, n: int | None, seed: int):
    if n is None or n >= len(images):
        return images.x, images.y
    if n < 1:
        raise UserError(f"a subset needs at least 1 image, not {n}")
    idx = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
    return images.x[idx], images.y[idx]


def balanced_order(y: np.ndarray, seed: int) -> np.ndarray:
    """An order of the indices of labels ``y`` (length N) whose every prefix holds the classes as evenly as the
    counts allow: each class's indices in a seeded random order, interleaved round by round (the classes of a
    round in a seeded order too). Test sets are stored sorted by class (CIFAR's, an image folder's), so a prefix
    cut to fit a time limit held two or three classes and an accuracy that meant nothing."""
    rng = np.random.default_rng(seed)
    rank = np.empty(len(y))
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rank[rng.permutation(idx)] = np.arange(len(idx))  # round: its position within its class
    return np.lexsort((rng.random(len(y)), rank))  # by round, ties (one per class) in a random order


def _forward(model, x):
    if hasattr(model, "forward_with_aux"):
        return model.forward_with_aux(x)
    return model(x), None


def evaluate(model, x_all, y_all, batch_size: int, device) -> tuple[float, float]:
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(y_all), batch_size):
            x, y = x_all[i:i + batch_size].to(device), y_all[i:i + batch_size].to(device)
            logits = model(x)
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    return loss / len(y_all), 100.0 * correct / len(y_all)


def cosine_lr(recipe: Recipe, epoch: int) -> float:
    return recipe.lr_min + (recipe.lr - recipe.lr_min) * (1 + math.cos(math.pi * epoch / recipe.epochs)) / 2


def train_one_epoch(model, opt, xtr, ytr, recipe: Recipe, epoch: int, seed: int, device, on_step=None,
                    stop=None) -> dict:
    """One epoch of the recipe (cosine lr, linear drop-path ramp, auxiliary loss, clipping), reseeded from
    (seed, epoch) so that the epoch is the same whether or not the run was resumed before it.
    ``stop(step_seconds, forward_seconds_per_image)``, asked after each step with its timings, ends the epoch
    early (a time limit that another step like it would pass); the row then says so (``stopped_early``)."""
    lr = cosine_lr(recipe, epoch)
    for g in opt.param_groups:
        g["lr"] = lr
    if hasattr(model, "drop_path_prob"):
        model.drop_path_prob = recipe.drop_path_prob * epoch / recipe.epochs
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    torch.manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(len(ytr), generator=gen)
    model.train()
    tot_loss, correct, seen = 0.0, 0, 0
    for step in range(len(ytr) // recipe.batch_size):  # the last partial batch is dropped
        t_step = time.perf_counter()
        idx = perm[step * recipe.batch_size:(step + 1) * recipe.batch_size]
        x = augment(xtr[idx], gen, recipe.cutout).to(device)
        y = ytr[idx].to(device)
        t_forward = time.perf_counter()
        logits, aux = _forward(model, x)
        t_forward = time.perf_counter() - t_forward
        loss = nn.functional.cross_entropy(logits, y)
        if aux is not None and recipe.auxiliary_weight > 0:
            loss = loss + recipe.auxiliary_weight * nn.functional.cross_entropy(aux, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        opt.step()
        tot_loss += float(loss.detach()) * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        if on_step is not None:
            on_step(tot_loss / seen)
        if stop is not None and stop(time.perf_counter() - t_step, t_forward / len(y)):
            break
    row = {"epoch": epoch + 1, "lr": lr, "drop_path_prob": getattr(model, "drop_path_prob", 0.0),
           "train_loss": tot_loss / seen, "train_acc": 100.0 * correct / seen, "images": seen}
    if seen < (len(ytr) // recipe.batch_size) * recipe.batch_size:
        row["stopped_early"] = True
    return row


def make_optimizer(model, recipe: Recipe):
    if recipe.optimizer == "rmsprop-tf":
        return RMSpropTF(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                         weight_decay=recipe.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                           weight_decay=recipe.weight_decay)


IMAGE_FOLDER = "image folder"  # a run's identity on the user's images: the images' hash, not a path, says which


def load_split(data: str, data_dir, train_subset, test_subset, seed):
    """Normalized train and test tensors (optionally seeded subsets) and the train set's description. ``data``:
    a dataset's name, or an image folder (``folder_splits``: its train/ and test/ subfolders, or a fixed
    held-out share of each class), normalised by its training images' own mean and std."""
    from ..data.custom import folder_splits, is_image_folder

    if is_image_folder(data):
        train_set, test_set, how = folder_splits(data)
        train_set = dataclasses.replace(train_set, fidelity=f"{train_set.fidelity}; test set: {how}")
    else:
        train_set = load_images(data, "train", data_dir)
        test_set = load_images(data, "test", data_dir)
    info = train_set.info
    xtr, ytr = _subset(train_set, train_subset, seed)
    xte, yte = _subset(test_set, test_subset, seed + 1)
    return (normalize(xtr, info.mean, info.std), torch.from_numpy(ytr.astype(np.int64)),
            normalize(xte, info.mean, info.std), torch.from_numpy(yte.astype(np.int64)), train_set)


def subset_notes(data: str, train_subset, ytr, test_subset, yte) -> list[str]:
    """What to say of a subset asked larger than its set (all of the set is used)."""
    return [f"a {what} subset of {asked:,} is more than the {len(got):,} {what} images of {data}: all of them are "
            f"used" for asked, got, what in ((train_subset, ytr, "training"), (test_subset, yte, "test"))
            if asked is not None and asked > len(got)]


def read_log(path: Path) -> list[dict]:
    """The rows of ``log.jsonl``. A damaged last line is dropped: it was being written when the run was killed,
    before that epoch's checkpoint, so resuming redoes that epoch anyway; a damaged earlier line is an error."""
    lines = [s for s in path.read_text(errors="replace").splitlines() if s.strip()]
    rows = []
    for n, line in enumerate(lines, 1):
        try:
            row = jsonio.loads_numbers(line)  # a loss that went NaN is written as "nan"
            ok = isinstance(row, dict) and type(row.get("epoch")) is int
        except ValueError:
            ok = False
        if not ok:
            if n == len(lines):
                break
            raise UserError(f"{path}: line {n} is not a training-log row; the log is damaged: delete the run folder "
                            "or pass --no-resume")
        rows.append(row)
    return rows


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curve(log: list[dict], path: Path, title: str) -> None:
    plt = _pyplot()
    ep = [r["epoch"] for r in log]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(ep, [r["train_loss"] for r in log], "o-", label="train")
    a.plot(ep, [r["test_loss"] for r in log], "s-", label="test")
    a.set_xlabel("epoch"), a.set_ylabel("cross-entropy"), a.legend()
    b.plot(ep, [r["train_acc"] for r in log], "o-", label="train")
    b.plot(ep, [r["test_acc"] for r in log], "s-", label="test")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy (%)"), b.legend()
    # wrapped, never cut: a DARTS genotype runs to several hundred characters and is copied from here
    fig.suptitle("\n".join(textwrap.wrap(title, 150, break_long_words=True)) or title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def network_options(space_name: str, num_classes: int, recipe: Recipe | None = None) -> dict:
    """The build options of the network ``train`` trains for a space with a recipe (its width C and cells N,
    and for DARTS the auxiliary head the recipe's loss needs): the network a search's ``--max-params`` bounds
    and a training read's cost is predicted for."""
    recipe = recipe or recipe_for(space_name)
    build = {k: v for k, v in (("C", recipe.C), ("N", recipe.N)) if v is not None}
    build["num_classes"] = num_classes
    if space_name == "darts":
        build.update(auxiliary=recipe.auxiliary_weight > 0, drop_path_prob=0.0)
    return build


def _check_input(model, space, hw: tuple[int, int], device) -> None:
    """One training-mode forward of 2 images of ``hw``, before any image is loaded: a network that cannot take
    that size (DARTS's auxiliary head is made for 32 px inputs) is a one-line UserError, not a crash mid-run."""
    space_name = space.name
    if hasattr(space, "check_input_size"):  # a size its networks cannot take, said as search and export say it
        space.check_input_size(hw)
    x = torch.zeros(2, 3, *hw, device=device)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # BN statistics: as built
    try:
        with torch.no_grad():
            _forward(model.train(), x)
    except RuntimeError as exc:
        aux = " or pass --auxiliary-weight 0 (the DARTS auxiliary head takes 32 px inputs)" \
            if space_name == "darts" else ""
        raise UserError(f"the {space_name} network cannot take {hw[0]}x{hw[1]} images "
                        f"({' '.join(str(exc).split())[:120]}); resize them (32x32 is the recipes' size){aux}") \
            from None
    finally:
        model.load_state_dict(state)


def _recipe_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(Recipe)]


@api("train", extra=_recipe_fields, threads=True)
def train(space, arch, out: str | Path = "runs/train", *, data: str | None = None, data_dir=None, device: str = "cpu",
          seed: int = 0, train_subset: int | None = None, test_subset: int | None = None, resume: bool = True,
          progress: bool = True, max_epochs_this_run: int | None = None, time_limit: float | None = None,
          **overrides) -> dict:
    """``zeronas.train(space, arch, out, ...)``, the ``zeronas train`` verb: train ``arch`` (an arch string or the
    space's native value) of ``space`` (a name or a space object) with its space's recipe (``RECIPES``:
    NAS-Bench-201's 200-epoch and DARTS's 600-epoch recipes; ``overrides`` replace any field of ``Recipe``, e.g.
    ``epochs=3, lr=0.05, C=8``) and return the summary (a dict: ``final`` holds the last epoch's
    ``test_acc`` in percent, 0-100); ``out`` (default ``runs/train``, as ``zeronas train``'s) receives
    ``checkpoint.pt``, ``log.jsonl``, ``curve.png`` and ``summary.json``, and a rerun into it resumes from the last
    finished epoch (``resume``).
    ``arch`` may be a ``SearchResult``: its answer, trained by default on the data its search scored (``data``
    given: that instead; without either, cifar10). ``train_subset`` / ``test_subset``: train / evaluate on a
    seeded pick of that many images (more than the
    set holds: all of it, said in the summary's ``notes``). Each epoch trains on ``train_images_per_epoch``
    of them: the last partial batch is dropped.

    ``time_limit`` (seconds of this call, > 0: set-up, steps, evaluations, files): training stops before a step
    that, as long as the fastest so far and followed by the final evaluation (predicted from the steps' forward
    passes), would pass it (at least one step runs), and the network is evaluated as it is; the last log row says
    ``stopped_early`` (also when the limit leaves no time for a further epoch). A time-limited run starts
    afresh (its last epoch may be cut short), and the limit belongs to the run's identity, so its checkpoint
    never resumes a run without one either. In the summary, ``finished`` says the run is over (the recipe's
    epochs done, or stopped by the time limit) and ``complete`` that every epoch of the recipe was trained.
    Errors: UserError (one line) for an unknown keyword (naming the valid ones), a bad value, arch, recipe
    field, time limit, data or a foreign checkpoint."""
    from ..spaces.base import resolve as resolve_space

    t_call = time.perf_counter()
    if time_limit is not None and not time_limit > 0:
        raise UserError(f"the training time limit must be positive seconds, not {time_limit}")
    if time_limit is not None and max_epochs_this_run is not None:  # a time-limited run starts afresh each time
        raise UserError("--time-limit and --max-epochs-this-run do not combine: a time-limited run starts afresh, "
                        "so a rerun would not go on from its last epoch; drop one of them")
    if all(hasattr(arch, k) for k in ("arch", "network", "method")):  # a SearchResult: as export reads one
        from ..data.custom import searched_network

        net, arch = arch.network, arch.arch
        if data is None and net and net.get("data"):
            data, _, _, what = searched_network(net)
            if data is None:  # never cifar10 in place of the images the search scored
                raise UserError(f"the search ran on {what}, which training cannot read again: pass data= (cifar10, "
                                "cifar100, ImageNet16-120 or your image folder)")
    data = "cifar10" if data is None else data
    space = resolve_space(space)
    arch = space.coerce(arch)
    arch_text = space.format(arch)
    base = base_recipe(space, overrides)
    recipe = base.replace(**overrides)
    darts_only = [k for k in DARTS_ONLY if overrides.get(k) and space.name not in DARTS_ONLY_SPACES]
    if darts_only:  # NB201's network has no auxiliary head and no drop-path: the value would be recorded, unused
        flag = "--" + darts_only[0].replace("_", "-")
        raise UserError(f"{flag} is a DARTS network's (its auxiliary head, drop-path); the {space.name} network has "
                        f"none, so it would change nothing: drop {flag}")
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.lr <= 0:
        raise UserError("--epochs and --batch-size must be at least 1 and --lr positive")
    if recipe.lr_min > recipe.lr:  # the cosine schedule would raise the rate over the run
        raise UserError(f"--lr-min {recipe.lr_min:g} is above --lr {recipe.lr:g}: the rate is annealed from --lr "
                        f"down to --lr-min; give --lr-min at most {recipe.lr:g}")
    out = Path(out)  # made only once the images are loaded: a refused run leaves no empty folder
    ckpt_path, log_path = out / "checkpoint.pt", out / "log.jsonl"
    # a fresh start removes an earlier run's files there: never a file of the user's of the same name
    # (checkpoint.pt is not judged: --no-resume is the way out of a damaged one)
    check_outputs(out, ["log.jsonl", "summary.json", "curve.png"])
    device = resolve_device(device)

    from ..data.custom import is_image_folder, network_for

    # the user's images: one output per class folder at their own size (headers only, as folder_splits reads
    # them); the identity names no path: the same images moved or copied elsewhere resume (their hash decides)
    folder = is_image_folder(data)
    _, num_classes, hw = network_for(data, training=True)
    data_key = IMAGE_FOLDER if folder else data
    if recipe.cutout // 2 >= max(hw):  # (augment clips the square) centred anywhere, it blanks all
        raise UserError(f"--cutout {recipe.cutout} blanks the whole {hw[0]}x{hw[1]} px image wherever it is "
                        f"centred; give less than {2 * max(hw)} (DARTS uses 16 on 32 px CIFAR-10), or 0")
    build = network_options(space.name, num_classes, recipe)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.build(arch, **build).to(device)
    if folder:
        _check_input(model, space, hw, device)
    opt = make_optimizer(model, recipe)
    identity = {"space": space.name, "arch": arch_text, "build": build, "data": data_key,
                "train_subset": train_subset, "seed": seed}
    if folder:  # (only here: the identities of dataset runs, and so their checkpoints, stay as they were)
        identity["input_hw"] = list(hw)
    identity["test_subset"] = test_subset  # the images every epoch is evaluated on: one set per run
    if time_limit is not None:
        identity["time_limit"] = time_limit
    # a plug-in space is known by its name only where it was loaded: export finds it again by its file:Class
    plugin_source = ({"space_source": portable_source(space.source)}
                     if getattr(space, "plugin", False) and getattr(space, "source", None) else {})
    start, log, held_images = 0, [], None
    # the checkpoint is read before the images: a foreign or damaged one is refused before any slow work.
    # a time-limited run starts afresh: its last epoch may have been cut short
    if resume and time_limit is None and ckpt_path.exists():
        fix = "delete it, use another --out or pass --no-resume"
        ckpt = read_checkpoint(ckpt_path, fix=fix, map_location=device)
        held_id = ckpt["identity"]
        if "test_subset" not in held_id:  # written before it joined the identity (2026-12): not held against it
            identity_now = {k: v for k, v in identity.items() if k != "test_subset"}
        else:
            identity_now = identity
        if held_id != identity_now:
            diff = [k for k in dict.fromkeys([*identity, *held_id]) if held_id.get(k) != identity.get(k)]
            held = str(held_id.get(diff[0]))
            raise UserError(f"{ckpt_path} was written for another run (it differs in {', '.join(diff)}; its "
                            f"{diff[0]} is {held[:100] + ('...' if len(held) > 100 else '')}); use another --out "
                            "or pass --no-resume")
        asked = dataclasses.asdict(recipe)
        held_recipe = ckpt.get("recipe")
        if not isinstance(held_recipe, dict) and (out / "summary.json").exists():  # a checkpoint without one
            try:
                held_recipe = jsonio.loads_numbers((out / "summary.json").read_text()).get("recipe")
            except (ValueError, AttributeError):
                held_recipe = None
        if isinstance(held_recipe, dict):  # a field added since the checkpoint was written had its default then
            held_recipe = {**dataclasses.asdict(base), **held_recipe}
        if isinstance(held_recipe, dict) and held_recipe != asked:  # the schedule depends on every field
            diff = [k for k in dict.fromkeys([*asked, *held_recipe]) if held_recipe.get(k) != asked.get(k)]
            was = ", ".join(f"{k} {held_recipe.get(k)}" for k in diff)
            now = ", ".join(f"{k} {asked.get(k)}" for k in diff)
            raise UserError(f"{ckpt_path} was trained with another recipe ({was}; asked now: {now}): resuming "
                            "would mix two schedules; rerun with the checkpoint's options, use another --out or "
                            "pass --no-resume")
        try:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:  # right identity, unfitting contents
            raise UserError(f"{ckpt_path}: its weights or optimizer state do not fit the network of its identity "
                            f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); the file is damaged: "
                            f"{fix}") from None
        start = ckpt["epoch"]
        held_images = ckpt.get("data_sha256")
        if log_path.exists():
            log = [r for r in read_log(log_path) if r["epoch"] <= start]

    xtr, ytr, xte, yte, train_set = load_split(data, data_dir, train_subset, test_subset, seed)
    from ..data.datasets import preprocess_record

    # what a deployment must do to an image before this network reads it (export carries it on)
    preprocess = preprocess_record(train_set.info.mean, train_set.info.std, getattr(train_set, "classes", None))
    images_sha = getattr(train_set, "content_sha256", None)  # the user's images: resumed only on the same ones
    data_path = str(Path(data).expanduser().resolve()) if folder else None
    if held_images is not None and images_sha is not None and held_images != images_sha:
        raise UserError(f"{ckpt_path} was trained on other images than {data} holds now (its files changed); use "
                        "another --out or pass --no-resume")
    if len(ytr) < recipe.batch_size:
        # raising --train-subset helps only while it, not the data, is what cut the images short
        held = (f"--train-subset {train_subset} keeps {len(ytr)} training images"
                if train_subset and train_subset <= len(ytr) else f"{data} holds {len(ytr)} training images"
                if folder else f"the {data} training split holds {len(ytr)} images")
        if not len(ytr):  # no batch size helps
            raise UserError(f"{held}: give data with training images")
        raise UserError(f"{held}, fewer than one batch of {recipe.batch_size}; lower "
                        f"--batch-size to {len(ytr)} or less" + (" or raise --train-subset"
                                                                    if held.startswith("--train-subset") else ""))
    notes = subset_notes(data, train_subset, ytr, test_subset, yte)
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    # two runs into one folder would interleave their epochs in log.jsonl: the second is refused
    lock = FolderLock(out, "a 'zeronas train' run")
    if log:
        log_path.write_text("".join(jsonio.dumps(r) + "\n" for r in log))
    else:  # a fresh start (--no-resume over an old run too): none of an earlier run's files is left beside it,
        # or a kill before the first epoch left its checkpoint and summary with no log (and resume crashed)
        for old in (log_path, ckpt_path, out / "summary.json", out / "curve.png"):
            old.unlink(missing_ok=True)

    steps_per_epoch = len(ytr) // recipe.batch_size  # the last partial batch is dropped
    resumed_rows = len(log)
    end = recipe.epochs if max_epochs_this_run is None else min(recipe.epochs, start + max_epochs_this_run)
    bar = None
    if progress and end > start and start > 0:  # said before the bar: a rerun goes on, it does not start over
        from rich.console import Console

        Console(stderr=True, emoji=False).print(f"resuming {ckpt_path} at epoch {start + 1} of {recipe.epochs}",
                                                highlight=False)
    if progress and end > start:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("[bold]train[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[status]}"), TextColumn("ETA"), TimeRemainingColumn())
        bar.start()
        task = bar.add_task(f"epoch {start + 1}/{recipe.epochs}", total=(end - start) * steps_per_epoch,
                            status="")
    if time_limit is not None:
        _pyplot()  # its first import takes seconds: inside the clock, before the steps it decides on
    # the fastest step so far and the fastest forward pass per image predict the next, not the latest: the
    # first steps pay one-off warm-up (NB201, batch 256, 2 cores: steps 1-2 took 3.0-3.5 s and 8 ms of forward
    # per image, later ones 1.7 s and 2.6 ms), and a step slowed by another process must not end a read early
    fastest = {"step": math.inf, "forward": math.inf}

    def out_of_time(step=None, forward=None):  # would another step like the fastest, then the evaluation, pass?
        if step is not None:
            fastest.update(step=min(fastest["step"], step), forward=min(fastest["forward"], forward))
        if math.isinf(fastest["step"]):
            return False  # no step yet: one always runs
        ahead = fastest["step"] + fastest["forward"] * len(yte)
        return time_limit is not None and time.perf_counter() - t_call + ahead >= time_limit

    try:
        for epoch in range(start, end):
            t0 = time.perf_counter()

            def tick(loss, epoch=epoch):
                if bar is not None:
                    bar.update(task, advance=1, description=f"epoch {epoch + 1}/{recipe.epochs}",
                               status=f"loss {loss:.3f}")

            row = train_one_epoch(model, opt, xtr, ytr, recipe, epoch, seed, device, on_step=tick,
                                  stop=out_of_time if time_limit is not None else None)
            train_seconds = time.perf_counter() - t0
            n_eval = len(yte)
            if time_limit is not None and 0 < fastest["forward"] < math.inf:  # the evaluation inside the limit too
                left = time_limit - (time.perf_counter() - t_call) - EVAL_MARGIN
                n_eval = min(len(yte), max(MIN_EVAL_IMAGES, int(left / fastest["forward"])))
            # cut short: a class-balanced seeded share of the test images, not the first ones (sorted by class)
            pick = slice(None) if n_eval >= len(yte) else torch.from_numpy(
                np.sort(balanced_order(yte.cpu().numpy(), seed + 2)[:n_eval]))
            test_loss, test_acc = evaluate(model, xte[pick], yte[pick], max(256, recipe.batch_size), device)
            row.update(test_loss=test_loss, test_acc=test_acc, train_seconds=train_seconds,
                       epoch_seconds=time.perf_counter() - t0)
            if n_eval < len(yte):
                row["test_images"] = n_eval
            if epoch + 1 < end and out_of_time():  # no time for another epoch: the run stops here
                row["stopped_early"] = True
            log.append(row)
            trained = epoch + min(1.0, row["images"] / max(1, steps_per_epoch * recipe.batch_size))
            with log_path.open("a") as f:
                f.write(jsonio.dumps(row) + "\n")
            with atomic_path(ckpt_path) as tmp:  # a kill leaves the previous or the new checkpoint, never half
                torch.save({"identity": identity, "recipe": dataclasses.asdict(recipe), "epoch": epoch + 1,
                            "epochs_trained": round(trained, 4), "model": model.state_dict(),
                            "optimizer": opt.state_dict(), "preprocess": preprocess, **plugin_source,
                            **({"data_sha256": images_sha, "data_path": data_path} if images_sha else {})},
                           tmp)
            plot_curve(log, out / "curve.png", f"{space.name} {arch_text}")
            if row.get("stopped_early"):
                break
    except BaseException:  # stopped before any epoch ended: no empty run folder is left behind
        lock.release()
        if made and not log:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    finally:
        if bar is not None:
            bar.stop()
    done = log[-1]["epoch"] if log else start  # (a checkpoint whose log.jsonl is gone still counts)
    finished = done >= recipe.epochs or bool(log and log[-1].get("stopped_early"))
    if not finished:  # --max-epochs-this-run: said, so a partial result is not read as the run's
        notes = [*notes, f"unfinished: {done} of {recipe.epochs} epochs; rerun the same command to go on"]
    elif log and log[-1].get("stopped_early"):  # finished by --time-limit: said, not only in final.stopped_early
        notes = [*notes, f"stopped by --time-limit {time_limit:g} s in epoch {done} of {recipe.epochs} after "
                 f"{log[-1]['images']} images of {steps_per_epoch * recipe.batch_size}; the test accuracy is that of "
                 f"the network at that point"]
    cut = [r for r in log if "test_images" in r]
    if cut:
        notes = [*notes, f"evaluated on {cut[-1]['test_images']:,} of the {len(yte):,} test images to keep within "
                 f"--time-limit"]
    # a --time-limit stop part-way through an epoch: that epoch is not done (it used to count as one)
    full = steps_per_epoch * recipe.batch_size
    cut_short = bool(log) and log[-1].get("images", full) < full
    summary = {**identity, **({"data_path": data_path} if folder else {}),
               "notes": notes, "recipe": dataclasses.asdict(recipe), "finished": finished,
               "complete": done >= recipe.epochs and not cut_short,  # (finished also covers a --time-limit stop)
               "preprocess": preprocess,
               "epochs_done": done - cut_short, "epochs_this_run": len(log) - resumed_rows,
               "epochs_trained": round(done - 1 + log[-1]["images"] / full, 4) if cut_short else done,
               "final": log[-1] if log else None, "device": str(device),
               "train_images": len(ytr), "test_images": len(yte), "fidelity": train_set.fidelity,
               "train_images_per_epoch": steps_per_epoch * recipe.batch_size,
               "mean_epoch_seconds": float(np.mean([r["epoch_seconds"] for r in log])) if log else None,
               "params": sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n)}
    jsonio.write(out / "summary.json", summary, indent=1)
    lock.release()
    return summary
