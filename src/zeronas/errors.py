"""User-facing errors: the CLI prints them as one line, never a traceback."""


class UserError(Exception):
    """Bad input or a missing resource; the message names the problem and the fix."""


class DataNotFound(UserError):
    """A dataset or benchmark table was not found where zeronas looked."""
