"""Architectures read from a file: the CLI's ``--arch-file`` and the API's ``SearchSpace.from_file`` /
``SearchSpace.archs_from_file``.

A file holds one of:
- a search's ``result.json`` (one run: an object; ``--runs N``: a list of them) or an export's ``model.json``,
  whose ``"arch"`` fields are read, or a Pareto search's ``front.json``: every member of its front(s), once;
- one architecture's JSON (a DARTS genotype), or one per line (JSON lines);
- architecture strings, one per line (blank lines and ``#`` comments skipped), or architectures written over
  several lines each (pretty-printed ``Genotype(...)``s), or a mix of the two.
Every error is a one-line ``UserError`` that names the file (and, for a result of a search of another space,
that space)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from ..errors import UserCodeError, UserError, with_article


def read_archs(space, path: str | os.PathLike, *, api: bool = False) -> list[Any]:
    """Every architecture of ``space`` that the file at ``path`` holds, in file order (at least one).
    Errors: UserError (one line) for an unreadable, binary or empty file, or a line that is no architecture of
    ``space``. ``api``: the errors point to Python calls instead of the CLI's options."""
    path, text = _read(path)
    return _archs(space, path, text, _result_archs(path, text), api)


def read_arch(space, path: str | os.PathLike, *, api: bool = False) -> Any:
    """The one architecture of ``space`` that the file at ``path`` holds. Errors: those of :func:`read_archs`,
    and a UserError (one line) for a file holding several (search runs, JSON lines or lines)."""
    path, text = _read(path)
    runs = _result_archs(path, text)
    several = "read them all with archs_from_file()" if api else ""
    if runs is not None and len(runs) > 1:
        seeds = ", ".join(str(seed) for seed, _ in runs)
        what = (f"{len(runs)} search runs (seeds {seeds})" if any(seed is not None for seed, _ in runs)
                else f"{len(runs)} architectures")
        raise UserError(f"arch file {str(path)!r} holds {what}; " + (
            several or f"pass the one you want with --arch instead of --arch-file, e.g. --arch "
                       f"{shlex.quote(runs[0][1])}"))
    found = _archs(space, path, text, runs, api)
    if len(found) > 1:
        raise UserError(f"arch file {str(path)!r} holds {len(found)} architectures; "
                        + (several or "this command takes one: keep one"))
    return found[0]


def _archs(space, path: Path, text: str, runs: list | None, api: bool) -> list:
    if runs is not None:
        return [_parse_from_file(space, path, a, api) for _, a in runs]
    if _is_json_doc(path, text):
        return _parse_json_archs(space, path, text, api)
    numbered = _lines(path, text)
    if len(numbered) == 1:
        return [_parse_from_file(space, path, numbered[0][1], api)]
    found, held = [], []  # held: lines that are no arch alone, gathered until together they are one

    def refuse():  # the lines held are no architecture: said of the line alone, or of the lines together
        if len(held) == 1:
            _parse_from_file(space, path, held[0][1], api, f"line {held[0][0]}")
        _parse_from_file(space, path, "\n".join(line for _, line in held), api,
                         f"lines {held[0][0]}-{held[-1][0]} (read as one architecture over several lines)")

    for n, line in numbered:
        if held and _parses(space, line):  # complete alone: the lines held before it never made an arch
            refuse()
        if not held:
            if _parses(space, line):
                found.append(space.parse(line))
                continue
            if _depth(line) <= 0:  # its brackets close: a bad one-line arch, not the start of a longer one
                _parse_from_file(space, path, line, api, f"line {n}")
        held.append((n, line))
        joined = "\n".join(line for _, line in held)
        if _depth(joined) <= 0 or len(held) >= MAX_ARCH_LINES:  # one architecture's lines, brackets closed
            if not _parses(space, joined):
                refuse()
            found.append(space.parse(joined))  # a pretty-printed genotype, one of several in the file
            held = []
    if held:
        refuse()
    return found


def _depth(text: str) -> int:
    """Brackets opened and not closed in ``text``: where an architecture written over several lines ends."""
    return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")


MAX_ARCH_LINES = 200  # lines one architecture may span (a pretty-printed DARTS genotype takes about 20)


def _read(path) -> tuple[Path, str]:
    """The file's text, or a one-line error for a binary or unreadable one."""
    path = Path(path)
    try:
        return path, path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"arch file {str(path)!r} is not a UTF-8 text file; give architectures as text") from None
    except OSError as exc:
        raise UserError(f"cannot read arch file {str(path)!r}: {exc.strerror}") from None


def _lines(path: Path, text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines that hold something: blank lines and # comments are skipped; none is an
    error."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise UserError(f"arch file {str(path)!r} holds no architecture (only blank or # lines); write one "
                        "architecture string per line in it")
    return lines


def _result_archs(path: Path, text: str) -> list[tuple] | None:
    """[(seed, arch string)] of a search's result.json (one run: an object; --runs N: a list), an export's JSON
    or a front.json (each front member once, seed None: a front is a set of architectures, not of runs); None
    when ``text`` is not such a file (then it holds architecture strings)."""
    if path.suffix != ".json" or not text.lstrip().startswith(("{", "[")) or '"arch"' not in text:
        return None
    try:
        doc = json.loads(text)
        runs = doc if isinstance(doc, list) else [doc]
        if runs and all(isinstance(r, dict) and "arch" not in r and isinstance(r.get("front"), list) for r in runs):
            # front.json (a result.json has a front too, beside its answer's "arch": that is what it names)
            found = list(dict.fromkeys((None, point["arch"]) for r in runs for point in r["front"]))
        else:
            found = [(r.get("seed"), r["arch"]) for r in runs]
        if all(isinstance(r, dict) and "proxy" in r for r in doc if isinstance(doc, list)):  # score's scores.json:
            found = list(dict.fromkeys(found))  # a row per arch x proxy, each arch once
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        found = []
    if not found or not all(isinstance(a, str) for _, a in found):
        raise UserError(f"arch file {str(path)!r} is not a result.json with an \"arch\" field (nor a front.json "
                        f"with a \"front\")")
    return found


def _is_json_doc(path: Path, text: str) -> bool:
    return path.suffix == ".json" and text.lstrip().startswith(("{", "["))


def _parse_json_archs(space, path: Path, text: str, api: bool) -> list:
    """A JSON arch file that is no result.json: one architecture's JSON (a DARTS genotype) or one per line; else a
    one-line error that names the file and its keys instead of quoting the whole document back (e.g. a
    correlation.json)."""
    try:
        return [space.parse(text)]
    except (UserError, UserCodeError) as exc:  # a plug-in's own parse failing on JSON text: the same
        why = " ".join(str(exc).split())
        # a parse error quoting the document (cut by errors.shown) says nothing the keys do not
        why = f" ({why})" if len(why) <= 300 and "characters)" not in why else ""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as bad:
            if bad.msg == "Extra data":  # JSON lines: an architecture per line
                return [_parse_from_file(space, path, line, api, f"line {n}")
                        for n, line in enumerate(text.splitlines(), 1) if line.strip()]
            doc = None
        what = ("an empty JSON object" if doc == {} else
                f"a JSON object with keys {', '.join(list(doc)[:6])}" if isinstance(doc, dict) else
                f"a JSON {type(doc).__name__}" if doc is not None else "not valid JSON")
        raise UserError(f"arch file {str(path)!r} is {what}: neither a result.json from 'zeronas search' (it has "
                        f"no \"arch\" field) nor a {space.name} architecture{why}") from None


def _parses(space, text: str) -> bool:
    try:
        space.parse(text)
        return True
    except UserError:
        return False


def _parse_from_file(space, path: Path, text: str, api: bool = False, where: str | None = None):
    """``space.parse(text)``, its error saying which file it read, ``where`` in it (e.g. "line 2" of a file of
    several) and, for another space's result.json, which space that is."""
    try:
        return space.parse(text)
    except UserError as exc:  # (a plug-in's own parse failing is a UserCodeError naming its method: kept)
        other = recorded_space(path)
        fix = f"read it with zeronas.space({other!r})" if api else f"pass --space {other}"
        hint = ("" if other in (None, space.name, getattr(space, "source", None))
                else f"; it is the result of a search of {other}: {fix}")
        why = str(exc).replace(f"; it is an architecture of the {other} space: {fix}", "") if hint else str(exc)
        if where:  # the other lines may be fine: say which one is not
            raise UserError(f"arch file {str(path)!r}, {where}: not {with_article(space.name)} architecture{hint} "
                            f"({why})") from exc
        raise UserError(f"arch file {str(path)!r} holds no {space.name} architecture{hint} ({why})") from exc


def recorded_space(path: str | os.PathLike) -> str | None:
    """The space a search's result.json (or an export's model.json) records: its name, or for a plug-in space its
    source ``file.py:Class``; None for any other file (architecture strings, an unreadable file)."""
    path = Path(path)
    if path.suffix != ".json":
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    doc = doc[0] if isinstance(doc, list) and doc else doc
    if not isinstance(doc, dict) or not isinstance(doc.get("space"), str):
        return None
    # a plug-in space is loaded again by its source (file.py:Class), not by its name
    source = doc.get("protocol", {}).get("space_source") if isinstance(doc.get("protocol"), dict) else None
    return source if isinstance(source, str) and source else doc["space"]
