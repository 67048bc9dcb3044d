"""One sweep trial: the pipeline's train(cfg) on the trial's params, its outcome recorded.

Recorded in Optuna (state, value, reason) and in MLflow (the trial's run and the parent's tags).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from mbegu.config.compose import Composer
from mbegu.errors import first_line
from mbegu.sweeps import storage as trials
from mbegu.sweeps.runs import STUDY_TAG, TRIAL_TAG, tag_trial
from mbegu.sweeps.space import SearchSpace

if TYPE_CHECKING:
    import optuna
    from optuna.trial import TrialState

    from mbegu.tracking.tracker import MlflowTracker


def run_trial(
    cfg: DictConfig,
    composer: Composer,
    trial: optuna.Trial,
    space: SearchSpace,
    parent: str,
    tracker: MlflowTracker,
) -> tuple[TrialState, float | None]:
    """Train one trial, tracked by the worker's `tracker`.

    Returns (Optuna state, objective value).
    """
    import optuna
    from optuna.trial import TrialState
    from optuna_integration import PyTorchLightningPruningCallback

    from mbegu.training.train import train

    s = cfg.sweep
    tags = {STUDY_TAG: s.study_name, TRIAL_TAG: str(trial.number)}
    picked = space.suggest(trial)
    trial.set_user_attr("overrides", picked)
    print(f"trial {trial.number}: {' '.join(picked)}", flush=True)
    pruning = PyTorchLightningPruningCallback(trial, monitor=s.metric)
    same_store = True  # unless the space searches tracking.*: the trial's run is elsewhere
    try:
        trial_cfg = composer(picked)
        same_store = trial_cfg.tracking == cfg.tracking
        result = train(
            trial_cfg,
            tracker=tracker if same_store else None,
            callbacks=[pruning],
            parent_run_id=parent,
            run_name=f"{s.study_name}-trial-{trial.number}",
            tags=tags,
            finish_on=(optuna.TrialPruned,),
            outputs="none",
            last_checkpoint=False,
        )
    except optuna.TrialPruned as pruned:
        reason = str(pruned).rstrip(".").replace("Trial was pruned", "pruned")
        run_id = getattr(pruned, "mbegu_run_id", None) if same_store else None
        tag_trial(tracker, tags, parent, "pruned", reason, run_id)
        print(f"trial {trial.number}: {reason}", flush=True)
        return TrialState.PRUNED, None
    except Exception as err:  # NaN loss, a bad combination of params: record, go on
        reason = first_line(err)
        trial.set_user_attr(trials.ERROR, reason)
        run_id = getattr(err, "mbegu_run_id", None) if same_store else None
        tag_trial(tracker, tags, parent, "failed", reason, run_id)
        print(f"trial {trial.number}: failed: {reason}", flush=True)
        return TrialState.FAIL, None
    values = [row[s.metric] for row in result.history if s.metric in row]
    if not values:
        reason = f"metric {s.metric} was never logged: set sweep.metric to e.g. val/acc"
        trial.set_user_attr(trials.ERROR, reason)
        tag_trial(tracker, tags, parent, "failed", reason, run_id=result.run_id)
        return TrialState.FAIL, None
    value = max(values) if s.direction == "maximize" else min(values)
    tag_trial(tracker, tags, parent, "complete", None, run_id=result.run_id)
    print(f"trial {trial.number}: {s.metric} {value:.4f}", flush=True)
    return TrialState.COMPLETE, value
