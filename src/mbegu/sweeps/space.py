"""The search space, written in Hydra's sweep override grammar and parsed by Hydra itself.

model.optimizer.lr: tag(log, interval(0.0003, 0.03))   -> suggest_float(log=True)
model.net.dropout: interval(0.0, 0.5)                   -> suggest_float
data.batch_size: choice(32, 64, 128)                    -> suggest_categorical
model.net.hidden_sizes: choice([64], [128,64])          -> suggest_categorical of "[64]", ...
trainer.max_epochs: range(10, 40, 10)                   -> suggest_int(step=10)
model.net.hidden_sizes: "[128,64]"                      -> fixed, not searched
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, cast

from mbegu.errors import MbeguError, first_line

if TYPE_CHECKING:
    import optuna
    from hydra.core.override_parser.types import IntervalSweep, Override
    from optuna.distributions import CategoricalChoiceType


def _parse(key: str, expression: str) -> Override:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return OverridesParser.create().parse_overrides([f"{key}={expression}"])[0]
    except OverrideParseException as err:
        first = first_line(err)
        raise MbeguError(
            f"sweep.params.{key}={expression!r} is not Hydra sweep syntax ({first}): use "
            f"choice(...), interval(a, b), tag(log, interval(a, b)) or range(a, b, step)"
        ) from None


def _bounds(interval: IntervalSweep) -> tuple[float, float]:
    """An interval's (start, end).

    Hydra's grammar sets both; its dataclass types them Optional.
    """
    assert interval.start is not None and interval.end is not None
    return interval.start, interval.end


def _choices(values: Iterable[object]) -> list[CategoricalChoiceType]:
    """Hydra's choices as Optuna's categorical ones.

    Optuna's must be None, bool, int, float or str (it hashes them): a list or dict choice, e.g. a
    network's widths `[128,64]`, becomes its Hydra text, which the trial's override parses back.
    """
    return cast("list[CategoricalChoiceType]", [_as_choice(v) for v in values])


def _as_choice(value: object) -> object:
    if isinstance(value, list):
        return "[" + ",".join(str(_as_choice(v)) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_as_choice(v)}" for k, v in value.items()) + "}"
    return value


def _check_bounds(key: str, override: Override) -> None:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    value = override.value()
    if isinstance(value, IntervalSweep):
        start, end = _bounds(value)
        if not start < end:
            raise MbeguError(
                f"sweep.params.{key}: interval({start}, {end}) is empty: the lower bound must "
                f"come first"
            )
        if "log" in value.tags and start <= 0:
            raise MbeguError(f"sweep.params.{key}: a log interval needs a lower bound above 0")
    if isinstance(value, RangeSweep) and not list(override.sweep_iterator()):
        raise MbeguError(f"sweep.params.{key}: the range is empty")
    if isinstance(value, ChoiceSweep) and not value.list:
        raise MbeguError(f"sweep.params.{key}: choice() needs at least one value")


class SearchSpace:
    """Parameter name -> a Hydra sweep (or fixed value); turns an Optuna trial into overrides."""

    def __init__(self, params: Mapping[str, object]) -> None:
        if not params:
            raise MbeguError("sweep.params is empty: give at least one parameter to search")
        self.overrides = {key: _parse(key, str(value)) for key, value in params.items()}
        for key, override in self.overrides.items():
            _check_bounds(key, override)

    def suggest(self, trial: optuna.Trial) -> list[str]:
        """The trial's values as Hydra overrides (`key=value`)."""
        from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

        out = []
        for key, override in self.overrides.items():
            value = override.value()
            choice: object
            if isinstance(value, ChoiceSweep):
                choice = trial.suggest_categorical(key, _choices(value.list))
            elif isinstance(value, IntervalSweep):
                log = "log" in value.tags
                low, high = _bounds(value)
                if "int" in value.tags:
                    choice = trial.suggest_int(key, int(low), int(high), log=log)
                else:
                    # 6 significant digits: the value the trial trains with is the one the best
                    # config, params.yaml and dvc.lock write, so retraining it is exact.
                    choice = float(f"{trial.suggest_float(key, low, high, log=log):.6g}")
            elif isinstance(value, RangeSweep):
                start, stop, step = value.start, value.stop, value.step
                if isinstance(start, int) and isinstance(stop, int) and isinstance(step, int):
                    # Hydra's range excludes stop, like Python's.
                    last = start + (stop - start - 1) // step * step
                    choice = trial.suggest_int(key, start, last, step=step)
                else:
                    choice = trial.suggest_categorical(key, _choices(override.sweep_iterator()))
            else:
                out.append(f"{key}={override.get_value_element_as_str()}")
                continue
            out.append(f"{key}={choice}")
        return out
