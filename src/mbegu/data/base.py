"""What tables and texts share (`FileData`): the sources, the split, the encoder, the batches.

Both read one file split by `seed` (stratified) or given train/val/test files, apply
`data.missing`, fit their encoder on the train split only and hand out encoded tensors
(data.encoded).
The `prepare` stage writes the split and the encoder (data.split); training reads them when
they match the data and config, else (an ad hoc `mbegu train seed=7`) redoes them in memory, so
only the DVC stage ever writes artifacts/processed. No Lightning here: `prepare`, `evaluate`
and `predict` never import it (data.datamodule wraps these for training). The kinds live in
data.table and data.text; data.sources names them for configs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mbegu.data import cache
from mbegu.data.encoded import EncodedSplits
from mbegu.data.identity import DataIdentity
from mbegu.data.prepared import PreparedSplits
from mbegu.data.split import is_prepared, read_encoder, write_prepared
from mbegu.errors import MbeguError
from mbegu.features import Encoder, encoder_from_dict
from mbegu.features.labels import as_text
from mbegu.features.table import MISSING_POLICIES

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.data.loading import Batch


class FileData(DataIdentity, EncodedSplits):
    """What tables and texts share: sources, missing values, the split, the batches.

    Each argument is the data option of the same name (`data.target`, ...), documented key by
    key in conf/data/table.yaml and conf/data/text.yaml; data.sources.build_data anchors the
    paths in the project.

    Raises:
        MbeguError: An unknown `missing` or `quoting`, no target, or neither `path` nor all three
            split files.
    """

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
        self.identity: dict[str, Any] = {}  # the manifest, once loaded (data.token_cache)

    # -- what a subclass says -------------------------------------------------------------
    def input_columns(self, frame: pd.DataFrame, where: str) -> list[str]:
        """The input columns the model reads, checked against the file's columns.

        Args:
            frame: The rows of one source file.
            where: The file, as error lines name it.

        Returns:
            The input column names, in order.

        Raises:
            MbeguError: A named column is not in the file, or no input column is left.
        """
        raise NotImplementedError

    def fit_encoder(self, train: pd.DataFrame, columns: list[str], classes: list[str]) -> Encoder:
        """Fit this kind's encoder on the train split.

        Args:
            train: The train split's rows.
            columns: The input columns (input_columns).
            classes: The class names, in order.

        Returns:
            The fitted encoder.
        """
        raise NotImplementedError

    # -- what training and inference read -------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """The raw columns the model reads, in order: what `predict` and MLflow ask for."""
        return self.load().columns

    @property
    def class_names(self) -> list[str]:
        """The class names, in the order of the model's outputs."""
        return self.load().classes

    @property
    def sizes(self) -> dict[str, int]:
        """Each split's number of rows."""
        return self.load().sizes

    def load(self) -> Encoder:
        """The encoder and the split's rows, from the `prepare` stage's folder, else made in memory.

        The `prepare` stage's folder is used when it is up to date. Either way it is loaded once per
        process (data.cache).

        Returns:
            The fitted encoder; the rows are in `frames`.

        Raises:
            MbeguError: The data cannot be read, split or encoded (build).
        """
        if self.encoder is None:
            manifest = self.identity = self.manifest()
            # The folder too: a split read later is read from where this one was prepared.
            key = cache.key(type(self).__name__, {**manifest, "folder": str(self.processed_dir)})
            if self.recalled(key):
                return cast(Encoder, self.encoder)
            if is_prepared(self.processed_dir, manifest):
                encoder = encoder_from_dict(read_encoder(self.processed_dir), "encoder.json")
                self.frames = PreparedSplits(self.processed_dir)  # each split read when used
                self.encoder = encoder
            else:
                self.frames, self.encoder = self.build()
            self.kept(key)
        return self.encoder

    def recalled(self, key: str) -> bool:
        """Take the encoder, rows and tensors this process already loaded under `key`.

        Args:
            key: The data's cache key (data.cache.key).

        Returns:
            True when they were found and taken.
        """
        found = cache.recall(key)
        if found is None:
            return False
        frames, self.encoder, self._tensors = found
        self.frames = frames if isinstance(frames, PreparedSplits) else dict(frames)
        return True

    def kept(self, key: str) -> None:
        """Keep the loaded encoder, rows and tensors for the rest of the process, under `key`."""
        frames = self.frames if isinstance(self.frames, PreparedSplits) else dict(self.frames)
        cache.keep(key, (frames, cast(Encoder, self.encoder), self._tensors))

    def prepare(self, out_dir: Path | None = None) -> dict[str, int]:
        """The `prepare` stage: write the split and the encoder unless they are up to date.

        Args:
            out_dir: The stage's staged twin of processed_dir to write to; None: processed_dir.

        Returns:
            Each split's number of rows.

        Raises:
            MbeguError: The data cannot be read, split or encoded (build).
        """
        manifest = self.identity = self.manifest()
        if is_prepared(self.processed_dir, manifest):
            from mbegu.data.split import read_manifest

            return (read_manifest(self.processed_dir) or {}).get("rows", {})
        frames, encoder = self.build()
        out = out_dir or self.processed_dir
        return write_prepared(out, frames, encoder.to_dict(), manifest)

    def build(self) -> tuple[dict[str, pd.DataFrame], Encoder]:
        """Read, check, split and fit (data.build): ({split: rows}, encoder)."""
        from mbegu.data.build import build_splits

        return build_splits(self)

    def check_values(self, frame: pd.DataFrame, columns: list[str], path: Path) -> None:
        """Refuse values the encoder could not use, naming the file's own row.

        Args:
            frame: The rows of one source file, before the split.
            columns: The input columns.
            path: The file, as the error names it.

        Raises:
            MbeguError: A value the encoder could not use.
        """
