"""Score your own ``torch.nn.Module`` (built, untrained) with every proxy that applies to it.

``zeronas.score(model, proxies="all", data=...)`` (or :class:`ModelScorer`) gives one ``ScoreRecord`` per proxy,
with the protocol the built-in spaces record plus the model's name, input shape and weight hash. A proxy that
does not apply is not run: its record has value NaN and ``error = "inapplicable: <reason>"``.

Needs and offers. Each proxy declares what it needs from the network (``ProxySpec.needs``, vocabulary
``zeronas.proxies.base.NEEDS``) and from the data (images; held-out images for teg_mse). :func:`inspect_model`
says what a module offers, from its modules and one probe forward pass:

* ``relu``: ``nn.ReLU`` modules that run in the forward pass. A ReLU applied functionally (``F.relu``,
  ``torch.relu``) cannot be seen from outside the module: a model using only those offers no ``relu``, and in a
  model mixing both the proxies read the modules' codes only. GELU, SiLU, ReLU6 and LeakyReLU are not ReLU.
* ``bn``: batch-norm layers that run. ``conv_linear``: ``nn.Conv2d`` / ``nn.Linear`` layers. ``params``: any
  parameter, frozen or not (ntk_cond differentiates with respect to them on its copy).
* ``classifier``: the output is one tensor ``[batch, K]`` (K classes).
* ``any_size``: the network also runs on meco's own input, square noise of 1 x channels x S x S with S from
  ``--set meco.input_size`` (64).
* ``pre_gap``: the last global pooling is one ``nn.AdaptiveAvgPool2d`` to 1x1, called once on a 4-D map (zen
  reads the features entering it).
* ``cell_features``: a ``cell_features(x)`` method returning the features after the stem and after each cell or
  stage (the AZ-NAS proxies read them); built-in cell spaces' networks have one, a user's module may.
* ``mixing_weights``, ``thin_network``, ``cell_params``: only built-in cell spaces offer these.

Weights. The user's module is never changed: every proxy works on a deep copy. ``init="torch-default"`` (the
default) scores the weights as the module holds them; another ``init`` re-initialises the copy's conv/linear
weights by that rule (biases 0, BatchNorm/GroupNorm affine 1/0), seeded by ``seed``. Proxies whose definition
re-initialises (zen, swap: N(0, 1) conv/linear weights) do so on the copy.

``load_model("file.py:fn")`` runs ``file.py`` (as ``python file.py`` would: only name files you trust) and calls
``fn()``; ``torchvision:resnet18`` and ``timm:NAME`` build those packages' models when they are installed
(untrained: ``weights=None`` / ``pretrained=False``; torchvision's googlenet and inception_v3 without their
training-only auxiliary heads, ``TORCHVISION_BUILD``).

torchvision without its C extension. A torchvision wheel built for another torch variant (e.g. the CUDA build of
0.28.0 beside a CPU torch 2.13.0) cannot load ``torchvision/_C.so``, and ``import torchvision`` then dies with
``RuntimeError: operator torchvision::nms does not exist`` (its fake-tensor registrations for ``nms``/``qnms``
are not guarded by ``_has_ops()``). :func:`import_torchvision` first tries the plain import; only when it fails
with exactly that missing-operator error does it define the two operator *schemas* (no kernels) and import
again. The classification models never call these detection ops; calling them raises. The fallback is noted
(``torchvision_note()``; ``TORCHVISION_NOTE`` on the first record of each scoring of a torchvision model, which
``zeronas score`` prints once). It never runs when the plain import works.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import math
import os
import re
import sys
import time
from pathlib import Path

import torch
from torch import nn

from .data.custom import MAX_IMAGES, user_heldout, user_images
from .errors import DataNotFound, UserError, exit_trapped, with_article
from .paths import run_user_file, user_classes_digest, user_code
from .proxies.base import INAPPLICABLE, NEEDS, ProxySpec
from .proxies.context import ScoringContext
from .proxies.gap import attach_pre_gap, final_gap, gap_call
from .proxies.shared_pass import plan
from .scoring import Scorer, ScoreRecord, protocol_hash, resolve_proxies
from .validation import api, caller

DATA_NEEDS = {"images": "real images (--data)",
              "heldout": "held-out images (--heldout: an image folder, or in Python arrays, of other images)"}
# how to install each without pip replacing this torch (an unpinned torchvision pulls torch 2.14 and its CUDA
# libraries; timm depends on both): see the README's torchvision paragraph
PACKAGES = {"torchvision": "'zeronas[vision]', or torchvision==0.28.0 --no-deps beside a torch other than 2.13.0",
            "timm": "timm --no-deps, after torchvision: pip install 'zeronas[vision]'"}
ANY_SIZE_PROBE = 64  # meco's default input_size
TORCHVISION_NOTE = ("torchvision C ops unavailable: detection ops disabled; classification models unaffected "
                    "(torchvision's C extension does not load beside this torch; zeronas defined the nms/qnms "
                    "operator schemas so that torchvision imports)")
# Built without their training-only auxiliary classifiers, as torchvision's pretrained googlenet builder does:
# with them (the weights=None default) a train-mode forward returns a namedtuple, not the logits.
TORCHVISION_BUILD = {"googlenet": {"aux_logits": False}, "inception_v3": {"aux_logits": False}}
_MISSING_OP = re.compile(r"^operator torchvision::(nms|qnms) does not exist$")
_TV_OPS = {"nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
           "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"}
_tv_fallback: dict = {"lib": None, "note": None}  # keeps the Library alive: its definitions live as long as it


def import_torchvision():
    """``import torchvision`` (with ``torchvision.models``), with the narrow fallback described in the module
    docstring. Returns the module; ``torchvision_note()`` says whether the fallback was used. Any other import
    failure propagates unchanged."""
    try:
        return _import_tv()
    except RuntimeError as exc:
        if _tv_fallback["lib"] is not None or not _MISSING_OP.match(str(exc).strip()):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the half-imported package: import it afresh below
    lib = torch.library.Library("torchvision", "DEF")
    for schema in _TV_OPS.values():
        lib.define(schema)
    _tv_fallback["lib"] = lib
    tv = _import_tv()
    _tv_fallback["note"] = TORCHVISION_NOTE
    return tv


def _import_tv():
    tv = importlib.import_module("torchvision")
    if not hasattr(tv, "models"):
        importlib.import_module("torchvision.models")
    return tv


def torchvision_note() -> str | None:
    """TORCHVISION_NOTE when torchvision was imported through the fallback, else None."""
    return _tv_fallback["note"]


def _one_line(text) -> str:
    return " ".join(str(text).split())


# ---- what a module offers -----------------------------------------------------------------------------------

class Probe:
    """What one forward pass of ``model`` on ``input_shape`` showed: ``offers`` (a set of NEEDS keys), the
    output width ``classes`` (None when the output is not [batch, K]) and the name of the final GAP module."""

    def __init__(self, offers: set, classes: int | None, gap: str | None, output: str, noise: str = ""):
        self.offers, self.classes, self.gap, self.output, self.noise = offers, classes, gap, output, noise


def probe_model(model: nn.Module, input_shape: tuple[int, int, int, int], device="cpu",
                noise_side: int = ANY_SIZE_PROBE) -> Probe:
    """Run a deep copy of ``model`` (eval mode, no grad) on seeded N(0, 1) input of ``input_shape``
    ([B, C, H, W]), and on meco's 1 x C x ``noise_side`` x ``noise_side`` noise (``any_size``). A forward that
    fails on ``input_shape`` is a one-line UserError naming the shape; so are weights with no values (the meta
    device) or not float32 (the input is float32: half weights failed as a 'size' problem)."""
    tensors = [*model.parameters(), *model.buffers()]
    if any(t.is_meta for t in tensors):
        raise UserError("the model's weights are on the meta device and hold no values: materialize them first "
                        "(model.to_empty(device='cpu'), then initialize them), then score it")
    kinds = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()  # (a float64 buffer: fine)
                    if p.is_floating_point() and p.dtype != torch.float32})
    if kinds:
        raise UserError(f"the model has {', '.join(kinds)} weights; zeronas scores float32 networks on float32 "
                        f"images: call model.float() first")
    m = _copy(model).to(device).eval()
    ran: dict[str, list] = {"relu": [], "bn": [], "gap": []}
    names = {mod: name for name, mod in m.named_modules()}

    def hook(mod, inputs, output):
        if isinstance(mod, nn.ReLU):
            ran["relu"].append(mod)
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
            ran["bn"].append(mod)
        if (c := gap_call(names, mod, inputs, output)) is not None:  # every call: maps after a pooling count
            ran["gap"].append(c)

    x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    handles = [mod.register_forward_hook(hook) for mod in m.modules()]
    try:
        with torch.no_grad(), exit_trapped():
            out = m(x)
    except Exception as exc:  # noqa: BLE001  (the user's forward: one line, not a traceback)
        raise UserError(f"the model fails on an input of shape {list(input_shape)} ({type(exc).__name__}: "
                        f"{_one_line(exc)[:200]}); give images of the size it expects (or --input-size "
                        "without data), and a forward that takes any batch size (this probe feeds 2 images, the "
                        "proxies 1 to --batch-size: e.g. x.flatten(1), not x.view(64, -1))") from None
    finally:
        for h in handles:
            h.remove()
    offers = set()
    noise = f"1x{input_shape[1]}x{noise_side}x{noise_side}"
    try:  # meco feeds its own square noise (--set meco.input_size, 64 px by default): does the network take it?
        with torch.no_grad():
            m(torch.randn((1, input_shape[1], noise_side, noise_side),
                          generator=torch.Generator().manual_seed(1)).to(device))
        offers.add("any_size")
    except Exception:  # noqa: BLE001,S110  (a fixed-size network: meco does not apply at this size)
        pass
    if ran["relu"]:
        offers.add("relu")
    if ran["bn"]:
        offers.add("bn")
    if any(isinstance(mod, (nn.Conv2d, nn.Linear)) for mod in m.modules()):
        offers.add("conv_linear")
    if any(True for _ in m.parameters()):  # frozen ones too: the proxies' copy sets requires_grad
        offers.add("params")
    if callable(getattr(m, "cell_features", None)):  # the AZ-NAS proxies read it, as on a plug-in space's network
        offers.add("cell_features")
    classes = None
    if torch.is_tensor(out):
        offers.add("tensor_output")
    if torch.is_tensor(out) and out.dim() == 2 and out.shape[0] == input_shape[0] and out.shape[1] >= 2:
        offers.add("classifier")
        classes = int(out.shape[1])
    shape = list(out.shape) if torch.is_tensor(out) else type(out).__name__
    if torch.is_tensor(out) and out.dim() == 2 and out.shape[1] == 1:  # not "no classifier": one value per image
        shape = (f"{shape}: one value per image, a regression or single-logit head; the loss-based proxies read "
                 f"cross-entropy over 2 or more class scores: give two classes 2 logits")
    gap = final_gap(ran["gap"])
    if gap is not None:
        offers.add("pre_gap")
    return Probe(offers, classes, gap, f"output {shape}", noise)  # (a NaN output: scoring.network_nonfinite says so)


def meco_side(options) -> int:
    """The side of meco's noise input under ``options`` (``{"meco": {"input_size": N}}``), else its default 64;
    an invalid value is left to the option check, which names it."""
    side = ((options or {}).get("meco") or {}).get("input_size", ANY_SIZE_PROBE)
    return side if isinstance(side, int) and not isinstance(side, bool) and side >= 1 else ANY_SIZE_PROBE


def inspect_model(model: nn.Module, input_shape=(2, 3, 32, 32)) -> set[str]:
    """What ``model`` offers the proxies (keys of ``zeronas.proxies.base.NEEDS``), from its modules and one probe
    forward on ``input_shape`` ([B, C, H, W], B >= 2). See the module docstring for each key."""
    return probe_model(model, tuple(input_shape)).offers


def _copy(model: nn.Module) -> nn.Module:
    try:
        return copy.deepcopy(model)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"the model cannot be deep-copied ({type(exc).__name__}: {_one_line(exc)[:150]}); zeronas "
                        "scores a copy so that your weights stay unchanged") from None


def model_digest(model: nn.Module) -> str:
    """sha256 of the module structure (its repr), every state tensor and the code of the user's own module
    classes (``paths.user_classes_digest``: an edited ``forward`` changes it; torch's and torchvision's classes
    add nothing): the same network, the same key."""
    h = hashlib.sha256(repr(model).encode())
    h.update(user_classes_digest({type(m) for m in model.modules()}))
    for k, v in model.state_dict().items():
        h.update(k.encode())
        t = v.detach().cpu().contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# ---- loading a module from a spec ---------------------------------------------------------------------------

def data_classes(data) -> int | None:
    """The class count of ``data`` when it names one without loading images: an image folder's class folders or
    a dataset's classes; None otherwise (none, auto, arrays)."""
    from .data.custom import is_image_folder, network_for
    from .data.datasets import is_dataset_name

    named = data is not None and (is_image_folder(data) or is_dataset_name(data))
    return network_for(data)[1] if named else None


def load_model(spec: str, num_classes: int | None = None, seed: int = 0,
               data_classes: int | None = None) -> tuple[nn.Module, str]:
    """``path/to/file.py:fn`` (calls ``fn()``, or ``fn(num_classes=...)`` when ``num_classes`` is given and
    ``fn`` takes it; a module the file built is taken as it is), ``torchvision:NAME`` or ``timm:NAME`` ->
    (module, name). ``num_classes`` is passed to torchvision/timm builders. The module is
    built with torch's RNG seeded by ``seed`` (the same spec and seed give the same initial weights).
    ``data_classes``: the class count of the data it will be scored on, given to a file's function that takes
    ``num_classes`` when ``num_classes`` is not (torchvision/timm builders keep their own default). Every
    failure is a one-line UserError."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _load_model(spec, num_classes, data_classes, seed)


def model_key(spec: str) -> str:
    """The model a ``--model`` spec names, the same however its file's path is written (``m.py:f``,
    ``./m.py:f`` and ``/abs/m.py:f`` are one model): a file spec with its path resolved, others as given."""
    source, sep, fn_name = str(spec).rpartition(":")
    if not sep or not source or source in PACKAGES:
        return str(spec)
    return f"{Path(source).expanduser().resolve()}:{fn_name}"


def _load_model(spec: str, num_classes: int | None, data_classes: int | None = None,
                seed: int = 0) -> tuple[nn.Module, str]:
    source, sep, fn_name = str(spec).rpartition(":")
    if not sep or not source or not fn_name:
        raise UserError(f"--model {spec!r}: write path/to/file.py:function, torchvision:NAME or timm:NAME")
    if source in PACKAGES:
        return _package_model(source, fn_name, num_classes), spec
    path = Path(source).expanduser()
    if path.suffix != ".py":
        raise UserError(f"--model {spec!r}: {source!r} is not a .py file (or torchvision / timm)")
    if not path.is_file():
        raise UserError(f"--model {spec!r}: {source!r} does not exist")
    try:
        module = _torchvision_retry(lambda: run_user_file(path, "zeronas_user_model"))  # as 'python file.py'
    except Exception as exc:  # noqa: BLE001  (the user's file: one line, not a traceback)
        raise UserError(f"--model {spec!r}: running {source} failed ({type(exc).__name__}: "
                        f"{_one_line(exc)[:200]})") from None
    fn = getattr(module, fn_name, None)
    if fn is None or not callable(fn):
        defined = sorted(n for n, v in vars(module).items() if not n.startswith("_") and (
            isinstance(v, nn.Module) or (callable(v) and getattr(v, "__module__", None) == module.__name__)))
        raise UserError(f"--model {spec!r}: {source} defines no function or module {fn_name!r} (functions and "
                        f"modules defined there: {', '.join(defined) or 'none'})")
    if isinstance(fn, nn.Module):  # a network the file built (seeded as fn() would be): used as it is
        return fn, f"{path.name}:{fn_name}"
    call = fn
    k = num_classes or data_classes
    if k is not None and _takes(fn, "num_classes"):  # def make(num_classes=10): --num-classes or the data sizes it
        def call():
            return fn(num_classes=k)
    elif k is None and _requires(fn, "num_classes"):  # def make(num_classes): nothing says how many
        raise UserError(f"--model {spec!r}: {fn_name}() needs num_classes and nothing gives it; pass --num-classes "
                        "N, or --data with labelled images (their class count is passed)")
    # seeded again right before fn(): what the file's own code drew when it ran (a module-level net, a random
    # constant) must not move the weights fn() draws (a file that draws nothing: the same stream as before)
    torch.manual_seed(seed)
    try:
        with user_code(path.resolve().parent):  # fn() may import beside its file too
            model = _torchvision_retry(call)
    except Exception as exc:  # noqa: BLE001
        why = _one_line(exc)[:200]
        raise UserError(f"--model {spec!r}: {fn_name}() failed ({type(exc).__name__}: {why})") from None
    if not isinstance(model, nn.Module):
        kind = type(model).__name__
        raise UserError(f"--model {spec!r}: {fn_name}() returned {with_article(kind)}, "
                        "not a torch.nn.Module")
    return model, f"{path.name}:{fn_name}"


def _takes(fn, name: str) -> bool:
    """Whether ``fn`` takes a keyword ``name`` (a parameter of that name, or ``**kwargs``)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _requires(fn, name: str) -> bool:
    """Whether ``fn`` has a parameter ``name`` without a default (``def make(num_classes)``)."""
    import inspect

    try:
        param = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return param is not None and param.default is param.empty and param.kind != param.VAR_KEYWORD


def _torchvision_retry(call):
    """``call()``; when it dies of the broken torchvision import (a user's file or builder doing ``import
    torchvision`` beside a torch its C extension was not built for), once more after ``import_torchvision``
    has applied its fallback, so a user's own file gets what ``torchvision:NAME`` gets."""
    try:
        return call()
    except RuntimeError as exc:
        if not _MISSING_OP.match(str(exc).strip()):
            raise
        import_torchvision()
    return call()


def _package_model(package: str, name: str, num_classes: int | None) -> nn.Module:
    try:
        lib = import_torchvision() if package == "torchvision" else importlib.import_module(package)
    except ImportError:
        raise UserError(f"--model {package}:{name} needs the {package} package, which is not installed; install the "
                        f"{package} build that matches your torch {torch.__version__.split('+')[0]}: "
                        f"pip install {PACKAGES[package]}") from None
    except Exception as exc:  # noqa: BLE001  (installed but broken, e.g. built for another torch)
        raise UserError(f"--model {package}:{name}: {package} is installed but fails to import ({type(exc).__name__}: "
                        f"{_one_line(exc)[:150]}); install the build that matches torch "
                        f"{torch.__version__}") from None
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    try:
        if package == "torchvision":
            available = lib.models.list_models()
            if name not in available:
                raise UserError(f"--model torchvision:{name}: no such torchvision model; e.g. "
                                f"{', '.join(sorted(available)[:8])} (torchvision.models.list_models())")
            return lib.models.get_model(name, weights=None, **TORCHVISION_BUILD.get(name, {}), **kwargs)
        if not lib.list_models(name):
            raise UserError(f"--model timm:{name}: no such timm model (timm.list_models() names them)")
        return lib.create_model(name, pretrained=False, **kwargs)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"--model {package}:{name}: building it failed ({type(exc).__name__}: "
                        f"{_one_line(exc)[:200]})") from None


# ---- scoring ------------------------------------------------------------------------------------------------

class ModelSpace:
    """The one-architecture 'space' of a user's module: building gives a deep copy (with ``forward_pre_gap``
    when the module has a final GAP), so the Scorer and the proxies never touch the user's weights."""

    name = "model"
    edge_weighted = False

    def __init__(self, model: nn.Module, label: str, digest: str, gap: str | None):
        self.model, self.label, self.digest, self.gap = model, label, digest, gap

    def coerce(self, arch):
        return arch

    def parse(self, text):
        return text

    def format(self, arch) -> str:
        return self.label

    def canonical(self, arch) -> str:
        return f"{self.label}@{self.digest[:16]}"

    def representative(self, arch):
        return arch

    def build(self, arch, **_options) -> nn.Module:
        model = _copy(self.model)
        if self.gap is not None:
            attach_pre_gap(model, self.gap)
        return model


class ModelContext(ScoringContext):
    """A ScoringContext whose inputs have the user's channels and (possibly non-square) size."""

    def __init__(self, *args, input_chw: tuple[int, int, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.input_chw = input_chw

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        return (batch, *self.input_chw)


def input_hw(input_size) -> tuple[int, int] | None:
    """(H, W) of an input size given as N, "HxW" or (H, W); None stays None."""
    if input_size is None:
        return None
    if isinstance(input_size, str):
        parts = input_size.lower().split("x")
        return (int(parts[0]), int(parts[-1]))
    if isinstance(input_size, (tuple, list)):
        return (int(input_size[0]), int(input_size[1]))
    return (int(input_size), int(input_size))


def _materialize_lazy(model: nn.Module, input_shape, device) -> None:
    """Give a model with lazy modules (``nn.LazyLinear``, ...) its parameters by one eval-mode forward of zeros
    of ``input_shape``, as torch asks; hashing or copying their uninitialised parameters fails otherwise."""
    if not any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        return
    was_training = model.training
    try:
        with torch.no_grad(), exit_trapped():
            model.to(device).eval()(torch.zeros(input_shape, device=device))
    except Exception as exc:  # noqa: BLE001  (the user's forward: one line, not a traceback)
        raise UserError(f"the model's lazy modules could not be initialised by a forward of shape "
                        f"{list(input_shape)} ({type(exc).__name__}: {_one_line(exc)[:160]}); give images of the "
                        "size it expects (or --input-size without data)") from None
    finally:
        model.train(was_training)


def _probe_channels_last(model: nn.Module, input_shape, device) -> None:
    """An eval-mode and a train-mode forward of a channels-last copy of ``model``: a forward that needs NCHW
    strides (``x.view`` of a feature map) is one UserError, before any scoring."""
    from .proxies.context import to_channels_last

    m = to_channels_last(_copy(model).to(device), "the model")
    x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    try:
        with torch.no_grad(), exit_trapped():
            m.eval()(x)
            m.train()(x)  # as most proxies run it: a forward may differ by mode
    except Exception as exc:  # noqa: BLE001  (the user's forward: one line, not a traceback)
        raise UserError(f"the model fails in the channels-last layout ({type(exc).__name__}: "
                        f"{_one_line(exc)[:160]}); use x.flatten(1) / x.reshape(...) instead of x.view(...) on "
                        "feature maps, or drop --memory-format channels-last") from None


class ModelScorer(Scorer):
    """Scores one user module. ``data``: None / ``"none"`` (data-free proxies only, on ``input_size``, default
    32x32, 3 channels), ``"auto"`` / a dataset name (the built-in images, as for the spaces), an image-folder
    path, ``(x, y)`` arrays, a torch Dataset/DataLoader or an ImageSet. ``heldout``: held-out images in any of
    those forms (only teg_mse needs them). ``num_classes`` defaults to the model's output width; labels beyond
    it are an error. ``max_images`` caps the images read from user data."""

    def __init__(self, model: nn.Module, proxies="all", *, data=None, heldout=None, input_size=None,
                 num_classes=None, model_name: str | None = None, max_images: int = MAX_IMAGES, data_dir=None,
                 batch_size=64, seed=0, init="torch-default", device="cpu", options: dict | None = None,
                 train_steps: int = 0, train_lr: float | None = None, memory_format: str = "contiguous"):
        if not isinstance(model, nn.Module):
            raise UserError(f"zeronas scores a torch.nn.Module; got a {type(model).__name__}")
        from .proxies.context import layout_name
        from .scoring import labels_past, resolve_device

        memory_format = layout_name(memory_format)  # torch.channels_last too, before the probe below reads it

        device = resolve_device(device)  # before the probe runs the model there
        images, note = self._load_data(data, data_dir, max_images, seed)
        held = None if heldout is None else user_heldout(heldout, images, seed, max_images)
        hw = input_hw(input_size)
        if images is not None:
            data_hw, channels = (int(images.x.shape[1]), int(images.x.shape[2])), int(images.x.shape[3])
            if hw is not None and hw != data_hw:
                raise UserError(f"--input-size {hw[0]}x{hw[1]} differs from the images' {data_hw[0]}x{data_hw[1]}; "
                                "drop --input-size (it is read from the data) or resize the images")
            hw = data_hw
        else:
            hw, channels = hw or (32, 32), 3
        self.input_chw = (channels, *hw)
        _materialize_lazy(model, (2, *self.input_chw), device)
        self.model_probe = probe_model(model, (2, *self.input_chw), device=device, noise_side=meco_side(options))
        if memory_format == "channels-last":  # before any proxy: otherwise every one fails alike
            _probe_channels_last(model, (2, *self.input_chw), device)
        k = self.model_probe.classes
        if num_classes is not None and k is not None and num_classes != k:
            raise UserError(f"--num-classes {num_classes}, but the model outputs {k} values per sample; drop "
                            f"--num-classes (the model's {k} are used) or give a model with {num_classes} outputs "
                            "(a model function taking num_classes gets it)")
        past = labels_past(k, images, held)
        if past:
            what, top = past
            raise UserError(f"the {what} has {top + 1} classes (labels 0..{top}) but the model outputs {k} "
                            f"value{'s' if k > 1 else ''} per sample; give a model with {top + 1} outputs (a "
                            f"model function taking num_classes gets it)")
        if images is not None and k is not None:
            n_data = images.info.num_classes  # the class list's length, else the largest label + 1
            if k > n_data:  # legal for a loss, but rarely meant: said, not refused
                unused = f"{k - n_data} output{'s' if k - n_data > 1 else ''}"
                note = "; ".join(filter(None, [note, f"the model outputs {k} values per sample but the data has "
                                                     f"{n_data} classes: {unused} no label uses"]))
        self.label = model_name or type(model).__name__
        self.digest = model_digest(model)
        space = ModelSpace(model, self.label, self.digest, self.model_probe.gap)
        self.requested = resolve_proxies(proxies)
        classes = num_classes or k or (images.info.num_classes if images is not None else 10)
        with caller("api"):  # values of its own (data='given'): Scorer checks only what a user hands it
            super().__init__(space, proxies, data="none" if images is None else "given", images=images,
                             heldout=held, num_classes=classes, batch_size=batch_size, seed=seed, init=init,
                             device=device, options=options, skip_unavailable=True, train_steps=train_steps,
                             train_lr=train_lr, memory_format=memory_format)
        self.input_size = hw[0] if hw[0] == hw[1] else hw
        self.data_note = note
        self.options = {p.name: {**p.defaults, **(options or {}).get(p.name, {})} for p in self.requested}
        self._ctx = None

    @staticmethod
    def _load_data(data, data_dir, max_images, seed):
        if data is None or (isinstance(data, str) and data.strip().lower() == "none"):
            return None, "no data given: data-free proxies only"
        from .data.custom import is_image_folder, shadowed_folder_note

        if isinstance(data, (str, os.PathLike)) and not is_image_folder(data):  # a dataset's name wins, as for spaces
            from .data import dataset_info, load_images

            name = "cifar10" if str(data).lower() == "auto" else str(data)
            info = dataset_info(name)
            try:
                return load_images(info.name, "train", data_dir), shadowed_folder_note(data)
            except DataNotFound as exc:
                if str(data).lower() == "auto":
                    return None, f"no images found, data-free proxies only ({exc})"
                raise
        return user_images(data, max_images=max_images, seed=seed), ""

    # ---- the Scorer's hooks, for one module ----
    def _heldout(self):
        return self.heldout  # only what the caller gave: a user's data has no 'test split' to look up

    def protocol(self, spec: ProxySpec) -> dict:
        p = super().protocol(spec)
        p["model"] = {"name": self.label, "sha256": self.digest[:16], "input_chw": list(self.input_chw),
                      "offers": sorted(self.model_probe.offers)}
        return p

    def context(self, arch) -> ScoringContext:
        if self._ctx is None:  # one copy of the module and one set of batches for every proxy
            self._ctx = ModelContext(self.space, arch, images=self.images, heldout=self.heldout,
                                     num_classes=self.num_classes, input_size=self.input_size,
                                     batch_size=self.batch_size, seed=self.seed, init=self.init, device=self.device,
                                     train_steps=self.train_steps, train_lr=self.train_lr, input_chw=self.input_chw,
                                     memory_format=self.memory_format)
            self._ctx._batches = self._batches
        return self._ctx

    # ---- applicability ----
    def offers(self) -> set[str]:
        data = set()
        if self.images is not None:
            data.add("images")
        if self.heldout is not None:
            data.add("heldout")
        return self.model_probe.offers | data

    @staticmethod
    def requires(spec: ProxySpec) -> set[str]:
        """Everything ``spec`` needs: its declared network needs plus images / held-out images."""
        need = set(spec.needs)
        if spec.needs_images:
            need.add("images")
        if spec.data == "batch+heldout":
            need.add("heldout")
        return need

    def inapplicable(self, spec: ProxySpec) -> str | None:
        """Why ``spec`` does not apply to this module and data (one line), or None when it does."""
        if spec.name in self.skip_notes:  # its own default batch is larger than the images given
            return f"refused: {self.skip_notes[spec.name]}"
        missing = sorted(self.requires(spec) - self.offers())
        if not missing:
            return None
        what = "; ".join({**NEEDS, **DATA_NEEDS}[m] for m in missing)
        lacks = ("this model has none" if set(missing) <= set(NEEDS)
                 else "none were given" if set(missing) <= set(DATA_NEEDS) else "these are missing")
        extra = f" ({self.model_probe.output})" if {"classifier", "tensor_output"} & set(missing) else ""
        if "any_size" in missing:
            extra += (f" (it fails on meco's {self.model_probe.noise} noise; --set meco.input_size=N feeds NxN, "
                      f"e.g. the images' side)")
        return f"{INAPPLICABLE}needs {what}; {lacks}{extra}"

    def _refusal(self, spec: ProxySpec, why: str) -> ScoreRecord:
        proto = self.protocol(spec)
        return ScoreRecord(self.space.name, self.label, self.space.canonical(self.label), spec.name, math.nan, 0.0,
                           spec.direction, proto, protocol_hash(proto), error=why)

    def score_model(self) -> list[ScoreRecord]:
        """One record per requested proxy, in the order asked: a value, or NaN with the reason it has none."""
        records = []
        # one context serves every proxy: plan them all, so the families that share a forward pass share it
        plan(self.context(self.label), [s.name for s in self.requested if self.inapplicable(s) is None],
             self.options)
        for spec in self.requested:
            why = self.inapplicable(spec)
            if why is None:
                t0 = time.perf_counter()
                try:
                    rec = super().score_arch(self.label, proxies=[spec])
                except UserError as exc:  # the proxy refused this module: name why, score the others
                    why = f"refused: {_one_line(exc)}"
                else:
                    records.extend(_second_order_refusal(r) for r in rec)
                    continue
                records.append(self._refusal(spec, why))
                records[-1].seconds = time.perf_counter() - t0
            else:
                records.append(self._refusal(spec, why))
        self._note_flops(records)  # (a NaN/inf from a broken model is said as such by Scorer.score_arch)
        note = torchvision_note()
        if note and records and type(self.space.model).__module__.startswith("torchvision."):
            records[0].notes.append(note)  # once per scoring, on the first record
        return records

    def score(self, archs=None, progress: bool = False) -> list[ScoreRecord]:
        return self.score_model()

    def _note_flops(self, records):
        """FLOPs count conv/linear/BN/ReLU/pooling modules only: say so when the model has other elementwise or
        normalising work (convolutions and matrix products outside those modules are measured: the proxy's
        own note gives their size)."""
        uncounted = sorted({type(m).__name__ for m in self.space.model.modules()
                            if isinstance(m, (nn.LayerNorm, nn.GELU, nn.SiLU, nn.GroupNorm, nn.Softmax))})
        for r in records:
            if r.proxy == "flops" and r.error is None and uncounted:
                r.notes.append(f"flops: counts conv/linear/BN/ReLU/pooling modules only; not counted here: the "
                               f"elementwise work of {', '.join(uncounted)}")


_NO_DOUBLE_BACKWARD = re.compile(r"derivative for (aten::\w+) is not implemented")


def _second_order_refusal(record: ScoreRecord) -> ScoreRecord:
    """A proxy that differentiates a gradient (grasp's Hessian-gradient product) fails inside torch on a layer
    with no double backward (e.g. nn.Hardsigmoid, in MobileNetV3's squeeze-excitation): a refusal, not a bug."""
    found = _NO_DOUBLE_BACKWARD.search(record.error or "")
    if found:
        record.error = (f"refused: needs second derivatives of the network ({record.proxy} differentiates a "
                        f"gradient); torch implements no derivative of {found.group(1)}, which this model uses "
                        "(e.g. nn.Hardsigmoid)")
    return record


MODEL_KEYWORDS = ("data", "heldout", "input_size", "num_classes", "model_name", "max_images", "data_dir",
                  "batch_size", "seed", "init", "device", "options", "train_steps", "train_lr")


@api(command="score_model")
def score_model(model: nn.Module, proxies="all", *, data=None, heldout=None, input_size=None, num_classes=None,
                model_name: str | None = None, max_images: int = MAX_IMAGES, data_dir=None, batch_size=64, seed=0,
                init="torch-default", device="cpu", options: dict | None = None, train_steps: int = 0,
                train_lr: float | None = None, memory_format: str = "contiguous") -> list[ScoreRecord]:
    """``zeronas.score(model, proxies="all", data="path/to/folder")``: one record per proxy (see ModelScorer)."""
    return ModelScorer(model, proxies, data=data, heldout=heldout, input_size=input_size, num_classes=num_classes,
                       model_name=model_name, max_images=max_images, data_dir=data_dir, batch_size=batch_size,
                       seed=seed, init=init, device=device, options=options, train_steps=train_steps,
                       train_lr=train_lr, memory_format=memory_format).score_model()
