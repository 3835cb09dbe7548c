"""User-facing errors: the CLI prints them as one line, never a traceback."""

import contextlib


def shown(value, limit: int = 120) -> str:
    """``repr(value)`` for a one-line message, cut after ``limit`` characters with ``...`` and the full
    length, so that a long input (a whole file passed as an arch) neither floods the line nor passes for a
    shorter value."""
    text = repr(value)
    if len(text) <= limit + 2:
        return text
    return f"{text[:limit]}... ({len(str(value)):,} characters)"


def described(exc: BaseException, limit: int = 200) -> str:
    """'ValueError: its message' on one line (a SyntaxError: its message and line), for a message that quotes an
    exception of the user's code or of a library."""
    text = " ".join(str(exc).split())
    if isinstance(exc, SyntaxError) and exc.lineno:
        text = f"{exc.msg} (line {exc.lineno})"
    return f"{type(exc).__name__}: {text[:limit]}" if text else type(exc).__name__


def with_article(noun: str) -> str:
    """'a NoneType', 'an int': a type named in a sentence."""
    return f"{'an' if noun[:1] in 'aeiouAEIOU' else 'a'} {noun}"


class UserError(Exception):
    """Bad input or a missing resource; the message names the problem and the fix."""


class DataNotFound(UserError):
    """A dataset or benchmark table was not found where zeronas looked."""


class UserCodeError(Exception):
    """An exception raised inside the user's own code (a plug-in space's method), named with that method.

    Not a UserError on purpose: a scoring run records it for the one architecture and goes on, as it does for
    any failure of a proxy; where it ends a command, the CLI prints it in one line with exit code 2, as for
    bad input (it is the user's to fix, not a zeronas bug). ``__cause__`` is the original exception."""


class ExitCalled(Exception):
    """``sys.exit()`` (or ``exit()``) called inside a user's file or method: raised in its place, so that it is
    reported in one line as any failure of the user's code is, instead of ending zeronas without a word."""


@contextlib.contextmanager
def exit_trapped():
    """Run the user's code in the block: a ``sys.exit()`` inside becomes ``ExitCalled``, which every handler
    of the user's failures already reports in one line (or records for that architecture)."""
    try:
        yield
    except SystemExit as exc:
        raise ExitCalled(f"it called sys.exit({exc.code!r})") from None


def run_script(main) -> None:
    """Run a script's ``main()`` (the scripts under ``benchmarks/``) as the CLI runs a verb: a UserError (bad input)
    is one line on stderr and exit 2, Ctrl-C exit 130, never a traceback; otherwise exit with what main returns."""
    import sys

    try:
        code = main()
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code)


def int_at_least(lo: int):
    """An argparse ``type=`` for an integer >= ``lo`` (a script's counts and workers): anything else is argparse's
    one-line usage error, exit 2, before any work."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is below {lo}; give {lo} or more")
        return value

    parse.__name__ = f"integer >= {lo}"  # argparse names the type in its message
    return parse
