"""Score architectures with any set of proxies, recording each value with its full protocol."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import __version__
from .data import dataset_info, load_images
from .data.batches import make_batch
from .data.datasets import DATASETS, ImageSet, portable_source
from .errors import DataNotFound, UserError, exit_trapped, shown
from .precision import ieee_float32
from .proxies.base import INAPPLICABLE, NEEDS, Inapplicable, ProxySpec, get_proxy, list_proxies, reason_of
from .proxies.context import DEFAULT_TRAIN_LR, INITS, MEMORY_FORMATS, ScoringContext, layout_name
from .proxies.ensembles import ensemble_members, split_names
from .proxies.plugin import proxy_names
from .proxies.shared_pass import plan
from .spaces.base import resolve as resolve_space
from .store import protocol_hash  # noqa: F401  (re-exported: the key scores are stored under)
from .validation import api, torch_threads, user_records


@dataclass
class ScoreRecord:
    """One proxy's value on one architecture (what ``zeronas.score`` returns a list of, and a store row holds).

    ``arch``: the architecture's string (``space.format``); ``canonical``: its isomorphism class's;
    ``value``: the proxy's value (float; NaN with ``error`` or ``reason`` set; +-inf where the definition
    diverges); ``seconds``: wall seconds of this proxy on this arch (a pass shared with other proxies is
    counted for the first); ``direction``: +1 higher is better, -1 lower; ``protocol``: everything the value
    depends on (proxy options, data and its batch digest, seed, init, versions); ``protocol_hash``: its digest,
    the store's key; ``notes``: remarks such as stand-in images; ``scored``: in what ``score`` returns, the
    isomorph whose network gave a class-sharing proxy's value where that is another member than ``arch``
    (the class's first scored member, or its representative with ``isomorph_member="fixed"``), else None."""

    space: str
    arch: str
    canonical: str
    proxy: str
    value: float
    seconds: float
    direction: int
    protocol: dict
    protocol_hash: str
    error: str | None = None  # the proxy failed (an exception); value is then NaN
    notes: list = field(default_factory=list)
    # Why ``value`` is NaN or +-inf ("undefined: ..." when the definition gives no value). Kept apart from
    # ``error`` because a store marks rows with an error as failed and drops their NaN/inf status.
    reason: str | None = None
    # The isomorph whose network gave a class-sharing proxy's value where it is not ``arch`` (records that
    # ``score`` returns name the arch asked; one member per class is scored: the first, or the representative)
    scored: str | None = None

    def __repr__(self) -> str:  # one line; to_dict() holds the protocol
        why = f", error={self.error!r}" if self.error else f", reason={self.reason!r}" if self.reason else ""
        return (f"ScoreRecord({self.proxy}={self.value:.6g}, arch={self.arch!r}, space={self.space!r}, "
                f"{self.seconds * 1000:.0f} ms, protocol_hash={self.protocol_hash!r}{why})")

    def to_dict(self) -> dict:
        d = asdict(self)
        if not math.isfinite(self.value):
            d["value"] = str(self.value)  # JSON has no nan/inf
        return d


def asks_all(proxies) -> bool:
    """Whether a proxies text or list names 'all' (as an item, not inside a path such as small.py:fn)."""
    items = proxies.split(",") if isinstance(proxies, str) else proxies if isinstance(proxies, (list, tuple)) else []
    return any(isinstance(i, str) and i.strip() == "all" for i in items)


def resolve_proxies(names: str | Iterable[str]) -> list[ProxySpec]:
    """The ProxySpecs of names (a comma-separated text or a list; 'all'; functions of your own), each once."""
    if isinstance(names, str):
        names = split_names(names)
    elif callable(names) and not isinstance(names, ProxySpec):
        names = [names]
    names = list(proxy_names(list(names)))  # a function object: your own proxy, by its registered name
    if not names:
        raise UserError("no proxies given; pass e.g. --proxies nwot,synflow or --proxies all")
    if "all" in names:
        names = list_proxies()
    for n in names:
        members = ensemble_members(n)
        if members == []:
            raise UserError(f"{n!r} names no members; write ensemble:a+b with proxy names")
        if members is not None:
            for m in members:  # an unknown member is named first: the advice below would pass it on
                get_proxy(m)
            raise UserError(f"{n} is a rank ensemble: it ranks a set of architectures, so one architecture has "
                            f"no value of it; use 'zeronas correlate' or 'zeronas search' with it, or score its "
                            f"members: --proxies {','.join(members)}")
    specs = [get_proxy(n) for n in dict.fromkeys(names)]
    return list({s.name: s for s in specs}.values())  # './p.py:fn' and 'p.py:fn': one proxy, once


# Which member of an isomorphism class a class-sharing proxy scores. Members compute the same function but
# get other init weights (one seeded stream, taken in construction order), so their scores differ a little.
# "asked": the arch asked for (in a store, the first member any run asked for stands for the class);
# "fixed": the space's representative member, so a class's value depends on neither sample nor order.
ISOMORPH_MEMBERS = ("asked", "fixed")


class Scorer:
    """Holds everything arch-independent (space, data, batches, settings) and scores architectures.

    ``data``: a dataset name (``cifar10``, ``cifar100``, ``imagenet16-120``), ``auto`` (CIFAR-10 when its
    images are found, otherwise data-free only) or ``none`` (data-free proxies only, on a 32 px network).
    A named dataset always sets the network (its class count and input size, e.g. 120 classes at 16 px for
    ImageNet16-120), whether or not its images are found. When they are missing, ``stand_in`` (the default,
    as in ``correlate`` and the searches) gives data-dependent proxies CIFAR-10 images resized to that size,
    recorded as ``stands_in_for`` in their protocol; without CIFAR-10 either, or with ``stand_in=False``,
    only data-free proxies can run.
    ``memory_format``: "contiguous" (NCHW, the default and the reference codes' layout) or "channels-last"
    (NHWC networks: 1.25-1.6x faster on the CPU for nwot, snip, jacob_cov and meco in our runs, slower for
    some others, e.g. grasp; train-mode BatchNorm sums its statistics in another order, so values that go
    through it move, e.g. snip by a median 1.5e-4 relative, nwot by 6e-8; ``benchmarks/memory_format.py``).
    ``torch.channels_last`` / ``torch.contiguous_format`` name them too. It is part of each score's protocol
    (not of params, flops and l2_norm, which read no tensor): the two never share a store key.
    ``threads``: torch CPU threads each ``score_arch`` runs with (pinned for the call, restored after); None
    (the default) leaves this process's count. In channels-last, train-mode BatchNorm's CPU sums depend on the
    thread count (snip moved by up to 8.9e-4 relative from 1 to 2 threads; ``benchmarks/thread_values.py``),
    so a count other than 1 is part of a channels-last score's protocol (``"threads"``); in NCHW the values
    moved by at most 2.4e-8 (zico 1.5e-4) and the count is not keyed.
    """

    batch_flag = "--batch-size"  # how a too-small batch is named in errors; a caller with its own flag subclasses

    # checked as zeronas.score's keywords are: the class is public, and scripts loop with it
    @api("score", public="zeronas.Scorer", nested=False)
    def __init__(self, space="nb201", proxies="all", *, data="auto", data_dir=None, batch_size=64, seed=0,
                 init="torch-default", device="cpu", options: dict | None = None, num_classes=None,
                 build_options: dict | None = None, skip_unavailable: bool | None = None,
                 images=None, heldout=None, stand_in: bool = True, train_steps: int = 0, train_lr: float | None = None,
                 isomorph_member: str = "asked", memory_format: str = "contiguous", threads: int | None = None):
        self.space = resolve_space(space)
        self.threads = threads
        memory_format = layout_name(memory_format)
        if not isinstance(memory_format, str) or memory_format not in MEMORY_FORMATS:
            raise UserError(f"unknown memory_format= {shown(memory_format, 40)}; choose one of: "
                            f"{', '.join(MEMORY_FORMATS)}")
        self.memory_format = memory_format
        if not isinstance(isomorph_member, str) or isomorph_member not in ISOMORPH_MEMBERS:
            raise UserError(f"unknown isomorph member rule {isomorph_member!r}; choose one of: "
                            f"{', '.join(ISOMORPH_MEMBERS)}")
        self.isomorph_member = isomorph_member
        if not isinstance(init, str) or init not in INITS:  # an array's 'in' is ambiguous: named, not raised
            raise UserError(f"unknown init {shown(str(init), 40)}; choose one of: {', '.join(INITS)}")
        if batch_size < 1:  # each proxy's own minimum is checked below
            raise UserError(f"batch size must be at least 1 (got {batch_size})")
        self.device = resolve_device(device)
        self.batch_size, self.seed, self.init = batch_size, seed, init
        if train_steps < 0:
            raise UserError(f"--train-steps must be 0 or more, not {train_steps}")
        if train_lr is not None and not train_steps:  # it would be recorded nowhere and change nothing
            raise UserError("--train-lr is the fast training's learning rate and does nothing without --train-steps "
                            "N (N > 0): add --train-steps or drop --train-lr")
        self.train_steps, self.train_lr = train_steps, DEFAULT_TRAIN_LR if train_lr is None else train_lr
        self.train_seconds = 0.0  # total fast-training time: the part of the cost that is not zero
        self.refused_on_space: dict[str, str] = {}  # proxy -> why it does not apply to this space (found once)
        self._probed = False  # a plug-in space's network: probed on the first arch scored
        self.build_options = dict(build_options or {})
        if self.build_options and not getattr(self.space, "plugin", False):
            self._check_build_options()
        self.images = self.heldout = None
        requested = resolve_proxies(proxies)
        # before any data is read: the member rule reaches only class-sharing proxies
        if isomorph_member != "asked" and requested and not any(p.shares_isomorphs for p in requested):
            sharing = [n for n in list_proxies() if get_proxy(n).shares_isomorphs]
            raise UserError(f"--isomorph-member {isomorph_member} picks the member that scores a class-sharing proxy "
                            f"({', '.join(sharing[:4])}, ...; 'zeronas proxies' marks them); "
                            f"{', '.join(p.name for p in requested)} "
                            f"{'shares' if len(requested) == 1 else 'share'} no score across isomorphs: drop it")
        need_images = train_steps > 0 or any(p.needs_images for p in requested)
        dataset = "cifar10" if data is None or (isinstance(data, str) and data == "auto") else data  # not 'in': arrays
        self.data_note = ""
        self.stands_in_for = None  # the dataset whose missing images CIFAR-10 replaces
        if images is None and is_user_data(data):  # an image folder, (x, y) arrays, a torch Dataset/DataLoader
            from .data.custom import user_images

            images = user_images(data, seed=seed)
        if heldout is not None and images is None:  # a named dataset's held-out set is its test split
            raise UserError("--heldout goes with your own images (--data a folder, arrays or a dataset); a named "
                            "dataset's held-out images are its test split")
        if heldout is not None and not isinstance(heldout, ImageSet):
            from .data.custom import user_heldout  # other images of the user's, for teg_mse's held-out batch

            heldout = user_heldout(heldout, images, seed)
        if images is not None:  # caller-supplied ImageSet (custom data, tests)
            info = images.info
            self.images, self.heldout = images, heldout
            self.dataset, self.input_size = info.name, info.image_size
            self.num_classes = num_classes or info.num_classes
            if hasattr(self.space, "check_input_size"):  # before a whole run of shape errors
                self.space.check_input_size(self.input_size)
        elif data != "none":
            info = dataset_info(dataset)
            self.dataset = info.name
            self.input_size = info.image_size
            self.num_classes = num_classes or info.num_classes
            try:
                self.images = load_images(info.name, "train", data_dir)
            except DataNotFound as exc:
                if stand_in and info.name != "cifar10":
                    try:
                        self.images = stand_in_images(info.image_size, data_dir)
                    except DataNotFound:
                        pass  # no CIFAR-10 either: data-free proxies only (below)
                if self.images is not None:
                    self.dataset = "cifar10"
                    resized = f" (resized to {info.image_size}px)" if info.image_size != 32 else ""
                    self.data_note = (f"{info.name} images not found: CIFAR-10 images{resized} stand in, "
                                      f"on a {self.num_classes}-class network")
                elif data == "auto":
                    self.data_note = f"no images found, data-free proxies only ({exc})"
                elif not need_images:  # the dataset still sets the network: classes and input size
                    self.data_note = (f"{info.name} images not found; the data-free proxies need none and score "
                                      f"its {self.num_classes}-class {info.image_size}px network")
                else:
                    raise
            if self.dataset != info.name:
                self.stands_in_for = info.name
        else:
            self.dataset, self.input_size, self.num_classes = "none", 32, num_classes or 10
        self._data_dir = data_dir
        if num_classes is not None and self.images is not None and need_images:
            have = getattr(self.images, "info", None)
            have = have.num_classes if have is not None and not self.stands_in_for else None
            if have is not None and num_classes > have:  # allowed (a head for classes to come), never silent
                extra = (f"--num-classes {num_classes} gives the network {num_classes} outputs for the {have} "
                         f"classes of {self.dataset}: the loss-based proxies spread their softmax over "
                         f"{num_classes - have} classes no image has")
                self.data_note = "; ".join(n for n in (self.data_note, extra) if n)
        past = labels_past(self.num_classes, self.images, heldout) if need_images else None
        if past:  # the loss would read labels past the classifier: one line, not a NaN row (as for a user's model)
            what, top = past
            given = (f"--num-classes {num_classes} gives" if num_classes is not None
                     else f"the {self.dataset} classes give")
            raise UserError(f"the {what} has labels up to {top} ({top + 1} classes), more than the "
                            f"{self.num_classes} outputs {given} the {self.space.name} network; "
                            + ("drop --num-classes (the data's count is used) or give at least "
                               f"{top + 1}" if num_classes is not None else "fix the labels"))
        unavailable = [p.name for p in requested if p.needs_images and self.images is None]
        if unavailable and not (skip_unavailable if skip_unavailable is not None else
                                (data in ("auto", "none") and asks_all(proxies))):
            raise UserError(f"proxies {', '.join(unavailable)} need real images but none are loaded; "
                            f"pass --data cifar10 with the data folder available, or drop them")
        held = [p.name for p in requested if p.data == "batch+heldout" and p.name not in unavailable]
        if held and self._heldout() is None:  # found before any arch is scored, not as a failure midway
            if not (skip_unavailable if skip_unavailable is not None else
                    asks_all(proxies)):
                where = (f"the {self.dataset} test split, which is not in the data folder" if self.dataset in DATASETS
                         else "--heldout (other images of yours, at the same size) with your own images")
                raise UserError(f"proxies {', '.join(held)} need held-out images: {where}; or drop them")
            unavailable += held
        self.skipped = unavailable
        self.proxies = [p for p in requested if p.name not in unavailable]
        checked: dict[str, dict] = {}
        if options is not None:  # (zeronas's own callers pass it on unchecked)
            from .validation import check

            check("options", options, label="options=")
        asked = [p.name for p in requested]
        for name, opts in (options or {}).items():
            spec = get_proxy(name)
            if spec.name not in asked and not opts:  # {} sets nothing: nothing is ignored
                continue
            if spec.name not in asked:  # never silently ignored (search refuses it likewise: check_options_used)
                raise UserError(f"proxy {name} was given option(s) {', '.join(map(str, opts))} but is not among the "
                                f"proxies asked for ({', '.join(asked)}): add it to the proxies or drop its options")
            bad = set(opts) - set(spec.defaults)
            if bad and spec.revision:
                raise UserError(f"proxy {name} is a proxy of your own, which takes no proxy options: read its "
                                f"settings inside the function")
            if bad:
                raise UserError(f"proxy {name} has no option(s) {', '.join(sorted(bad))}; "
                                f"its options are: {', '.join(spec.defaults) or 'none'}")
            checked[name] = {}
            for opt, value in opts.items():
                checked[name][opt] = _checked_option(spec, opt, value)
        self.options = {p.name: {**p.defaults, **checked.get(p.name, {})} for p in self.proxies}
        # each proxy's smallest batch (and other bounds) from its definition, before any work is done
        problems = [why for p in self.proxies if (why := p.check_options(self.options[p.name], batch_size,
                                                                          self.batch_flag))]
        if problems:
            more = f" (and {len(problems) - 1} more proxies)" if len(problems) > 1 else ""
            raise UserError(problems[0] + more)
        self.skip_notes: dict[str, str] = {}  # proxy -> why it was left out (beyond missing images), and the fix
        for p in list(self.proxies) if self.images is not None else ():  # a proxy's own batch, named as given
            own = self.options[p.name].get(p.batch_option) if p.batch_option else None
            if own is not None and own > len(self.images):
                given = p.batch_option in checked.get(p.name, {})
                what = f"--set {p.name}.{p.batch_option}={own}" if given else \
                    f"{p.name}'s default {p.batch_option} ({own})"
                why = (f"{what}: {len(self.images)} {self.dataset} images are loaded, too few for one batch of {own}; "
                       + ("lower it" if given else
                          f"pass --set {p.name}.{p.batch_option}=N with N <= {len(self.images)}"))
                if not given and (skip_unavailable if skip_unavailable is not None else asks_all(proxies)):
                    self.proxies.remove(p)  # 'all' on a small image set: left out and said, as zico's batches are
                    self.skipped.append(p.name)
                    self.skip_notes[p.name] = why
                    continue
                raise UserError(why)
        self._batches: dict = {}
        self._data_protocol = self._describe_data()
        for p in self.proxies:  # what only this space and data can say, e.g. a size its networks cannot take
            why = p.setup_check(self, self.options[p.name]) if p.setup_check is not None else None
            if why:
                raise UserError(why)

    def _describe_data(self) -> dict:
        if self.images is None:
            return {}
        reads = self.train_steps or any(p.needs_images for p in self.proxies)
        if not reads and len(self.images) < self.batch_size:  # (supernet contexts read this description too)
            return {}  # no proxy reads a batch: none is drawn (8 images and --batch-size 64 are fine for params)
        b0 = make_batch(self.images, self.batch_size, self.seed, 0)
        d = {"dataset": self.dataset, "source": portable_source(self.images.source), "fidelity": self.images.fidelity,
             "batch_size": self.batch_size, "seed": self.seed, "batch0_sha256": b0.meta["sha256"][:16]}
        if self.stands_in_for:
            d["stands_in_for"] = self.stands_in_for
        if getattr(self.heldout, "content_sha256", None):  # the user's held-out images (teg_mse reads them)
            d["heldout_sha256"] = self.heldout.content_sha256[:16]
        if callable(getattr(self.images, "protocol", None)):  # the user's images: all of them, not batch 0 alone
            d.update(self.images.protocol())  # (their mean/std and later batches reach the values too)
        return d

    def _heldout(self):
        if self.heldout is None and self.images is not None and (self.stands_in_for or self.dataset in DATASETS):
            try:  # (the user's own images have no test split here: heldout= gives one)
                self.heldout = (stand_in_images(self.input_size, self._data_dir, "test") if self.stands_in_for
                                else load_images(self.dataset, "test", self._data_dir))
            except DataNotFound:
                self.heldout = None
        return self.heldout

    def protocol(self, spec: ProxySpec) -> dict:
        p = {"space": self.space.name, "proxy": spec.name, "options": self.options[spec.name],
             "init": self.init, "seed": self.seed, "dtype": spec.dtype, "bn_mode": spec.bn_mode,
             "num_classes": self.num_classes, "input_size": self.input_size, "build": self.build_options,
             "device": self.device.type, "torch": torch.__version__.split("+")[0], "zeronas": __version__}
        if spec.revision:  # a user's proxy: its file's digest
            p["proxy_revision"] = spec.revision
        revision = getattr(self.space, "network_revision", None)
        if revision:  # a space whose network changed after scores were stored keeps them apart (absent: old keys)
            p["network_revision"] = revision
        if getattr(self.space, "plugin", False) and not spec.weight_free and (
                self.init != "torch-default" or spec.name in OWN_INIT):
            p["init_draws"] = "from-seed"  # (ScoringContext.build) values moved on 2026-12-08: another key
        if spec.shares_isomorphs and self.isomorph_member != "asked":  # "asked" keeps earlier stores' keys
            p["isomorph_member"] = self.isomorph_member
        if self.memory_format != "contiguous" and spec.reads_tensors:  # other rounding, other key (params,
            p["memory_format"] = self.memory_format  # flops, l2_norm read no tensor: one key for both layouts)
            threads = self.threads or torch.get_num_threads()
            if self.device.type == "cpu" and threads != 1:  # BN's NHWC sums split by thread: other bits
                p["threads"] = threads  # (one thread, the process pool's default, keeps the earlier keys)
        if self.train_steps:
            p["fast_training"] = {"steps": self.train_steps, "lr": self.train_lr, "recipe": "sgd-nesterov-0.9-wd5e-4"}
            if not spec.needs_images:  # trained on the images, in --batch-size batches: they reach its value too
                p["fast_training"]["data"] = self._data_protocol  # (an image proxy keys them under "data")
        if spec.needs_images:
            p["data"] = self._data_protocol
        elif spec.data in ("ones", "noise"):
            p["data"] = {"synthetic": spec.data}
            if spec.noise_batch:  # the noise holds --batch-size images: another size, another value
                p["data"]["batch_size"] = self.batch_size
        return p

    def context(self, arch) -> ScoringContext:
        heldout = self._heldout() if any(p.data == "batch+heldout" for p in self.proxies) else None
        ctx = ScoringContext(self.space, arch, images=self.images, heldout=heldout, num_classes=self.num_classes,
                             input_size=self.input_size, batch_size=self.batch_size, seed=self.seed,
                             init=self.init, device=self.device, build_options=self.build_options,
                             train_steps=self.train_steps, train_lr=self.train_lr,
                             memory_format=self.memory_format)
        ctx._batches = self._batches  # batches do not depend on the architecture: share them
        return ctx

    # what one probe forward tells of a plug-in space's network (its other needs its proxies find out themselves)
    PROBED_NEEDS = ("relu", "bn", "conv_linear", "params", "classifier", "tensor_output", "any_size")

    def _probe_plugin_network(self, ctx) -> None:
        """A plug-in space's first network, probed once (``models.probe_model``): a classifier of another width
        than ``num_classes`` is a one-line UserError (its loss would read labels against the wrong classes);
        a proxy needing what the network lacks (a classifier output, ReLU modules, ...) is refused for the
        space with the reason, instead of failing on every arch with a shape error."""
        from .models import meco_side, probe_model

        try:
            with exit_trapped():
                model = ctx.model()
        except Exception:  # noqa: BLE001  (a build that fails is that arch's error record, as always)
            return
        try:
            with exit_trapped():
                probe = probe_model(model, ctx.input_shape(2), ctx.device, noise_side=meco_side(self.options))
        except UserError as exc:
            self._refuse_input_shape(ctx, exc)
            return
        except Exception:  # noqa: BLE001  (the arch's error record, as always)
            return
        if probe.classes is not None and probe.classes != self.num_classes:
            raise UserError(f"{self.space.name}'s build(arch, num_classes={self.num_classes}) returned a network with "
                            f"{probe.classes} outputs per image, not {self.num_classes}; size its classifier by "
                            f"num_classes")
        for spec in self.proxies:
            missing = [n for n in self.PROBED_NEEDS if n in spec.needs and n not in probe.offers]
            if missing:
                extra = f" ({probe.output})" if {"classifier", "tensor_output"} & set(missing) else ""
                if "any_size" in missing:
                    extra += f" (they fail on meco's {probe.noise} noise; --set meco.input_size=N feeds NxN)"
                what = "; ".join(NEEDS[m] for m in missing)
                self.refused_on_space.setdefault(
                    spec.name, f"{spec.name} needs {what}; the {self.space.name} space's networks have none{extra}")

    SHAPE_WORDS = ("shape", "size", "expected input", "channels")

    def _refuse_input_shape(self, ctx, exc: UserError) -> None:
        """The first network failed its probe forward on this run's input shape: when a second sampled network
        fails alike with a shape error, the space's networks do not take this input: one line, not a row of raw
        shape errors per arch and proxy (an arch-specific fault stays that arch's error record)."""
        text = str(exc)
        why = text.split("(", 1)[-1].split("); give")[0] if "(" in text else text  # the error, not the advice
        if not any(w in why.lower() for w in self.SHAPE_WORDS) or not hasattr(self.space, "sample"):
            return
        from .models import probe_model

        first = self.space.format(ctx.arch)
        others = (a for a in (self.space.sample(k) for k in range(1, 9)) if self.space.format(a) != first)
        second = next(others, None)  # (sample takes a seed or a Generator)
        if second is None:
            return
        try:
            other = self.context(second)
            with exit_trapped():
                probe_model(other.model(), other.input_shape(2), other.device)
            return  # another network takes it: the first arch's own fault
        except UserError:
            pass
        except Exception:  # noqa: BLE001  (its build failed: no second verdict)
            return
        shape = "x".join(map(str, ctx.input_shape(2)))
        source = ("without --data its networks get 32x32 inputs: give --data images of the size they take"
                  if self.images is None and self.dataset == "none" else
                  f"the {self.dataset} images are {self.input_size} px: give images of the size the networks take, "
                  "or size build()'s layers from the input")
        raise UserError(f"{self.space.name} networks fail on a {shape} input ({why}); {source}")

    def _network_nonfinite(self, ctx) -> str | None:
        """Why the network of ``ctx`` gives NaN/inf by itself (its weights, or its output on a seeded N(0, 1)
        batch of 2 in eval mode, before any proxy), naming the first module whose output turns non-finite from
        finite inputs; None when it is finite. Checked once per context, only after a non-finite value."""
        if hasattr(ctx, "_nonfinite_network"):
            return ctx._nonfinite_network
        why = None
        try:
            with exit_trapped():
                why = network_nonfinite(ctx.model(), ctx.input_shape(2), ctx.device)
        except Exception:  # noqa: BLE001  (a forward that fails here failed the proxy too: its error says why)
            why = None
        if why and getattr(ctx, "train_steps", 0):  # the weights checked are the fast-trained ones
            why += (f", after {ctx.train_steps} steps of fast training (--train-steps): it diverged, or the network "
                    "was broken before it")
        ctx._nonfinite_network = why
        return why

    def _check_build_options(self):
        """Build one network with ``build_options`` now: an unknown or bad option (a negative width) made every
        arch an error record; one line instead, before any scoring."""
        try:
            with torch.random.fork_rng(devices=[]):
                self.space.build(self.space.sample(0), **self.build_options)
        except UserError as exc:
            raise UserError(f"build_options={shown(self.build_options)}: {exc}") from None
        except (TypeError, ValueError, RuntimeError) as exc:
            raise UserError(f"build_options={shown(self.build_options)} do not build a {self.space.name} network "
                            f"({type(exc).__name__}: {shown(str(exc), 120)})") from None

    @user_records
    def score_arch(self, arch, proxies: list[ProxySpec] | list[str] | None = None,
                   weights=None, on_proxy=None) -> list[ScoreRecord]:
        """``weights``: score this network (e.g. partly trained) instead of building ``arch`` at init;
        ``on_proxy(name)``: called as each proxy starts and with None after the last (a progress bar's hook)."""
        arch = self.space.coerce(arch)
        if proxies is not None:
            proxies = [p if isinstance(p, ProxySpec) else get_proxy(p) for p in proxies]
            foreign = [p.name for p in proxies if p.name not in self.options]  # its options, data were never set up
            skipped = [n for n in foreign if n in self.skipped]
            if skipped:
                raise UserError(f"score_arch(proxies=): {', '.join(skipped)} was skipped when this Scorer was made "
                                f"(it needs images, and none were loaded)")
            if foreign:
                raise UserError(f"score_arch(proxies=) takes proxies this Scorer was made with "
                                f"({', '.join(p.name for p in self.proxies)}); {', '.join(foreign)} is not one: "
                                f"make a Scorer with it")
        with ieee_float32(self.device), torch_threads(self.threads):  # no TF32 on CUDA: precision.py says why
            return self._score_arch(arch, proxies, weights, on_proxy)

    def _score_arch(self, arch, proxies, weights, on_proxy) -> list[ScoreRecord]:
        ctx = self.context(arch)
        if weights is not None:
            ctx.use_weights(weights)
        elif getattr(self.space, "plugin", False) and not self._probed:
            self._probed = True
            self._probe_plugin_network(ctx)
        arch_str, canonical = self.space.format(arch), self.space.canonical(arch)
        records = []
        specs = proxies or self.proxies
        # isomorph_member "fixed": the class-sharing proxies run on the class representative's context
        rep = (self.space.representative(arch) if self.isomorph_member == "fixed"
               and any(s.shares_isomorphs for s in specs) else None)
        member = None  # (arch string, context) of that member, built when first needed
        plan(ctx, [s.name for s in specs if (rep is None or rep == arch or not s.shares_isomorphs)
                   and s.name not in self.refused_on_space], self.options, widen=True)
        for spec in specs:
            if on_proxy is not None:
                on_proxy(spec.name)
            proto = self.protocol(spec)
            run_ctx, run_str = ctx, arch_str
            if spec.shares_isomorphs and rep is not None:
                if member is None:
                    if rep != arch and weights is not None:
                        raise UserError("given weights belong to the arch asked for; score them with "
                                        "isomorph_member='asked'")
                    member = (arch_str, ctx) if rep == arch else (self.space.format(rep), self.context(rep))
                    if member[1] is not ctx:
                        plan(member[1], [s.name for s in specs if s.shares_isomorphs], self.options)
                run_str, run_ctx = member
            t0 = time.perf_counter()
            error = reason = None
            try:
                if spec.name in self.refused_on_space:  # a verdict on the space: not rebuilt for every arch
                    raise Inapplicable(self.refused_on_space[spec.name])
                with exit_trapped():  # a user's network or proxy calling sys.exit(): that arch's error
                    raw = spec.fn(run_ctx, **self.options[spec.name])
                value, reason = float(raw), reason_of(raw)
            except UserError:
                raise
            except Inapplicable as exc:  # the proxy does not apply to this space: recorded, the others go on
                value, error = math.nan, f"{INAPPLICABLE}{exc}"
                self.refused_on_space[spec.name] = str(exc)
            except Exception as exc:  # noqa: BLE001  (recorded as an error row, the run goes on)
                value, error = math.nan, f"{type(exc).__name__}: {exc}"
            if not math.isfinite(value) and error is None and reason is None:  # no NaN/inf goes unexplained
                reason = (f"non-finite value ({value}) from {spec.name}, which gave no specific reason (its inputs "
                          f"or weights may have overflowed)")
            if not math.isfinite(value) and error is None:  # a broken network is said first: the proxy's guess
                broken = self._network_nonfinite(run_ctx)  # (an overflow, ...) would send the user astray
                if broken:
                    reason = f"{broken}: fix the network (the proxy said: {reason})"
            seconds = time.perf_counter() - t0
            notes = [n for n in run_ctx.notes if n.startswith(spec.name)]
            if self.stands_in_for and spec.needs_images:  # its images were not the dataset's: said on the record
                notes.append(self.data_note)
            if spec.needs_images and getattr(self.images, "note", ""):  # how the user's images were read
                notes.append(self.images.note)
            key = canonical if spec.shares_isomorphs else arch_str  # the store key: see ProxySpec.shares_isomorphs
            records.append(ScoreRecord(self.space.name, run_str, key, spec.name, value, seconds,
                                       spec.direction, proto, protocol_hash(proto), error, notes, reason))
        if on_proxy is not None:
            on_proxy(None)
        self.train_seconds += ctx.training.get("seconds", 0.0)
        if member is not None and member[1] is not ctx:
            self.train_seconds += member[1].training.get("seconds", 0.0)
        return records

    @user_records
    def score(self, archs: Iterable, progress: bool = False) -> list[ScoreRecord]:
        """Score each arch of ``archs`` (a list; one arch string is taken as one arch, not as its characters)
        with every proxy; the records in arch-then-proxy order, each named by the arch asked (``as_asked``)."""
        archs = [archs] if isinstance(archs, str) else list(archs)
        return as_asked(self._score_each(archs, progress), archs, self.space)

    def _score_each(self, archs: list, progress: bool) -> list[ScoreRecord]:
        out: list[ScoreRecord] = []
        if progress and len(archs) * len(self.proxies) > 1:
            # one step per (arch, proxy): a single arch scored with every proxy takes minutes on a CPU
            from rich.console import Console
            from rich.progress import Progress

            console = Console(emoji=False, stderr=True)
            if not (console.is_terminal or console.is_jupyter):  # a log or a pipe: a bar draws nothing there
                return self._score_logged(archs)
            with Progress(console=console) as bar:  # a file.py:boom name stays text
                task = bar.add_task("scoring", total=len(archs) * len(self.proxies))
                for i, a in enumerate(archs, 1):
                    done = []  # the proxy running now; finished when the next starts (None: the last)

                    def step(name, i=i, done=done):
                        if done:
                            bar.advance(task)
                        done.append(name)
                        if name is not None:
                            where = f"arch {i}/{len(archs)}: " if len(archs) > 1 else ""
                            bar.update(task, description=f"scoring {where}{name}")

                    out.extend(self.score_arch(a, on_proxy=step))
        else:
            for a in archs:
                out.extend(self.score_arch(a))
        return out

    def _score_logged(self, archs: list, every: float = 30.0, stream=None) -> list[ScoreRecord]:
        """``score`` with progress where no bar can be drawn: a line on stderr at most every ``every`` seconds,
        naming the proxy that runs and how far the run is."""
        stream = stream or sys.stderr
        total, t0 = len(archs) * len(self.proxies), time.perf_counter()
        last, done, out = t0, [0], []
        for i, a in enumerate(archs, 1):
            def step(name, i=i):
                nonlocal last
                now = time.perf_counter()
                if name is not None and now - last >= every:
                    last = now
                    where = f"arch {i}/{len(archs)}, " if len(archs) > 1 else ""
                    print(f"scoring {where}{name} ({done[0] + 1}/{total} proxy runs), elapsed "
                          f"{int(now - t0) // 60}:{int(now - t0) % 60:02d}", file=stream, flush=True)
                done[0] += name is not None

            out.extend(self.score_arch(a, on_proxy=step))
        return out


def labels_past(outputs: int | None, images, heldout=None) -> tuple[str, int] | None:
    """("data" or "held-out data", its largest label) for the first of the image sets (ImageSet or None) whose
    labels reach past ``outputs`` classifier outputs (labels 0..outputs-1 fit), else None (also for
    ``outputs`` None: unknown)."""
    for what, imgs in (("data", images), ("held-out data", heldout)):
        if outputs is not None and imgs is not None and len(imgs) and int(imgs.y.max()) >= outputs:
            return what, int(imgs.y.max())
    return None


def network_nonfinite(model: torch.nn.Module, input_shape, device="cpu") -> str | None:
    """Why ``model`` gives NaN/inf by itself, or None: a weight or buffer holding NaN/inf (the first named), or
    its output on a seeded N(0, 1) batch of ``input_shape`` ([B, C, H, W]) in eval mode without gradients, with
    the first module (in forward order) whose output is non-finite although its inputs were finite. The model's
    mode is restored. A proxy's own account of a NaN/inf (an overflow, a singular kernel) is wrong when this is
    not None."""
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return f"the network's weights already hold NaN/inf ({name!r})"
    first = []

    def hook(mod, inputs, output):
        if first or not torch.is_tensor(output) or bool(torch.isfinite(output).all()):
            return
        if all(bool(torch.isfinite(x).all()) for x in inputs if torch.is_tensor(x)):
            first.append(mod)

    names = {m: n for n, m in model.named_modules()}
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    x = torch.randn(tuple(input_shape), generator=torch.Generator().manual_seed(0), dtype=dtype).to(device)
    modes = {m: m.training for m in model.modules()}  # each module's own (a proxy may have set some apart)
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            out = model.eval()(x)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    outs = [out] if torch.is_tensor(out) else [o for o in (out.values() if isinstance(out, dict) else out)
                                                if torch.is_tensor(o)] if isinstance(out, (dict, list, tuple)) else []
    if all(bool(torch.isfinite(o).all()) for o in outs):
        return None
    where = (f"; first at {names.get(first[0]) or 'the top module'!r} ({type(first[0]).__name__}) from finite "
             "inputs" if first else "")
    return f"the network's own output is already NaN/inf on a random N(0, 1) input, before any proxy{where}"


def _option_kind(spec: ProxySpec, opt: str) -> type | None:
    """The type of a proxy option: its default's, or, for a default of None, the one its function's annotation
    names (``int | None``); None when neither says."""
    default = spec.defaults[opt]
    if default is not None:
        return type(default)
    import inspect

    param = inspect.signature(spec.fn).parameters.get(opt)
    text = str(param.annotation) if param is not None else ""
    return next((t for t in (bool, int, float, str) if t.__name__ in text), None)


def _checked_option(spec: ProxySpec, opt: str, value):
    """``value`` as proxy option ``opt`` of ``spec`` takes it, or a one-line UserError: a number takes a finite
    number (a count a whole one: 2.0 becomes 2, which the proxy indexes with and the store keys as 2; a real one
    a float: 64 becomes 64.0, as its default is written), a flag
    a boolean, a text a text; null only where the default is None."""
    kind, default = _option_kind(spec, opt), spec.defaults[opt]
    why = None
    if value is None:
        why = None if default is None else "give a value (null is for options whose default is None)"
    elif kind is bool:
        why = None if isinstance(value, bool) else "give true or false"
    elif kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            why = "give a finite number"
        elif kind is int and not float(value).is_integer():
            why = "give a whole number"
    elif kind is str and not isinstance(value, str):
        why = "give a text"
    if why is not None:
        raise UserError(f"--set {spec.name}.{opt}={shown(value)}: {why} (default {default!r})")
    if kind is int and isinstance(value, float):
        return int(value)
    # a real option given a whole number is that float (--set das.lam=64 and lam=64.0: one store key)
    return float(value) if kind is float and isinstance(value, int) and not isinstance(value, bool) else value


def stand_in_images(size: int, data_dir=None, split: str = "train"):
    """CIFAR-10 images, average-pooled to ``size`` px when smaller (ImageNet16-120 is 16 px)."""
    im = load_images("cifar10", split, data_dir)
    if size != im.x.shape[1]:
        f = im.x.shape[1] // size
        x = im.x.reshape(len(im), size, f, size, f, 3).mean(axis=(2, 4)).round().astype("uint8")
        im = type(im)(im.dataset, im.split, x, im.y, im.source, f"{im.fidelity}, resized to {size}px")
    return im


def parse_device(device) -> torch.device:
    """``device`` as a torch.device, or a one-line UserError when the string is malformed."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):  # TypeError: None, a number or a list (torch's own message is a page)
        raise UserError(f"--device {shown(device)} is not a torch device; use cpu, cuda or cuda:N") from None


def resolve_device(device) -> torch.device:
    """As ``parse_device``, and a one-line UserError when the device is not present on this machine."""
    dev = parse_device(device)
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"--device {shown(device)}: zeronas runs on cpu or cuda only; use cpu, cuda or cuda:N")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"--device {device} was asked for but no CUDA device is available; use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise UserError(f"--device {device}: this machine has {count} CUDA device(s), cuda:0 to "
                            f"cuda:{count - 1}; pick one of those or use --device cpu")
    return dev


def _scorer_keywords() -> list[str]:
    import inspect

    from .models import MODEL_KEYWORDS  # zeronas.score(module, ...) takes these

    scorer = [p for p in inspect.signature(Scorer.__init__).parameters if p not in ("self", "space", "proxies")]
    return scorer + [k for k in MODEL_KEYWORDS if k not in scorer]


def is_user_data(data) -> bool:
    """Whether ``data`` is the user's own images (an image folder, arrays, a torch dataset) rather than a
    dataset name, ``auto`` or ``none``."""
    if data is None:
        return False
    if isinstance(data, (str, os.PathLike)):  # a folder that exists; any other text is a dataset name (checked)
        from .data.datasets import DATASETS
        from .validation import _norm_dataset

        text = str(data).strip()
        return bool(text) and _norm_dataset(text) not in ("auto", "none", "given", *DATASETS) and \
            Path(text).expanduser().is_dir()
    return True


def _scorer_defaults() -> dict:
    import inspect

    from .models import score_model

    scorer = {n: p.default for n, p in inspect.signature(Scorer.__init__).parameters.items()}
    model = {n: p.default for n, p in inspect.signature(score_model).parameters.items()}
    # None where either verb gives it a meaning (a module's data=None: no images) stays allowed
    return {n: None if model.get(n, 0) is None else d for n, d in {**model, **scorer}.items()}


@api(extra=_scorer_keywords, defaults=_scorer_defaults)
def score(archs, proxies="all", *, space=None, executor: str = "local", ray_address: str | None = None,
          threads: int | None = None, store: str | Path | None = None, workers: int | None = None,
          **kwargs) -> list[ScoreRecord]:
    """``zeronas.score(arch_or_list, proxies=[...], data="cifar10", seed=0)``: one record per arch x proxy.
    ``zeronas.score(module, proxies=..., data=...)`` scores a ``torch.nn.Module`` (see ``zeronas.models``); a
    list of modules scores each with the same arguments (records in list order, ``arch`` = the class name,
    suffixed #0, #1, ... when a class repeats). ``space``: the space of the arch strings (default nb201; not
    with modules). ``proxies``: names (a comma-separated string or a list), or "all".
    Other keywords are ``Scorer``'s (``zeronas score``'s options with underscores): ``data`` ("auto", "none",
    cifar10, cifar100, ImageNet16-120; for modules also an image folder or a tensor), ``data_dir``,
    ``batch_size``, ``seed``, ``init``, ``device``, ``options`` ({proxy: {option: value}}, as ``--set``),
    ``num_classes``, ``isomorph_member``, ``memory_format``; for modules also ``input_size``, ``model_name``,
    ``max_images``.
    The set-up (images, batches) is cached between calls: ``score`` called once per arch in a loop costs what
    ``Scorer(...).score_arch(arch)`` does. Each record names the arch asked (``arch``) and, where a
    class-sharing proxy's value was measured on another member of its isomorphism class, that member
    (``scored``); ``Scorer.score_arch``, the unit the executors and stores work with, names the member measured.
    ``executor="ray"`` (architectures only; ``ray_address``: a cluster,
    else a local Ray instance) scores on Ray as ``zeronas score --executor ray``, each unit with ``threads``
    torch threads (default 1; on a local instance with ``workers=N``, cores // N), so the records equal the
    local ones at equal threads. ``threads`` (local): torch CPU threads of each scoring process (this one, or
    each of ``workers``'s processes). ``store`` (an SQLite path or a database URL; architectures only): every arch's
    records are written there as it finishes and what it already holds under the same settings is read, not
    scored again, so a killed call resumes (``zeronas score --store``; class-sharing proxies once per isomorphism
    class). ``workers``: local scoring processes (None or 1: this one; 0: one per core), or with Ray the units at
    once (None or 0: every CPU of the cluster).
    Returns a list of ``ScoreRecord``. Raises UserError (one line) for an unknown keyword, a bad value, or a
    list mixing modules and archs."""
    from .validation import torch_threads

    if executor != "local" or ray_address is not None:
        from .ray_executor import check_executor

        check_executor(executor, ray_address, cli=False)
    modules = isinstance(archs, torch.nn.Module) or (
        isinstance(archs, (list, tuple)) and any(isinstance(a, torch.nn.Module) for a in archs))
    if modules and space is not None:
        raise UserError(f"space= names the space of architecture strings; a torch.nn.Module is scored as it is: "
                        f"drop space={shown(space)}")
    if modules and executor == "ray":
        raise UserError("executor='ray' scores architectures of a space; a torch.nn.Module is scored in this "
                        "process: drop executor=")
    if modules and (store is not None or workers not in (None, 1)):
        raise UserError("store= and workers= score architectures of a space; a torch.nn.Module is scored in this "
                        "process: drop them")
    if modules:
        with torch_threads(threads):
            return _score_modules(archs, proxies, kwargs)
    model_only = sorted({"input_size", "model_name", "max_images"} & set(kwargs))
    if model_only:
        raise UserError(f"{', '.join(k + '=' for k in model_only)} only apply when scoring a torch.nn.Module")
    if archs is None:
        raise UserError("score() needs architectures (an arch string or object, a list of them) or a "
                        "torch.nn.Module; got None")
    if isinstance(archs, (str, tuple)) or not isinstance(archs, Iterable):  # one arch (e.g. an NB101Arch)
        archs = [archs]
    archs = list(archs)
    if not archs:
        raise UserError("score() got an empty list of architectures; give at least one")
    space = "nb201" if space is None else space
    if store is not None or workers not in (None, 1 if executor == "local" else 0):  # resumable, arch by arch
        return as_asked(_score_through_store(archs, dict(space=space, proxies=proxies, **kwargs), store, workers,
                                             executor, ray_address, threads), archs, resolve_space(space))
    if executor == "ray":  # each unit pinned to its threads: the local values at equal threads
        from .ray_executor import score_archs

        return as_asked(score_archs(dict(space=space, proxies=proxies, **kwargs), archs, ray_address, threads),
                        archs, resolve_space(space))
    with torch_threads(threads):
        return Scorer(space, proxies, **kwargs).score(archs)


def unread_batch_size(proxies, batch_size: int, options: dict | None = None, train_steps: int = 0,
                      flag: str = "--batch-size") -> str | None:
    """A note (one line) when the batch size ``flag`` gave reaches none of ``proxies`` (names, as
    ``resolve_proxies`` takes them) under ``options`` ({proxy: {option: value}}): e.g. synflow (one all-ones
    input), meco (one noise image), params; None when one of them reads it (the fast training's batches, with
    ``train_steps``, do). A note, not an error: a loop over proxies at one batch size is a normal script."""
    specs = resolve_proxies(proxies)
    options = options or {}
    if train_steps or any(p.reads_batch_size({**p.defaults, **options.get(p.name, {})}) for p in specs):
        return None
    own = [f"--set {p.name}.{p.batch_option}=N" for p in specs if p.batch_option]
    return (f"{flag} {batch_size} changes no value here: it sets the images per batch of proxies on real images "
            f"and the noise batch of zen and AZ-NAS, and {', '.join(p.name for p in specs)} "
            f"{'reads' if len(specs) == 1 else 'read'} no such batch"
            + (f" ({' and '.join(own)} {'sets its' if len(own) == 1 else 'set their'} own)" if own else ""))


OWN_INIT = ("az_expressivity", "az_progressivity", "az_trainability")  # build their network with an init of their own


def unread_weights(proxies, seed: int, init: str) -> str | None:
    """A note (one line) when a non-default ``seed`` or ``init`` reaches none of ``proxies``: params and flops
    count the network's structure, whatever its weights; None when one proxy reads weights (or both are the
    defaults, 0 and torch-default, which cannot be told from not given)."""
    given = [f"--seed {seed}"] * (seed != 0) + [f"--init {init}"] * (init != "torch-default")
    specs = resolve_proxies(proxies)
    if not given or not specs or not all(p.weight_free for p in specs):
        return None
    names = ", ".join(p.name for p in specs)
    return (f"{' and '.join(given)} {'changes' if len(given) == 1 else 'change'} no value here: {names} "
            f"{'counts' if len(specs) == 1 else 'count'} the network's structure, whatever its weights")


def as_asked(records: list[ScoreRecord], archs: list, space) -> list[ScoreRecord]:
    """``records`` (arch-then-proxy order, the same count per arch) each named by the arch of ``archs`` it
    was asked for, the member actually scored moved to ``scored`` where it differs: a class-sharing proxy's
    value comes from one member per isomorphism class, and a record named after that member could not be
    told from another asked isomorph's."""
    if not archs or not records or len(records) % len(archs):
        return records
    per = len(records) // len(archs)
    out, names = [], {}
    for i, r in enumerate(records):
        a = archs[i // per]
        key = a if isinstance(a, str) else id(a)
        if key not in names:
            names[key] = space.format(space.coerce(a))
        asked = names[key]
        out.append(r if r.arch == asked or r.scored is not None else replace(r, arch=asked, scored=r.arch))
    return out


def _score_through_store(archs, kwargs, store, workers, executor, ray_address, threads) -> list[ScoreRecord]:
    from .correlate import score_into_store  # (the store-backed run machinery lives with correlate's)

    return score_into_store(archs, kwargs, store, workers, executor, ray_address, threads)[0]


def _score_modules(archs, proxies, kwargs: dict) -> list[ScoreRecord]:
    from .models import score_model

    if isinstance(archs, torch.nn.Module):
        return score_model(archs, proxies, **kwargs)
    if not all(isinstance(a, torch.nn.Module) for a in archs):
        raise UserError("score() takes architectures of a space or torch.nn.Modules, not a mix of both")
    if "model_name" in kwargs:
        raise UserError("model_name= names one module; for a list, each is named by its class")
    classes = [type(m).__name__ for m in archs]
    names = [f"{n}#{classes[:i].count(n)}" if classes.count(n) > 1 else n for i, n in enumerate(classes)]
    return [r for m, n in zip(archs, names) for r in score_model(m, proxies, model_name=n, **kwargs)]
