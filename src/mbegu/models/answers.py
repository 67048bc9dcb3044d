"""What a model answers for raw rows, named one way for every way of asking it.

`mbegu predict`, the MLflow model (`mlflow.pyfunc.load_model`, `mlflow models serve`) and the
evaluate stage's test predictions all import their column names from here: `prediction` (a
class name), then `prob_<class>` for each class. A bare class name would collide with the
input columns `mbegu predict` passes through beside it (a class called `id`, `text` or
`prediction`); the prefix keeps every name apart and says what the number is.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from mbegu.features.cells import text_values
from mbegu.features.table import TableEncoder

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.features import Encoder
    from mbegu.models.onnx_model import OnnxModel
    from mbegu.models.saved import SavedModel

PREDICTION = "prediction"
PROB_PREFIX = "prob_"


def probability_column(class_name: str) -> str:
    """The column that holds one class's probability."""
    return f"{PROB_PREFIX}{class_name}"


def predictions(
    saved: SavedModel | OnnxModel,
    frame: pd.DataFrame,
    where: str = "the input",
    first_row: int = 0,
) -> pd.DataFrame:
    """`prediction` (a class name), then `prob_<class>` per class, a row per input row.

    The same for either engine: torch's SavedModel or ONNX Runtime's OnnxModel. `first_row`:
    the frame's first row in its file, as error lines name rows. An image model reads its
    images base64-encoded from an `image` column (models.image_answers).
    """
    import pandas as pd

    from mbegu.models.image_answers import is_image_model, request_predictions

    if is_image_model(saved):  # base64 images in an `image` column
        return request_predictions(saved, frame, where)
    probs = saved.probabilities(frame, where, first_row=first_row)
    columns = [probability_column(c) for c in saved.classes]
    out = pd.DataFrame(probs, columns=columns, index=frame.index)
    out.insert(0, PREDICTION, [saved.classes[i] for i in probs.argmax(axis=1)])
    return out


def unseen_categories(encoder: Encoder, frame: pd.DataFrame) -> dict[str, Counter[str]]:
    """Per categorical column, the values training never saw and how often each occurs.

    The encoder reads such a value as no category at all (its one-hot columns all zeros), so
    the row is still answered, from its other columns: worth a warning, never an error.
    Missing values are not counted here (data.missing fills or refuses them).
    """
    if not isinstance(encoder, TableEncoder):
        return {}
    found: dict[str, Counter[str]] = {}
    for column in encoder.categorical:
        if column not in frame.columns:
            continue
        known = set(encoder.categories[column])
        new = Counter(v for v in text_values(frame, column) if v is not None and v not in known)
        if new:
            found[column] = new
    return found


def unseen_line(found: dict[str, Counter[str]], where: str) -> str | None:
    """One warning line for unseen_categories' result, or None when there is none."""
    if not found:
        return None
    total = sum(sum(counts.values()) for counts in found.values())
    parts = []
    for column, counts in found.items():
        shown = ", ".join(f"{value!r} {n}" for value, n in counts.most_common(3))
        more = f", {len(counts) - 3} more" if len(counts) > 3 else ""
        parts.append(f"{column}: {shown}{more}")
    return (
        f"{where}: {total} value(s) in {len(found)} column(s) are categories never seen in "
        f"training ({'; '.join(parts)}): those rows are predicted without them; retrain on "
        f"data that has them, or check their spelling"
    )
