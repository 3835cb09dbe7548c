"""Your own model and data (issue 25 items 1, 2, 4): any nn.Module through the API and the CLI, image folders,
arrays and torch datasets; every proxy gives a value or says in one line why not; the user's weights never change."""

import hashlib
import importlib.util
import json
import math
import os
import re
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import zeronas
from zeronas.cli import main
from zeronas.data.custom import from_arrays, image_folder, shadowed_folder_note
from zeronas.errors import UserError
from zeronas.models import ModelScorer, inspect_model, load_model
from zeronas.proxies.base import list_proxies

from .conftest import make_image_folder, needs_cifar


class GeluNet(nn.Module):
    """GELU, LayerNorm, an attention block, no BN; fixed to 40x24 inputs by its LayerNorm."""

    def __init__(self, classes=5):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.ln = nn.LayerNorm([8, 40, 24])
        self.act = nn.GELU()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        h = self.act(self.ln(self.conv(x)))
        t = h.flatten(2).transpose(1, 2)
        t = t + self.attn(t, t, t)[0]
        return self.fc(self.pool(t.transpose(1, 2).reshape(h.shape)).flatten(1))


def relu_net(classes=4):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))


def _arrays(n=64, h=40, w=24, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8), rng.integers(0, classes, n)


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _applies_or_says_why(records):
    for r in records:
        if r.error is None:
            assert math.isfinite(r.value) or getattr(r, "reason", None), (r.proxy, r.value)
        else:
            assert r.error.startswith(("inapplicable: ", "refused: ")) and "\n" not in r.error, (r.proxy, r.error)
            assert math.isnan(r.value)


def test_memory_format_channels_last_applies_to_a_users_model_too():
    """A user's module scored with memory_format='channels-last' runs NHWC (other store key); its snip moves only by
    float rounding (train-mode BN sums in another order), and nwot, whose codes keep their signs here, not at all."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 10))
    a, b = ({r.proxy: r for r in zeronas.score(model, proxies="snip,nwot", data=_arrays(), batch_size=8,
                                                memory_format=f)} for f in ("contiguous", "channels-last"))
    assert b["snip"].value == pytest.approx(a["snip"].value, rel=1e-4) and b["nwot"].value == a["nwot"].value
    assert b["snip"].protocol["memory_format"] == "channels-last" and "memory_format" not in a["snip"].protocol
    assert next(model.parameters()).is_contiguous()  # the user's module is left as it was

    class Viewed(nn.Module):  # x.view of a feature map needs NCHW strides
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4 * 8 * 8, 10)

        def forward(self, x):
            return self.fc(self.conv(x).view(x.size(0), -1))

    class TrainViewed(Viewed):  # the view only in train mode, as most proxies run the network
        def forward(self, x):
            h = self.conv(x)
            return self.fc(h.view(x.size(0), -1) if self.training else h.flatten(1))

    for bad in (Viewed(), TrainViewed()):
        assert zeronas.score(bad, proxies="synflow", data="none", input_size=8)[0].error is None  # NCHW: fine
        with pytest.raises(UserError, match=r"^the model fails in the channels-last layout \(RuntimeError: view "
                                            r"size .*; use x.flatten\(1\) / x.reshape\(...\) instead of "
                                            r"x.view\(...\) on feature maps, or drop memory_format='channels-last'$"):
            zeronas.score(bad, proxies="synflow", data="none", input_size=8, memory_format="channels-last")
    with pytest.raises(UserError, match=r"^the model fails in the channels-last layout"):  # torch's own name too
        zeronas.score(Viewed(), proxies="synflow", data="none", input_size=8, memory_format=torch.channels_last)

    class FiveD(nn.Module):  # a 5-d buffer stays as it is; the 4-d conv weight is laid out channels-last
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 10, 3, padding=1)
            self.register_buffer("five", torch.zeros(1, 1, 1, 1, 2))

        def forward(self, x):
            return self.conv(x).mean((2, 3))

    net = FiveD()
    five = {f: zeronas.score(net, proxies="synflow", data="none", input_size=8, memory_format=f)[0]
            for f in ("contiguous", "channels-last")}
    assert five["channels-last"].error is None and five["channels-last"].value == pytest.approx(
        five["contiguous"].value, rel=1e-12)


def test_gelu_layernorm_attention_model_no_bn_non_square_channels_last():
    torch.manual_seed(0)
    model = GeluNet().to(memory_format=torch.channels_last)
    before, training = _state(model), model.training
    records = zeronas.score(model, proxies="all", data=_arrays(), batch_size=8,
                            options={"zico": {"num_batches": 2}})
    assert [r.proxy for r in records] == list_proxies()
    _applies_or_says_why(records)
    by = {r.proxy: r for r in records}
    refused = {p for p, r in by.items() if r.error}
    relu = {"nwot", "das", "das_d", "das_na", "das_layerwise", "swap"}
    space_only = {"zeros", "az_expressivity", "az_progressivity", "az_trainability", "linear_regions", "teg_mse"}
    assert refused == relu | space_only | {"synflow_bn", "meco"}, refused
    assert "nn.ReLU" in by["nwot"].error and "batch-norm" in by["synflow_bn"].error
    assert "fails on meco's 1x3x64x64 noise" in by["meco"].error  # its LayerNorm fixes the size
    for p in ("params", "flops", "l2_norm", "snip", "grad_norm", "synflow", "jacob_cov", "epe_nas", "ntk_cond",
              "zen", "zico", "fisher", "grasp", "plain"):
        assert by[p].error is None and math.isfinite(by[p].value), (p, by[p])
    assert any("not counted" in n for n in by["flops"].notes)
    assert _same(before, _state(model)) and model.training == training  # the user's weights are untouched
    proto = by["snip"].protocol
    assert proto["space"] == "model" and proto["input_size"] == (40, 24)
    assert proto["model"]["input_chw"] == [3, 40, 24] and "relu" not in proto["model"]["offers"]
    assert proto["data"]["image_hw"] == [40, 24] and len(proto["data"]["content_sha256"]) == 16
    assert len(proto["data"]["mean"]) == 3 and all(0 < s < 1 for s in proto["data"]["std"])


def test_relu_bn_model_runs_the_relu_and_bn_families_from_a_dataloader():
    torch.manual_seed(1)
    model = relu_net()
    before = _state(model)
    x = torch.randn(48, 3, 20, 28)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.arange(48) % 4), batch_size=16)
    names = ["nwot", "das", "swap", "synflow_bn", "zen", "meco", "snip", "zeros"]
    records = ModelScorer(model, names, data=loader, batch_size=8, options={"swap": {"repeats": 2}}).score_model()
    _applies_or_says_why(records)
    by = {r.proxy: r for r in records}
    for p in names[:-1]:
        assert by[p].error is None and math.isfinite(by[p].value), (p, by[p])
    assert by["zeros"].error.startswith("inapplicable: needs a cell network")
    assert _same(before, _state(model))


def test_init_rule_reinitialises_a_copy_only():
    torch.manual_seed(2)
    model = relu_net()
    before = _state(model)
    a = zeronas.score(model, proxies="l2_norm", data=None, init="kaiming")[0]
    b = zeronas.score(model, proxies="l2_norm", data=None)[0]
    assert a.value != b.value and a.protocol["init"] == "kaiming"
    assert _same(before, _state(model))


def test_inspect_model_offers():
    assert inspect_model(relu_net()) >= {"relu", "bn", "conv_linear", "classifier", "pre_gap", "any_size"}
    offers = inspect_model(GeluNet(), (2, 3, 40, 24))
    assert offers == {"conv_linear", "params", "classifier", "tensor_output", "pre_gap"}

    class FunctionalRelu(nn.Module):  # F.relu is invisible from outside: no "relu" offered
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 3)

        def forward(self, x):
            return torch.relu(self.fc(x.flatten(1)[:, :12]))

    assert "relu" not in inspect_model(FunctionalRelu())


def test_data_free_model_scoring_with_input_size():
    records = zeronas.score(GeluNet(), proxies=["params", "synflow", "snip"], input_size="40x24")
    by = {r.proxy: r for r in records}
    assert by["params"].error is None and by["synflow"].error is None
    assert by["snip"].error == "inapplicable: needs real images (data=); none were given"  # keywords: a Python call
    with pytest.raises(UserError, match=r"fails on an input of shape \[2, 3, 32, 32\]"):
        zeronas.score(GeluNet(), proxies="params")  # its LayerNorm wants 40x24
    with pytest.raises(UserError, match="only apply when scoring a torch.nn.Module"):
        zeronas.score("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", proxies="params", data="none",
                      input_size=32)


# ---- data ----------------------------------------------------------------------------------------------------



def test_image_folder_layout_labels_normalisation_and_hash(tmp_path):
    root = make_image_folder(tmp_path / "f")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "dog" / "odd_size_gray.jpg")
    im = image_folder(root)
    assert im.classes == ("cat", "dog") and im.x.shape == (7, 12, 10, 3) and list(im.y) == [0, 0, 0, 1, 1, 1, 1]
    assert "1 resized to 12x10" in im.fidelity
    assert im.info.image_size == (12, 10) and im.info.num_classes == 2
    assert np.allclose(im.info.mean, (im.x / 255).reshape(-1, 3).mean(0))
    assert image_folder(root).content_sha256 == im.content_sha256
    assert image_folder(root, max_images=4).x.shape[0] == 4


def test_sixteen_bit_images_are_scaled_not_clipped_and_float_pixels_refused(tmp_path):
    """A user trial: 16-bit grey PNGs were read through Pillow's convert("RGB"), which clips at 255, so noise
    became a white image (mean 0.998) without a word. 0, 257, 32896 and 65535 are 0, 1, 128 and 255 in 8 bits."""
    root = tmp_path / "f"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        Image.fromarray(np.array([[0, 257], [32896, 65535]], np.uint16)).save(root / c / "x.png")
    with Image.open(root / "a" / "x.png") as im:
        assert im.mode.startswith("I")  # what Pillow hands the reader: not 8-bit
    im = image_folder(root)
    assert im.x.shape == (2, 2, 2, 3) and im.x[0, ..., 0].tolist() == [[0, 1], [128, 255]]
    assert (im.x[..., 0] == im.x[..., 2]).all()  # grey: the same value in every channel
    from zeronas.data.custom import rgb8

    assert rgb8(Image.fromarray(np.array([[0, 7], [200, 255]], np.int32)), "x")[..., 0].tolist() == [[0, 7],
                                                                                                    [200, 255]]
    Image.fromarray(np.ones((2, 2), np.float32)).save(root / "b" / "y.tiff")
    with pytest.raises(UserError, match=r"y.tiff: 32-bit float pixels \(mode F\) have no fixed range"):
        image_folder(root)


@pytest.mark.parametrize("case", ["broken", "no_class_folders", "empty_class", "mismatched", "missing", "one_class",
                                  "one_level_too_deep"])
def test_image_folder_problems_are_one_line_user_errors(tmp_path, case):
    root = tmp_path / "f"
    if case == "broken":
        make_image_folder(root)
        (root / "cat" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
        match = "9.png: not a readable image"
    elif case == "no_class_folders":
        root.mkdir()
        match = "has no class folders"
    elif case == "empty_class":
        make_image_folder(root)
        (root / "bird").mkdir()
        match = "class folder 'bird' holds no images"
    elif case == "mismatched":
        make_image_folder(root)
        match = r"do not match the classes given \(missing: cow; not expected: dog\)"
    elif case == "one_class":
        make_image_folder(root, classes=("cat",))
        match = r"holds one class folder \(cat\): a classifier needs at least two classes"
    elif case == "one_level_too_deep":  # a newcomer trial: root/data/<class>/ was read as one class 'data'
        make_image_folder(root / "data")
        match = rf"holds one folder, 'data', and it holds 2 folders \(cat, dog\): if those are the classes, give " \
                rf"'{re.escape(str(root / 'data'))}'"
    else:
        match = "does not exist"
    with pytest.raises(UserError, match=match) as exc:
        image_folder(root, classes=("cat", "cow") if case == "mismatched" else None)
    assert "\n" not in str(exc.value)


def test_heldout_with_another_label_set_is_refused(tmp_path):
    train, held = make_image_folder(tmp_path / "train"), make_image_folder(tmp_path / "held", classes=("cat", "emu"))
    with pytest.raises(UserError, match="do not match the classes given"):
        ModelScorer(relu_net(2), "params", data=str(train), heldout=str(held))


def test_arrays_nchw_float_and_label_problems():
    x = np.random.default_rng(0).normal(size=(16, 3, 8, 6)).astype(np.float32)
    im = from_arrays(x, np.arange(16) % 3)
    assert im.x.shape == (16, 8, 6, 3) and im.x.dtype == np.float32 and im.info.num_classes == 3
    records = zeronas.score(relu_net(3), proxies=["snip", "nwot"], data=(x, np.arange(16) % 3), batch_size=8)
    assert all(r.error is None and math.isfinite(r.value) for r in records)
    for y, match in ((np.arange(15), "16 images but labels of shape"), (np.arange(16) - 1, "labels run from -1"),
                     (np.full(16, 0.5), "not integers")):
        with pytest.raises(UserError, match=match):
            from_arrays(x, y)
    # a newcomer trial: "labels up to 2 but the model outputs 2 classes" read as if 2 classes were enough
    with pytest.raises(UserError, match=r"the data has 6 classes \(labels 0\.\.5\) but the model outputs 3 values "
                                        r"per sample; give a model with 6 outputs"):
        zeronas.score(relu_net(3), proxies="snip", data=(x, np.arange(16) % 6))
    # the API names its keyword, the CLI its flag (the trial saw 'input_size' on the command line)
    with pytest.raises(UserError, match=r"^input_size='16x16' differs from the images' 8x6; drop input_size= "):
        zeronas.score(relu_net(3), proxies="snip", data=(x, np.arange(16) % 3), input_size="16x16")
    with pytest.raises(UserError, match="channels"):
        from_arrays(np.zeros((4, 8, 8, 5), np.uint8), np.zeros(4, int))


# ---- loading models --------------------------------------------------------------------------------------------

def test_load_model_from_a_file(tmp_path):
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef build():\n    return nn.Linear(3, 2)\n\n"
                                   "def not_a_module():\n    return 3\n\ndef fails():\n    raise ValueError('bad')\n")
    model, label = load_model(f"{tmp_path}/m.py:build")
    assert isinstance(model, nn.Linear) and label == "m.py:build"
    (tmp_path / "inst.py").write_text("from torch import nn\n\nnet = nn.Sequential(nn.Linear(3, 2))\n")
    model, label = load_model(f"{tmp_path}/inst.py:net", seed=3)  # a module the file builds: taken as it is
    assert isinstance(model, nn.Sequential) and label == "inst.py:net"
    assert torch.equal(model[0].weight, load_model(f"{tmp_path}/inst.py:net", seed=3)[0][0].weight)
    assert torch.equal(load_model(f"{tmp_path}/m.py:build", seed=3)[0].weight,
                       load_model(f"{tmp_path}/m.py:build", seed=3)[0].weight)  # seeded: same initial weights
    for spec, match in ((f"{tmp_path}/m.py:nope", "defines no function or module 'nope'.*build"),
                        (f"{tmp_path}/inst.py:nett", r"modules defined there: net\)"),
                        (f"{tmp_path}/m.py:not_a_module", "returned an int, not a torch.nn.Module"),
                        (f"{tmp_path}/m.py:fails", r"fails\(\) failed \(ValueError: bad\)"),
                        (f"{tmp_path}/absent.py:build", "does not exist")):
        with pytest.raises(UserError, match=match):
            load_model(spec)


def test_a_model_file_imports_the_modules_beside_it(tmp_path, monkeypatch):
    """'from helper import block' in the model's file failed (No module named 'helper'), also when run from its
    folder: the file's folder is on sys.path while it runs and while fn() builds, as for 'python main.py';
    nothing is left on sys.path and no __pycache__ is written next to it."""
    import sys

    pkg = tmp_path / f"pkg_{tmp_path.name}"
    pkg.mkdir()
    helper = f"helper_{tmp_path.name}"  # a name no other test has imported
    (pkg / f"{helper}.py").write_text("from torch import nn\n\ndef block():\n    return nn.Linear(3, 2)\n")
    (pkg / "main.py").write_text(f"from {helper} import block\n\ndef net():\n    import {helper}\n"
                                 f"    return {helper}.block()\n")
    before = list(sys.path)
    model, _ = load_model(f"{pkg}/main.py:net")
    assert isinstance(model, nn.Linear) and sys.path == before
    assert sorted(p.name for p in pkg.iterdir()) == sorted([f"{helper}.py", "main.py"])
    sys.modules.pop(helper, None)


def test_torchvision_and_timm_specs(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # absent: the error names the package to install
    with pytest.raises(UserError, match=r"needs the timm package, which is not installed.*pip install timm "
                                        r"--no-deps, after torchvision: pip install 'zeronas\[vision\]'"):
        load_model("timm:resnet18")
    monkeypatch.setitem(sys.modules, "torchvision", None)  # the README's pinned install, never a bare one
    with pytest.raises(UserError, match=r"pip install 'zeronas\[vision\]', or torchvision==0\.28\.0 --no-deps"):
        load_model("torchvision:resnet18")
    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(list_models=lambda: ["resnet18"],
                                        get_model=lambda name, weights=None, num_classes=1000: relu_net(num_classes))
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    model, label = load_model("torchvision:resnet18", num_classes=7)
    assert label == "torchvision:resnet18" and model[-1].out_features == 7
    with pytest.raises(UserError, match="no such torchvision model"):
        load_model("torchvision:resnet99")


def _torchvision_or_skip():
    """torchvision through zeronas's import (with its narrow fallback), or skip with the reason."""
    from zeronas.models import import_torchvision

    try:
        return import_torchvision()
    except Exception as exc:  # noqa: BLE001  (absent, or a build that fails in another way)
        pytest.skip(f"torchvision is not importable here ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); "
                    "pip install 'zeronas[vision]' (torchvision==0.28.0, the release built for torch 2.13.0)")


def test_real_torchvision_resnet18_when_installed():
    _torchvision_or_skip()
    model, _ = load_model("torchvision:resnet18", num_classes=10)
    records = zeronas.score(model, proxies=["params", "nwot", "zeros"], data=_arrays(16, 32, 32, 10), batch_size=8)
    assert records[0].value == sum(p.numel() for p in model.parameters()) and records[1].error is None


def test_torchvision_fallback_only_when_the_plain_import_fails():
    """In a fresh interpreter: the plain import either works (then no fallback, no note) or fails with exactly
    torchvision's missing-operator error (then the fallback imports it, notes it once, and a classifier builds)."""
    import subprocess

    pytest.importorskip("PIL")
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed (pip install 'zeronas[vision]')")
    code = (
        "import json\n"
        "try:\n    import torchvision\n    plain = 'ok'\n"
        "except Exception as e:\n    plain = f'{type(e).__name__}: {e}'\n"
        "from zeronas.models import import_torchvision, torchvision_note\n"
        "tv = import_torchvision(); tv2 = import_torchvision()\n"
        "m = tv.models.get_model('resnet18', weights=None)\n"
        "print(json.dumps({'plain': plain, 'note': torchvision_note(), 'same': tv is tv2,\n"
        "                  'n': len(tv.models.list_models(module=tv.models)),\n"
        "                  'params': sum(p.numel() for p in m.parameters())}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "operator torchvision::" not in proc.stderr:
        pytest.skip(f"torchvision fails to import in another way: {proc.stderr.strip().splitlines()[-1][:150]}")
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["params"] == 11_689_512 and out["n"] >= 20 and out["same"]
    if out["plain"] == "ok":
        assert out["note"] is None
    else:
        assert out["plain"] == "RuntimeError: operator torchvision::nms does not exist", out["plain"]
        assert out["note"].startswith("torchvision C ops unavailable: detection ops disabled; classification "
                                      "models unaffected")


def test_torchvision_fallback_is_narrow(monkeypatch):
    """Any other import failure propagates unchanged; nothing is defined for it."""
    from zeronas import models

    for message in ("operator torchvision::roi_align does not exist", "CUDA driver version is insufficient",
                    "operator torchvision::nms does not exist (and more)"):
        def broken(message=message):
            raise RuntimeError(message)

        monkeypatch.setattr(models, "_import_tv", broken)
        lib_before = models._tv_fallback["lib"]
        with pytest.raises(RuntimeError, match=re.escape(message)):
            models.import_torchvision()
        assert models._tv_fallback["lib"] is lib_before


def test_cli_torchvision_model_all_proxies(tmp_path, capsys):
    """Acceptance item 1 on a small torchvision model: every proxy is in the table or named with the reason."""
    _torchvision_or_skip()
    root = make_image_folder(tmp_path / "f", classes=("a", "b", "c"), per_class=4, size=(32, 32))
    code, out, err = _cli(["score", "--model", "torchvision:mobilenet_v3_small", "--data", str(root), "--proxies",
                           "all", "--num-classes", "3", "--batch-size", "4", "--threads", "1", "--set",
                           "swap.repeats=2", "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    import json

    records = {r["proxy"]: r for r in json.loads((tmp_path / "o" / "scores.json").read_text())}
    assert list(records) == list_proxies()
    flat = " ".join(out.split())
    for name, r in records.items():
        if r["error"] is None:
            assert re.search(rf"\b{name}\b", out), name
        else:
            assert r["error"].startswith(("inapplicable: ", "refused: ")), (name, r["error"])
            assert f"{name}: {' '.join(r['error'].split())}" in flat
    applied = {n for n, r in records.items() if r["error"] is None}
    # Hardswish + a few nn.ReLU (its SE blocks and early stages), BN, a final GAP: ReLU/BN families apply
    assert {"params", "flops", "synflow", "synflow_bn", "nwot", "zen", "meco", "snip", "zico"} <= applied, applied
    assert {"zeros", "az_expressivity", "linear_regions"}.isdisjoint(applied)
    assert records["params"]["value"] == sum(p.numel() for p in load_model("torchvision:mobilenet_v3_small",
                                                                           num_classes=3)[0].parameters())


# ---- CLI -------------------------------------------------------------------------------------------------------

def _cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    cap = capsys.readouterr()
    return exc.value.code, cap.out, cap.err


def test_cli_model_file_with_an_image_folder(tmp_path, capsys):
    (tmp_path / "m.py").write_text(
        "from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), "
        "nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))\n")
    root = make_image_folder(tmp_path / "f", per_class=4)
    code, out, err = _cli(["score", "--model", f"{tmp_path}/m.py:net", "--data", str(root), "-p",
                           "params,nwot,zeros", "--batch-size", "4", "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    assert "nwot" in out and "params" in out and "not applicable (1):" in out
    assert "zeros: inapplicable: needs a cell network" in " ".join(out.split())
    assert (tmp_path / "o" / "scores.json").exists()
    code, out, err = _cli(["score", "--model", f"{tmp_path}/m.py:net", "--data", str(root), "-p", "params",
                           "--input-size", "16"], capsys)  # the CLI names its flag, not the API's keyword
    assert code == 2 and "--input-size 16x16 differs from the images' 12x10; drop --input-size" in err, err
    # a user trial: every proxy asked inapplicable printed a table of no rows and exited 0
    (tmp_path / "m2.py").write_text((tmp_path / "m.py").read_text())
    one = ["--model", f"{tmp_path}/m.py:net"]
    for models in (one, [*one, "--model", f"{tmp_path}/m2.py:net"]):
        code, out, err = _cli(["score", *models, "--data", str(root), "-p", "zeros", "--batch-size", "4",
                               "--out", str(tmp_path / "none")], capsys)
        assert code == 2 and err.startswith("error: no proxy asked applies to ") and len(err.splitlines()) == 1, err
        assert "zeros: inapplicable: needs a cell network" in err and not (tmp_path / "none").exists()


@pytest.mark.parametrize("body,match", [
    (None, "does not exist"),
    ("def other():\n    pass\n", "defines no function or module 'net'"),
    ("def net():\n    return 'x'\n", "returned a str, not a torch.nn.Module"),
    ("raise SystemError('boom')\n", r"running .* failed \(SystemError: boom\)"),
    ("import sys\nsys.exit('no GPU')\n", r"running .* failed \(ExitCalled: it called sys.exit\('no GPU'\)\)"),
    ("def net():\n    exit(2)\n", r"net\(\) failed \(ExitCalled: it called sys.exit\(2\)\)"),
])
def test_cli_model_file_errors_are_one_line(tmp_path, capsys, body, match):
    if body is not None:
        (tmp_path / "m.py").write_text(body)
    code, out, err = _cli(["score", "--model", f"{tmp_path}/m.py:net", "--data", "none"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    import re

    assert re.search(match, err), err


def test_cli_model_option_conflicts(tmp_path, capsys, monkeypatch):
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef net():\n    return nn.Linear(3, 2)\n")
    code, _, err = _cli(["score", "--model", f"{tmp_path}/m.py:net", "--arch", "x"], capsys)
    assert code == 2 and "drop --arch" in err
    code, _, err = _cli(["score", "--data", str(tmp_path), "-p", "params"], capsys)  # a folder drives spaces too
    assert code == 2 and "no architecture given" in err
    monkeypatch.setitem(sys.modules, "timm", None)
    code, _, err = _cli(["score", "--model", "timm:resnet18", "--data", "none"], capsys)
    assert code == 2 and "needs the timm package" in err and len(err.strip().splitlines()) == 1


class TupleOut(nn.Module):
    """A detector-like head: (logits, features); synflow sums one output, so it has nothing to sum here."""

    def __init__(self):
        super().__init__()
        self.body = relu_net(classes=4)

    def forward(self, x):
        return self.body(x), x.mean(1)


@pytest.mark.parametrize("wrap", [lambda o: o, lambda o: {"logits": o[0], "aux": o[1]}])
def test_synflow_on_a_tuple_or_dict_output_is_inapplicable_with_the_output_named(wrap):
    class Net(TupleOut):
        def forward(self, x):
            return wrap(super().forward(x))

    records = ModelScorer(Net(), ["synflow", "synflow_bn", "params"], data="none", input_size=16).score_model()
    by = {r.proxy: r for r in records}
    for p in ("synflow", "synflow_bn"):
        assert by[p].error.startswith("inapplicable: needs") and "one output tensor" in by[p].error, by[p].error
        assert "(output tuple)" in by[p].error or "(output dict)" in by[p].error
    assert by["params"].error is None and by["params"].value > 0


def test_a_user_file_that_imports_torchvision_builds_in_a_fresh_interpreter(tmp_path):
    """A --model file doing 'import torchvision' itself (top level, or inside its builder) gets the same
    narrow fallback as torchvision:NAME, instead of 'operator torchvision::nms does not exist'."""
    import subprocess

    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed (pip install 'zeronas[vision]')")
    (tmp_path / "top.py").write_text("import torchvision\n\ndef build():\n"
                                     "    return torchvision.models.resnet18(num_classes=3)\n")
    (tmp_path / "inner.py").write_text("def build():\n    import torchvision.models as tm\n"
                                       "    return tm.resnet18(num_classes=3)\n")
    for name in ("top", "inner"):
        code = ("from zeronas.models import load_model\n"
                f"m, label = load_model({str(tmp_path / name)!r} + '.py:build')\n"
                "print(label, m.fc.out_features, sum(p.numel() for p in m.parameters()))\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 and "operator torchvision::" not in proc.stderr + proc.stdout:
            pytest.skip(f"torchvision fails to import in another way: {proc.stderr.strip()[-150:]}")
        assert proc.returncode == 0, proc.stderr[-500:]
        # resnet18 with a 3-class head: 11,689,512 - 1000 * 513 + 3 * 513
        assert proc.stdout.split() == [f"{name}.py:build", "3", str(11_689_512 - 997 * 513)]


def test_more_outputs_than_the_data_has_classes_is_said():
    x, y = _arrays(16, 20, 28, classes=3)
    sc = ModelScorer(relu_net(classes=10), ["params"], data=(x, y), batch_size=8)
    assert "the model outputs 10 values per sample but the data has 3 classes: 7 outputs no label uses" in sc.data_note
    assert "outputs" not in ModelScorer(relu_net(classes=3), ["params"], data=(x, y), batch_size=8).data_note


def test_cli_several_models_are_ranked_per_proxy(tmp_path, capsys):
    (tmp_path / "m.py").write_text(
        "from torch import nn\n\n"
        "def small():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(4, 2))\n\n"
        "def big():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(8, 2))\n\n"
        "def gelu():\n    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(6, 2))\n")
    root = make_image_folder(tmp_path / "f", per_class=4)
    specs = [f"{tmp_path}/m.py:{f}" for f in ("small", "big", "gelu")]
    code, out, err = _cli(["score", *[x for s in specs for x in ("--model", s)], "--data", str(root), "-p",
                           "params,nwot", "--batch-size", "4", "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in out.splitlines() if line.startswith("│")}
    # params by hand: conv 3*C*9 + C, linear C*2 + 2 -> small 4: 122, big 8: 242, gelu 6: 182
    assert [rows[f"m.py:{f}"][0] for f in ("small", "big", "gelu")] == ["122 (3)", "242 (1)", "182 (2)"]
    assert rows["m.py:gelu"][1] == "-" and "m.py:gelu / nwot: inapplicable: needs nn.ReLU" in " ".join(out.split())
    saved = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert len(saved) == 6 and {r["arch"] for r in saved} == {"m.py:small", "m.py:big", "m.py:gelu"}
    code, _, err = _cli(["score", "--model", specs[0], "--model", specs[0], "-p", "params"], capsys)
    assert code == 2 and "is given twice" in err
    # a newcomer trial: m.py:small and ./m.py:small (one file written two ways) were scored as two models
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, _, err = _cli(["score", "--model", "m.py:small", "--model", "./m.py:small", "-p", "params"], capsys)
    finally:
        os.chdir(here)
    assert code == 2 and "--model 'm.py:small' is given twice (as './m.py:small'); give each model once" in err, err
    # a model function that needs num_classes, with nothing to give it: the flag to pass, not a raw TypeError
    (tmp_path / "k.py").write_text("from torch import nn\n\ndef net(num_classes):\n    return nn.Sequential(nn.Conv2d("
                                   "3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))\n")
    code, _, err = _cli(["score", "--model", f"{tmp_path}/k.py:net", "-p", "params", "--data", "none"], capsys)
    assert code == 2 and "net() needs num_classes and nothing gives it; pass --num-classes N" in err, err
    code, out, err = _cli(["score", "--model", f"{tmp_path}/k.py:net", "-p", "params", "--data", "none",
                           "--num-classes", "5"], capsys)
    assert code == 0 and "137" in out, err  # conv 3*4*9 + 4, linear 4*5 + 5


def test_api_scores_a_list_of_modules_each_by_name():
    x, y = _arrays(16, 40, 24, classes=4)  # GeluNet takes 40x24 only
    recs = zeronas.score([relu_net(), GeluNet(4), relu_net()], proxies=["params"], data=(x, y), batch_size=8)
    assert [r.arch for r in recs] == ["Sequential#0", "GeluNet", "Sequential#1"]
    assert recs[0].value == sum(p.numel() for p in relu_net().parameters())
    with pytest.raises(UserError, match="not a mix of both"):
        zeronas.score([relu_net(), "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                                   "nor_conv_3x3~1|nor_conv_3x3~2|"], proxies=["params"])


def test_cli_several_models_tie_and_collide(tmp_path, capsys):
    """Equal values share the better rank; two files' 'm.py:net' are told apart by their specs, in the table
    and in scores.json."""
    body = ("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), "
            "nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))\n")
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "m.py").write_text(body)
    specs = [f"{tmp_path}/a/m.py:net", f"{tmp_path}/b/m.py:net"]
    code, out, err = _cli(["score", "--model", specs[0], "--model", specs[1], "-p", "params", "--data", "none",
                           "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    flat = "".join(out.split())
    assert flat.count("122(1)") == 2  # 3*4*9 + 4 + 4*2 + 2 = 122 params each: a tie, both rank 1
    assert {r["arch"] for r in json.loads((tmp_path / "o" / "scores.json").read_text())} == set(specs)


def test_the_model_digest_follows_the_user_s_forward_code(tmp_path):
    """Two files whose networks have the same layers and weights but another forward (relu / tanh) had the same
    sha256 in the protocol ("the same network, the same key"): the code of the user's own module classes now
    enters it. The same file twice keeps its digest, and torch's own modules add nothing."""
    from zeronas.models import model_digest

    body = ("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
            "        super().__init__()\n        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
            "        return self.fc(torch.{act}(x.flatten(1)[:, :4]))\n\n\ndef net():\n    return Net()\n")
    digests = {}
    for act in ("relu", "tanh"):
        (tmp_path / act).mkdir()
        (tmp_path / act / "m.py").write_text(body.format(act=act))
        digests[act] = model_digest(load_model(f"{tmp_path}/{act}/m.py:net", seed=0)[0])
    assert digests["relu"] != digests["tanh"]
    (tmp_path / "moved").mkdir()  # the same code, another file and blank lines above it: the same network
    (tmp_path / "moved" / "m.py").write_text("\n\n" + body.format(act="relu"))
    assert model_digest(load_model(f"{tmp_path}/moved/m.py:net", seed=0)[0]) == digests["relu"]
    # what forward reads from its module by name (a function there, a constant) and class attributes count too
    helper = ("import torch\nfrom torch import nn\n\nSCALE = {scale}\n\n\ndef act(x):\n"
              "    return torch.{act}(x) * SCALE\n\n\nclass Net(nn.Module):\n    k = {k}\n\n"
              "    def __init__(self):\n        super().__init__()\n"
              "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
              "        return self.fc(act(x.flatten(1)[:, :4])) * self.k\n\n\ndef net():\n    return Net()\n")
    seen = set()
    for i, kw in enumerate([dict(scale=1.0, act="relu", k=1), dict(scale=2.0, act="relu", k=1),
                            dict(scale=1.0, act="tanh", k=1), dict(scale=1.0, act="relu", k=2)]):
        (tmp_path / f"h{i}").mkdir()
        (tmp_path / f"h{i}" / "m.py").write_text(helper.format(**kw))
        seen.add(model_digest(load_model(f"{tmp_path}/h{i}/m.py:net", seed=0)[0]))
    assert len(seen) == 4
    torch.manual_seed(0)
    plain = nn.Linear(4, 2)
    state = b"".join(k.encode() + str((v.dtype, tuple(v.shape))).encode() + v.contiguous().view(-1).view(
        torch.uint8).numpy().tobytes() for k, v in plain.state_dict().items())
    assert model_digest(plain) == hashlib.sha256(repr(plain).encode() + state).hexdigest()


def _small_net_file(tmp_path) -> str:
    """A file with ``net()``, a 4-channel conv net of 122 parameters; returns its --model spec."""
    (tmp_path / "m.py").write_text(
        "from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), "
        "nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))\n")
    return f"{tmp_path}/m.py:net"


@pytest.mark.parametrize("argv,api,needle", [
    # --device cuda with --model (and the API) used to reach the model probe and raise torch's AssertionError
    pytest.param(["--device", "cuda"], {"device": "cuda"}, "no CUDA device is available; use (--device |device=')cpu",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal without CUDA")),
    # score --model ... --space macro used to score the model and ignore --space
    (["--space", "macro"], {"space": "macro"}, "drop --space macro|drop space='macro'"),
])
def test_model_options_that_cannot_apply_are_one_line(tmp_path, capsys, argv, api, needle):
    code, _, err = _cli(["score", "--model", _small_net_file(tmp_path), "--data", "none", "-p", "params", *argv],
                        capsys)
    assert code == 2 and err.count("\n") == 1 and re.search(needle, err), err
    with pytest.raises(UserError, match=needle):
        zeronas.score(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), proxies="params", **api)


def test_a_model_whose_every_proxy_fails_is_an_error_not_a_table(tmp_path, capsys):
    """Every value an error (not a proxy that does not apply): exit 2 in one line, nothing written."""
    (tmp_path / "m.py").write_text(  # runs on the probe's random inputs, raises on synflow's all-ones input
        "from torch import nn\n\nclass Odd(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.c = nn.Conv2d(3, 4, 3)\n"
        "    def forward(self, x):\n        if bool((x == 1).all()):\n"
        "            raise RuntimeError('no ones please')\n"
        "        return self.c(x).mean((2, 3))\n\ndef net():\n    return Odd()\n")
    code, out, err = _cli(["score", "--model", f"{tmp_path}/m.py:net", "--data", "none", "-p", "synflow",
                           "--out", str(tmp_path / "o")], capsys)
    errors = [line for line in err.splitlines() if not line.startswith("note:")]
    assert code == 2 and len(errors) == 1 and errors[0].startswith("error:"), (out, err)
    assert "every proxy failed on the model" in err and "no ones please" in err
    assert not (tmp_path / "o").exists()


def test_a_data_path_that_does_not_exist_is_named_as_missing():
    from zeronas.validation import check

    with pytest.raises(UserError, match=r"--data '/no/such/folder' does not exist; give an existing image folder"):
        check("data", "/no/such/folder", "score")
    with pytest.raises(UserError, match=r"unknown --data 'cifar11'; choose one of"):
        check("data", "cifar11", "score")


def test_cli_two_models_with_many_proxies_fit_a_terminal(tmp_path, capsys, monkeypatch):
    """2 models x 6 proxies used to be a table of 7 columns folded a character per line at 80 columns: with
    more proxies than models it has a row per proxy."""
    monkeypatch.setenv("COLUMNS", "80")
    (tmp_path / "m.py").write_text(
        "from torch import nn\n\n"
        "def small():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(4, 2))\n\n"
        "def big():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(8, 2))\n")
    code, out, err = _cli(["score", "--model", f"{tmp_path}/m.py:small", "--model", f"{tmp_path}/m.py:big",
                           "--data", "none", "-p", "params,flops,synflow,l2_norm,zen,meco"], capsys)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in out.splitlines() if line.startswith("│")}
    assert rows["params (higher)"] == ["122 (2)", "242 (1)"]  # by hand, as in the test above
    assert len(rows) == 6 and max(map(len, out.splitlines())) <= 80


class _NoParams(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3)).repeat(1, 4)[:, :10]


class _NaNOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(4, 10))

    def forward(self, x):
        return self.body(x) * float("nan")


def test_a_model_without_parameters_and_one_whose_output_is_nan_get_the_true_reason():
    """A parameter-free model: zico leaked 'RuntimeError: element 0 of tensors does not require grad' and
    ntk_cond blamed 'none' edges; both are now inapplicable with what they need. A model whose output is NaN
    already: synflow blamed float64 overflow and ntk_cond overflowed gradients; the reason now names the model's
    own output first."""
    x, y = _arrays(n=16, h=8, w=8, classes=10)
    recs = {r.proxy: r for r in zeronas.score(_NoParams(), proxies=["zico", "ntk_cond", "params"], data=(x, y),
                                        batch_size=8)}
    assert "needs nn.Conv2d or nn.Linear layers" in recs["zico"].error
    assert "needs trainable parameters" in recs["ntk_cond"].error and recs["params"].value == 0
    recs = zeronas.score(_NaNOut(), proxies=["synflow", "snip", "ntk_cond"], data=(x, y), batch_size=8)
    for r in recs:
        assert math.isnan(r.value) and r.error is None, r
        assert r.reason.startswith("the network's own output is already NaN/inf on a random N(0, 1) input, before "
                                   "any proxy; first at 'the top module' (_NaNOut) from finite inputs: fix the "
                                   "network (the proxy said: "), r.reason
    assert inspect_model(_NaNOut()) >= {"params", "conv_linear"}
    assert "params" not in inspect_model(_NoParams())


class _WithCellFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.cells = nn.ModuleList(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
                                   for _ in range(3))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    def cell_features(self, x):
        feats = [self.stem(x)]
        for c in self.cells:
            feats.append(c(feats[-1]))
        return feats

    def forward(self, x):
        return self.head(self.cell_features(x)[-1])


def test_a_model_with_cell_features_is_scored_by_the_az_nas_proxies():
    """examples/README promises the AZ-NAS proxies wherever the network has cell_features(x); a --model with one
    was refused ('this model has none') while the same module from a plug-in space was scored."""
    assert "cell_features" in inspect_model(_WithCellFeatures())
    x, y = _arrays(n=16, h=8, w=8, classes=10)
    recs = zeronas.score(_WithCellFeatures(), proxies=["az_expressivity", "az_trainability"], data=(x, y),
                         batch_size=8)
    assert all(r.error is None and math.isfinite(r.value) for r in recs), recs


def test_meta_and_half_weights_are_named_as_such():
    """A newcomer trial: a module on the meta device raised torch's NotImplementedError, and a half one was
    told to 'give images of the size it expects'."""
    from torch import nn

    def net():
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    with pytest.raises(UserError, match=r"^the model's weights are on the meta device and hold no values"):
        zeronas.score(net().to("meta"), proxies=["params"], data="none")
    with pytest.raises(UserError, match=r"^the model has float16 weights; zeronas scores float32 networks on float32 "
                                        r"images: call model.float\(\) first$"):
        zeronas.score(net().half(), proxies=["params"], data="none")
    assert zeronas.score(net(), proxies=["params"], data="none")[0].value == 3 * 8 * 9 + 8 + 8 * 10 + 10


def test_a_user_model_takes_a_meco_input_size():
    """meco's set-up check tries a size on the space's first sample: a user's model has none, and the check
    once refused every non-default size there (review)."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 10))
    rec = zeronas.score(model, proxies="meco", data="none", options={"meco": {"input_size": 48}})[0]
    assert rec.error is None and math.isfinite(rec.value) and rec.protocol["options"] == {"input_size": 48}


def test_num_classes_reaches_a_model_function_that_takes_it(tmp_path, capsys):
    """--num-classes 5 with def make(num_classes=10) built the 10-output model and then refused it as a
    mismatch; a function without the parameter still gets the one-line mismatch, naming the option."""
    (tmp_path / "m.py").write_text(
        "from torch import nn\n"
        "def make(num_classes=10):\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),\n"
        "                         nn.Linear(4, num_classes))\n"
        "def fixed():\n"
        "    return make()\n")
    code, out, err = _cli(["score", "--model", f"{tmp_path}/m.py:make", "--num-classes", "5", "--data", "none",
                           "-p", "params"], capsys)
    assert code in (0, None), err
    # 3*4*9 + 4 conv, 4*5 + 5 linear = 112 + 25 = 137 (with 10 outputs it would be 162)
    assert re.search(r"params\s*│\s*137\s*│", out), out
    code, out, err = _cli(["score", "--model", f"{tmp_path}/m.py:fixed", "--num-classes", "5", "--data", "none",
                           "-p", "params"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--num-classes 5, but the model outputs 10 values per sample; drop --num-classes" in err


def test_a_space_network_with_fewer_outputs_than_the_data_has_classes_is_refused_up_front():
    """A newcomer trial: ``score --num-classes 5 --data cifar10`` exited 0 with a row 'IndexError: Target 5 is
    out of bounds' per loss proxy (and an image folder gave the same raw IndexError); a user's model got one
    line before any scoring. A space's network now gets it too; a data-free run still builds any width."""
    import zeronas as zn
    from zeronas.errors import UserError

    x, y = _arrays(n=32, h=32, w=32, classes=8)
    arch = zn.space("nb201").sample(0)
    with pytest.raises(UserError, match=r"^the data has labels up to 7 \(8 classes\), more than the 5 outputs "
                                        r"num_classes=5 gives the nb201 network; drop num_classes="):
        zn.score(arch, proxies="snip", data=(x, y), num_classes=5)
    assert len(zn.score(arch, proxies="snip", data=(x, y), num_classes=8, batch_size=8)) == 1
    assert len(zn.score(arch, proxies="params", data="none", num_classes=5)) == 1


def test_a_records_error_names_keywords_for_a_python_caller_and_flags_for_the_cli(tmp_path):
    """A record's error text is written once, with the CLI's flags ("lower --batch-size"); a Python caller
    got it as written while its exceptions already named keywords (a newcomer: "zn.score(...) says lower
    --batch-size"). The API's records now say batch_size=; the store and the CLI keep the flag."""
    images = make_image_folder(tmp_path / "imgs", classes=("a", "b", "c"), per_class=8, size=(16, 16))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    (rec,) = zeronas.score(model, proxies="zico", data=str(images), batch_size=16)
    assert "too few for 2 batch(es) of 16" in rec.error
    assert "lower batch_size=" in rec.error and "--batch-size" not in rec.error
    from zeronas.validation import caller

    with caller("cli"):  # as the CLI's verbs call it
        (rec,) = zeronas.score(model, proxies="zico", data=str(images), batch_size=16)
    assert "lower --batch-size" in rec.error


def test_a_scorer_called_directly_gives_keyword_texts_too(tmp_path):
    """``zeronas.Scorer(...).score(...)`` is public API as well: its errors named the CLI's flags ("lower
    --batch-size") while ``zeronas.score``'s named keywords."""
    images = make_image_folder(tmp_path / "imgs", classes=("a", "b", "c"), per_class=8, size=(32, 32))
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
    scorer = zeronas.Scorer("nb201", proxies=["zico"], data=str(images), batch_size=16)
    for call in (lambda: scorer.score([arch]), lambda: scorer.score_arch(arch)):
        with pytest.raises(UserError, match=r"too few for 2 batch\(es\) of 16; lower batch_size=$"):
            call()
    from zeronas.validation import caller

    with caller("cli"), pytest.raises(UserError, match="lower --batch-size$"):
        scorer.score([arch])


def test_the_final_pooling_is_not_a_squeeze_excitation_pool():
    """The review of zen on plug-in networks: with a functional final pooling (x.mean) and a squeeze-excitation
    block's AdaptiveAvgPool2d, the SE pool was taken as the final one and zen read 8x32x32 maps mid-network.
    A pooling followed by any map larger than 1x1 is not final; one followed by 1x1 convolutions is."""
    from zeronas.proxies.gap import find_final_gap

    class SE(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1)

        def forward(self, x):
            return x * torch.sigmoid(self.fc(self.pool(x)))

    class MeanPooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.se, self.c2, self.fc = nn.Conv2d(3, 8, 3, padding=1), SE(8), nn.Conv2d(8, 16, 3, 2, 1), \
                nn.Linear(16, 10)

        def forward(self, x):
            return self.fc(self.c2(self.se(self.c(x))).mean((2, 3)))

    x = torch.zeros(1, 3, 32, 32)
    assert find_final_gap(MeanPooled(), x) is None
    assert find_final_gap(nn.Sequential(nn.Conv2d(3, 4, 3), SE(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                        nn.Linear(4, 2)), x) == "2"
    assert find_final_gap(nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 8, 1),
                                        nn.Flatten(), nn.Linear(8, 2)), x) == "1"  # MobileNetV3's head
    zen = zeronas.score(MeanPooled(), proxies=["zen"], data="none")[0]
    assert zen.error is not None and zen.error.startswith("inapplicable:")  # (the --model probe's rule: the same)


def test_a_model_files_own_random_draws_do_not_move_the_weights_its_function_builds(tmp_path):
    """A user's trial: the seed was set before the file ran, not before fn() was called, so a file that also
    built a module-level net gave other scores for the same fn (synflow 79.96 against 64.30)."""
    body = ("import torch\nfrom torch import nn\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), "
            "nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))\n")
    (tmp_path / "plain.py").write_text(body)
    (tmp_path / "drawing.py").write_text(body + "\nnoise = torch.randn(100)\nother = net()\n")
    import zeronas as zn
    from zeronas.models import load_model

    values = [zn.score(load_model(f"{tmp_path / name}:net")[0], proxies="synflow", data="none")[0].value
              for name in ("plain.py", "drawing.py")]
    assert values[0] == values[1]


@needs_cifar
def test_a_dataset_name_reads_the_dataset_for_a_model_and_a_space_alike(tmp_path, monkeypatch, capsys):
    # a user trial: with a folder ./cifar10 here, --model read the folder and --space the dataset under one --data
    monkeypatch.chdir(tmp_path)
    make_image_folder(tmp_path / "cifar10", classes=[f"c{k}" for k in range(10)], per_class=2, size=(32, 32))
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    named = zeronas.score(net, "nwot", data="cifar10", batch_size=8)[0]
    folder = zeronas.score(net, "nwot", data="./cifar10", batch_size=8)[0]
    assert named.protocol["data"]["dataset"] == "cifar10" and folder.protocol["data"]["dataset"] == "folder:cifar10"
    assert named.value != folder.value
    note = "cifar10 names the dataset cifar10 and a folder here: the dataset is read; give the folder as ./cifar10"
    for cmd in (["score", "--space", "nb201", "--index", "0"], ["search", "--space", "nb201", "--method", "random",
                                                               "--budget", "1"]):
        code, out, err = _cli([*cmd, "--data", "cifar10", "-p" if cmd[0] == "score" else "--proxy", "nwot",
                               "--batch-size", "8"], capsys)
        assert code == 0 and note in " ".join(err.split()), err
    assert shadowed_folder_note("./cifar10") == "" and shadowed_folder_note("cifar100") == ""


def test_a_shuffling_dataloader_is_read_the_same_way_each_run_and_said_so():
    # a user trial: a DataLoader(shuffle=True) gave other images (and another store key) on every call, silently
    from torch.utils.data import DataLoader, TensorDataset

    gen = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.rand(300, 3, 16, 16, generator=gen), torch.arange(300) % 3)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    runs = [zeronas.score(net, "nwot", data=DataLoader(ds, batch_size=50, shuffle=True), batch_size=16,
                          max_images=100)[0] for _ in range(2)]
    torch.rand(5)  # the global RNG moves between calls, as in a user's session
    runs.append(zeronas.score(net, "nwot", data=DataLoader(ds, batch_size=50, shuffle=True), batch_size=16,
                              max_images=100)[0])
    assert len({r.value for r in runs}) == 1 and len({r.protocol_hash for r in runs}) == 1
    assert "shuffles: it was read with torch's RNG seeded by the seed (0)" in runs[0].notes[0]
    other = zeronas.score(net, "nwot", data=DataLoader(ds, batch_size=50, shuffle=True), batch_size=16,
                          max_images=100, seed=1)[0]
    assert other.protocol_hash != runs[0].protocol_hash  # other images: another key
    plain = zeronas.score(net, "nwot", data=DataLoader(ds, batch_size=50), batch_size=16, max_images=100)[0]
    assert plain.notes == []
    own = DataLoader(ds, batch_size=50, shuffle=True, generator=torch.Generator().manual_seed(3))
    assert "with a generator of its own" in zeronas.score(net, "nwot", data=own, batch_size=16)[0].notes[0]
    from torch.utils.data import RandomSampler  # (review: the sampler's own generator, the loader's None)

    own = DataLoader(ds, batch_size=50, sampler=RandomSampler(ds, generator=torch.Generator().manual_seed(3)))
    assert "with a generator of its own" in zeronas.score(net, "nwot", data=own, batch_size=16)[0].notes[0]


def test_a_single_output_head_is_named_as_such_not_as_no_classifier():
    # a user trial: a [B, 1] head (regression, binary logit) was refused as 'has none (output [2, 1])'
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1))
    x = np.random.default_rng(0).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    by = {r.proxy: r for r in zeronas.score(net, "snip,nwot", data=(x, np.arange(20) % 2), batch_size=8)}
    assert "(output [2, 1]: one value per image, a regression or single-logit head; the loss-based proxies read " \
           "cross-entropy over 2 or more class scores: give two classes 2 logits)" in by["snip"].error
    assert by["nwot"].error is None  # the label-free proxies still score it
