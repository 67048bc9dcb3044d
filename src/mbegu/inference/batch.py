"""`mbegu predict` over a file of any size: read, predict and write a chunk of rows at a time.

Memory stays bounded by the chunk (inference.rows), not the file. The output is CSV, or Parquet
where its name ends in .parquet; it is written to a temporary file beside it and takes its
name only once every row is answered, so an error on row 900,000 leaves no half-written file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbegu.errors import MbeguError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.parquet as pq

    from mbegu.inference.predict import LoadedModel

PARQUET = (".parquet", ".pq")


class _Writer:
    """Chunks of answers appended to one CSV or Parquet file, in its format's own types."""

    def __init__(self, path: Path, parquet: bool) -> None:
        self.path, self.parquet = path, parquet
        self.parquet_writer: pq.ParquetWriter | None = None
        self.started = False

    def write(self, frame: pd.DataFrame) -> None:
        if not self.parquet:
            with self.path.open("a" if self.started else "w", encoding="utf-8") as out:
                frame.to_csv(out, index=False, header=not self.started, float_format="%.6g")
            self.started = True
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Text columns typed as text from the first chunk on: a chunk of only missing ids
        # would otherwise fix a null column type the next chunk cannot match.
        kinds = {"f": pa.float64(), "i": pa.int64(), "u": pa.int64()}
        schema = pa.schema([(c, kinds.get(frame[c].dtype.kind, pa.string())) for c in frame])
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        if self.parquet_writer is None:
            self.parquet_writer = pq.ParquetWriter(self.path, schema, compression="zstd")
        self.parquet_writer.write_table(table)

    def close(self) -> None:
        if self.parquet_writer is not None:
            self.parquet_writer.close()


def predict_file(
    model: LoadedModel, input_path: Path, output: Path, ids: list[str] | None = None
) -> dict[str, float]:
    """Write each input row's prediction and class probabilities to `output` (CSV or Parquet).

    The columns: the id columns (`ids`, by default data.drop's; else `row`), the text column of a
    text model, the label (when the input has the model's target column), `prediction` and
    `prob_CLASS...`: one line per input line, blank ones included (inference.rows), so the output
    joins back to the input.

    Args:
        model: The model to predict with.
        input_path: The CSV, TSV or Parquet file of rows, with the model's input columns.
        output: The file to write (check_output vets it first); .parquet: Parquet, else CSV.
        ids: Input columns that name each row; None: data.drop's the input has, else `row`.

    Returns:
        {"accuracy": ...} when the input has labels, else {}.

    Raises:
        MbeguError: The input is missing, lacks an input or `ids` column, or holds unusable values.
    """
    from mbegu.errors import warn
    from mbegu.inference.rows import read_rows
    from mbegu.io import atomic_path
    from mbegu.models.answers import unseen_categories, unseen_line

    if not input_path.is_file():
        raise MbeguError(f"input file {input_path} not found: pass a CSV of rows to predict")
    if model.saved.encoder.kind == "image":
        raise MbeguError(
            f"{model.source} is an image model: give `mbegu predict` an image, a folder of "
            f"images or a CSV with a `path` column"
        )
    where = str(input_path)
    hits: list[bool] = []
    unseen: dict[str, Counter[str]] = {}
    bar = _progress(input_path)
    with atomic_path(output) as tmp:
        writer = _Writer(tmp, output.suffix.lower() in PARQUET)
        try:
            for chunk in read_rows(input_path):
                first_row = int(chunk.index[0]) if len(chunk) else 0
                frame = chunk.reset_index(drop=True)
                answers = _answer(model, frame, where, first_row, ids, hits)
                for column, counts in unseen_categories(model.saved.encoder, frame).items():
                    unseen.setdefault(column, Counter()).update(counts)
                writer.write(answers)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            writer.close()
            if bar is not None:
                bar.close()
    line = unseen_line(unseen, where)
    if line:
        warn(line)
    return {"accuracy": sum(hits) / len(hits)} if hits else {}


def _progress(path: Path) -> Any:
    """A rows-answered bar on a terminal for a file past one chunk (mbegu.progress)."""
    from mbegu.progress import BIG_FILE, rows_bar

    return rows_bar(f"predicting {path.name}", path.stat().st_size >= BIG_FILE)


def _answer(
    model: LoadedModel,
    frame: pd.DataFrame,
    where: str,
    first_row: int,
    ids: list[str] | None,
    hits: list[bool],
) -> pd.DataFrame:
    """One chunk's output rows; `hits` gains a bool per labelled row (prediction == label)."""
    from mbegu.features.cells import require_columns
    from mbegu.features.labels import as_text
    from mbegu.inference.rows import row_ids

    require_columns(frame, model.features, where)
    absent = [c for c in ids or () if c not in frame.columns]
    if absent:
        raise MbeguError(
            f"{where} has no column {absent[0]!r} (--id): its columns are "
            f"{', '.join(map(str, list(frame.columns)[:8]))}"
        )
    out = model.predict(frame[model.features], where, first_row).reset_index(drop=True)
    passed: dict[str, list[Any]] = row_ids(frame, ids or model.drop, first_row)
    if model.text_column is not None:
        passed.setdefault(model.text_column, [as_text(v) for v in frame[model.text_column]])
    if model.target in frame.columns:
        labels = [as_text(v) for v in frame[model.target].tolist()]
        passed.setdefault(model.target, labels)  # as the file spells them
        if model.label_normalize:  # compared as training saw them
            labels = [v if v is None else v.strip().lower() for v in labels]
        hits += [p == y for p, y in zip(out["prediction"], labels, strict=True) if y is not None]
    for position, (name, values) in enumerate(passed.items()):
        out.insert(position, name if name not in out.columns else f"input_{name}", values)
    return out
