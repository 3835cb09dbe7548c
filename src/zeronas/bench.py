"""The ``zeronas bench`` verbs as calls: ``zeronas.bench.build(...)`` and ``zeronas.bench.correlate(...)``.

The training-states bench (DAS, Section 4: proxies measured on the weights after each epoch of a short training)
lives in ``zeronas.benchmarks.training_states``; these two functions are its public front, with the CLI's
names, defaults and checks.
"""

from __future__ import annotations

import math
from pathlib import Path

from .errors import UserError
from .validation import api


@api("bench_build", public="zeronas.bench.build", threads=True)
def build(space="nb201", sample=60, seed=0, epochs=3, proxies="nwot,das,das_d,das_na", store="runs/bench.db",
          data="cifar10", train_subset=2048, test_subset=1000, batch_size=128, proxy_batch=None, lr=0.1, C=8,
          N: int | None = None, data_dir=None, device="cpu", progress=False) -> dict:
    """Train ``sample`` distinct random archs of ``space`` (nb201 or darts) for ``epochs`` epochs each on a
    seeded pick of ``train_subset`` images of ``data``, measuring ``proxies`` (a list of names, or one
    comma-separated text) at init and after every epoch, into ``store`` (an SQLite path or database URL; a rerun
    with the same settings resumes at the first unfinished arch). Another space than nb201 or darts is refused
    before anything is drawn. ``C`` / ``N``: the networks' channels and cells (NB201: per stage, default 1;
    DARTS: in all, default 5). ``proxy_batch``: the proxies' batch (default 64; given where no proxy reads it, e.g.
    synflow alone, a note says so). ``threads``: torch CPU threads during the call (``--threads``). Returns the
    build's summary (``protocol_hash``, ``archs``, ``trained_now``, ``seconds``). Errors: UserError (one line)
    for a bad argument (``sample`` below 3 or above the space's size, an unknown proxy, space or dataset) or a
    store that cannot be written."""
    import numpy as np

    from .benchmarks import training_states as ts
    from .spaces import space as get_space

    sp = get_space(space)
    if sp.name not in ts.DEFAULT_N:  # before any sampling (the bench's reduced networks are defined for these)
        raise UserError(f"the training-states bench trains the reduced networks of {', '.join(ts.DEFAULT_N)}, not "
                        f"the {sp.name} space; give --space {' or --space '.join(ts.DEFAULT_N)}")
    if sample > sp.size():  # (at least 3: the declared domain of bench_build.sample)
        raise UserError(f"--sample {sample} exceeds the {sp.size():,} architectures of {sp.name}; lower --sample")
    if isinstance(proxies, str):
        from .proxies.ensembles import split_names

        proxies = split_names(proxies)
    proxies = [p.strip() for p in proxies if p.strip()]
    unread = None
    if proxy_batch is not None:  # given where no proxy reads it: said in the notes
        from .scoring import unread_batch_size

        unread = unread_batch_size(proxies, proxy_batch, flag="--proxy-batch")
        # (it is one of the bench's settings all the same: another --proxy-batch is another bench)
        unread = unread and unread + "; it is one of the bench's settings, so another value starts another bench"
    proxy_batch = 64 if proxy_batch is None else proxy_batch
    rng, archs = np.random.default_rng(seed), {}
    while len(archs) < sample:
        a = sp.sample(rng)
        archs.setdefault(sp.format(a), a)
    info = ts.build(sp, list(archs.values()), store, proxies=proxies,
                    epochs=epochs, data=data, data_dir=data_dir, train_subset=train_subset,
                    test_subset=test_subset, batch_size=batch_size, lr=lr, C=C, N=N, seed=seed,
                    proxy_batch=proxy_batch, device=device, progress=progress)
    info["notes"] = [*([unread] if unread else []), *info["notes"]]
    return info


@api("bench_correlate", public="zeronas.bench.correlate")
def correlate(store="runs/bench.db", protocol: str | None = None, out: str | Path | None = None,
              data_dir=None) -> dict:
    """Spearman rho of each proxy and accuracy at epoch k with the bench's own final test accuracy and, on NB201,
    with the benchmark's 200-epoch and 12-epoch test accuracy of the bench's dataset (``final``, ``nb201_200ep``,
    ``nb201_12ep``; the NB201 columns only where the table is found, and named in the notes). ``protocol``: the
    bench's hash in ``store`` (default: the newest). Returns ``{"protocol", "targets" (names), "rows" (one per
    metric@epoch: rho per target, ``n``, ``left_out``), "notes"}``; with ``out`` (a folder) also writes
    ``bench_correlation.json`` and ``rho_by_epoch.png`` there (``written``: their paths). Errors: UserError for a
    missing store or bench."""
    from . import jsonio
    from .benchmarks import training_states as ts
    from .errors import DataNotFound
    from .store import Store

    if out is not None:  # a user's own file there is never replaced, found before any work
        from .paths import check_outputs

        check_outputs(out, ["bench_correlation.json", "rho_by_epoch.png"])
    db = Store(store, create=False)
    try:
        proto, metrics = ts.load(db, protocol)
        benches = db.protocol_hashes(ts.PREFIX)
    finally:
        db.close()
    notes = []
    if protocol is None and len(benches) > 1:  # which one was read, when the store holds several
        trained = len(metrics.get(f"test_acc@{proto['recipe']['epochs']}", {}))
        notes.append(f"{store} holds {len(benches)} training-states benches; this is the newest ({benches[0]}: "
                     f"{proto['space']}, {trained} archs); pick another with --protocol {' or '.join(benches[1:])}")
    try:
        targets = ts.targets(proto, metrics, data_dir)
        columns = ts.benchmark_columns(proto)
        notes += [f"nb201_200ep and nb201_12ep are NAS-Bench-201's {columns['nb201_200ep']} and "
                  f"{columns['nb201_12ep']} ({proto['data']}, the bench's images)"] if columns else []
    except DataNotFound:
        notes.append("NB201 table not found: correlating with the bench's own final accuracy only")
        targets = {"final": metrics.get(f"test_acc@{proto['recipe']['epochs']}", {})}
    rows = ts.correlations(proto, metrics, targets)
    tnames = list(targets)
    left: dict[str, int] = {}  # archs without a value or a target, per target: said, not dropped silently
    for r in rows:
        for t, k in r.get("left_out", {}).items():
            left[t] = max(left.get(t, 0), k)
    notes += [f"up to {k} architecture(s) left out of the '{t}' column (no value or no target, e.g. NaN or a "
              "blank benchmark cell)" for t, k in left.items()]
    small = small_sample_note(rows, tnames)
    notes += [small] if small else []
    result = {"protocol": proto, "targets": tnames, "archs": len(targets["final"]), "rows": rows, "notes": notes}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        jsonio.write(out / "bench_correlation.json", {"protocol": proto, "rows": rows, "notes": notes}, indent=1)
        _plot(rows, tnames, out / "rho_by_epoch.png")
        result["written"] = [str(out / "bench_correlation.json"), str(out / "rho_by_epoch.png")]
    return result


def _plot(rows: list[dict], tnames: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "nb201_200ep" if "nb201_200ep" in tnames else "final"
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name in sorted({r["metric"] for r in rows if not r["metric"].startswith("nb201")}):
        pts = [(r["epoch"], r[key]) for r in rows if r["metric"] == name and key in r]
        if pts:
            ax.plot(*zip(*pts), "o-", label=name)
    ax.set_xlabel("epochs trained"), ax.set_ylabel(f"Spearman rho with {key}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def small_sample_note(rows: list[dict], tnames: list[str]) -> str | None:
    """As correlate says it: below SMALL_SAMPLE archs a rho is a wide interval, not a reading."""
    from .benchmarks.correlation import SMALL_SAMPLE, interval_words

    cells = [(r[t], r.get("n_by_target", {}).get(t, r["n"]), r["metric"], r["epoch"], t) for r in rows
             for t in tnames if t in r and math.isfinite(r[t])]
    if not cells or max(c[1] for c in cells) >= SMALL_SAMPLE:
        return None
    n = max(c[1] for c in cells)
    # the example: a proxy's or the bench's own accuracy's rho, of median size; not a benchmark column, nor a
    # column against itself (rho 1, a point interval that would look certain)
    shown = sorted((c for c in cells if not c[2].startswith("nb201") and abs(c[0]) < 1 and c[1] == n),
                   key=lambda c: abs(c[0]))
    example = ""
    if shown:
        rho, _, metric, epoch, t = shown[len(shown) // 2]
        example = f" ({metric}@{epoch} vs {t}: {rho:.3f}, {interval_words(rho, n)}; Fisher z, Fieller et al. 1957)"
    return (f"only {n} archs: rho is uncertain at this size{example}; build the bench on {SMALL_SAMPLE} or more "
            f"archs ('zeronas bench build --sample {SMALL_SAMPLE}') for a reading")
