"""Named, frozen rank ensembles of proxies (sum of log(rank/N) over a set of architectures, AZ-NAS's rule).

``az_nas``: AZ-NAS's own four components (Lee & Ham, CVPR 2024). ``zeronas-v2`` (nwot + AZ-NAS's
expressivity): chosen without any NB201 accuracy, on NB101, NB301 and NAS-Bench-Macro, by
``benchmarks/label_free_ensemble.py`` from Suite-Zero's eight proxies and the later data-free ones
(``docs/label_free_ensemble.md``, which also says what prompted the wider candidate set). ``zeronas-v1``
(nwot + params): the same rule on Suite-Zero's eight only (``docs/label_free_ensemble_v1.md``), kept frozen.
An ensemble ranks a set, so it has no value for one architecture: ``correlate`` and ``search`` take it,
``score`` takes its members.
"""

from __future__ import annotations

from ..errors import UserError

ENSEMBLES = {"az_nas": ["az_expressivity", "az_progressivity", "az_trainability", "flops"],
             "zeronas-v1": ["nwot", "params"],
             "zeronas-v2": ["nwot", "az_expressivity"]}


def split_names(text: str, option: str = "--proxies") -> list[str]:
    """The names in a comma-separated ``--proxies`` text (``option``: the option it came from), stripped. An empty
    one between commas or at an end (``nwot,,synflow``) is a one-line UserError: a name lost to a typo is never
    dropped silently. A text of nothing gives []."""
    items = [t.strip() for t in text.split(",")]
    if len(items) > 1 and not all(items):
        said = f"{option}{' ' if option.startswith('-') else ''}{text!r}"  # --proxies 'a,,b' / proxies='a,,b'
        raise UserError(f"{said} has an empty name (two commas in a row, or one at an end); remove the extra comma")
    return [t for t in items if t]


def ensemble_members(name: str) -> list[str] | None:
    """The members of a named ensemble or of ``ensemble:a+b+c``; None for a name that is neither."""
    if name in ENSEMBLES:
        return list(ENSEMBLES[name])
    if name.startswith("ensemble:"):  # a named ensemble inside one stands for its members
        parts = name[len("ensemble:"):].split("+")
        if len(parts) > 1 and not all(p.strip() for p in parts):
            raise UserError(f"{name!r} has an empty member (two '+' in a row, or one at an end); remove the extra "
                            f"'+'")
        return [m for part in parts if part for m in ENSEMBLES.get(part, [part])]
    return None
