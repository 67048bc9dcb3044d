"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class MbeguError(Exception):
    """A problem the user can fix: the message names it and says how."""


def first_line(err: BaseException, limit: int = 500) -> str:
    """An exception's first line, for one-line messages and tags (its type if it says nothing)."""
    lines = str(err).strip().splitlines()
    return lines[0][:limit] if lines else type(err).__name__
