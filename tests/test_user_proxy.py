"""Your own proxy: path/to/file.py:function wherever a proxy name goes (score, correlate, search, ensembles, the
Python API), called as function(model, x, y); one-line errors for every way loading can fail; the file's
digest in the protocol keeps an edited proxy's scores apart."""

import math

import pytest

import zeronas as zn
from zeronas.cli import main
from zeronas.counting import count_params
from zeronas.data import make_batch
from zeronas.errors import UserError
from zeronas.scoring import protocol_hash

from .conftest import BEST, needs_table

PROXIES = '''
import torch


def label_sum(model, x, y):
    """The sum of the batch's labels (what zeronas fed the proxy)."""
    return int(y.sum()) + 1000 * x.shape[0]


def n_weights(model, x, y):
    return sum(p.numel() for p in model.parameters())


n_weights.data = "noise"
n_weights.direction = -1


def input_std(model, x, y):
    assert y is None
    return torch.tensor(float(x.std()))


input_std.data = "noise"


def wrong_type(model, x, y):
    return "high"


def blows_up(model, x, y):
    raise RuntimeError("not on this network")


def infinite(model, x, y):
    return float("inf")


def quits(model, x, y):
    raise SystemExit(1)


def two_args(model, x):
    return 0.0


def bad_direction(model, x, y):
    return 0.0


bad_direction.direction = 2
'''


@pytest.fixture
def proxy_file(tmp_path):
    path = tmp_path / "my_proxies.py"
    path.write_text(PROXIES)
    return path


def test_a_proxy_of_your_own_gets_the_batch_and_network_every_proxy_gets(proxy_file, fake_images):
    """Hand-checked values: the labels of zeronas's seeded batch 0, the parameter count of the built network,
    and unit-variance noise for data = 'noise'; direction -1 recorded."""
    spec = lambda fn: f"{proxy_file.resolve()}:{fn}"  # noqa: E731  (named by the file's absolute path)
    recs = zn.score([BEST], [f"{proxy_file}:{f}" for f in ("label_sum", "n_weights", "input_std")],
                    images=fake_images, batch_size=16)
    by = {r.proxy: r for r in recs}
    batch = make_batch(fake_images, 16, seed=0)
    assert by[spec("label_sum")].value == int(batch.y.sum()) + 16_000
    sp = zn.space("nb201")
    assert by[spec("n_weights")].value == count_params(sp.build(sp.parse(BEST), num_classes=10))
    assert by[spec("n_weights")].direction == -1 and by[spec("label_sum")].direction == 1
    assert 0.9 < by[spec("input_std")].value < 1.1
    # its noise holds --batch-size images: another batch size, another store key
    assert by[spec("input_std")].protocol["data"] == {"synthetic": "noise", "batch_size": 16}


def test_failures_inside_the_function_are_that_archs_error_record(proxy_file, fake_images):
    recs = zn.score([BEST], [f"{proxy_file}:{f}" for f in ("wrong_type", "blows_up", "infinite", "quits")],
                    images=fake_images, batch_size=8)
    errors = [r.error or "" for r in recs]
    assert "wrong_type() returned a str, not a number" in errors[0]
    assert "RuntimeError: not on this network" in errors[1]
    assert math.isinf(recs[2].value) and recs[2].reason == "infinite() returned inf"
    assert "ExitCalled: it called sys.exit(1)" in errors[3]


@pytest.mark.parametrize("spec,needle", [
    ("{d}/absent.py:f", "does not exist"),
    ("{d}/my_proxies.py:nope", "defines no function 'nope' (functions defined there: bad_direction, blows_up,"),
    ("{d}/my_proxies.py:two_args", "cannot be called as two_args(model, x, y)"),
    ("{d}/my_proxies.py:bad_direction", "bad_direction.direction is 2; set 1 (higher is better) or -1"),
    ("{d}/notes.txt:f", "a proxy of your own is named path/to/file.py:function"),
    ("{d}/broken.py:f", "running"),
])
def test_loading_failures_are_one_line_exit_2(proxy_file, capsys, spec, needle):
    (proxy_file.parent / "broken.py").write_text("import zn_no_such_module_here\n")
    spec = spec.format(d=proxy_file.parent)
    with pytest.raises(SystemExit) as exc:
        main(["score", "--arch", BEST, "--proxies", spec, "--data", "none"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and needle in err, err
    with pytest.raises(UserError, match="proxy "):
        zn.score([BEST], [spec], data="none")


def test_an_edited_proxy_file_gets_new_store_keys(proxy_file):
    """The file's digest is in the protocol: an edited proxy's stored scores are not read back."""
    def key():
        scorer = zn.Scorer("nb201", [f"{proxy_file}:n_weights"], data="none")
        return protocol_hash(scorer.protocol(scorer.proxies[0]))

    before = key()
    assert key() == before
    proxy_file.write_text(PROXIES.replace("return sum(p.numel()", "return 1 + sum(p.numel()"))
    assert key() != before


def test_a_search_and_an_ensemble_take_a_proxy_of_your_own(proxy_file, fake_images):
    """Your images and your proxy in one search; in a rank ensemble with params, whose count it repeats."""
    r = zn.search("nb201", method="sample", n=4, proxy=f"ensemble:params+{proxy_file}:n_weights",
                  data=(fake_images.x[:64], fake_images.y[:64]), batch_size=8, seed=0)
    values = r.proxy_values
    assert set(values) == {"params", f"{proxy_file.resolve()}:n_weights"}
    assert values[f"{proxy_file.resolve()}:n_weights"] == values["params"]


def _key(spec) -> str:
    scorer = zn.Scorer("nb201", [spec], data="none")
    return scorer.proxies[0].name, protocol_hash(scorer.protocol(scorer.proxies[0]))


def test_every_spelling_of_the_path_is_one_proxy_with_one_store_key(proxy_file, monkeypatch):
    monkeypatch.chdir(proxy_file.parent.parent)
    folder = proxy_file.parent.name
    keys = {_key(f) for f in (f"{folder}/my_proxies.py:n_weights", f"./{folder}/my_proxies.py:n_weights",
                              f"{proxy_file}:n_weights", f"{folder}/../{folder}/my_proxies.py:n_weights")}
    assert len(keys) == 1 and next(iter(keys))[0] == f"{proxy_file.resolve()}:n_weights"


@needs_table  # correlate reads the NB201 table
def test_a_file_of_the_same_name_in_the_working_folder_is_another_proxy(tmp_path, monkeypatch):
    """sub/q.py:fn is sub/q.py's, also where ./q.py exists (a short name would have found ./q.py when looked up
    again inside search and correlate)."""
    (tmp_path / "sub").mkdir()
    for folder, value in ((tmp_path / "sub", 111), (tmp_path, 222)):
        (folder / "q.py").write_text(f"def fn(model, x, y):\n    return {value}.0\n\n\nfn.data = 'noise'\n")
    monkeypatch.chdir(tmp_path)
    r = zn.search("nb201", method="sample", n=3, proxy="sub/q.py:fn", data="none", seed=0)
    assert r.proxy_values == {f"{tmp_path.resolve()}/sub/q.py:fn": 111.0}
    res = zn.correlate(proxies="sub/q.py:fn,q.py:fn", sample=3, store=tmp_path / "s.db")
    assert {n: v[0] for n, v in res.values.items()} == {f"{tmp_path.resolve()}/sub/q.py:fn": 111.0,
                                                        f"{tmp_path.resolve()}/q.py:fn": 222.0}


@needs_table  # correlate reads the NB201 table
def test_worker_processes_load_a_proxy_of_your_own_by_its_name(tmp_path, monkeypatch):
    """correlate --workers: each worker loads the proxy again by its name (an absolute path), wherever it was
    written from; a function typed at a prompt cannot reach them and is refused in one line."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "w.py").write_text("def fn(model, x, y):\n    return float(sum(p.numel() for p in "
                                           "model.parameters()))\n\n\nfn.data = 'noise'\n")
    monkeypatch.chdir(tmp_path)
    res = zn.correlate(proxies="sub/w.py:fn,params", sample=4, workers=2, store=tmp_path / "s.db")
    assert list(res.values[f"{tmp_path.resolve()}/sub/w.py:fn"]) == list(res.values["params"])
    namespace = {"__name__": "zn_prompt_workers"}
    exec("def typed(model, x, y):\n    return 3.0\ntyped.data = 'noise'\n", namespace)
    with pytest.raises(UserError, match="exists in this process only .typed at a prompt"):
        zn.correlate(proxies=[namespace["typed"]], sample=4, workers=2, store=tmp_path / "t.db")


def test_a_function_imported_before_its_file_was_edited_is_keyed_by_the_code_that_runs(tmp_path):
    import importlib.util
    import sys

    path = tmp_path / "edited_later.py"
    path.write_text("def fn(model, x, y):\n    return 1.0\n\n\nfn.data = 'noise'\n")
    loader = importlib.util.spec_from_file_location("zn_edited_later", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    sys.modules["zn_edited_later"] = module
    try:
        before = zn.score([BEST], proxies=module.fn, data="none")[0]
        path.write_text("def fn(model, x, y):\n    return 5.0\n\n\nfn.data = 'noise'\n")
        stale = zn.score([BEST], proxies=module.fn, data="none")[0]
        fresh = zn.score([BEST], proxies=f"{path}:fn", data="none")[0]
    finally:
        sys.modules.pop("zn_edited_later")
    assert (before.value, stale.value, fresh.value) == (1.0, 1.0, 5.0)
    assert before.proxy == fresh.proxy == f"{path.resolve()}:fn" and stale.proxy.startswith(f"{fresh.proxy}@")
    # the stale function's 1.0 is never stored under the key of the edited file's 5.0
    assert stale.protocol_hash != fresh.protocol_hash and before.protocol_hash != fresh.protocol_hash


@pytest.mark.parametrize("preimported", [False, True])
@pytest.mark.parametrize("how", ["from {helper} import SCALE",
                                 "import importlib\n\nSCALE = importlib.import_module({helper!r}).SCALE"])
def test_an_edited_helper_module_gets_new_store_keys(tmp_path, how, preimported):
    """The digest follows the user's imports: editing a helper beside the proxy file changes the key, and the
    helper is imported anew (its new value is what the proxy returns); also for a helper imported with
    ``importlib.import_module``, which no import statement names, and one this process imported before (a
    review: the dynamic case depended on that history)."""
    import sys

    helper = f"zn_helper_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{helper}.py").write_text("SCALE = 1\n")
    (tmp_path / "uses_helper.py").write_text(how.format(helper=helper) + "\n\n\ndef scaled(model, x, y):\n"
                                              "    return SCALE\n\n\nscaled.data = 'noise'\n")
    spec = f"{tmp_path}/uses_helper.py:scaled"
    if preimported:
        sys.path.insert(0, str(tmp_path))
        try:
            __import__(helper)
        finally:
            sys.path.remove(str(tmp_path))
    before = _key(spec)
    assert zn.score([BEST], [spec], data="none")[0].value == 1
    (tmp_path / f"{helper}.py").write_text("SCALE = 22\n")
    assert _key(spec) != before
    assert zn.score([BEST], [spec], data="none")[0].value == 22


def test_a_helper_package_s_relative_imports_are_followed(tmp_path):
    """A helper package whose module imports a sibling relatively (``from . import consts``): editing the
    sibling changes the key and its new value is used."""
    pkg = f"zn_pkg_{tmp_path.name.replace('-', '_')}"
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "consts.py").write_text("SCALE = 3\n")
    (tmp_path / pkg / "maths.py").write_text("from . import consts\n\n\ndef scale():\n    return consts.SCALE\n")
    (tmp_path / "uses_pkg.py").write_text(f"from {pkg}.maths import scale\n\n\ndef scaled(model, x, y):\n"
                                          f"    return scale()\n\n\nscaled.data = 'noise'\n")
    spec = f"{tmp_path}/uses_pkg.py:scaled"
    before = _key(spec)
    assert zn.score([BEST], [spec], data="none")[0].value == 3
    (tmp_path / pkg / "consts.py").write_text("SCALE = 33\n")
    assert _key(spec) != before
    assert zn.score([BEST], [spec], data="none")[0].value == 33


def test_the_function_itself_is_taken_by_the_python_api(proxy_file, fake_images, tmp_path):
    """score, correlate and search take the function object: the same name and store key as its file."""
    import importlib.util

    loader = importlib.util.spec_from_file_location("my_proxies_module", proxy_file)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    import sys

    sys.modules["my_proxies_module"] = module
    try:
        recs = zn.score([BEST], proxies=[module.n_weights, "params"], data="none")
        assert [r.proxy for r in recs] == [f"{proxy_file.resolve()}:n_weights", "params"]
        assert recs[0].value == recs[1].value
        assert recs[0].protocol_hash == _key(f"{proxy_file}:n_weights")[1]
        r = zn.search("nb201", method="sample", n=3, proxy=module.n_weights, data="none", seed=0)
        assert set(r.proxy_values) == {f"{proxy_file.resolve()}:n_weights"}
        with pytest.raises(UserError, match="needs a name; define it with def"):
            zn.score([BEST], proxies=lambda m, x, y: 0.0, data="none")
    finally:
        sys.modules.pop("my_proxies_module")


def test_a_function_typed_at_a_prompt_is_named_by_its_module(fake_images):
    namespace = {"__name__": "zn_prompt_session"}  # a module without a file, as __main__ at a Python prompt
    exec("def typed(model, x, y):\n    return 3.0\ntyped.data = 'noise'\n", namespace)
    recs = zn.score([BEST], proxies=namespace["typed"], data="none")
    assert recs[0].proxy == "zn_prompt_session:typed" and recs[0].value == 3.0
    assert recs[0].protocol["proxy_revision"].startswith("sha256:")


@needs_table  # correlate reads the NB201 table
def test_a_constant_proxy_is_said_to_have_no_correlation(proxy_file, tmp_path):
    (tmp_path / "flat.py").write_text("def flat(model, x, y):\n    return 1.0\n\n\nflat.data = 'noise'\n")
    res = zn.correlate(proxies=f"{tmp_path}/flat.py:flat,params", sample=5, store=tmp_path / "s.db")
    assert math.isnan(res.rows[f"{tmp_path.resolve()}/flat.py:flat"]["spearman"])
    assert any("flat.py:flat gave one value (1) on all 5 archs" in n for n in res.meta["notes"])


@pytest.mark.parametrize("args,needle", [
    (["--proxies", "{d}/my_proxies.py"], "add ':' and the function's name"),
    (["--proxies", "{d}/my_proxies.py:n_weights", "--set", "{d}/my_proxies.py:n_weights.scale=2"],
     "is a proxy of your own, which takes no proxy options: read its settings inside the function"),
])
def test_misspelt_proxies_of_your_own_are_told_the_fix(proxy_file, capsys, args, needle):
    (proxy_file.parent / "consts.py").write_text("notfn = 3\n")
    args = [a.format(d=proxy_file.parent) for a in args]
    with pytest.raises(SystemExit) as exc:
        main(["score", "--arch", BEST, "--data", "none", *args])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and needle in err, err


def test_values_that_are_not_one_number_are_named_by_their_type(tmp_path):
    (tmp_path / "shapes.py").write_text(
        "import numpy as np\nimport torch\n\n\ndef vec(model, x, y):\n    return x.mean(dim=(1, 2, 3))\n\n\n"
        "def arr(model, x, y):\n    return np.ones(3)\n\n\ndef one(model, x, y):\n    return np.ones(1)\n\n\n"
        "notfn = 3\nfor f in (vec, arr, one):\n    f.data = 'noise'\n")
    recs = zn.score([BEST], [f"{tmp_path}/shapes.py:{f}" for f in ("vec", "arr", "one")], data="none",
                    batch_size=4)
    assert "vec() returned a torch.Tensor of 4 elements, not one number" in recs[0].error
    assert "arr() returned a numpy.ndarray of 3 elements" in recs[1].error
    assert recs[2].value == 1.0
    with pytest.raises(UserError, match="defines notfn as an int, not a function"):
        zn.score([BEST], [f"{tmp_path}/shapes.py:notfn"], data="none")


@needs_table  # correlate reads the NB201 table
def test_one_infinity_everywhere_is_said_to_rank_nothing(tmp_path):
    (tmp_path / "inf.py").write_text("def minus(model, x, y):\n    return float('-inf')\n\n\nminus.data = 'noise'\n")
    res = zn.correlate(proxies=f"{tmp_path}/inf.py:minus", sample=4, store=tmp_path / "s.db")
    assert any("inf.py:minus gave one value (-inf) on all 4 archs" in n for n in res.meta["notes"])


def test_a_search_refuses_options_for_a_proxy_of_your_own(proxy_file):
    spec = f"{proxy_file}:n_weights"
    with pytest.raises(UserError, match="is a proxy of your own, which takes no proxy options"):
        zn.search("nb201", method="sample", n=3, proxy=spec, data="none", options={spec: {"scale": 2}})


def test_tables_and_plots_show_a_plugin_proxy_by_its_file_not_its_absolute_path(tmp_path, capsys):
    """A researcher's trial: a plug-in proxy's absolute path (which keys its scores) wrapped over six table lines
    and overran its scatter panel's title."""
    from zeronas.proxies.plugin import short_names

    assert short_names(["/w/ex/my.py:f", "nwot", "ensemble:/w/ex/my.py:f+nwot", "/x/q.py:g", "/y/q.py:g"]) == {
        "/w/ex/my.py:f": "my.py:f", "nwot": "nwot", "ensemble:/w/ex/my.py:f+nwot": "ensemble:my.py:f+nwot",
        "/x/q.py:g": "/x/q.py:g", "/y/q.py:g": "/y/q.py:g"}  # two files of one name: kept whole, told apart
    assert short_names(["/home/u/My Proxies/p.py:f"]) == {"/home/u/My Proxies/p.py:f": "p.py:f"}  # (a space)
    f = tmp_path / "deep" / "folder" / "mine.py"
    f.parent.mkdir(parents=True)
    f.write_text("def size(model, x, y):\n    return float(sum(p.numel() for p in model.parameters()))\n"
                 "size.data = 'noise'\n")
    with pytest.raises(SystemExit) as exc:
        main(["score", "--arch", BEST, "-p", f"{f}:size,params", "--data", "none"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "│ mine.py:size │" in out and str(tmp_path) not in out, out
