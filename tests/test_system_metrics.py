"""tracking.system_metrics: MLflow's monitor logs CPU and memory to the run while it trains."""

from __future__ import annotations

import threading
import time

import lightning.pytorch as pl
import pytest

from mbegu.config.compose import compose
from mbegu.training.train import train

from .helpers.project import FAST

pytestmark = pytest.mark.usefixtures("no_running_runs")


class Slow(pl.Callback):
    """Stretches each epoch, so a one-second sampling interval has samples to log."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        time.sleep(1)


def _monitors() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "SystemMetricsMonitor" and t.is_alive()]


def test_system_metrics_logged_only_when_asked_for(project, client, experiment) -> None:
    on = [*FAST, f"tracking.experiment_name={experiment}", "tracking.system_metrics=true"]
    result = train(compose([*on, "tracking.system_metrics_interval=1"]), callbacks=[Slow()])
    metrics = client.get_run(result.run_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics
    assert "system/system_memory_usage_megabytes" in metrics
    assert "system/disk_usage_percentage" in metrics
    cpu = client.get_metric_history(result.run_id, "system/cpu_utilization_percentage")
    assert [m.step for m in cpu] == list(range(len(cpu)))  # one point per sample, from step 0
    assert not _monitors()  # the thread stops with the fit

    plain = train(compose([*FAST, f"tracking.experiment_name={experiment}"]), outputs="none")
    assert not [k for k in client.get_run(plain.run_id).data.metrics if k.startswith("system/")]


class Crash(pl.Callback):
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        time.sleep(1.2)
        raise RuntimeError("boom")


def test_a_failed_fit_stops_the_monitor(project, client, experiment) -> None:
    cfg = compose(
        [
            *FAST,
            f"tracking.experiment_name={experiment}",
            "tracking.system_metrics=true",
            "tracking.system_metrics_interval=1",
        ]
    )
    with pytest.raises(RuntimeError, match="boom"):
        train(cfg, callbacks=[Crash()], outputs="none")
    assert not _monitors()
    [run] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert run.info.status == "FAILED"
    assert "system/cpu_utilization_percentage" in run.data.metrics  # flushed before the end
