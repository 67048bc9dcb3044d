"""Reading the user's data files: CSV, TSV or Parquet, whatever the columns hold.

The format comes from the extension (`data.sep` overrides the separator). Columns that must
stay text (categories, labels, sentences) are read as text, so '01' stays '01'; numbers stay
the floats the file holds. A file that cannot be read is one line naming it and the fix.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mbegu.data.checks import refuse_duplicate_columns
from mbegu.errors import MbeguError, first_line

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t", ".parquet": None, ".pq": None}


def file_md5(path: Path) -> str:
    """The md5 of a file's bytes, read in blocks (a data file may be large)."""
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Cells that mean "missing". Not "NA" or "None": Namibia's country code and a word are data.
NA_VALUES = ["", "NaN", "nan", "NULL", "null", "N/A", "n/a", "#N/A"]


QUOTING = ("csv", "none")


def read_frame(
    path: Path,
    sep: str | None = None,
    quoting: str | None = None,
    blank_lines: bool = False,
    chunksize: int | None = None,
) -> Any:
    """The file as a DataFrame, cell for cell as text where it is CSV or TSV.

    A CSV or TSV is read as text, cell for cell (numbers are parsed later, by the encoder, from
    exactly what the file says); Parquet cells become text too.

    Args:
        path: A .csv, .tsv (.tab, .txt) or .parquet file.
        sep: The separator, overriding the extension's.
        quoting: "csv" honours double quotes around a field (what spreadsheets and pandas write);
            "none" reads every character as data (raw tweet corpora, where a text may start with a
            quote). None: "none" for tab-separated files, "csv" otherwise.
        blank_lines: A blank line is a row of missing values (pandas skips it), as `mbegu predict`
            needs to answer every line; blank lines at the end of the file are no rows (unless
            chunksize is set: the caller drops them, knowing where the file ends).
        chunksize: A CSV or TSV only: pandas' reader of this many rows at a time, to iterate
            inside `reading(path)`, which turns its errors into one line too.

    Returns:
        The file's rows, the header as column names (or the chunk reader).

    Raises:
        MbeguError: The file is missing, of an unknown format, or cannot be read.
    """
    import csv

    import pandas as pd

    require_file(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS and sep is None:
        raise MbeguError(
            f"{path}: cannot tell the format from '{suffix}': use .csv, .tsv or .parquet, or "
            f"set data.sep"
        )
    with reading(path):
        if sep is None and FORMATS.get(suffix) is None:
            # As text, cell for cell, the way a CSV reads: a class or category has one
            # spelling (1, not 1.0), and the split stores the same text whatever the format.
            import pyarrow.parquet as pq

            refuse_duplicate_columns(path, pq.read_schema(path).names)
            return cells_as_text(pd.read_parquet(path))
        separator = sep or FORMATS[suffix]
        if quoting is None:
            quoting = "none" if separator == "\t" else "csv"
        quote: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL
        # The header as the file spells it: pandas renames a repeated name (age.1). The
        # options are spelled out in both calls: pandas-stubs types read_csv by overloads
        # that neither a spread dict nor functools.partial can match.
        header = pd.read_csv(
            path,
            sep=separator,
            quoting=quote,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8",
            header=None,
            nrows=1,
        )
        refuse_duplicate_columns(path, header.iloc[0].tolist() if len(header) else [])
        bar = None
        if chunksize is None and not blank_lines:
            from mbegu.progress import BIG_FILE, CHUNK_ROWS, rows_bar

            bar = rows_bar(f"reading {path.name}", path.stat().st_size >= BIG_FILE)
            chunksize = CHUNK_ROWS if bar is not None else None
        frame = pd.read_csv(
            path,
            sep=separator,
            quoting=quote,
            index_col=False,
            dtype=str,
            keep_default_na=False,
            na_values=NA_VALUES,
            skip_blank_lines=not blank_lines,
            encoding="utf-8",
            chunksize=chunksize,
        )
        if bar is not None and not isinstance(frame, pd.DataFrame):  # chunk by chunk, the
            with bar, frame as chunks:  # same cells as one read
                parts = []
                for chunk in chunks:
                    parts.append(chunk)
                    bar.update(len(chunk))
            return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        if blank_lines and isinstance(frame, pd.DataFrame):  # whole, not a chunk reader
            frame = frame.iloc[: len(frame) - blank_lines_at_end(path)]
        return frame


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Pandas' and the codec's refusals of `path` as one line naming it and the fix.

    A row with extra fields is only a ParserWarning to pandas: it is refused here too.
    """
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            yield
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        ValueError,
        OSError,
    ) as err:
        kind = "UTF-8 text" if isinstance(err, UnicodeDecodeError) else "table"
        raise MbeguError(
            f"{path} is not a readable {kind} ({first_line(err, 120)}): check the file and data.sep"
        ) from None


def blank_lines_at_end(path: Path) -> int:
    """How many blank lines end the file (after the newline that ends its last row)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(size - 4096, 0))
        tail = handle.read()
    end = tail[len(tail.rstrip(b"\r\n")) :]
    return max(end.count(b"\n") - 1, 0) if len(end) < len(tail) else 0


def cells_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet's typed cells as the text a CSV would hold: one spelling per value (1, not 1.0)."""
    return frame.map(_as_cell).astype(object)


def _as_cell(value: object) -> str | None:
    from mbegu.features.labels import as_text

    text = as_text(value)
    return None if text is None or text in NA_VALUES else text


def require_file(path: Path) -> Path:
    """The path, if it is a file; else one line saying how to get it back."""
    if not path.is_file():
        hint = "run `dvc pull` to restore it" if "data" in path.parts else "check the path"
        raise MbeguError(f"data file {path} not found: {hint}")
    return path


def read_source(
    path: Path, target: str, sep: str | None = None, quoting: str | None = None
) -> pd.DataFrame:
    """A data source's file as text cells, refused when it has no rows or no label column."""
    frame = read_frame(path, sep, quoting)
    if frame.empty:
        raise MbeguError(f"{path} has no rows: check the file")
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:6]))
        raise MbeguError(f"{path} has no column {target!r} (data.target): its columns are {shown}")
    return frame
