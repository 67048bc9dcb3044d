"""The user's own files as data: a table (`data=table`) or short texts (`data=text`).

Both read one file split by `seed` (stratified) or given train/val/test files, apply
`data.missing`, fit their encoder on the train split only and hand out encoded tensors.
The `prepare` stage writes the split and the encoder (data.split); training reads them when
they match the data and config, else (an ad hoc `mbegu train seed=7`) redoes them in memory, so
only the DVC stage ever writes artifacts/processed. No Lightning here: `prepare`, `evaluate`
and `predict` never import it (data.datamodule wraps these for training).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mbegu.data.checks import look_alike_labels, refuse_continuous_target, warn_dates
from mbegu.data.files import file_md5, read_frame
from mbegu.data.split import SPLITS, is_prepared, read_encoder, stratified_split, write_prepared
from mbegu.errors import MbeguError
from mbegu.features import Encoder, encoder_from_dict
from mbegu.features.labels import as_text, sort_classes
from mbegu.features.table import (
    MISSING_POLICIES,
    TableEncoder,
    numeric_values,
    require_columns,
    row_number,
)
from mbegu.features.text import TextEncoder

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd
    from omegaconf import DictConfig

    from mbegu.data.loading import Batch

PATH_KEYS = ("path", "train_path", "val_path", "test_path")

# A sweep trains many trials in one process on the same data: it is read, split and encoded
# once (0.3 s a trial on the digits), keyed by what decides its content (the source files'
# md5 and the options the prepared split's manifest records). One entry: the latest data.
_LOADED: dict[str, tuple[dict[str, pd.DataFrame], Encoder, dict[str, Batch]]] = {}


class FileData:
    """What tables and texts share: sources, missing values, the split, the batches."""

    kind = ""

    def __init__(
        self,
        target: str,
        name: str = "data",
        dir: str = "data",
        path: str | None = None,
        train_path: str | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        sep: str | None = None,
        quoting: str | None = None,
        drop: list[str] | None = None,
        classes: list[object] | None = None,
        missing: str = "error",
        label_normalize: bool = False,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        batch_size: int = 64,
        processed_dir: str = "artifacts/processed",
        seed: int = 0,
    ) -> None:
        if missing not in MISSING_POLICIES:
            raise MbeguError(f"data.missing={missing!r}: use one of {', '.join(MISSING_POLICIES)}")
        given = [train_path, val_path, test_path]
        if (path is None and not all(given)) or (path is not None and any(given)):
            raise MbeguError(
                "give either data.path (one file, split by seed) or all three of "
                "data.train_path, data.val_path and data.test_path (given splits)"
            )
        if not target:
            raise MbeguError(
                "data.target is not set: name the label column, e.g. data.target=label"
            )
        from mbegu.data.files import QUOTING

        if quoting is not None and quoting not in QUOTING:
            raise MbeguError(f"data.quoting={quoting!r}: use csv, none, or null (by extension)")
        self.name, self.target, self.sep, self.missing = name, str(target), sep, missing
        self.quoting = quoting
        given_paths = {"train": train_path, "val": val_path, "test": test_path}
        self.sources = (
            {"all": Path(path)}
            if path is not None
            else {split: Path(file) for split, file in given_paths.items() if file}  # all three
        )
        self.drop = [str(c) for c in drop or []]
        self.label_normalize = bool(label_normalize)
        # A null among data.classes stays None (never matched by a label); the rest are text.
        self.classes = cast("list[str] | None", [as_text(c) for c in classes] if classes else None)
        if self.classes and self.label_normalize:  # the same spellings as the labels
            self.classes = list(dict.fromkeys(c.strip().lower() for c in self.classes))
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.batch_size, self.seed = batch_size, seed
        self.processed_dir = Path(processed_dir)
        self.encoder: Encoder | None = None
        self.frames: dict[str, pd.DataFrame] = {}
        self._tensors: dict[str, Batch] = {}

    # -- what a subclass says -------------------------------------------------------------
    def input_columns(self, frame: pd.DataFrame, where: str) -> list[str]:
        raise NotImplementedError

    def fit_encoder(self, train: pd.DataFrame, columns: list[str], classes: list[str]) -> Encoder:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The config that shapes the prepared data (the manifest compares it)."""
        return {
            "kind": self.kind,
            "target": self.target,
            "drop": self.drop,
            "classes": self.classes,
            "missing": self.missing,
            "label_normalize": self.label_normalize,
            "sep": self.sep,
            "quoting": self.quoting,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
        }

    # -- what training and inference read -------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """The raw columns the model reads, in order: what `predict` and MLflow ask for."""
        return self.load().columns

    @property
    def class_names(self) -> list[str]:
        return self.load().classes

    @property
    def sizes(self) -> dict[str, int]:
        return self.load().sizes

    def manifest(self) -> dict[str, Any]:
        sources = {key: file_md5(self._require(path)) for key, path in self.sources.items()}
        return {"sources": sources, "options": self.options()}

    def digest(self) -> str:
        """One version of the data as a run saw it: the md5 of its source files."""
        import hashlib

        sources = self.manifest()["sources"]
        if len(sources) == 1:
            return next(iter(sources.values()))
        return hashlib.md5(" ".join(f"{k}={v}" for k, v in sources.items()).encode()).hexdigest()

    def source_paths(self) -> list[Path]:
        return list(self.sources.values())

    def load(self) -> Encoder:
        """The encoder and the split's rows, from the `prepare` stage's folder when it is up to
        date, else made here in memory."""
        if self.encoder is None:
            import json

            manifest = self.manifest()
            key = json.dumps([type(self).__name__, manifest], sort_keys=True, default=str)
            if key in _LOADED:
                frames, self.encoder, self._tensors = _LOADED[key]
                self.frames = dict(frames)
                return self.encoder
            if is_prepared(self.processed_dir, manifest):
                encoder = encoder_from_dict(read_encoder(self.processed_dir), "encoder.json")
                for split in SPLITS:
                    self.frames[split] = read_frame(self.processed_dir / f"{split}.csv")
                self.encoder = encoder
            else:
                self.frames, self.encoder = self.build()
            _LOADED.clear()
            _LOADED[key] = (dict(self.frames), self.encoder, self._tensors)
        return self.encoder

    def prepare(self, out_dir: Path | None = None) -> dict[str, int]:
        """The `prepare` stage: write the split and the encoder unless they are up to date
        (to `out_dir`, the stage's staged twin of processed_dir, when given)."""
        manifest = self.manifest()
        if is_prepared(self.processed_dir, manifest):
            from mbegu.data.split import read_manifest

            return (read_manifest(self.processed_dir) or {}).get("rows", {})
        frames, encoder = self.build()
        out = out_dir or self.processed_dir
        return write_prepared(out, frames, encoder.to_dict(), manifest)

    def build(self) -> tuple[dict[str, pd.DataFrame], Encoder]:
        """Read, check, split and fit: ({split: rows}, encoder)."""
        frames = {key: self._read(path) for key, path in self.sources.items()}
        first_key = next(iter(frames))
        columns = self.input_columns(frames[first_key], str(self.sources[first_key]))
        for key, frame in frames.items():
            require_columns(frame, [*columns, self.target], str(self.sources[key]))
            where = str(self.sources[key])
            frame = look_alike_labels(frame, self.target, where, self.label_normalize)
            self.check_values(frame, columns, self.sources[key])
            frames[key] = self._apply_missing(frame, columns, self.sources[key])
        if "all" in frames:
            frame = frames.pop("all")
            classes = self.classes or self._found_classes(frame, self.sources["all"])
            codes = _codes(frame, self.target, classes, self.sources["all"])
            counts = np.bincount(codes, minlength=len(classes))
            if counts.min() < 3:
                raise MbeguError(
                    f"{self.sources['all']}: class {classes[int(counts.argmin())]!r} has "
                    f"{int(counts.min())} rows, too few to stratify into train/val/test: add "
                    f"rows, or give data.train_path/val_path/test_path"
                )
            indices = stratified_split(codes, self.val_fraction, self.test_fraction, self.seed)
            frames = {
                split: frame.iloc[rows].reset_index(drop=True) for split, rows in indices.items()
            }
        else:
            classes = self.classes or self._found_classes(frames["train"], self.sources["train"])
            for split in SPLITS:
                _codes(frames[split], self.target, classes, self.sources[split])
        for split in SPLITS:
            if frames[split].empty:
                raise MbeguError(
                    f"the {split} split has no rows (after data.missing={self.missing}): add rows"
                    f", or raise data.val_fraction / data.test_fraction"
                )
        if len(classes) < 2:
            raise MbeguError(
                f"{self.target} has only the class {classes}: a classifier needs two or more"
            )
        return frames, self.fit_encoder(frames["train"], columns, classes)

    def _found_classes(self, frame: pd.DataFrame, path: Path) -> list[str]:
        """The label values, sorted; a target of measurements is refused (mbegu classifies)."""
        classes = sort_classes(_labels(frame, self.target))
        refuse_continuous_target(classes, len(frame), self.target, str(path))
        return classes

    def check_values(self, frame: pd.DataFrame, columns: list[str], path: Path) -> None:
        """Refuse values the encoder could not use, naming the file's own row."""

    def _require(self, path: Path) -> Path:
        if not path.is_file():
            hint = "run `dvc pull` to restore it" if "data" in path.parts else "check the path"
            raise MbeguError(f"data file {path} not found: {hint}")
        return path

    def _read(self, path: Path) -> pd.DataFrame:
        frame = read_frame(self._require(path), self.sep, self.quoting)
        if frame.empty:
            raise MbeguError(f"{path} has no rows: check the file")
        if self.target not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:6]))
            raise MbeguError(
                f"{path} has no column {self.target!r} (data.target): its columns are {shown}"
            )
        return frame

    def _apply_missing(self, frame: pd.DataFrame, columns: list[str], path: Path) -> pd.DataFrame:
        """data.missing: error names the first gap; drop leaves out rows with gaps; impute
        keeps them (the encoder fills them). A row without a label is never imputed."""
        checked = [*columns, self.target]
        absent = frame[checked].isna().to_numpy()
        if not absent.any():
            return frame
        if self.missing == "error":
            i, j = (int(x) for x in np.argwhere(absent)[0])
            raise MbeguError(
                f"{path} row {row_number(i)} column {checked[j]} is missing: fill it, or set "
                f"data.missing=drop (leave such rows out) or data.missing=impute"
            )
        # One flag per row (numpy types any(axis=1) as possibly a lone bool).
        gone = cast(
            "npt.NDArray[np.bool_]", absent.any(axis=1) if self.missing == "drop" else absent[:, -1]
        )
        if gone.any():
            why = "a missing value" if self.missing == "drop" else "no label"
            print(
                f"{path}: data.missing={self.missing} leaves out {int(gone.sum())} of "
                f"{len(frame)} rows ({why})",
                flush=True,
            )
        return frame[~gone].reset_index(drop=True)

    def tensors(self, split: str) -> Batch:
        """(inputs, labels) of one split, encoded: what the network reads."""
        import torch

        encoder = self.load()
        if split not in self._tensors:
            frame, where = self.frames[split], f"the {split} split"
            labels = torch.from_numpy(encoder.labels(frame, where))
            self._tensors[split] = (encoder.transform(frame, where), labels)
        return self._tensors[split]

    def example_frame(self, rows: int = 5) -> pd.DataFrame:
        """A few raw test rows (input columns only, typed as the model reads them): the MLflow
        model's input example and signature."""
        encoder = self.load()
        frame = self.frames["test"][encoder.columns].dropna().head(rows).copy()
        for column in getattr(encoder, "numeric", []):
            frame[column] = frame[column].astype("float64")
        for column in encoder.columns:
            if column not in getattr(encoder, "numeric", []):
                frame[column] = frame[column].map(as_text).astype(object)
        return frame.reset_index(drop=True)


class TableData(FileData):
    """`data=table`: numeric and categorical columns -> one standardised / one-hot vector."""

    kind = "table"

    def __init__(
        self,
        target: str,
        features: list[str] | None = None,
        categorical: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(target, **kwargs)
        self.features = [str(c) for c in features] if features else None
        self.categorical = [str(c) for c in categorical] if categorical is not None else None

    def options(self) -> dict[str, Any]:
        return {**super().options(), "features": self.features, "categorical": self.categorical}

    def input_columns(self, frame: pd.DataFrame, where: str) -> list[str]:
        columns = [str(c) for c in frame.columns]
        named = [*(self.features or []), *self.drop, *(self.categorical or [])]
        unknown = [c for c in named if c not in columns]
        if unknown:
            raise MbeguError(
                f"{where} has no column {unknown[0]!r} (named in data.features, data.drop or "
                f"data.categorical): its columns are {', '.join(columns[:8])}"
            )
        chosen = self.features or [c for c in columns if c != self.target and c not in self.drop]
        chosen = [c for c in chosen if c not in self.drop]
        if self.target in chosen or not chosen:
            raise MbeguError(
                f"data.features must name input columns other than the target {self.target!r}"
            )
        return chosen

    def check_values(self, frame: pd.DataFrame, columns: list[str], path: Path) -> None:
        """An infinity in a column of numbers, found in the file (the row a spreadsheet
        shows), not later in a split whose row numbers the user cannot see."""
        for column in columns:
            if column not in (self.categorical or ()) and _is_numeric(frame[column]):
                numeric_values(frame, column, str(path))  # the encoder's own check
        unnamed = [c for c in columns if c not in (self.categorical or ())]
        warn_dates(frame, [c for c in unnamed if not _is_numeric(frame[c])], str(path))

    def fit_encoder(self, train: pd.DataFrame, columns: list[str], classes: list[str]) -> Encoder:
        categorical = self.categorical
        if categorical is None:  # null: the columns that are not all numbers
            categorical = [c for c in columns if not _is_numeric(train[c])]
            for column in categorical:
                _refuse_stray_text(train[column], column)
        return TableEncoder.fit(
            train,
            self.target,
            columns,
            [c for c in columns if c in categorical],
            classes,
            self.missing,
        )


class TextData(FileData):
    """`data=text`: one text column -> word and character n-gram ids (features.text)."""

    kind = "text"

    def __init__(
        self,
        target: str,
        text_column: str = "text",
        lowercase: bool = True,
        word_ngrams: int = 2,
        char_ngrams: list[int] | None = None,
        min_count: int = 2,
        max_vocab: int = 50000,
        **kwargs: Any,
    ) -> None:
        super().__init__(target, **kwargs)
        self.text_column, self.lowercase = str(text_column), bool(lowercase)
        self.word_ngrams, self.min_count, self.max_vocab = word_ngrams, min_count, max_vocab
        pair = list(char_ngrams) if char_ngrams is not None else [3, 5]
        if len(pair) != 2 or not all(isinstance(n, int) and n >= 0 for n in pair):
            raise MbeguError(
                f"data.char_ngrams={pair!r}: give [shortest, longest], e.g. [3, 5] ([0, 0]: none)"
            )
        self.char_ngrams = (pair[0], pair[1])

    def options(self) -> dict[str, Any]:
        return {
            **super().options(),
            "text_column": self.text_column,
            "lowercase": self.lowercase,
            "word_ngrams": self.word_ngrams,
            "char_ngrams": list(self.char_ngrams),
            "min_count": self.min_count,
            "max_vocab": self.max_vocab,
        }

    def input_columns(self, frame: pd.DataFrame, where: str) -> list[str]:
        if self.text_column not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:8]))
            raise MbeguError(
                f"{where} has no column {self.text_column!r} (data.text_column): its columns "
                f"are {shown}"
            )
        return [self.text_column]

    def fit_encoder(self, train: pd.DataFrame, columns: list[str], classes: list[str]) -> Encoder:
        texts = [t if isinstance(t, str) else "" for t in train[self.text_column].tolist()]
        return TextEncoder.fit(
            texts,
            self.text_column,
            self.target,
            classes,
            self.lowercase,
            self.word_ngrams,
            self.char_ngrams,
            self.min_count,
            self.max_vocab,
            self.missing,
        )


def _is_numeric(column: pd.Series) -> bool:
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        return False
    present = column.dropna()
    return bool(len(present)) and bool(pd.to_numeric(present, errors="coerce").notna().all())


def _refuse_stray_text(column: pd.Series, name: str) -> None:
    """A column of numbers with a few stray words is a typo, not a category: one-hot encoding
    it would silently change what the column means."""
    import pandas as pd

    present = column.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) and numbers.notna().mean() >= 0.9:
        i = int(numbers.isna().to_numpy().argmax())
        raise MbeguError(
            f"the train split's column {name} holds numbers but also {present.iloc[i]!r}: fix "
            f"that value, or list {name} in data.categorical to treat it as categories"
        )


def _labels(frame: pd.DataFrame, target: str) -> set[str]:
    return {v for v in map(as_text, frame[target].tolist()) if v is not None}


def _codes(frame: pd.DataFrame, target: str, classes: list[str], path: Path) -> np.ndarray:
    from mbegu.features.table import class_indices

    return class_indices(frame, target, classes, str(path))


def build_data(cfg: DictConfig, root: Path) -> FileData:
    """Instantiate cfg.data with every path anchored in the project's data folder."""
    from mbegu.security import inside, instantiate

    data = cfg.data
    data_dir = inside(root, data.get("dir") or "data", "data.dir")
    paths = {}
    for key in PATH_KEYS:
        if data.get(key) is not None:
            paths[key] = str(inside(root, data[key], f"data.{key}"))
            if data_dir not in Path(paths[key]).parents:
                raise MbeguError(
                    f"data.{key}={data[key]} lies outside data.dir ({data.get('dir')}): the "
                    f"pipeline tracks only that folder; move the file there (then `dvc add` it)"
                )
    data_source = instantiate(
        data,
        where="data",
        **paths,
        processed_dir=str(inside(root, data.processed_dir, "data.processed_dir")),
    )
    if not isinstance(data_source, FileData):
        raise MbeguError(f"data._target_={data.get('_target_')!r} is not an mbegu data source")
    return data_source
