"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class MbeguError(Exception):
    """A problem the user can fix: the message names it and says how."""


def first_line(err: BaseException, limit: int = 500) -> str:
    """An exception's first line, for one-line messages and tags (its type if it says nothing)."""
    lines = str(err).strip().splitlines()
    return lines[0][:limit] if lines else type(err).__name__


def warn(message: str) -> None:
    """A line the user should read but that stops nothing: `mbegu: warning: ...` on stderr.

    On stderr, beside the errors, so that it is seen even when stdout goes to a file.
    """
    import sys

    print(f"mbegu: warning: {message}", file=sys.stderr, flush=True)
