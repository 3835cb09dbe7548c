import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import zeronas as zn
from zeronas.cli import app
from zeronas.data import ImageSet
from zeronas.errors import DataNotFound, UserError
from zeronas.export import export
from zeronas.train import RECIPES, train
from zeronas.train import trainer as trainer_mod

from .conftest import SHARED, needs_cifar

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
TINY = dict(C=4, N=1, batch_size=32, lr=0.05)
runner = CliRunner()


@pytest.fixture
def separable(monkeypatch):
    """Images whose class is written in their mean colour: a network can learn them in a few steps."""

    def fake_load(dataset, split="train", data_dir=None, source="auto"):
        rng = np.random.default_rng(0 if split == "train" else 1)
        n = 256 if split == "train" else 128
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, size=(n, 32, 32, 3)) + (y * 20)[:, None, None, None]
        return ImageSet("cifar10", split, x.astype(np.uint8), y.astype(np.int64), "synthetic", "synthetic")

    monkeypatch.setattr(trainer_mod, "load_images", fake_load)


def test_recipes_are_the_published_ones():
    d = RECIPES["darts"]
    assert (d.epochs, d.batch_size, d.lr, d.momentum, d.weight_decay, d.cutout, d.auxiliary_weight,
            d.drop_path_prob, d.grad_clip, d.C, d.N) == (600, 96, 0.025, 0.9, 3e-4, 16, 0.4, 0.2, 5.0, 36, 20)
    n = RECIPES["nb201"]
    assert (n.epochs, n.batch_size, n.lr, n.nesterov, n.weight_decay) == (200, 256, 0.1, True, 5e-4)
    # nasbench lib/config.py and model_builder.py (lr 0.1 per TPU shard, 2 shards); NAS-Bench-Macro train/train.py
    b = RECIPES["nb101"]
    assert (b.epochs, b.batch_size, b.lr, b.momentum, b.weight_decay, b.optimizer, b.C, b.N) == (
        108, 256, 0.2, 0.9, 1e-4, "rmsprop-tf", 128, 3)
    m = RECIPES["macro"]
    assert (m.epochs, m.batch_size, m.lr, m.momentum, m.nesterov, m.weight_decay, m.optimizer, m.C, m.N) == (
        50, 256, 0.1, 0.9, False, 5e-4, "sgd", None, None)


def test_rmsprop_tf_by_hand():
    """TF1's RMSProp with momentum on w = [1, -2], one step of gradient g = [0.5, 1] (weight decay 0.1 adds
    0.1 w = [0.1, -0.2], so g' = [0.6, 0.8]); decay 0.9, eps 1, momentum 0.9, lr 0.1, mean square from 1:
    ms = 0.9 + 0.1 g'^2 = [0.936, 0.964]; mom = 0.1 g' / sqrt(ms + 1) = [0.06/sqrt(1.936), 0.08/sqrt(1.964)];
    w -= mom. Step two with the same g: ms = 0.9 ms + 0.1 g''^2 and mom = 0.9 mom + 0.1 g'' / sqrt(ms + 1)."""
    import math

    from zeronas.train.trainer import RMSpropTF

    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = RMSpropTF([w], lr=0.1, momentum=0.9, weight_decay=0.1)
    exp_w, ms, mom = [1.0, -2.0], [1.0, 1.0], [0.0, 0.0]
    for _ in range(2):
        w.grad = torch.tensor([0.5, 1.0], dtype=torch.float64)
        opt.step()
        for i, gi in enumerate((0.5, 1.0)):
            g = gi + 0.1 * exp_w[i]
            ms[i] = 0.9 * ms[i] + 0.1 * g * g
            mom[i] = 0.9 * mom[i] + 0.1 * g / math.sqrt(ms[i] + 1.0)
            exp_w[i] -= mom[i]
        assert w.detach().tolist() == pytest.approx(exp_w, rel=1e-12)
    w2 = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    one = RMSpropTF([w2], lr=0.1, momentum=0.9, weight_decay=0.1)
    w2.grad = torch.tensor([0.5, 1.0], dtype=torch.float64)
    one.step()  # the first step in closed form
    assert w2.detach().tolist() == pytest.approx([1 - 0.06 / math.sqrt(1.936), -2 - 0.08 / math.sqrt(1.964)],
                                                 rel=1e-12)


def test_nb101_and_macro_train_with_their_benchmarks_recipes(separable, tmp_path):
    """NB101 and NAS-Bench-Macro had no recipe: train refused them, so a search's answer there could not be
    trained. Each trains now (NB101 with TF's RMSProp), resumes and exports; the macro network's width is the
    benchmark's, so --C is refused rather than recorded unused; nesterov has no meaning under RMSProp."""
    nb101 = zn.spaces.space("nb101")
    arch = nb101.sample(0)
    s = train("nb101", arch, tmp_path / "n", epochs=2, C=8, N=1, batch_size=32, progress=False)
    assert s["epochs_done"] == 2 and s["recipe"]["optimizer"] == "rmsprop-tf" and s["recipe"]["lr"] == 0.2
    ckpt = torch.load(tmp_path / "n" / "checkpoint.pt", weights_only=True)
    assert "ms" in next(iter(ckpt["optimizer"]["state"].values()))  # RMSpropTF's state, resumable
    desc = json.loads(export("nb101", arch, "json", tmp_path / "n.json", checkpoint=tmp_path / "n" /
                             "checkpoint.pt").read_text())
    assert desc["build"] == {"C": 8, "N": 1, "num_classes": 10}
    m = train("macro", "01220012", tmp_path / "m", epochs=1, batch_size=32, progress=False)
    assert m["epochs_done"] == 1 and m["build"] == {"num_classes": 10} and m["recipe"]["weight_decay"] == 5e-4
    ts = export("macro", "01220012", "torchscript", tmp_path / "m.pt", checkpoint=tmp_path / "m" / "checkpoint.pt")
    assert ts.exists()
    for bad, said in ((dict(C=8), "C= does not apply: this space's network has its benchmark's fixed width"),
                      (dict(optimizer="adam"), "unknown optimizer= 'adam'; choose one of: sgd, rmsprop-tf")):
        with pytest.raises(UserError, match=said.replace("(", r"\(")):
            train("macro", "01220012", tmp_path / "bad", epochs=1, progress=False, **bad)
    # nb201's recipe is Nesterov SGD: asking for rmsprop-tf drops the recipe's Nesterov (it was not asked for)
    assert RECIPES["nb201"].replace(optimizer="rmsprop-tf").nesterov is False
    with pytest.raises(UserError, match="^nesterov=True is SGD's; the rmsprop-tf optimizer has plain momentum: "
                                        "drop nesterov=True or give optimizer='sgd'$"):
        train("nb101", arch, tmp_path / "bad", epochs=1, nesterov=True, progress=False)
    assert not (tmp_path / "bad").exists()


def test_training_lowers_loss_and_writes_log_and_curve(separable, tmp_path):
    s = train("nb201", ARCH, tmp_path, epochs=4, progress=False, **TINY)
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert s["finished"] and s["complete"]  # every epoch of the recipe trained
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    assert log[0]["lr"] == pytest.approx(0.05) and log[-1]["lr"] < log[0]["lr"]  # cosine
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert s["epochs_done"] == 4


def test_stopped_run_resumes_to_the_same_weights(separable, tmp_path):
    train("nb201", ARCH, tmp_path / "a", epochs=2, progress=False, **TINY)
    train("nb201", ARCH, tmp_path / "b", epochs=2, progress=False, max_epochs_this_run=1, **TINY)
    assert len((tmp_path / "b" / "log.jsonl").read_text().splitlines()) == 1
    train("nb201", ARCH, tmp_path / "b", epochs=2, progress=False, **TINY)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert (tmp_path / "a" / "log.jsonl").read_text().count("\n") == (tmp_path / "b" / "log.jsonl").read_text().count(
        "\n") == 2


def test_resume_with_another_recipe_is_refused(separable, tmp_path):
    """More epochs, another lr or batch size change the schedule: resuming a checkpoint of another recipe mixed
    two schedules and summary.json claimed the new one throughout. Refused in one line; nothing changes."""
    train("nb201", ARCH, tmp_path / "a", epochs=1, progress=False, **TINY)
    before = {f: (tmp_path / "a" / f).read_bytes() for f in ("checkpoint.pt", "log.jsonl", "summary.json")}
    for change, said in ((dict(epochs=2), "epochs 1; asked now: epochs 2"), (dict(epochs=1, lr=0.01), "lr 0.01"),
                         (dict(epochs=1, batch_size=16), "batch_size 16")):
        with pytest.raises(UserError, match="was trained with another recipe") as err:
            train("nb201", ARCH, tmp_path / "a", progress=False, **{**TINY, **change})
        assert said in str(err.value) and "\n" not in str(err.value)
        assert "pass resume=False" in str(err.value)
    assert {f: (tmp_path / "a" / f).read_bytes() for f in before} == before
    # a checkpoint written before a recipe field existed: the field had its default then (here: no cutout)
    ckpt = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    ckpt["recipe"].pop("cutout")
    torch.save(ckpt, tmp_path / "a" / "checkpoint.pt")
    assert train("nb201", ARCH, tmp_path / "a", epochs=1, progress=False, **TINY)["epochs_done"] == 1
    # one without any recipe (older still): summary.json's recipe stands in for it
    ckpt.pop("recipe")
    torch.save(ckpt, tmp_path / "a" / "checkpoint.pt")
    with pytest.raises(UserError, match="was trained with another recipe"):
        train("nb201", ARCH, tmp_path / "a", progress=False, **{**TINY, "epochs": 2})
    again = train("nb201", ARCH, tmp_path / "a", epochs=1, progress=False, **TINY)  # the same recipe: done already
    assert again["epochs_done"] == 1 and again["epochs_this_run"] == 0
    longer = train("nb201", ARCH, tmp_path / "a", epochs=2, progress=False, resume=False, **TINY)
    assert longer["epochs_done"] == 2 and longer["recipe"]["epochs"] == 2


def test_time_limit_always_runs_one_step_and_is_part_of_the_run_identity(separable, tmp_path):
    """A limit shorter than any step: exactly one step of 32 images runs (of 8 per epoch), the network is
    evaluated as it is, no later epoch starts, the row says so; the limit is part of the run's identity, so
    a run without it refuses that checkpoint; a non-positive limit is a one-line error."""
    s = train("nb201", ARCH, tmp_path, epochs=3, progress=False, time_limit=1e-9, **TINY)
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["images"] == 32 and log[0]["stopped_early"] is True
    assert s["epochs_done"] == 0 and s["epochs_trained"] == 0.125 and 0 <= s["final"]["test_acc"] <= 100
    with pytest.raises(UserError, match="differs in time_limit"):
        train("nb201", ARCH, tmp_path, epochs=3, progress=False, **TINY)
    whole = train("nb201", ARCH, tmp_path / "whole", epochs=1, progress=False, time_limit=3600, **TINY)
    row = json.loads((tmp_path / "whole" / "log.jsonl").read_text().splitlines()[0])
    assert row["images"] == 256 and "stopped_early" not in row and whole["epochs_done"] == 1
    for bad in (0, -1.0):
        with pytest.raises(UserError, match=r"^time_limit= must be in \(0, 604800\], not "):
            train("nb201", ARCH, tmp_path / "bad", epochs=1, progress=False, time_limit=bad, **TINY)
    assert not (tmp_path / "bad").exists()


def test_time_limit_stops_before_a_step_as_long_as_the_last_would_pass_it(separable, tmp_path, monkeypatch):
    """A clock that moves 1 s per step and only then: under a 3.5 s limit steps 1-3 run (after 3, another
    1 s step would end at 4 > 3.5), under 3.0 s steps 1-2 (the third would end at 3, the limit reached);
    8 steps make an epoch."""
    import zeronas.train.trainer as trainer_mod

    clock = [0.0]
    real_augment = trainer_mod.augment

    def augment(*a):
        clock[0] += 1.0
        return real_augment(*a)

    monkeypatch.setattr(trainer_mod, "augment", augment)
    monkeypatch.setattr(trainer_mod.time, "perf_counter", lambda: clock[0])
    for limit, steps in ((3.5, 3), (3.0, 2), (100.0, 8)):
        train("nb201", ARCH, tmp_path / str(limit), epochs=1, progress=False, time_limit=limit, **TINY)
        row = json.loads((tmp_path / str(limit) / "log.jsonl").read_text())
        assert row["images"] == 32 * steps and row["train_seconds"] == steps, (limit, row)
    # 8.5 s for 2 epochs: the first ends whole at 8 s, a second would not fit a step: the run stops, and
    # its row says so; run again, it starts afresh (a time-limited run never resumes)
    for _ in range(2):
        s = train("nb201", ARCH, tmp_path / "two", epochs=2, progress=False, time_limit=8.5, **TINY)
        rows = [json.loads(x) for x in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
        assert len(rows) == 1 and rows[0]["images"] == 256 and rows[0]["stopped_early"] is True
        assert s["epochs_done"] == 1


def test_time_limit_predicts_the_next_step_from_the_fastest_so_far(separable, tmp_path, monkeypatch):
    """Steps of 1 s, except a 4 s second one (warm-up, or another process): under a 7.5 s limit the run goes
    on after it (5 + 1 < 7.5) and stops once another 1 s step would pass the limit, after 4 steps at 7 s
    (predicting from the latest step, it stopped after the slow one: 5 + 4 > 7.5)."""
    import zeronas.train.trainer as trainer_mod

    clock, calls = [0.0], [0]
    real_augment = trainer_mod.augment

    def augment(*a):
        calls[0] += 1
        clock[0] += 4.0 if calls[0] == 2 else 1.0
        return real_augment(*a)

    monkeypatch.setattr(trainer_mod, "augment", augment)
    monkeypatch.setattr(trainer_mod.time, "perf_counter", lambda: clock[0])
    train("nb201", ARCH, tmp_path, epochs=1, progress=False, time_limit=7.5, **TINY)
    row = json.loads((tmp_path / "log.jsonl").read_text())
    assert row["images"] == 32 * 4 and row["train_seconds"] == 7.0, row


def test_darts_training_uses_aux_head_and_drop_path(separable, tmp_path):
    g = zn.space("darts").sample(0)
    s = train("darts", g, tmp_path, epochs=2, C=2, N=3, batch_size=64, progress=False)
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[0]["drop_path_prob"] == 0.0 and log[1]["drop_path_prob"] == pytest.approx(0.1)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert any(k.startswith("auxiliary_head") for k in ckpt["model"])
    assert s["params"] < sum(v.numel() for v in ckpt["model"].values())


def test_checkpoint_of_another_arch_is_one_line_error(separable, tmp_path):
    train("nb201", ARCH, tmp_path, epochs=1, progress=False, **TINY)
    other = ARCH.replace("nor_conv_1x1~1", "avg_pool_3x3~1")
    with pytest.raises(UserError, match="written for another run .it differs in arch") as err:
        train("nb201", other, tmp_path, epochs=1, progress=False, **TINY)
    assert "\n" not in str(err.value)
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a zeronas checkpoint"):
        train("nb201", ARCH, tmp_path, epochs=1, progress=False, **TINY)


def test_resume_drops_a_cut_last_log_line_and_refuses_a_damaged_one(separable, tmp_path):
    train("nb201", ARCH, tmp_path, epochs=3, progress=False, max_epochs_this_run=1, **TINY)
    log = tmp_path / "log.jsonl"
    with log.open("a") as f:
        f.write('{"epoch": 2, "lr": 0.0')  # killed while writing epoch 2's row, before its checkpoint
    train("nb201", ARCH, tmp_path, epochs=3, progress=False, max_epochs_this_run=1, **TINY)
    assert [json.loads(x)["epoch"] for x in log.read_text().splitlines()] == [1, 2]
    log.write_text("garbage\n" + log.read_text())
    with pytest.raises(UserError, match="line 1 is not a training-log row") as err:
        train("nb201", ARCH, tmp_path, epochs=3, progress=False, **TINY)
    assert "\n" not in str(err.value)


def test_checkpoint_whose_weights_do_not_fit_is_one_line_error(separable, tmp_path):
    train("nb201", ARCH, tmp_path, epochs=1, progress=False, **TINY)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    key = next(iter(ckpt["model"]))
    ckpt["model"][key] = torch.zeros(1)
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(UserError, match="do not fit the network") as err:
        train("nb201", ARCH, tmp_path, epochs=1, progress=False, **TINY)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="do not fit the network"):
        export("nb201", ARCH, "torchscript", tmp_path / "m.pt", checkpoint=tmp_path / "checkpoint.pt")


def test_missing_dataset_is_clear_error(tmp_path):
    with pytest.raises(DataNotFound, match="cifar100 train images not found"):
        train("nb201", ARCH, tmp_path / "run", data="cifar100", data_dir=tmp_path, epochs=1, progress=False)
    assert not (tmp_path / "run").exists()  # a refused run leaves no empty folder


@pytest.mark.parametrize("space_name,arch", [("nb201", ARCH), ("darts", None)])
def test_export_formats_reproduce_the_network(space_name, arch, separable, tmp_path):
    sp = zn.space(space_name)
    arch = arch or sp.sample(1)
    C, N = (4, 1) if space_name == "nb201" else (2, 3)
    train(sp, arch, tmp_path / "run", epochs=1, C=C, N=N, batch_size=64, progress=False)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    model = sp.build(arch, C=C, N=N)
    state = torch.load(ckpt, weights_only=True)["model"]
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("auxiliary_head")})
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        want = model.eval()(x)
    ts = export(sp, arch, "torchscript", tmp_path / "m.pt", checkpoint=ckpt)
    assert torch.allclose(torch.jit.load(str(ts))(x), want, atol=1e-5)
    desc = json.loads(export(sp, arch, "json", tmp_path / "m.json", checkpoint=ckpt).read_text())
    assert desc["build"] == {"C": C, "N": N, "num_classes": 10} and desc["trained"]
    assert desc["checkpoint"] == str(ckpt.resolve()) and len(desc["checkpoint_sha256"]) == 64
    assert sp.parse(desc["arch"]) == sp.coerce(arch)
    assert (desc["epochs_trained"], desc["epochs_planned"]) == (1, 1) and "note" not in desc
    # the JSON's own two lines rebuild the network and load the checkpoint's weights into it
    env = {"arch": desc["arch"], "build": desc["build"], "checkpoint": desc["checkpoint"]}  # as written: no import
    exec(desc["rebuild"] + "; " + desc["load"], env)
    with torch.no_grad():
        assert torch.equal(env["net"](x), want)
    pytest.importorskip("onnx")
    onnx_path = export(sp, arch, "onnx", tmp_path / "m.onnx", checkpoint=ckpt)
    import onnx

    onnx.checker.check_model(onnx.load(str(onnx_path)))
    with pytest.raises(UserError, match="not the one given; drop arch=, arch_file= and index= \\(the checkpoint's "
                                        "arch is exported\\)"):
        export(sp, sp.sample(5) if space_name == "darts" else ARCH.replace("skip_connect~1", "none~1"), "json",
               tmp_path / "x.json", checkpoint=ckpt)


def test_export_bad_format_is_one_line_error(tmp_path):
    with pytest.raises(UserError, match=r"^unknown format= 'tflite'; choose one of: json, torchscript, onnx$"):
        export("nb201", ARCH, "tflite", tmp_path / "m")


def test_export_refuses_a_file_name_of_another_format_before_writing(tmp_path):
    """--format torchscript --out m.onnx used to overwrite an ONNX file with TorchScript."""
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"a real onnx file")
    with pytest.raises(UserError, match=r"ends in \.onnx, the suffix of format='onnx', but format='torchscript' was "
                                         r"given: name it \*\.pt or pass format='onnx'"):
        export("nb201", ARCH, "torchscript", onnx)
    assert onnx.read_bytes() == b"a real onnx file"
    with pytest.raises(UserError, match=r"\.pt, the suffix of format='torchscript'"):
        export("nb201", ARCH, "json", tmp_path / "m.pt")
    assert export("nb201", ARCH, "json", tmp_path / "m.txt").exists()  # an unknown suffix is the user's choice


def test_cli_malformed_genotype_is_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "zeronas.cli", "export", "--space", "darts", "--arch",
                        "Genotype(normal=[('sep_conv_3x3', 0)])", "--out", str(tmp_path / "m.json")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "malformed genotype" in r.stderr


@needs_cifar
@pytest.mark.data
def test_cli_train_on_real_cifar10(tmp_path):
    r = runner.invoke(app, ["train", "--arch", ARCH, "--out", str(tmp_path), "--epochs", "1", "--C", "4", "--N", "1",
                            "--batch-size", "64", "--train-subset", "512", "--test-subset", "256"])
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["train_images"] == 512 and s["final"]["epoch"] == 1
    assert "JPEG" in s["fidelity"] or "lossless" in s["fidelity"]


def test_a_refused_bench_build_leaves_no_store(separable, tmp_path):
    from zeronas.benchmarks import training_states as ts

    sp = zn.space("nb201")
    with pytest.raises(UserError, match="fewer than one batch"):
        ts.build(sp, [sp.sample(0)], tmp_path / "b.db", train_subset=None, batch_size=4096, progress=False)
    with pytest.raises(UserError, match="unknown proxy"):
        ts.build(sp, [sp.sample(0)], tmp_path / "b.db", proxies=["bogus"], train_subset=None, progress=False)
    assert not any(tmp_path.iterdir())


def test_training_states_bench_resumes_and_correlates(separable, tmp_path):
    from zeronas.benchmarks import training_states as ts

    sp = zn.space("nb201")
    archs = [sp.sample(i) for i in range(4)]
    kw = dict(proxies=["nwot", "das_na", "params"], epochs=2, train_subset=None, test_subset=None, batch_size=64, C=4,
              N=1, progress=False)
    first = ts.build(sp, archs[:3], tmp_path / "b.db", **kw)  # a build stopped after 3 architectures
    assert first["trained_now"] == 3
    again = ts.build(sp, archs, tmp_path / "b.db", **kw)
    assert again["trained_now"] == 1 and again["protocol_hash"] == first["protocol_hash"]
    proto, metrics = ts.load(tmp_path / "b.db")
    # per arch: test loss/acc + 3 proxies at epochs 0..2, train loss/acc at epochs 1..2
    assert sum(len(v) for v in metrics.values()) == 4 * (3 * 5 + 2 * 2)
    assert proto["recipe"]["epochs"] == 2 and proto["recipe"]["C"] == 4
    # params never changes with training; nwot does
    p0 = metrics["params@0"]
    assert metrics["params@2"] == p0
    assert metrics["nwot@2"] != metrics["nwot@0"]
    rows = ts.correlations(proto, metrics, {"final": metrics["test_acc@2"]})
    final = next(r for r in rows if r["metric"] == "test_acc" and r["epoch"] == 2)
    assert final["final"] == pytest.approx(1.0) and final["n"] == 4
    # a 4-arch bench's rho is no reading: the CLI says so, as correlate does, and keeps the note in its JSON
    from typer.testing import CliRunner

    from zeronas.cli import app

    res = CliRunner().invoke(app, ["bench", "correlate", "--store", str(tmp_path / "b.db"), "--out",
                                   str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "note: only 4 archs: rho is uncertain at this size (" in text and "undefined (fewer than 4" not in text
    example = text.split("rho is uncertain at this size (")[1].split(",")[0]  # e.g. "nwot@1 vs final: 0.400"
    assert not example.startswith("nb201") and abs(float(example.split(": ")[1])) < 1, example
    from zeronas.bench import small_sample_note as _bench_small_sample_note

    rows_ = [{"metric": "nb201_12ep", "epoch": 12, "nb201_12ep": 1.0, "n": 6},
             {"metric": "nwot", "epoch": 0, "nb201_12ep": 0.2, "n": 6},
             {"metric": "snip", "epoch": 0, "nb201_12ep": -0.6, "n": 6},
             {"metric": "params", "epoch": 0, "nb201_12ep": 0.4, "n": 6}]
    note = _bench_small_sample_note(rows_, ["nb201_12ep"])  # the median |rho|, never the column against itself
    assert note.startswith("only 6 archs: rho is uncertain at this size (params@0 vs nb201_12ep: 0.400, 95% ")
    assert _bench_small_sample_note([{**r, "n": 100} for r in rows_], ["nb201_12ep"]) is None
    assert "'zeronas bench build --sample 100')" in text
    saved = json.loads((tmp_path / "o" / "bench_correlation.json").read_text())
    assert any(n.startswith("only 4 archs: rho is uncertain") for n in saved["notes"])


def test_export_of_the_benchmark_spaces(tmp_path):
    """macro / nb101 had no training recipe, which export does not need: it used to refuse them with 'no
    training recipe'. Their own network is exported (same parameter count; NB101's recipe width and depth are
    its build's defaults); a --C the macro build does not take is one line and writes nothing."""
    from zeronas.counting import count_params

    sp = zn.spaces.space("macro")
    out = export("macro", "01220012", "json", tmp_path / "m.json")
    desc = json.loads(out.read_text())
    assert desc["build"] == {"num_classes": 10} and desc["space"] == "macro"
    ts = export("macro", "01220012", "torchscript", tmp_path / "m.pt")
    assert sum(p.numel() for p in torch.jit.load(str(ts)).parameters()) == count_params(sp.build("01220012"))
    with pytest.raises(UserError, match=r"^C= sets the width or depth of a cell space's network; the macro network "
                                        r"is the benchmark's own, fixed: drop C=$"):
        export("macro", "01220012", "json", tmp_path / "bad.json", C=8)
    assert not (tmp_path / "bad.json").exists()
    nb101 = zn.spaces.space("nb101")
    desc = json.loads(export("nb101", nb101.sample(0), "json", tmp_path / "n.json").read_text())
    assert desc["build"] == {"C": 128, "N": 3, "num_classes": 10} and nb101.parse(desc["arch"]) == nb101.sample(0)
    assert count_params(nb101.build(nb101.sample(0), **desc["build"])) == count_params(nb101.build(nb101.sample(0)))


def test_a_log_with_a_nan_loss_reads_back_as_numbers(tmp_path):
    """Strict JSON writes a NaN loss as "nan": reading the log back (resume, the CLI's table, the curve)
    must give floats again, as the bare NaN of older logs does."""
    import math

    from zeronas import jsonio
    from zeronas.train.trainer import plot_curve, read_log

    rows = [{"epoch": 1, "lr": 0.1, "train_loss": 2.3, "train_acc": 10.0, "test_loss": 2.3, "test_acc": 10.0,
             "epoch_seconds": 1.0},
            {"epoch": 2, "lr": 0.05, "train_loss": float("nan"), "train_acc": 10.0, "test_loss": float("inf"),
             "test_acc": 10.0, "epoch_seconds": 1.0}]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(jsonio.dumps(r) + "\n" for r in rows[:1]) + '{"epoch": 2, "lr": 0.05, "train_loss": '
                   'NaN, "train_acc": 10.0, "test_loss": Infinity, "test_acc": 10.0, "epoch_seconds": 1.0}\n')
    log2 = tmp_path / "log2.jsonl"
    log2.write_text("".join(jsonio.dumps(r) + "\n" for r in rows))
    assert '"nan"' in log2.read_text()
    for path in (log, log2):
        got = read_log(path)
        assert math.isnan(got[1]["train_loss"]) and got[1]["test_loss"] == math.inf
        assert f"{got[1]['train_loss']:.4f}" == "nan"
    plot_curve(read_log(log2), tmp_path / "curve.png", "nan run")
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_torchscript_export_of_an_avg_pool_arch(tmp_path):
    """74% of NB201 has an avg_pool_3x3 edge; its CPU fast path depended on grad mode, so torch.jit.trace's
    check run took another graph and the export failed. It must trace and reproduce the network."""
    arch = "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    sp = zn.space("nb201")
    torch.manual_seed(0)
    ts = export(sp, arch, "torchscript", tmp_path / "m.pt")
    model = torch.jit.load(str(ts))
    net = sp.build(sp.parse(arch)).eval()
    net.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x)[1] if isinstance(net(x), tuple) else net(x), atol=1e-6)


def test_a_failed_export_leaves_no_folder_behind(tmp_path, monkeypatch):
    import zeronas.export as ex

    def broken(*a, **k):
        raise UserError("tracing failed")

    monkeypatch.setattr(ex, "_write", broken)
    with pytest.raises(UserError):
        export("nb201", ARCH, "torchscript", tmp_path / "a" / "b" / "m.pt")
    assert not (tmp_path / "a").exists()
    (tmp_path / "keep.pt").write_text("an older export")
    with pytest.raises(UserError):
        export("nb201", ARCH, "torchscript", tmp_path / "keep.pt")
    assert (tmp_path / "keep.pt").read_text() == "an older export"  # a file that was there stays


def test_export_into_a_folder_writes_the_formats_file_there(tmp_path, monkeypatch):
    """--out DIR/ (or an existing folder) used to write the model as a file named DIR."""
    made = export("nb201", ARCH, "json", f"{tmp_path / 'new'}/")
    assert made == tmp_path / "new" / "model.json" and made.is_file()
    (tmp_path / "old").mkdir()
    assert export("nb201", ARCH, "json", tmp_path / "old") == tmp_path / "old" / "model.json"
    monkeypatch.chdir(tmp_path)
    from zeronas.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["export", "--space", "nb201", "--arch", ARCH, "--out", "cli/"])
    assert exc.value.code in (0, None) and (tmp_path / "cli" / "model.json").is_file()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["export", "--space", "nb201", "--arch", ARCH, "--out", "afile/"])
    assert exc.value.code == 2
    assert (tmp_path / "afile").read_text() == "x"


def test_train_and_export_are_api_verbs_with_checked_keywords(separable, tmp_path):
    """zeronas.train(...) and zeronas.export(...) as the CLI's verbs are (they were only reachable as
    zeronas.train.train and zeronas.export.export, without keyword checks: an unknown keyword of export was a
    TypeError, a mistyped recipe field of train a message without the valid names)."""
    import inspect

    s = zn.train("nb201", ARCH, tmp_path / "t", epochs=1, progress=False, **TINY)
    assert s["epochs_done"] == 1 and 0 <= s["final"]["test_acc"] <= 100
    assert zn.train.fast_train is not None and zn.train.train is train  # the package stays reachable
    assert zn.export("nb201", ARCH, "json", f"{tmp_path / 'e'}/") == tmp_path / "e" / "model.json"
    assert zn.export.FORMATS == ("json", "torchscript", "onnx") and zn.export.export is export
    assert list(inspect.signature(zn.train).parameters)[:3] == ["space", "arch", "out"]
    assert zn.train.__doc__.startswith("zeronas.train(space, arch, out") and "epochs=3" in zn.train.__doc__
    for call, needle in [(lambda: zn.train("nb201", ARCH, tmp_path / "x", epochs=1, lr_mni=0.0),
                          r"unknown keyword 'lr_mni'; valid keywords: .*lr_min"),
                         (lambda: zn.train("nb201", ARCH, tmp_path / "x", epochs="3"), "epochs= must be an integer"),
                         (lambda: zn.train("nb201", ARCH, tmp_path / "x", epochs=0), r"epochs= must be .* \[1, "),
                         (lambda: zn.train("nb201", " ", tmp_path / "x"), "arch= is empty"),
                         (lambda: zn.train("nb201", 7, tmp_path / "x"), r"from_index\(7\)"),
                         (lambda: zn.export("nb201", ARCH, "json", tmp_path / "x.json", channels=8),
                          r"unknown keyword 'channels'; valid keywords: C, N,"),
                         (lambda: zn.export("nb201", ARCH, "json", tmp_path / "x.json", data="mnist"),
                          "unknown data= 'mnist'")]:
        with pytest.raises(UserError, match=needle):
            call()
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("space,arch,needle", [
    ("nb201", 0, r"is a number: give an arch string .*from_index\(0\)"),
    ("nb201", None, "not an NB201 arch: None; give an arch string"),
    ("nb201", ("nor_conv_3x3",) * 5, "not an NB201 arch"),
    ("nb201", ("conv",) * 6, "its 6 edge ops in that order, from none, skip_connect"),
    ("macro", 1220012, "not a NAS-Bench-Macro arch: 1220012; give its code as a string of 8 digits"),
    ("macro", None, "not a NAS-Bench-Macro arch"),
    ("darts", 3, "not a DARTS genotype"),
    ("nb101", 3, "NB101 arch 3"),
])
def test_an_arch_of_the_wrong_type_is_a_one_line_error_in_every_space(space, arch, needle):
    """A number or None given as an arch was a raw TypeError ('int' object is not subscriptable) in NB201
    and Macro: every built-in space's coerce names what an arch is."""
    sp = zn.space(space)
    with pytest.raises(UserError, match=needle) as err:
        sp.coerce(arch)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=needle):
        zn.score([arch], proxies="params", space=space, data="none")
    assert sp.coerce(list(sp.sample(0))) == sp.sample(0) if space in ("nb201", "macro") else True


def test_the_json_rebuild_recipe_runs_as_written_for_built_in_and_plugin_spaces(tmp_path):
    """model.json's 'rebuild' passed the arch string to build(), which a plug-in space's build cannot take
    (TypeError): the recipe parses it first, and executing it gives the network export describes."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "mobilenet_space.py"
    for space in ("nb201", f"{example}:MobileNetSpace"):
        sp = zn.space(space)
        arch = sp.format(sp.sample(0))
        desc = json.loads(zn.export(space, arch, "json", tmp_path / f"{sp.name}.json").read_text())
        scope = {"arch": desc["arch"], "build": desc["build"]}
        exec(desc["rebuild"], scope)  # noqa: S102  (the recipe exactly as a user would run it)
        want = sp.build(sp.parse(arch), **desc["build"])
        assert sum(p.numel() for p in scope["net"].parameters()) == sum(p.numel() for p in want.parameters())


def test_values_that_would_be_dropped_or_misread_are_refused_or_said(separable, tmp_path, monkeypatch):
    """From a newcomer trial: --lr-min above --lr ran with a rising rate; a subset larger than the set was cut
    without a word; --C/--N beside a checkpoint were dropped; a run stopped in its first epoch left an empty
    log.jsonl."""
    with pytest.raises(UserError, match=r"^lr_min=1 is above lr=0.05: the rate is annealed from lr= down to "
                                        r"lr_min=; give lr_min= at most 0.05$"):
        train("nb201", ARCH, tmp_path / "lr", progress=False, epochs=2, **{**TINY, "lr_min": 1.0})
    assert not (tmp_path / "lr").exists()
    s = train("nb201", ARCH, tmp_path / "a", epochs=1, progress=False, train_subset=1000, **TINY)
    assert s["train_images"] == 256 and s["train_images_per_epoch"] == 256  # 8 batches of 32, none dropped
    assert s["notes"] == ["a training subset of 1,000 is more than the 256 training images of cifar10: all of "
                          "them are used"]
    s = train("nb201", ARCH, tmp_path / "b", epochs=1, progress=False, **{**TINY, "batch_size": 100})
    assert s["train_images_per_epoch"] == 200 and s["notes"] == []  # 56 of 256 dropped, said per epoch
    # a checkpoint fixes the network: another --C beside it is refused, its own is fine
    with pytest.raises(UserError, match=r"was trained with another network than C=8 \(it holds 4\); drop C=/N="):
        export("nb201", ARCH, "json", tmp_path / "m.json", checkpoint=tmp_path / "a" / "checkpoint.pt", C=8)
    export("nb201", ARCH, "json", tmp_path / "m.json", checkpoint=tmp_path / "a" / "checkpoint.pt", C=4)
    assert json.loads((tmp_path / "m.json").read_text())["build"]["C"] == 4

    def stopped(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod, "train_one_epoch", stopped)
    with pytest.raises(KeyboardInterrupt):
        train("nb201", ARCH, tmp_path / "c", epochs=1, progress=False, **TINY)
    assert not (tmp_path / "c").exists()  # no empty folder or log.jsonl left behind


def test_every_cli_verb_is_a_python_call_with_the_clis_keywords(separable, tmp_path):
    """The README promises the same verbs in Python as on the command line: bench and report had none, and
    export took fmt= where the CLI says --format."""
    import inspect

    assert {"score", "correlate", "search", "train", "export", "report", "merge"} <= set(zn.__all__)
    assert callable(zn.bench.build) and callable(zn.bench.correlate) and callable(zn.report)
    assert list(inspect.signature(zn.export).parameters)[:4] == ["space", "arch", "format", "out"]
    zn.export("nb201", ARCH, format="json", out=tmp_path / "m.json")
    store = tmp_path / "b.db"
    info = zn.bench.build(sample=3, epochs=1, proxies="params", store=store, train_subset=None, test_subset=None,
                          batch_size=64, C=4, N=1)
    assert info["archs"] == 3 and info["trained_now"] == 3
    again = zn.bench.build(sample=3, epochs=1, proxies="params", store=store, train_subset=None, test_subset=None,
                           batch_size=64, C=4, N=1)
    assert again["trained_now"] == 0 and again["protocol_hash"] == info["protocol_hash"]  # resumed, nothing new
    rho = zn.bench.correlate(store, out=tmp_path / "o")
    assert rho["archs"] == 3 and {r["metric"] for r in rho["rows"]} >= {"params", "test_acc"}
    assert all((tmp_path / "o" / f).exists() for f in ("bench_correlation.json", "rho_by_epoch.png"))
    assert not any("benches" in n for n in rho["notes"])
    # a second bench in the same store: correlate says which one it read (a trial found it silent)
    other = zn.bench.build(sample=3, epochs=1, proxies="params", store=store, train_subset=None, test_subset=None,
                           batch_size=64, C=4, N=1, seed=1)
    newest = zn.bench.correlate(store)
    assert newest["protocol"] == zn.bench.correlate(store, protocol=other["protocol_hash"])["protocol"]
    said = (f"{store} holds 2 training-states benches; this is the newest ({other['protocol_hash']}: nb201, 3 "
            f"archs); pick another with protocol='{info['protocol_hash']}'")  # (the API's words, as its errors)
    assert said in newest["notes"], newest["notes"]
    with pytest.raises(UserError, match=r"^sample= must be an integer in \[3, "):
        zn.bench.build(sample=2, store=tmp_path / "x.db")
    rep = zn.report(store, export=tmp_path / "all.csv")
    assert rep["scores"] == sum(r["rows"] for r in rep["rows"]) > 0 and rep["integrity"] == "ok"
    merged = zn.merge(tmp_path / "all.csv", store=tmp_path / "copy.db")
    assert merged == [{"source": str(tmp_path / "all.csv"), "read": rep["scores"], "new": rep["scores"],
                       "conflicts": 0, "unchecked": 0}]
    assert zn.merge([tmp_path / "all.csv"], store=tmp_path / "copy.db")[0]["new"] == 0  # nothing twice
    with pytest.raises(UserError, match=r"unknown keyword 'exprot'; valid keywords: export, store"):
        zn.report(store, exprot="x.csv")


def test_cli_rerun_of_a_finished_train_says_nothing_was_trained(separable, tmp_path):
    argv = ["train", "--arch", ARCH, "--out", str(tmp_path / "t"), "--epochs", "1", "--C", "4", "--N", "1",
            "--batch-size", "32"]
    first = runner.invoke(app, argv)
    assert first.exit_code == 0 and "nothing trained" not in first.output, first.output
    again = runner.invoke(app, argv)
    assert again.exit_code == 0 and "already holds this run, finished (1 of 1 epochs): nothing trained" in " ".join(
        again.output.split()), again.output


def test_cli_train_takes_the_apis_time_limit(separable, tmp_path):
    res = runner.invoke(app, ["train", "--arch", ARCH, "--out", str(tmp_path / "t"), "--time-limit", "0.001",
                              "--epochs", "3", "--C", "4", "--N", "1", "--batch-size", "32"])
    assert res.exit_code == 0, res.output
    assert "note: stopped by --time-limit 0.001 s in epoch 1 of 3 after 32 images of 256" in " ".join(
        res.output.split())
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["time_limit"] == 0.001  # one step always runs: 32 of 256 images, not an epoch done
    assert summary["epochs_done"] == 0 and summary["epochs_trained"] == 0.125 and summary["finished"]
    assert summary["complete"] is False  # a user's trial: a script reading finished took it for a full run
    reads = []
    real_read = trainer_mod.read_checkpoint

    def counted(*a, **k):
        reads.append(a[0])
        return real_read(*a, **k)

    trainer_mod.read_checkpoint = counted
    try:
        res = runner.invoke(app, ["export", "--arch", ARCH, "--checkpoint", str(tmp_path / "t" / "checkpoint.pt"),
                                  "--out", str(tmp_path / "m.json")])
    finally:
        trainer_mod.read_checkpoint = real_read
    assert "weights after 0.125 of 3 epochs: an unfinished or time-limited run" in " ".join(res.output.split())
    assert len(reads) == 1, reads  # the summary line says what export read: the file is loaded once
    # a newcomer trial: the evaluation was outside the limit (8 s asked, 62 s taken on 10,000 test images), and
    # the summary said nothing of the stop; now the test set is cut to what fits (at least 100 images), said
    assert summary["final"]["test_images"] == 100 and summary["notes"][-1] == (
        "evaluated on 100 of the 128 test images to keep within --time-limit")
    assert summary["notes"][0].startswith("stopped by --time-limit 0.001 s in epoch 1 of 3")
    # a killed --no-resume run left the old checkpoint and summary beside no log: resume then crashed
    runner.invoke(app, ["train", "--arch", ARCH, "--out", str(tmp_path / "v"), "--epochs", "1", "--C", "4", "--N",
                        "1", "--batch-size", "32"])
    real_train_one_epoch = trainer_mod.train_one_epoch

    def killed(*a, **k):
        raise KeyboardInterrupt

    trainer_mod.train_one_epoch = killed
    try:
        res = runner.invoke(app, ["train", "--arch", ARCH, "--out", str(tmp_path / "v"), "--epochs", "2", "--C", "4",
                                  "--N", "1", "--batch-size", "32", "--no-resume"])
    finally:
        trainer_mod.train_one_epoch = real_train_one_epoch
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == []  # the old run's files went with it
    res = runner.invoke(app, ["train", "--arch", ARCH, "--out", str(tmp_path / "u"), "--time-limit", "5",
                              "--max-epochs-this-run", "1"])
    assert isinstance(res.exception, UserError) and "do not combine" in str(res.exception)
    res = runner.invoke(app, ["train", "--arch", ARCH, "--out", str(tmp_path / "u"), "--time-limit", "-1"])
    assert isinstance(res.exception, UserError) and "--time-limit must be in (0, " in str(res.exception)


def test_cli_train_runs_a_long_recipe_in_chunks(separable, tmp_path):
    args = ["train", "--arch", ARCH, "--out", str(tmp_path / "t"), "--epochs", "3", "--C", "4", "--N", "1",
            "--batch-size", "32", "--max-epochs-this-run", "2"]
    assert runner.invoke(app, args).exit_code == 0
    assert json.loads((tmp_path / "t" / "summary.json").read_text())["epochs_done"] == 2
    assert runner.invoke(app, args).exit_code == 0  # the same command goes on where it stopped
    assert json.loads((tmp_path / "t" / "summary.json").read_text())["epochs_done"] == 3
    res = runner.invoke(app, [*args[:-1], "0"])
    assert isinstance(res.exception, UserError) and "--max-epochs-this-run must be" in str(res.exception)


def test_review_fixes_bench_api_and_arch_files(separable, tmp_path):
    """bench.build takes a list of proxies and refuses a space without a recipe before drawing (a macro sample
    larger than the space spun forever); its errors name zeronas.bench.build; a text file of two archs is said
    to hold two, not parsed as one."""
    info = zn.bench.build(sample=3, epochs=1, proxies=["params"], store=tmp_path / "b.db", train_subset=None,
                          test_subset=500, batch_size=64, C=4, N=1)
    assert info["archs"] == 3
    assert info["notes"] == ["a test subset of 500 is more than the 128 test images of cifar10: all of them are used"]
    with pytest.raises(UserError, match="^the training-states bench trains the reduced networks of nb201, darts, "
                                        "not the macro space; give space='nb201' or space='darts'$"):
        zn.bench.build(space="macro", sample=7000, store=tmp_path / "m.db")
    with pytest.raises(UserError, match=r"^zeronas\.bench\.build\(\) got unknown keyword 'stor'"):
        zn.bench.build(stor="x")
    with pytest.raises(UserError, match=r"^store .* does not exist; pass store= the path of a store that"):
        zn.bench.correlate(tmp_path / "none.db")
    (tmp_path / "two.txt").write_text(f"{ARCH}\n{ARCH}\n")
    res = runner.invoke(app, ["export", "--arch-file", str(tmp_path / "two.txt"), "--out", str(tmp_path / "x.json")])
    assert str(res.exception) == (f"arch file {str(tmp_path / 'two.txt')!r} holds 2 architectures; this "
                                  "command takes one: keep one")
    (tmp_path / "one.txt").write_text(f"  # the best one\n{ARCH}\n")
    res = runner.invoke(app, ["export", "--arch-file", str(tmp_path / "one.txt"), "--out", str(tmp_path / "y.json")])
    assert res.exit_code == 0 and json.loads((tmp_path / "y.json").read_text())["arch"] == ARCH


def test_export_takes_the_checkpoints_dataset_and_refuses_another(separable, tmp_path):
    """A checkpoint's classifier and input size are its training data's: --data of another dataset exported a
    16 px network with CIFAR-10's 10 classes (exit 0). Refused in one line; without --data the checkpoint's."""
    train("nb201", ARCH, tmp_path / "run", epochs=1, progress=False, **TINY)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    for other in ("imagenet16-120", "cifar100"):
        with pytest.raises(UserError, match=rf"run/checkpoint.pt was trained on cifar10, not data='{other}'; drop"):
            export("nb201", ARCH, "torchscript", tmp_path / "m.pt", checkpoint=ckpt, data=other)
    assert not (tmp_path / "m.pt").exists()
    ts = torch.jit.load(str(export("nb201", ARCH, "torchscript", tmp_path / "m.pt", checkpoint=ckpt)))
    assert ts(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert export("nb201", ARCH, "json", tmp_path / "m.json", checkpoint=ckpt, data="cifar10").exists()
    with pytest.raises(UserError, match="is the checkpoint being exported"):
        export("nb201", ARCH, "torchscript", ckpt, checkpoint=ckpt)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1  # untouched
    # a user's trial: --seed beside --checkpoint was taken without a word, though it changes nothing
    res = runner.invoke(app, ["export", "--checkpoint", str(ckpt), "--seed", "5", "--out", str(tmp_path / "s.json")])
    assert isinstance(res.exception, UserError) and "drop --seed" in str(res.exception)
    assert not (tmp_path / "s.json").exists()
    # and the Python call took seed=5 beside checkpoint= without a word (its default was 0, not None)
    with pytest.raises(UserError, match=r"^seed= draws untrained weights, and checkpoint= exports trained ones: "
                                        r"drop seed=$"):
        export(None, None, "json", tmp_path / "s.json", checkpoint=ckpt, seed=5)
    assert not (tmp_path / "s.json").exists()


def test_export_of_a_fixed_benchmark_network_refuses_a_width_in_flags(tmp_path):
    """--C on the macro space said 'the macro space's build got unknown keyword 'C'' (a user's trial): the
    flag is named, and why it cannot apply."""
    res = runner.invoke(app, ["export", "--space", "macro", "--arch", "01220012", "--C", "8",
                              "--out", str(tmp_path / "m.json")])
    assert isinstance(res.exception, UserError), res.output
    assert str(res.exception) == ("--C sets the width or depth of a cell space's network; the macro network is the "
                                  "benchmark's own, fixed: drop --C")
    assert not (tmp_path / "m.json").exists()


def test_a_torchscript_export_given_as_a_checkpoint_is_named_as_such(tmp_path, recwarn):
    """A newcomer trial: export --checkpoint model.pt (a TorchScript export) printed torch's UserWarning and
    an error quoting torch's note on its weights_only default. Now one line saying what the file is."""
    ts = export("nb201", ARCH, "torchscript", tmp_path / "m.pt")
    with pytest.raises(UserError, match=r"m\.pt is a TorchScript export \(torch\.jit\.load reads it\), not a "
                                        r"zeronas checkpoint; give the checkpoint\.pt that 'zeronas train' wrote$"):
        export("nb201", ARCH, "json", tmp_path / "q.json", checkpoint=ts)
    assert not (tmp_path / "q.json").exists() and not [w for w in recwarn if "TorchScript" in str(w.message)]


def test_untrained_exports_are_seeded_and_the_json_recipe_rebuilds_the_same_weights(tmp_path):
    x = torch.randn(2, 3, 32, 32)
    outs = [torch.jit.load(str(export("nb201", ARCH, "torchscript", tmp_path / f"{name}.pt", seed=seed)))(x)
            for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    desc = json.loads(export("nb201", ARCH, "json", tmp_path / "m.json", seed=0).read_text())
    assert desc["seed"] == 0 and not desc["trained"]
    scope = {"arch": desc["arch"], "build": desc["build"]}
    exec(desc["rebuild"], scope)  # noqa: S102  (the recipe exactly as a user would run it)
    assert torch.equal(scope["net"].eval()(x), outs[0])


def test_export_replaces_only_an_export_of_its_format(tmp_path):
    """A re-export replaces the model file; a search's result.json, a link or a device at --out was replaced
    silently (as root, /dev/full became a regular file). Refused in one line, the file unchanged."""
    for fmt, name in (("json", "m.json"), ("torchscript", "m.pt")):
        export("nb201", ARCH, fmt, tmp_path / name)
        export("nb201", ARCH, fmt, tmp_path / name)  # again: replaced
    (tmp_path / "result.json").write_text('{"arch": "x"}')
    with pytest.raises(UserError, match=r"result.json' exists and is not a json export \(it would be lost\)"):
        export("nb201", ARCH, "json", tmp_path / "result.json")
    assert (tmp_path / "result.json").read_text() == '{"arch": "x"}'
    (tmp_path / "notes.onnx").write_text("my notes")  # a trial read 'is not a onnx export'
    with pytest.raises(UserError, match=r"notes.onnx' exists and is not an onnx export"):
        export("nb201", ARCH, "onnx", tmp_path / "notes.onnx")
    (tmp_path / "link.json").symlink_to(tmp_path / "m.json")
    with pytest.raises(UserError, match=r"link.json' is a symbolic link"):
        export("nb201", ARCH, "json", tmp_path / "link.json")
    (tmp_path / "notes.pt").write_text("my notes")
    with pytest.raises(UserError, match="is not a torchscript export"):
        export("nb201", ARCH, "torchscript", tmp_path / "notes.pt")
    torch.save({"model": {}}, tmp_path / "checkpoint.pt")  # a zip too, but no TorchScript archive
    with pytest.raises(UserError, match="is not a torchscript export"):
        export("nb201", ARCH, "torchscript", tmp_path / "checkpoint.pt")


def test_train_refuses_what_it_would_record_unused_and_keeps_one_test_set(separable, tmp_path):
    """DARTS-only options on NB201 were recorded as applied and changed nothing; --cutout the image's size
    blanked every image; a resume with another --test-subset scored epochs on different sets; a run stopped by
    max_epochs_this_run looked finished."""
    for opt in ({"auxiliary_weight": 0.5}, {"drop_path_prob": 0.3}):
        with pytest.raises(UserError, match="is a DARTS network's .* the nb201 network has none"):
            train("nb201", ARCH, tmp_path / "x", epochs=1, progress=False, **TINY, **opt)
    with pytest.raises(UserError, match="cutout=64 blanks the whole 32x32 px image wherever it is centred; give less "
                                        "than 64"):
        train("nb201", ARCH, tmp_path / "x", epochs=1, progress=False, cutout=64, **TINY)
    assert not (tmp_path / "x").exists()
    s = train("nb201", ARCH, tmp_path / "r", epochs=2, progress=False, test_subset=64, max_epochs_this_run=1, **TINY)
    assert s["finished"] is False and "unfinished: 1 of 2 epochs; rerun the same command to go on" in s["notes"]
    with pytest.raises(UserError, match="differs in test_subset"):
        train("nb201", ARCH, tmp_path / "r", epochs=2, progress=False, test_subset=8, **TINY)
    s = train("nb201", ARCH, tmp_path / "r", epochs=2, progress=False, test_subset=64, **TINY)
    assert s["finished"] is True and s["test_images"] == 64 and not any("unfinished" in n for n in s["notes"])
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    ckpt["identity"].pop("test_subset")  # a checkpoint from before the key existed still resumes
    torch.save(ckpt, tmp_path / "r" / "checkpoint.pt")
    assert train("nb201", ARCH, tmp_path / "r", epochs=2, progress=False, test_subset=64, **TINY)["finished"]


def test_bench_keys_a_set_of_proxies_not_their_order_and_names_its_own_batch_option(separable, tmp_path):
    """The same proxies in another order retrained every arch under a second key; bench's proxy batch is
    --proxy-batch, not the training --batch-size the message named."""
    from zeronas.benchmarks.training_states import DEFAULT_PROXIES, canonical_proxies

    assert canonical_proxies(["das", "nwot", "params", "das"]) == ["nwot", "das", "params"]
    assert canonical_proxies(reversed(DEFAULT_PROXIES)) == list(DEFAULT_PROXIES)  # the default keeps its keys
    kw = dict(sample=3, epochs=1, store=tmp_path / "b.db", train_subset=None, test_subset=64, batch_size=64, C=4,
              N=1)
    zn.bench.build(proxies="params,nwot", **kw)
    again = zn.bench.build(proxies=["nwot", "params"], **kw)
    assert again["trained_now"] == 0
    with pytest.raises(UserError, match=r"needs a batch of at least 2 images \(got proxy_batch=1\)"):
        zn.bench.build(proxies="nwot", proxy_batch=1, **kw)
    res = runner.invoke(app, ["bench", "build", "--sample", "3", "--proxies", "nwot", "--proxy-batch", "1",
                              "--store", str(tmp_path / "c.db")])
    assert "(got --proxy-batch 1)" in str(res.exception)


def test_api_train_and_export_refuse_missing_none_and_non_boolean_arguments(tmp_path):
    """A newcomer trial: out=5 / out=None / format=None gave raw TypeErrors and a KeyError, resume="no" ran as
    resume=True, nesterov="false" read as True, and store=5 was
    called empty."""
    for call, said in (
            (lambda: train("nb201", ARCH, 5), r"^out= takes a path, not int 5$"),
            (lambda: train("nb201", ARCH, None), r"^out=None: omit out= for its default \('runs/train'\), or give a "
                                                 r"value$"),
            (lambda: export("nb201", ARCH, None, tmp_path / "x.json"),
             r"^format=None: omit format= for its default \('json'\), or give a value$"),
            (lambda: train("nb201", ARCH, tmp_path / "r", resume="no"), r"^resume= takes True or False, not str"),
            (lambda: train("nb201", ARCH, tmp_path / "r", nesterov="false"),
             r"^nesterov= takes True or False, not 'false'"),
            (lambda: zn.bench.build(store=5), r"^store= takes a path or URL, not int 5;")):
        with pytest.raises(UserError, match=said):
            call()
    assert not (tmp_path / "r").exists() and not (tmp_path / "x.json").exists()


def test_export_of_another_spaces_checkpoint_names_the_space(separable, tmp_path):
    """A newcomer trial: an nb201 checkpoint exported under --space darts was told to 'pass the matching
    --arch', which cannot help; and an arch file holding {} read 'a JSON object with keys :'."""
    train("nb201", ARCH, tmp_path / "t", epochs=1, progress=False, **TINY)
    darts = zn.spaces.space("darts")
    with pytest.raises(UserError, match=r"checkpoint\.pt was trained on the nb201 space, not darts: pass space="):
        export("darts", darts.sample(0), "json", tmp_path / "x.json", checkpoint=tmp_path / "t" / "checkpoint.pt")
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(UserError, match=r"is an empty JSON object: neither a result\.json"):
        zn.spaces.space("nb201").from_file(tmp_path / "empty.json")


def test_export_of_an_unfinished_run_says_how_far_it_trained(separable, tmp_path):
    """An export of an unfinished checkpoint wrote "trained": true with no epoch count."""
    train("nb201", ARCH, tmp_path / "run", epochs=3, max_epochs_this_run=1, progress=False, **TINY)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    desc = json.loads(export("nb201", ARCH, "json", tmp_path / "m.json", checkpoint=ckpt).read_text())
    assert (desc["epochs_trained"], desc["epochs_planned"]) == (1, 3)
    assert desc["note"] == "trained 1 of its recipe's 3 epochs (an unfinished run, or one stopped by --time-limit)"
    res = runner.invoke(app, ["export", "--space", "nb201", "--arch", ARCH, "--format", "torchscript",
                                   "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.pt")])
    assert res.exit_code == 0, res.output
    assert "weights after 1 of 3 epochs: an unfinished or time-limited run" in " ".join(res.output.split())


def _image_folder(root, classes=3, per_class=4, hw=(20, 28)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (*hw, 3), dtype=np.uint8)).save(root / f"class{c}" / f"{i}.png")
    return root


def test_export_builds_the_network_the_search_scored(tmp_path, monkeypatch):
    """A search on the user's own images (3 classes, 20x28 px) exported a 10-class network traced at 32x32
    without a word: export took no image folder and ignored what the result.json scored."""
    from zeronas.cli import main

    monkeypatch.chdir(tmp_path)
    _image_folder(tmp_path / "imgs")

    def run(*args):
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        return exc.value.code or 0

    assert run("search", "--method", "sample", "--n", "2", "--proxy", "nwot", "--data", "imgs", "--batch-size",
               "4", "--out", "res") == 0
    result = json.loads((tmp_path / "res" / "result.json").read_text())
    digest = result["network"].pop("content_sha256")  # the images scored (an export says if they change)
    assert len(digest) == 16 and result["network"] == {"num_classes": 3, "input_size": [20, 28], "data": "folder:imgs",
                                                       "source": str((tmp_path / "imgs").resolve())}
    # from the result.json: its folder's classes and image size
    assert run("export", "--arch-file", "res/result.json", "--format", "torchscript", "--out", "m.pt") == 0
    assert torch.jit.load(str(tmp_path / "m.pt"))(torch.randn(2, 3, 20, 28)).shape == (2, 3)
    assert run("export", "--arch-file", "res/result.json", "--out", "m.json") == 0
    desc = json.loads((tmp_path / "m.json").read_text())
    assert desc["build"]["num_classes"] == 3 and desc["input"] == [3, 20, 28] and desc["data"] == "folder:imgs"
    # the folder itself as --data, and explicit sizes over it
    assert export("nb201", ARCH, "json", tmp_path / "f.json", data=tmp_path / "imgs") == tmp_path / "f.json"
    assert json.loads((tmp_path / "f.json").read_text())["build"]["num_classes"] == 3
    assert run("export", "--arch", ARCH, "--data", "imgs", "--num-classes", "5", "--input-size", "24",
               "--format", "torchscript", "--out", "n.pt") == 0
    assert torch.jit.load(str(tmp_path / "n.pt"))(torch.randn(1, 3, 24, 24)).shape == (1, 5)
    # train from the result.json trains on the folder it was searched on, not CIFAR-10
    assert run("train", "--arch-file", "res/result.json", "--out", "tr", "--epochs", "1", "--C", "4", "--N", "1",
               "--batch-size", "4") == 0
    assert json.loads((tmp_path / "tr" / "summary.json").read_text())["build"]["num_classes"] == 3
    # one option given replaces its own field only: the recorded 20x28 input stays
    assert run("export", "--arch-file", "res/result.json", "--num-classes", "4", "--out", "k.json") == 0
    desc = json.loads((tmp_path / "k.json").read_text())
    assert desc["build"]["num_classes"] == 4 and desc["input"] == [3, 20, 28]
    assert desc["preprocess"]["classes"] is None  # 3 class names do not name 4 outputs
    # the folder moved away: the sizes the result recorded are used, named as given
    (tmp_path / "imgs").rename(tmp_path / "moved")
    assert run("export", "--arch-file", "res/result.json", "--out", "g.json") == 0
    desc = json.loads((tmp_path / "g.json").read_text())
    assert desc["build"]["num_classes"] == 3 and desc["input"] == [3, 20, 28] and desc["data"] is None
    assert desc["preprocess"] is None  # no folder to measure: never CIFAR-10's statistics in its place
    # a named dataset's result: its classes (cifar100: 100), not cifar10's
    (tmp_path / "r100.json").write_text(json.dumps({**result, "network": {"num_classes": 100, "input_size": 32,
                                                                          "data": "cifar100"}}))
    assert run("export", "--arch-file", "r100.json", "--out", "h.json") == 0
    assert json.loads((tmp_path / "h.json").read_text())["build"]["num_classes"] == 100
    for bad in (["--data", "none"], ["--data", "auto"], ["--data", "./missing"], ["--input-size", "0"],
                ["--num-classes", "1"]):
        assert run("export", "--arch", ARCH, "--out", "bad.json", *bad) == 2
    assert not (tmp_path / "bad.json").exists()


def test_train_on_an_image_folder_then_export_it(tmp_path, monkeypatch):
    """zeronas train took only cifar10/cifar100: a search on the user's own images could not train its answer.
    A folder trains with one output per class at its images' size, its test set a fixed held-out share of each
    class (or its train/ and test/ subfolders); a resume on changed images is refused; the checkpoint exports
    with its classes and size even after the folder has moved."""
    from zeronas.cli import main
    from zeronas.data import custom

    monkeypatch.chdir(tmp_path)

    def run(*args):
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        return exc.value.code or 0

    _image_folder(tmp_path / "imgs", classes=3, per_class=5, hw=(20, 28))
    tiny = ["--epochs", "1", "--C", "4", "--N", "1", "--batch-size", "4"]
    assert run("train", "--arch", ARCH, "--data", "imgs", "--out", "t", *tiny) == 0
    s = json.loads((tmp_path / "t" / "summary.json").read_text())
    # ceil(0.2 x 5) = 1 image of each of the 3 classes is held out; 12 train, 3 epochs' worth of batches of 4
    assert (s["train_images"], s["test_images"], s["build"]["num_classes"], s["input_hw"]) == (12, 3, 3, [20, 28])
    assert s["data"] == "image folder" and s["data_path"] == str((tmp_path / "imgs").resolve())
    assert "held out" in s["fidelity"]
    # what a deployment must do to an image: the training images' own mean/std, and the output's class names
    from PIL import Image

    pre = s["preprocess"]
    x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted((tmp_path / "imgs").rglob("*.png"))])
    assert pre["classes"] == ["class0", "class1", "class2"] and len(pre["mean"]) == 3
    train_images = custom.folder_splits(tmp_path / "imgs")[0]  # the 12 kept for training, their own statistics
    assert np.allclose(pre["mean"], (train_images.x / 255.0).mean((0, 1, 2)), atol=1e-6)
    assert np.allclose(pre["std"], (train_images.x / 255.0).std((0, 1, 2)), atol=1e-5)
    assert not np.allclose(pre["mean"], (x[:3] / 255.0).mean((0, 1, 2)), atol=1e-3)  # (not any 3 images')
    a_train, a_test, how = custom.folder_splits(tmp_path / "imgs")
    b_train, b_test, _ = custom.folder_splits(tmp_path / "imgs")
    # the count held out is said: a trial read '20%' where a small class's rounding up holds out more
    assert how.startswith(f"{len(a_test)} of {len(a_test) + len(a_train)} images held out (20% of each class, "
                          "rounded up; seed")
    assert a_test.content_sha256 == b_test.content_sha256 and sorted(a_test.y.tolist()) == [0, 1, 2]
    # the trained weights export at the folder's classes and size, also once the folder has moved
    (tmp_path / "imgs").rename(tmp_path / "moved")
    assert run("export", "--arch", ARCH, "--checkpoint", "t/checkpoint.pt", "--format", "torchscript",
               "--out", "m.pt") == 0
    extra = {"zeronas.json": ""}
    assert torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)(torch.randn(2, 3, 20, 28)).shape == (2, 3)
    assert json.loads(extra["zeronas.json"]) == {"input": [3, 20, 28], "data": "image folder", "num_classes": 3,
                                                 "preprocess": pre}  # the module carries its input contract
    assert run("export", "--arch", ARCH, "--checkpoint", "t/checkpoint.pt", "--data", "moved", "--out", "n.json") == 0
    assert json.loads((tmp_path / "n.json").read_text())["preprocess"] == pre
    assert run("export", "--arch", ARCH, "--checkpoint", "t/checkpoint.pt", "--data", "cifar10", "--out", "c.json") == 2
    # --checkpoint alone exports the arch it was trained on (a trial: only --arch was named as the way)
    assert run("export", "--checkpoint", "t/checkpoint.pt", "--out", "alone.json") == 0
    assert json.loads((tmp_path / "alone.json").read_text())["arch"] == ARCH
    # and so does the Python verb: arch=None (space=None: its space too)
    import zeronas as zn

    doc = json.loads(zn.export(None, None, "json", tmp_path / "api.json", checkpoint=tmp_path / "t/checkpoint.pt")
                     .read_text())
    assert doc["arch"] == ARCH and doc["build"]["num_classes"] == 3
    with pytest.raises(UserError, match=r"^no architecture given: pass arch= .*, or checkpoint= to export"):
        zn.export("nb201", None, "json", tmp_path / "none.json")
    # the same images elsewhere resume the run (here: it is finished, so nothing is trained); other images do not
    import shutil

    shutil.copytree(tmp_path / "moved", tmp_path / "copy")
    assert run("train", "--arch", ARCH, "--data", "copy", "--out", "t", *tiny) == 0
    assert json.loads((tmp_path / "t" / "summary.json").read_text())["epochs_this_run"] == 0
    (tmp_path / "moved").rename(tmp_path / "imgs")
    # a rerun resumes only on the same images
    Image.fromarray(np.zeros((20, 28, 3), np.uint8)).save(tmp_path / "imgs" / "class0" / "0.png")
    assert run("train", "--arch", ARCH, "--data", "imgs", "--out", "t", *tiny) == 2
    # train/ and val/ subfolders are used as they are (the val images resized to the train size)
    _image_folder(tmp_path / "split" / "train", classes=2, per_class=4, hw=(16, 16))
    _image_folder(tmp_path / "split" / "val", classes=2, per_class=2, hw=(24, 24))
    assert run("train", "--arch", ARCH, "--data", "split", "--out", "u", *tiny) == 0
    s = json.loads((tmp_path / "u" / "summary.json").read_text())
    assert (s["train_images"], s["test_images"], s["build"]["num_classes"], s["input_hw"]) == (8, 4, 2, [16, 16])
    assert run("export", "--arch", ARCH, "--data", "split", "--out", "v.json") == 0  # export reads the same layout
    assert json.loads((tmp_path / "v.json").read_text())["build"]["num_classes"] == 2
    # refusals, in one line, leaving no run folder: DARTS's auxiliary head at 20x28, too few images, too many
    assert run("train", "--space", "darts", "--index", "0", "--data", "imgs", "--out", "d", "--epochs", "1", "--C",
               "4", "--N", "3", "--batch-size", "4") == 2
    _image_folder(tmp_path / "few", classes=2, per_class=1)
    assert run("train", "--arch", ARCH, "--data", "few", "--out", "f", *tiny) == 2
    monkeypatch.setattr(custom, "TRAIN_MAX_BYTES", 1000)
    assert run("train", "--arch", ARCH, "--data", "imgs", "--out", "g", *tiny) == 2
    assert not any((tmp_path / d).exists() for d in ("d", "f", "g"))


def test_refine_train_reads_train_on_the_image_folder(tmp_path):
    """--refine K --evaluator train was refused with the user's images ('needs a named dataset'), although its
    reads are real training, which now takes a folder; a folder smaller than the recipe's batch of 256 is read
    in one batch of all its training images, and the read's cost is predicted for those counts."""
    _image_folder(tmp_path / "imgs", classes=3, per_class=5, hw=(16, 16))
    r = zn.search("nb201", "sample", proxy="params", n=4, seed=0, data=str(tmp_path / "imgs"), batch_size=4,
                  refine=2, evaluator="train")
    ref = r.protocol["refine"]
    assert r.accuracy_reads == 2 and len(ref["candidates"]) == 2
    assert ref["column"] == "test_acc after 1 epoch(s) on 12 images, batches of 12"
    assert all(0 <= c["accuracy"] <= 100 for c in ref["candidates"])
    assert r.network["num_classes"] == 3
    x = np.zeros((12, 16, 16, 3), np.uint8)
    with pytest.raises(UserError, match="needs a named dataset"):  # arrays cannot be trained on by a read
        zn.search("nb201", "sample", proxy="params", n=4, data=(x, np.arange(12) % 3), refine=2, evaluator="train")
    with pytest.raises(UserError, match="needs a named dataset"):  # the table's reads are NB201's, not the folder's
        zn.search("nb201", "sample", proxy="params", n=4, data=str(tmp_path / "imgs"), refine=2)


def test_a_train_test_folder_is_read_alike_by_every_verb(tmp_path):
    """root/train/<class> + root/val/<class>: train read 3 classes, but score and search took 'train' and 'val'
    as 2 classes (a newcomer trial). Hidden files in class folders (macOS ._x.png, .ipynb_checkpoints/) were
    read as images or failed; a single class trained a classifier that is always right."""
    from zeronas.data import custom

    _image_folder(tmp_path / "split" / "train", classes=3, per_class=4, hw=(16, 16))
    _image_folder(tmp_path / "split" / "val", classes=3, per_class=2, hw=(16, 16))
    (tmp_path / "split" / "train" / "class0" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "split" / "train" / "class1" / ".ipynb_checkpoints").mkdir()
    _image_folder(tmp_path / "split" / "train" / "class1" / ".ipynb_checkpoints" / "x", classes=1, per_class=1)
    images = custom.user_images(str(tmp_path / "split"))  # what score and search read: train/'s images
    assert images.classes == ("class0", "class1", "class2") and len(images) == 12
    assert images.dataset == "folder:split"
    r = zn.search("nb201", "sample", proxy="nwot", n=2, data=str(tmp_path / "split"), batch_size=4)
    assert r.network["num_classes"] == 3 and r.network["data"] == "folder:split"
    # the API exports a SearchResult as the network its search scored (arch alone: CIFAR-10's 10 classes)
    desc = json.loads(zn.export("nb201", r, "json", tmp_path / "r.json").read_text())
    assert desc["arch"] == r.arch and desc["build"]["num_classes"] == 3 and desc["input"] == [3, 16, 16]
    assert desc["data"] == "folder:split" and desc["preprocess"]["classes"] == ["class0", "class1", "class2"]
    train, test, how = custom.folder_splits(tmp_path / "split")
    assert (len(train), len(test), how) == (12, 6, "train/ and val/ subfolders")
    (tmp_path / "split" / "test").mkdir()
    for c in range(2):  # test/ beside val/, with a class missing: named, not 'the classes given'
        _image_folder(tmp_path / "split" / "test" / f"class{c}", classes=1, per_class=1)
    with pytest.raises(UserError, match=r"train/ and test/ hold different class folders \(only in train/: class2"):
        custom.folder_splits(tmp_path / "split")
    _image_folder(tmp_path / "one", classes=1, per_class=4)
    for read in (custom.folder_splits, custom.user_images, custom.folder_network):  # training, scoring, export
        with pytest.raises(UserError, match="needs at least two classes"):
            read(tmp_path / "one")
    # train/<class>/ beside a test/ of loose images (a common download): never read as classes train and test
    _image_folder(tmp_path / "kag" / "train", classes=2, per_class=2)
    (tmp_path / "kag" / "test").mkdir()
    (tmp_path / "kag" / "train" / "class0" / "0.png").rename(tmp_path / "kag" / "test" / "0.png")
    with pytest.raises(UserError, match="train/ holds class folders but its test/ holds no class folders"):
        custom.folder_splits(str(tmp_path / "kag"))  # training needs labelled test images
    assert custom.user_images(str(tmp_path / "kag")).classes == ("class0", "class1")  # the proxies read train/
    assert custom.folder_network(str(tmp_path / "kag"))[0] == ("class0", "class1")  # so does an export
    # '.' is named by the folder it is, alike everywhere (it was 'folder:' in one place and 'folder:NAME' in others)
    import os

    here = os.getcwd()
    try:
        os.chdir(tmp_path / "kag" / "train")
        assert custom.user_images(".").dataset == custom.folder_label(".") == "folder:train"
    finally:
        os.chdir(here)


def test_a_search_on_arrays_exports_its_network_and_training_asks_for_data(tmp_path):
    """A newcomer trial: a search run on (x, y) arrays could not be exported ('unknown dataset arrays'), and
    train --arch-file of its result.json named them and then failed the same way. The export builds the recorded
    network (4 classes, 32 px, and the arrays' own normalisation); training asks for the data instead of
    guessing."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 4
    r = zn.search("nb201", method="random", proxy="nwot", data=(x, y), budget=2, batch_size=16)
    pixels = x.reshape(-1, 3) / 255.0
    assert {k: r.network[k] for k in ("num_classes", "input_size", "data", "scale")} == {
        "num_classes": 4, "input_size": 32, "data": "arrays", "scale": "pixels / 255"}
    assert r.network["mean"] == pytest.approx(pixels.mean(0).tolist())
    desc = json.loads(export("nb201", r, "json", tmp_path / "m.json").read_text())
    assert desc["build"]["num_classes"] == 4 and desc["input"] == [3, 32, 32]
    assert desc["preprocess"]["std"] == pytest.approx(pixels.std(0).tolist(), abs=1e-6)
    (tmp_path / "result.json").write_text(json.dumps(r.to_dict(), default=str))
    res = runner.invoke(app, ["export", "--arch-file", str(tmp_path / "result.json"), "--out",
                              str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    from_file = json.loads((tmp_path / "c.json").read_text())
    assert from_file["build"] == desc["build"] and from_file["preprocess"] == desc["preprocess"]  # CLI: same contract
    xt = torch.from_numpy(x)  # a uint8 tensor is scaled by 255 too: the contract must say so
    r2 = zn.search("nb201", method="random", proxy="nwot", data=(xt, torch.from_numpy(y)), budget=2, batch_size=16)
    assert r2.network["scale"] == "pixels / 255" and r2.network["mean"] == pytest.approx(r.network["mean"])
    with pytest.raises(UserError, match=r"^the search ran on arrays, 4 classes, .*pass data= \(cifar10"):
        train("nb201", r, tmp_path / "t")
    res = runner.invoke(app, ["train", "--arch-file", str(tmp_path / "result.json"), "--out", str(tmp_path / "t")])
    assert isinstance(res.exception, UserError) and "pass --data (cifar10" in str(res.exception), res.output
    assert not (tmp_path / "t").exists()


@needs_cifar
def test_train_takes_a_search_result_as_export_does(tmp_path):
    r = zn.search("nb201", method="random", proxy="params", data="none", budget=2)
    s = train("nb201", r, tmp_path / "t", epochs=1, train_subset=64, test_subset=64, C=4, N=1, batch_size=32,
              progress=False)
    assert s["arch"] == r.arch and s["data"] == "cifar10"


@needs_cifar
def test_a_second_run_into_a_folder_being_trained_is_refused(tmp_path):
    """A newcomer trial: two 'zeronas train' runs into one --out both ran, and log.jsonl held every epoch twice.
    A run holds a lock on its folder; a second one is refused in one line and touches nothing."""
    from zeronas.paths import FolderLock

    kw = dict(epochs=1, train_subset=64, test_subset=64, C=4, N=1, batch_size=32, progress=False)
    out = tmp_path / "run"
    train("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
          out, **kw)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    held = FolderLock(out, "a test")  # as another process's run would hold it (flock: per open descriptor)
    with pytest.raises(UserError, match=r"^another process is writing into .*run \(a 'zeronas train' run\); wait "):
        train("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
              "nor_conv_3x3~2|", out, resume=False, **kw)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    held.release()
    s = train("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
              "nor_conv_3x3~2|", out, resume=False, **kw)
    assert s["epochs_this_run"] == 1 and len((out / "log.jsonl").read_text().splitlines()) == 1


def test_checkpoint_arch_names_a_plugin_space_it_cannot_find_by_name():
    """A checkpoint records a plug-in space by its name alone: exporting it needs the file, said in one line."""
    from zeronas.export import checkpoint_arch

    ckpt = {"identity": {"space": "MySpace", "arch": "a-b"}}
    with pytest.raises(UserError, match=r"^c.pt was trained on the plug-in space 'MySpace': pass --space "
                                        r"path/to/file.py:ClassName \(space=\) to export it$"):
        checkpoint_arch(ckpt, "c.pt")
    assert checkpoint_arch(ckpt, "c.pt", "my.py:MySpace") == ("my.py:MySpace", "a-b")
    assert checkpoint_arch({"identity": {"space": "nb201", "arch": "x"}}, "c.pt") == ("nb201", "x")
    # a recorded plug-in file is named, with the flag that loads it, never run unasked
    with pytest.raises(UserError, match=r"^c\.pt was trained on the plug-in space 'MySpace' of /abs/my\.py:MySpace: "
                                        r"pass --space /abs/my\.py:MySpace to export it \(that file is run"):
        checkpoint_arch({**ckpt, "space_source": "/abs/my.py:MySpace"}, "c.pt")


def test_too_few_images_for_a_batch_names_what_cut_them_short(separable, tmp_path):
    """A newcomer trial: 40 images in a folder with --train-subset 300 were 'fewer than one batch of 256; lower
    --batch-size or raise --train-subset', but the subset was already above what the data holds. The advice
    now follows the cause: the data (lower --batch-size), or the subset (also raise it). The fake data holds
    256 training images."""
    argv = ["train", "--arch", ARCH, "--out", str(tmp_path / "r"), "--epochs", "1", "--C", "4", "--N", "1"]
    r = runner.invoke(app, [*argv, "--batch-size", "300", "--train-subset", "1000"])
    assert isinstance(r.exception, UserError) and str(r.exception) == (
        "the cifar10 training split holds 256 images, fewer than one batch of 300; lower --batch-size "
        "to 256 or less"), r.output
    r = runner.invoke(app, [*argv, "--batch-size", "64", "--train-subset", "40"])
    assert isinstance(r.exception, UserError) and str(r.exception) == (
        "--train-subset 40 keeps 40 training images, fewer than one batch of 64; lower --batch-size to 40 or less "
        "or raise --train-subset"), r.output
    assert not (tmp_path / "r").exists()


def test_a_fresh_run_never_removes_a_users_own_files_of_its_names(separable, tmp_path):
    """The --out rule of score/search/correlate, in train's run folder: a fresh start removes an earlier run's
    log.jsonl, summary.json and curve.png, so one of the user's own under those names stops the run in one line
    first; the run's own files are replaced by a --no-resume rerun as before."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text('{"my": "notes"}')
    argv = ["train", "--arch", ARCH, "--out", str(out), "--epochs", "1", "--C", "4", "--N", "1", "--batch-size",
            "64", "--train-subset", "128", "--test-subset", "64"]
    r = runner.invoke(app, argv)
    assert isinstance(r.exception, UserError) and str(r.exception).startswith(
        f"--out {str(out)!r}: the summary.json there was not written by zeronas"), r.output
    assert (out / "summary.json").read_text() == '{"my": "notes"}'
    (out / "summary.json").unlink()
    for extra in ([], ["--no-resume"]):
        r = runner.invoke(app, [*argv, *extra])
        assert r.exit_code == 0, r.output
        assert json.loads((out / "summary.json").read_text())["epochs_done"] == 1


@needs_cifar
def test_bench_build_takes_threads(tmp_path, monkeypatch):
    """A user trial: 'bench build --threads 1' was "No such option", though the README asks every heavy job on a
    shared machine for --threads 1."""
    import torch

    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)  # the process's count is left as it is
    res = runner.invoke(app, ["bench", "build", "--sample", "3", "--epochs", "1", "--proxies", "params", "--C", "4",
                              "--N", "1", "--train-subset", "64", "--test-subset", "64", "--batch-size", "64",
                              "--threads", "1", "--store", str(tmp_path / "b.db")])
    assert res.exit_code == 0, res.output
    assert seen[:1] == [1]


def test_the_api_verbs_take_the_cli_defaults_for_out_and_format(tmp_path, monkeypatch):
    """zeronas.export / zeronas.train required format= and out= where zeronas export / train have defaults."""
    import inspect
    from pathlib import Path

    from zeronas.cli import train as train_cmd

    monkeypatch.chdir(tmp_path)
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert zn.export("nb201", arch) == Path("runs/export/model.json")
    assert (tmp_path / "runs/export/model.json").is_file()
    assert zn.export("nb201", arch, "torchscript") == Path("runs/export/model.pt")
    cli_out = inspect.signature(train_cmd).parameters["out"].default
    assert Path(inspect.signature(zn.train).parameters["out"].default) == cli_out == Path("runs/train")


def test_bench_correlates_with_the_benchmark_accuracy_of_its_own_dataset():
    """A correctness audit: a CIFAR-100 bench was correlated with NB201's CIFAR-10 200- and 12-epoch accuracy
    (nwot@0 0.810 / 0.452 against cifar10_test_acc / hp12_cifar10, instead of CIFAR-100's 0.833 / 0.429)."""
    from zeronas.benchmarks import training_states as ts

    cols = {ds: ts.benchmark_columns({"space": "nb201", "data": ds}) for ds in ("cifar10", "cifar100",
                                                                                  "ImageNet16-120")}
    assert cols == {"cifar10": {"nb201_200ep": "cifar10_test_acc", "nb201_12ep": "hp12_cifar10_test_acc_1seed"},
                    "cifar100": {"nb201_200ep": "cifar100_test_acc", "nb201_12ep": "hp12_cifar100_test_acc_1seed"},
                    "ImageNet16-120": {"nb201_200ep": "imagenet16_120_test_acc",
                                       "nb201_12ep": "hp12_imagenet16_120_test_acc_1seed"}}
    assert ts.benchmark_columns({"space": "nb201", "data": "/home/me/my_images"}) == {}  # another task
    assert ts.benchmark_columns({"space": "darts", "data": "cifar10"}) == {}
    if SHARED is None:
        pytest.skip("NB201 table not found: set ZERONAS_DATA to the data folder")
    from zeronas.benchmarks.nb201 import load_nb201

    table, sp = load_nb201(), zn.space("nb201")
    archs = [sp.format(sp.sample(i)) for i in range(3)]
    final = {a: 50.0 + i for i, a in enumerate(archs)}
    got = ts.targets({"space": "nb201", "data": "cifar100", "recipe": {"epochs": 1}}, {"test_acc@1": final})
    for a in archs:
        i = table.index_of(a)
        assert got["nb201_200ep"][a] == table.column("cifar100_test_acc")[i]
        assert got["nb201_12ep"][a] == table.column("hp12_cifar100_test_acc_1seed")[i]


def test_numpy_numbers_given_to_the_api_are_python_numbers_everywhere(separable, tmp_path):
    """A Python user's trial: np.int64 / np.float64 passed every integer and number check, then wrote a
    checkpoint that zeronas's safe loader refused (lr=np.float64), crashed writing JSON (epochs=, seed= of
    export), keyed the store by the text "1" (seed=np.int64(1): another protocol hash than seed=1), and made
    results that json.dumps refused."""
    train("nb201", ARCH, tmp_path / "t", epochs=np.int64(1), seed=np.int64(0), progress=False,
          **{**TINY, "lr": np.linspace(0.05, 0.1, 2)[0], "C": np.int64(4)})
    path = export("nb201", None, "json", tmp_path / "m.json", checkpoint=tmp_path / "t" / "checkpoint.pt")
    assert json.loads(path.read_text())["build"]["C"] == 4
    export("nb201", ARCH, "json", tmp_path / "s.json", seed=np.int64(1))
    one = zn.score(ARCH, proxies="params", seed=np.int64(1), data="none")[0]
    assert one.protocol_hash == zn.score(ARCH, proxies="params", seed=1, data="none")[0].protocol_hash
    assert json.loads(json.dumps(one.to_dict()))["protocol"]["seed"] == 1
    found = zn.search("nb201", "sample", proxy="params", n=np.int64(3), seed=np.int64(2), data="none")
    assert type(found.seed) is int and json.dumps(found.to_dict())
    rec = zn.score(ARCH, proxies="zen", data="none", options={"zen": {"repeats": np.int64(1)}})[0]
    assert rec.protocol["options"]["repeats"] == 1 and type(rec.protocol["options"]["repeats"]) is int


def test_export_from_a_search_whose_folder_changed_says_what_it_left_out(tmp_path, capsys):
    # a user trial: after a class folder was added, export dropped the class names without a word
    from zeronas.cli import main

    from .conftest import make_image_folder

    folder = make_image_folder(tmp_path / "imgs", per_class=4, size=(32, 32))
    with pytest.raises(SystemExit) as exc:
        main(["search", "--space", "nb201", "--method", "random", "--budget", "2", "--proxy", "nwot", "--data",
              str(folder), "--batch-size", "4", "--out", str(tmp_path / "run")])
    assert exc.value.code == 0
    capsys.readouterr()

    def export():
        with pytest.raises(SystemExit) as exc:
            main(["export", "--space", "nb201", "--arch-file", str(tmp_path / "run" / "result.json"), "--out",
                  str(tmp_path / "m.json")])
        cap = capsys.readouterr()
        return exc.value.code, " ".join(cap.err.split())

    code, err = export()
    assert code == 0 and "no class names" not in err and "not those the search scored" not in err, err
    assert json.loads((tmp_path / "m.json").read_text())["preprocess"]["classes"] == ["cat", "dog"]
    make_image_folder(tmp_path / "more", classes=("eel",), per_class=4, size=(32, 32))
    (tmp_path / "more" / "eel").rename(folder / "eel")
    code, err = export()
    assert code == 0 and "has 3 class folders and the network 2 outputs: no class names recorded" in err, err
    assert "are not those the search scored (they changed since)" in err, err


def test_balanced_order_gives_every_prefix_the_classes_evenly():
    from zeronas.train.trainer import balanced_order

    y = np.repeat(np.arange(10), 100)  # sorted by class, as CIFAR's test file and an image folder are
    order = balanced_order(y, 3)
    assert sorted(order.tolist()) == list(range(1000))  # a permutation
    for n in (10, 100, 244, 1000):  # each prefix: n // 10 or n // 10 + 1 of each class
        counts = np.bincount(y[order[:n]], minlength=10)
        assert counts.min() >= n // 10 and counts.max() <= -(-n // 10), (n, counts)
    # by hand: classes of 5, 2 and 10 images: rounds 1-2 hold all three, rounds 3-5 classes 0 and 2, then 2 alone
    y = np.array([0] * 5 + [1] * 2 + [2] * 10)
    rounds = [sorted(y[balanced_order(y, 0)][i:j].tolist()) for i, j in ((0, 3), (3, 6), (6, 8), (8, 10),
                                                                          (10, 12), (12, 17))]
    assert rounds == [[0, 1, 2], [0, 1, 2], [0, 2], [0, 2], [0, 2], [2] * 5]
    assert not np.array_equal(balanced_order(y, 0), balanced_order(y, 1))  # seeded


def test_a_time_limited_evaluation_reads_every_class_not_the_first_ones(tmp_path, monkeypatch):
    """A researcher's trial: cut short by --time-limit, the evaluation read the first test images, which the
    class-sorted CIFAR-10 test file fills with classes 0-2 only (accuracy 0.0 or 9.4: meaningless reads)."""
    def fake_load(dataset, split="train", data_dir=None, source="auto"):
        rng = np.random.default_rng(0)
        n = 256 if split == "train" else 200
        y = rng.integers(0, 10, n) if split == "train" else np.repeat(np.arange(10), 20)  # the test set sorted
        x = rng.integers(0, 60, size=(n, 32, 32, 3)) + (y * 20)[:, None, None, None]
        return ImageSet("cifar10", split, x.astype(np.uint8), y.astype(np.int64), "synthetic", "synthetic")

    seen = []
    real = trainer_mod.evaluate
    monkeypatch.setattr(trainer_mod, "load_images", fake_load)
    monkeypatch.setattr(trainer_mod, "evaluate", lambda m, x, y, *a: seen.append(y.numpy()) or real(m, x, y, *a))
    train("nb201", ARCH, tmp_path, epochs=1, progress=False, time_limit=1e-9, **TINY)
    row = json.loads((tmp_path / "log.jsonl").read_text())
    assert row["test_images"] == trainer_mod.MIN_EVAL_IMAGES == len(seen[0]) == 100
    assert np.bincount(seen[0], minlength=10).tolist() == [10] * 10  # was [20] * 5 + [0] * 5
