"""References for `mbegu sweep`: the same study with Optuna over a bare Lightning loop
(`lightning`) or over a plain PyTorch loop (`plain`), in one process, no tracking; or over
the libraries' tracked loop (`library`: library_lightning.py's module, checkpoint of the best
epoch and early stopping, one MLFlowLogger run per trial under a parent run in the store
MLFLOW_TRACKING_URI names): a sweep whose every trial is tracked, done the libraries' way;
or a lower bound for any tracked sweep (`floor`: the bare Lightning trial, plus MLflow imported,
a parent run, and per trial the three store writes an MLflow run cannot do without: created
under the parent, its params and best value in one batch, ended); or a lower bound for a
tracked sweep that keeps what `mbegu sweep` keeps (`tracked`: the study in a journal file, so
a rerun continues it; per trial the epoch's lower bound from floor_lightning.py, the best
checkpoint and early stopping, and the same three writes holding the whole config as params
and every epoch's values).

Same search space (conf/sweep/default.yaml's params), trials, epochs, sampler, pruner and seed
as `mbegu sweep sweep=default`; each trial's objective is its best val/acc, reported every
epoch for pruning. Prints one JSON line: trials by state and the best value.
Usage: python benchmarks/bare_sweep.py lightning|plain|library|floor|tracked [params.yaml]
       [n_trials] [epochs]
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import torch
import torch.nn.functional as F
import yaml
from omegaconf import OmegaConf

from bare_lightning import bare_loaders, bare_trainer  # benchmarks/ is on sys.path
from mbegu.data.loading import EpochSeededSampler
from mbegu.data.sources import build_data
from mbegu.models.build import sized_model_config
from plain_torch import NETWORKS, OPTIMIZERS, evaluate, train_epoch


def build(
    cfg: dict, sizes: dict, kind: str, picked: dict
) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model_cfg = sized_model_config(cfg["model"], sizes, kind)
    net_cfg = {k: v for k, v in model_cfg["net"].items() if k != "_target_"}
    net_cfg["dropout"] = picked["dropout"]
    net = NETWORKS[model_cfg["net"]["_target_"]](**net_cfg)
    opt_cfg = {k: v for k, v in model_cfg["optimizer"].items() if not k.startswith("_")}
    opt_cfg |= {"lr": picked["lr"], "weight_decay": picked["weight_decay"]}
    return net, OPTIMIZERS[model_cfg["optimizer"]["_target_"]](net.parameters(), **opt_cfg)


def suggest(trial: optuna.Trial) -> dict:
    """conf/sweep/default.yaml's space, in its order."""
    return {
        "lr": trial.suggest_float("model.optimizer.lr", 0.0003, 0.03, log=True),
        "weight_decay": trial.suggest_float(
            "model.optimizer.weight_decay", 0.000001, 0.001, log=True
        ),
        "dropout": trial.suggest_float("model.net.dropout", 0.0, 0.5),
        "batch_size": trial.suggest_categorical("data.batch_size", [32, 64, 128]),
    }


def plain_trial(trial, tensors, net, optimizer, batch, seed, epochs) -> float:
    x_val, y_val = tensors["val"]
    sampler = EpochSeededSampler(len(tensors["train"][1]), seed)
    best = 0.0
    for epoch in range(epochs):
        train_epoch(net, optimizer, tensors["train"], sampler, epoch, batch)
        acc = evaluate(net, x_val, y_val)["val/acc"]
        best = max(best, acc)
        trial.report(acc, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return best


def lightning_trial(trial, tensors, net, optimizer, batch, seed, epochs) -> float:
    import lightning.pytorch as pl
    from optuna_integration import PyTorchLightningPruningCallback

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # set on its import

    class Bare(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, b: tuple, _: int) -> torch.Tensor:
            return F.cross_entropy(self.net(b[0]), b[1])

        def validation_step(self, b: tuple, _: int) -> None:
            self.log("val/acc", (self.net(b[0]).argmax(1) == b[1]).float().mean())

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return optimizer

    class Best(pl.Callback):
        value = 0.0

        def on_validation_end(self, trainer: pl.Trainer, _: pl.LightningModule) -> None:
            self.value = max(self.value, float(trainer.callback_metrics["val/acc"]))

    train, val = bare_loaders(tensors, batch, seed)
    best = Best()
    trainer = bare_trainer(
        epochs, [best, PyTorchLightningPruningCallback(trial, monitor="val/acc")]
    )
    trainer.fit(Bare(), train, val)
    return best.value


def library_trial(trial, tensors, net, optimizer, batch, seed, epochs, cfg, parent) -> float:
    """The libraries' tracked trial: what `mbegu sweep` does per trial, from library pieces."""
    import os
    import tempfile

    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import MLFlowLogger
    from optuna_integration import PyTorchLightningPruningCallback

    from library_lightning import Tracked, early_stopping, flat

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    monitor, mode = cfg["monitor"]["metric"], cfg["monitor"]["mode"]
    logger = MLFlowLogger(
        experiment_name="bench-library-sweep",
        tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
        run_name=f"trial-{trial.number}",
        tags={"mlflow.parentRunId": parent},
    )
    logger.log_hyperparams(flat(cfg) | trial.params)
    train, val = bare_loaders(tensors, batch, seed)
    with tempfile.TemporaryDirectory() as checkpoints:
        best = ModelCheckpoint(dirpath=checkpoints, monitor=monitor, mode=mode, save_top_k=1)
        pruning = PyTorchLightningPruningCallback(trial, monitor=monitor)
        trainer = bare_trainer(epochs, [best, early_stopping(cfg), pruning], logger)
        classes = int(tensors["train"][1].max()) + 1
        try:
            trainer.fit(Tracked(net, optimizer, classes), train, val)
        finally:
            logger.finalize("success")
    return float(best.best_model_score)


@contextmanager
def trial_run(client, experiment: str, parent: str, trial) -> Iterator[dict]:
    """The fewest store writes a trial's MLflow run takes: created under the parent on entry;
    on exit one batch (the `params` and `metrics` the trial filled in) and the run ended,
    FINISHED when the trial completed or was pruned."""
    from mlflow.entities import Param

    run = client.create_run(
        experiment, run_name=f"trial-{trial.number}", tags={"mlflow.parentRunId": parent}
    )
    batch: dict = {"params": {}, "metrics": []}
    status = "FAILED"
    try:
        yield batch
        status = "FINISHED"
    except optuna.TrialPruned:
        status = "FINISHED"
        raise
    finally:
        params = [Param(k, str(v)) for k, v in batch["params"].items()]
        client.log_batch(run.info.run_id, params=params, metrics=batch["metrics"])
        client.set_terminated(run.info.run_id, status)


def floor_trial(
    trial, tensors, net, optimizer, batch, seed, epochs, client, experiment, parent
) -> float:
    """The bare Lightning trial, tracked with the fewest store writes an MLflow run takes: its
    params and best value in the one batch."""
    from mlflow.entities import Metric

    with trial_run(client, experiment, parent, trial) as run:
        run["params"] = trial.params
        value = lightning_trial(trial, tensors, net, optimizer, batch, seed, epochs)
        run["metrics"].append(Metric("val/acc", value, int(time.time() * 1000), 0))
        return value


def tracked_trial(
    trial, tensors, net, optimizer, batch, seed, epochs, client, experiment, parent, cfg, folder
) -> float:
    """A lower bound for a tracked, resumable trial: the epoch's lower bound (floor_lightning.py:
    the five values through `self.log`, the best checkpoint, early stopping) under the
    pruning callback, and the fewest store writes that keep what the trial's run must hold:
    created under the parent; the whole config as params and every epoch's five values in
    one batch; ended."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from mlflow.entities import Metric
    from optuna_integration import PyTorchLightningPruningCallback

    from floor_lightning import Logged
    from library_lightning import early_stopping, flat

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # as lightning_trial

    class History(pl.Callback):
        """Each epoch's values, as metrics of the run's one batch (pruned epochs included)."""

        def __init__(self, metrics: list) -> None:
            self.metrics = metrics

        def on_validation_end(self, trainer: pl.Trainer, _: pl.LightningModule) -> None:
            now, epoch = int(time.time() * 1000), trainer.current_epoch
            for key, value in trainer.callback_metrics.items():
                self.metrics.append(Metric(key, float(value), now, epoch))

    monitor, mode = cfg["monitor"]["metric"], cfg["monitor"]["mode"]
    with trial_run(client, experiment, parent, trial) as run:
        run["params"] = flat(cfg) | trial.params
        train, val = bare_loaders(tensors, batch, seed)
        best = ModelCheckpoint(
            dirpath=str(folder / str(trial.number)), monitor=monitor, mode=mode, save_top_k=1
        )
        pruning = PyTorchLightningPruningCallback(trial, monitor=monitor)
        history = History(run["metrics"])
        trainer = bare_trainer(epochs, [best, early_stopping(cfg), pruning, history])
        trainer.fit(Logged(net, optimizer), train, val)
        return float(best.best_model_score)


def main(
    kind: str, params_path: str = "params.yaml", n_trials: str = "20", epochs: str = "10"
) -> None:
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    started = time.perf_counter()
    root = Path(params_path).resolve().parent
    cfg = yaml.safe_load(Path(params_path).read_text())
    sweep = yaml.safe_load((root / "conf" / "sweep" / "default.yaml").read_text())
    source = build_data(OmegaConf.create(cfg), root)
    tensors = {split: source.tensors(split) for split in ("train", "val")}
    fit = {
        "plain": plain_trial,
        "lightning": lightning_trial,
        "library": library_trial,
        "floor": floor_trial,
        "tracked": tracked_trial,
    }[kind]
    extra: tuple = ()
    storage = None
    if kind == "tracked":  # a study that survives the process, as `mbegu sweep`'s does
        import tempfile

        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        folder = Path(tempfile.mkdtemp(prefix="bench-tracked-"))
        storage = JournalStorage(JournalFileBackend(str(folder / "study.journal")))
    if kind in ("library", "floor", "tracked"):
        import os

        from mlflow import MlflowClient

        client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
        name = f"bench-{kind}-sweep"
        found = client.get_experiment_by_name(name)
        experiment = found.experiment_id if found else client.create_experiment(name)
        parent = client.create_run(experiment, run_name="sweep").info.run_id
        if kind == "library":
            extra = (cfg, parent)
        elif kind == "floor":
            extra = (client, experiment, parent)
        else:
            extra = (client, experiment, parent, cfg, folder / "checkpoints")
    sampler = {k: v for k, v in sweep["sampler"].items() if k != "_target_"}
    pruner = {k: v for k, v in sweep["pruner"].items() if k != "_target_"}
    study = optuna.create_study(
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(**sampler),
        pruner=optuna.pruners.MedianPruner(**pruner),
    )

    def objective(trial: optuna.Trial) -> float:
        picked = suggest(trial)
        torch.manual_seed(cfg["seed"])
        net, optimizer = build(cfg, source.sizes, source.kind, picked)
        batch = picked["batch_size"]
        return fit(trial, tensors, net, optimizer, batch, cfg["seed"], int(epochs), *extra)

    study.optimize(objective, n_trials=int(n_trials))
    if extra:
        client.set_terminated(parent)
    states = [t.state.name.lower() for t in study.trials]
    print(
        json.dumps(
            {
                "wall_s": time.perf_counter() - started,
                "complete": states.count("complete"),
                "pruned": states.count("pruned"),
                "best": study.best_value,
            }
        )
    )
    if storage is not None:
        import shutil

        shutil.rmtree(folder)


if __name__ == "__main__":
    main(*sys.argv[1:])
