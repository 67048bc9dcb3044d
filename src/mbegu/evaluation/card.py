"""reports/model_card.md: what the model is for, the data it saw, how it scores, how it was trained.

The words come from the config's `card` section; the numbers from evaluate's test metrics, the
baselines and the split. Nothing that differs per run or machine (run ids, times, paths) goes
in, so the same model, data and config give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The `card` keys, in the order the card shows them (conf/config.yaml says what each holds).
FIELDS = (
    "intended_use",
    "users",
    "out_of_scope",
    "languages",
    "regions",
    "licence",
    "contact",
    "label_source",
    "limitations",
)
NOT_GIVEN = "not given"
LOW_F1 = 0.8  # classes scoring below this F1 on the test split are named as a limitation


def missing_fields(card: Mapping[str, Any] | None) -> list[str]:
    """The card's fields that are null or empty, as `card.<key>`."""
    card = card or {}
    return [f"card.{key}" for key in FIELDS if card.get(key) in (None, "", [])]


def class_counts(labels: Mapping[str, np.ndarray], classes: Sequence[str]) -> dict[str, list[int]]:
    """Each split's rows per class, in the model's class order."""
    k = len(classes)
    return {split: np.bincount(y, minlength=k).tolist() for split, y in labels.items()}


def render_card(
    card: Mapping[str, Any] | None,
    data: Mapping[str, Any],
    counts: Mapping[str, list[int]],
    classes: Sequence[str],
    metrics: Mapping[str, Any],
    config: Mapping[str, Any],
    epochs: int | None,
) -> str:
    """The model card as Markdown, ending in a newline.

    `card` is the config's `card` section (None: every field "not given"); `data` the data's
    `name` and `md5`; `counts` each split's rows per class (class_counts); `metrics`
    reports/metrics.json's content (`test`, `baseline` when scored); `config` the model's
    training config; `epochs` the epochs it trained for (None: not recorded).
    """
    card = card or {}
    test, baseline = metrics["test"], metrics.get("baseline") or {}
    model = config.get("model") or {}
    title = f"# Model card: {_short(model.get('_target_'))} on {data['name']}"
    lines = [title, ""]
    lines += ["## Intended use", ""]
    for key in FIELDS[:7]:
        lines += _field(key.replace("_", " ").capitalize(), card.get(key))
    lines += ["", "## Data", ""]
    lines += [f"- Name: {data['name']}", f"- md5: `{data['md5']}`"]
    lines += _field("Labels", card.get("label_source"))
    splits = list(counts)
    rows = ", ".join(f"{s} {sum(counts[s])}" for s in splits)
    lines += [f"- Rows: {rows}", "", "Rows per class:", ""]
    table = [[c, *(str(counts[s][i]) for s in splits)] for i, c in enumerate(classes)]
    lines += _table(["class", *splits], table)
    lines += ["", "## Test metrics", ""]
    overall = [k for k in ("acc", "f1_macro", "f1_weighted", "loss", "roc_auc") if k in test]
    lines += _table(["metric", "value"], [[k, _num(test[k])] for k in overall])
    lines += ["", "Per class:", ""]
    per_class = test.get("per_class", {})
    scores = ("precision", "recall", "f1")
    rows_pc = [
        [c, *(_num(per_class[c][s]) for s in scores), str(per_class[c]["support"])] for c in classes
    ]
    lines += _table(["class", "precision", "recall", "F1", "support"], rows_pc)
    if baseline:
        lines += ["", "Against baselines (the same train and test split):", ""]
        keys = ("acc", "f1_macro", "f1_weighted")
        rows_b = [["this model", *(_num(test[k]) for k in keys)]]
        rows_b += [[name, *(_num(s[k]) for k in keys)] for name, s in baseline.items()]
        lines += _table(["model", *keys], rows_b)
    lines += ["", "## Training", ""]
    lines += _training(config, epochs)
    lines += ["", "## Limitations", ""]
    given = _items(card.get("limitations"))
    found = _found_limitations(counts, classes, test, baseline)
    lines += [f"- {item}" for item in [*given, *found]] or [f"- {NOT_GIVEN}"]
    return "\n".join(lines) + "\n"


def _training(config: Mapping[str, Any], epochs: int | None) -> list[str]:
    model = config.get("model") or {}
    net = model.get("net") or {}
    optimizer = model.get("optimizer") or {}
    trainer = config.get("trainer") or {}
    data = config.get("data") or {}
    run = "not recorded" if epochs is None else str(epochs)
    rows = [
        ["model", f"{_short(model.get('_target_'))} ({_short(net.get('_target_'))})"],
        ["optimizer", _short(optimizer.get("_target_"))],
        ["lr", _value(optimizer.get("lr"))],
        ["weight decay", _value(optimizer.get("weight_decay"))],
        ["epochs run / max", f"{run} / {_value(trainer.get('max_epochs'))}"],
        ["batch size", _value(data.get("batch_size"))],
        ["seed", _value(config.get("seed"))],
    ]
    return _table(["setting", "value"], rows)


def _found_limitations(
    counts: Mapping[str, list[int]],
    classes: Sequence[str],
    test: Mapping[str, Any],
    baseline: Mapping[str, Mapping[str, float]],
) -> list[str]:
    """What the numbers themselves warn about."""
    found = []
    if "test" in counts:
        rows = sum(counts["test"])
        fewest = min(counts["test"], default=0)
        found.append(f"The test split has {rows} rows ({fewest} in its smallest class).")
    per_class = test.get("per_class", {})
    low = [f"{c} ({per_class[c]['f1']:.2f})" for c in classes if per_class[c]["f1"] < LOW_F1]
    if low:
        found.append(f"Classes with test F1 below {LOW_F1}: {', '.join(low)}.")
    better = [n for n, s in baseline.items() if s.get("acc", 0.0) > test["acc"]]
    if better:
        found.append(f"Baselines with a higher test accuracy: {', '.join(better)}.")
    return found


def _field(label: str, value: Any) -> list[str]:
    items = _items(value)
    if not items:
        return [f"- {label}: {NOT_GIVEN}"]
    if len(items) == 1:
        return [f"- {label}: {items[0]}"]
    return [f"- {label}:", *(f"  - {item}" for item in items)]


def _items(value: Any) -> list[str]:
    """A card field as its entries: a list's items, a text as one, null as none."""
    if value is None or value == "":
        return []
    if isinstance(value, str | int | float):
        return [str(value).strip()]
    return [str(v).strip() for v in value if v not in (None, "")]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    cells = [list(header), *(list(r) for r in rows)]
    out = ["| " + " | ".join(_cell(c) for c in row) + " |" for row in cells]
    out.insert(1, "|" + "|".join("---" for _ in header) + "|")
    return out


def _cell(text: str) -> str:
    """A table cell: a `|` or a line break in a class name would split the row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _short(target: Any) -> str:
    """`mbegu.models.networks.MLP` -> `MLP`; none -> `-`."""
    return str(target).rsplit(".", 1)[-1] if target else "-"


def _num(value: Any) -> str:
    return f"{float(value):.4f}"


def _value(value: Any) -> str:
    return "-" if value is None else str(value)


def epochs_run(history: Path) -> int | None:
    """The epochs in the train stage's reports/history.csv (None when it is not there)."""
    try:
        lines = history.read_text().splitlines()
    except OSError:
        return None
    return max(len(lines) - 1, 0)


def write_card(
    path: Path,
    cfg: Mapping[str, Any],
    data: Any,
    saved: Any,
    metrics: Mapping[str, Any],
    history: Path,
) -> str:
    """Write the card of a loaded model and its data to `path` and return its text.

    `cfg` gives the `card` section and `data.name`; `data` (loaded) its splits and digest;
    `saved` (SavedModel) its encoder and training config; `metrics` is reports/metrics.json's
    content and `history` the train stage's reports/history.csv. Missing card fields give one
    warning line on stderr, never an error.
    """
    from mbegu.data.prepared import column_frame
    from mbegu.data.split import SPLITS
    from mbegu.errors import warn
    from mbegu.io import atomic_write_text

    card = cfg.get("card")
    # The target column alone: the train split's text cells are not read (data.prepared).
    target = [saved.encoder.target]
    labels = {
        s: saved.encoder.labels(column_frame(data.frames, s, target), f"the {s} split")
        for s in SPLITS
    }
    text = render_card(
        card,
        {"name": cfg["data"]["name"], "md5": data.digest()},
        class_counts(labels, saved.classes),
        saved.classes,
        metrics,
        saved.config,
        epochs_run(history),
    )
    atomic_write_text(path, text)
    missing = missing_fields(card)
    if missing:
        warn(
            f"model card: fill {', '.join(missing)} in conf/ "
            f'({path.parent.name}/{path.name} says "{NOT_GIVEN}")'
        )
    return text
