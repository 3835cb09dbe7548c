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

from .conftest import BEST

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
    spec = lambda fn: f"{proxy_file}:{fn}"  # noqa: E731
    recs = zn.score([BEST], [spec("label_sum"), spec("n_weights"), spec("input_std")], images=fake_images,
                    batch_size=16)
    by = {r.proxy: r for r in recs}
    batch = make_batch(fake_images, 16, seed=0)
    assert by[spec("label_sum")].value == int(batch.y.sum()) + 16_000
    sp = zn.space("nb201")
    assert by[spec("n_weights")].value == count_params(sp.build(sp.parse(BEST), num_classes=10))
    assert by[spec("n_weights")].direction == -1 and by[spec("label_sum")].direction == 1
    assert 0.9 < by[spec("input_std")].value < 1.1
    assert by[spec("input_std")].protocol["data"] == {"synthetic": "noise"}


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
        main(["score", "--index", "0", "--proxies", spec, "--data", "none"])
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
    assert set(values) == {"params", f"{proxy_file}:n_weights"}
    assert values[f"{proxy_file}:n_weights"] == values["params"]
