"""Configs: every option composes and instantiates; params.yaml is conf/ composed; bad
overrides give one-line errors."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from mbegu.config.compose import Composer, compose, config_groups
from mbegu.config.params import load_params
from mbegu.errors import MbeguError
from mbegu.models.build import sized_model_config
from mbegu.security import instantiate
from mbegu.tracking.logger import build_loggers
from mbegu.training.callbacks import build_callbacks

from .helpers.project import REPO, example, pristine

OPTIONS = [(g, o) for g, options in config_groups(pristine()).items() for o in options]


def test_every_group_has_options() -> None:
    groups = config_groups(pristine())
    for group in (
        "data",
        "model",
        "trainer",
        "callbacks",
        "logger",
        "tracking",
        "paths",
        "debug",
        "experiment",
    ):
        assert groups.get(group), f"conf/{group}/ has no options"
    assert {"mlp", "cnn"} <= set(groups["model"])
    assert {"default", "gpu", "ddp"} <= set(groups["trainer"])


def test_help_examples_name_options_that_exist() -> None:
    """The examples in `mbegu --help` and each command's help choose real config options."""
    import re

    from mbegu.cli.parser import build_parser

    groups = config_groups(pristine())
    parser = build_parser()
    text = parser.format_help() + "\n".join(
        command.format_help() for command in parser._subparsers._group_actions[0].choices.values()
    )
    assert "config groups (pick one with group=option):" in text  # read when the help shows
    chosen = re.findall(r"(?<![\w.+])(\w+)=(\w+)", text)
    picked = [(g, o) for g, o in chosen if g in groups]
    assert picked, "the help shows no group choice to check"
    for group, option in picked:
        assert option in groups[group], f"the help suggests {group}={option}: no such option"


TEXT_MODELS = ("text", "linear")  # the networks that read a text's bag
IMAGE_MODELS = ("resnet_small",)  # the networks that read images only


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_instantiates(
    group: str, option: str, tmp_path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This worker's own store: the project's default one is shared by every xdist worker.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    overrides = [f"{group}={option}"]
    if group == "trainer" and option == "gpu" and not torch.cuda.is_available():
        # Everything but the device must still be a valid Trainer argument on a CPU machine.
        overrides += ["trainer.accelerator=cpu", "trainer.precision=32-true"]
    if group == "data" and option in ("table", "text"):
        overrides += ["data.target=label", "data.path=data/x.csv"]
    text = (group, option) in (("data", "text"), ("sweep", "text"))
    if text or (group == "model" and option in TEXT_MODELS):
        model = option if group == "model" else "text"
        overrides += ["data=text", f"model={model}", "data.target=label", "data.path=data/x.csv"]
    if (group, option) == ("data", "images") or (group == "model" and option in IMAGE_MODELS):
        model = option if group == "model" else "cnn"
        overrides += ["data=images", f"model={model}", "data.path=data/photos"]
    cfg = compose(overrides, root=example())
    if group == "data" and "text_column" in cfg.data:  # a project's own text data (copier)
        cfg = compose([*overrides, "model=text"], root=example())

    data = instantiate(cfg.data)
    assert data.batch_size == cfg.data.batch_size
    # Sizes come from the data's encoder at train time: any sizes of the right kind build.
    sizes = {"in_features": 16, "vocab_size": 50, "num_classes": 3}
    if data.kind == "image":
        sizes = {"in_channels": 3, "image_size": 16, "num_classes": 3}
    sized = sized_model_config(OmegaConf.to_container(cfg.model, resolve=True), sizes, data.kind)
    model = instantiate(sized)
    if data.kind == "text":
        x = (torch.tensor([1, 2, 3, 4, 5]), torch.tensor([0, 2, 2, 4]), torch.full((5,), 0.5))
    elif data.kind == "image":
        x = torch.zeros(4, 3, 16, 16)
    else:
        x = torch.zeros(4, 16)
    assert model(x).shape == (4, 3)
    optimizers = model.configure_optimizers()
    optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
    assert isinstance(optimizer, torch.optim.Optimizer)
    callbacks = build_callbacks(cfg.callbacks, tmp_path)
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        default_root_dir=str(tmp_path),
    )
    assert trainer.max_epochs == cfg.trainer.max_epochs
    tracker = instantiate(cfg.tracking)
    assert tracker.experiment_name == cfg.tracking.experiment_name
    loggers = build_loggers(cfg.logger, tracker, "0" * 32, tmp_path)
    names = {type(logger).__name__ for logger in loggers}
    expected = {"mlflow": {"MlflowEpochLogger"}, "dvclive": {"DVCLiveLogger"}, "none": set()}
    expected["both"] = expected["mlflow"] | expected["dvclive"]
    assert names == expected[option if group == "logger" else "mlflow"]
    assert set(cfg.paths) >= {"data_dir", "processed_dir", "model_dir", "reports_dir"}
    if cfg.get("sweep") is not None:
        import optuna

        from mbegu.sweeps.space import SearchSpace

        assert isinstance(instantiate(cfg.sweep.sampler), optuna.samplers.BaseSampler)
        assert isinstance(instantiate(cfg.sweep.pruner), optuna.pruners.BasePruner)
        study = optuna.create_study(direction=cfg.sweep.direction)
        overrides = SearchSpace(cfg.sweep.params).suggest(study.ask())
        assert [o.split("=")[0] for o in overrides] == list(cfg.sweep.params)
        kind = ["data=text", "model=text"] if data.kind == "text" else []
        compose([*kind, *overrides], root=pristine())  # every suggested value is a valid override


def test_option_changes_what_is_built() -> None:
    model = OmegaConf.to_container(compose(["model=cnn"], root=pristine()).model, resolve=True)
    cnn = instantiate(sized_model_config(model, {"in_features": 64, "num_classes": 10}, "table"))
    assert type(cnn.net).__name__ == "CNN"
    with pytest.raises(MbeguError, match="13 inputs after encoding, not a square number"):
        instantiate(sized_model_config(model, {"in_features": 13, "num_classes": 2}, "table"))
    fast = compose(["debug=fast"], root=pristine())
    assert fast.trainer.max_epochs < compose(root=pristine()).trainer.max_epochs
    assert fast.callbacks.early_stopping is None
    assert compose(["experiment=cnn_long"], root=pristine()).model.net._target_.endswith("CNN")


def test_suite_reads_the_committed_project_not_the_working_tree() -> None:
    """So `make test` passes after `dvc exp run`, an edited conf/ or a finished sweep."""
    for name in ("params.yaml", "dvc.yaml", "conf/model/mlp.yaml", "conf/config.yaml"):
        committed = subprocess.run(
            ["git", "show", f"HEAD:{name}"], cwd=REPO, capture_output=True, check=True
        ).stdout
        assert (pristine() / name).read_bytes() == committed, name
    tracked = subprocess.run(
        ["git", "ls-files", "conf"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(
        str(p.relative_to(pristine())) for p in (pristine() / "conf").rglob("*.yaml")
    ) == sorted(name for name in tracked if name.endswith(".yaml"))


def test_params_yaml_is_conf_composed() -> None:
    committed = yaml.safe_load((pristine() / "params.yaml").read_text())
    assert committed == OmegaConf.to_container(compose(root=pristine()))


def test_conf_has_no_hydra_interpolation() -> None:
    for path in (pristine() / "conf").rglob("*.yaml"):
        values = yaml.safe_dump(yaml.safe_load(path.read_text()))  # comments dropped
        assert "${hydra:" not in values, f"{path} uses ${{hydra:...}}"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model=transformer"], "unknown option 'transformer' for config group 'model'"),
        (["optimiser=adam"], "optimiser"),
        (["trainer.max_epoch=3"], "unknown config key 'trainer.max_epoch'"),
        (["trainer.max_epochs=ten"], "trainer.max_epochs='ten' has the wrong type"),
        (["data.batch_size=1.5"], "data.batch_size=1.5 has the wrong type"),
        (["seed=abc"], "seed='abc' must be an integer"),
        (["data.val_fraction=0.6", "data.test_fraction=0.5"], "leaves under 10%"),
        (["trainer.max_epochs=0"], "trainer.max_epochs must be at least 1"),
        (["model.optimizer.lr=-1"], "model.optimizer.lr must be a positive number"),
        (["tracking.promote_if.metric=loss"], "tracking.promote_if.metric='loss'"),
        (["tracking.promote_if.above=always"], "use chance, candidate, baseline or a number"),
        (["monitor.metric=val/f2"], "monitor.metric='val/f2' monitor.mode='max': use"),
        (["data.name=../x"], "data.name='../x' is not a plain name"),
        (["model=mlp=x"], "bad override"),
    ],
)
@pytest.mark.parametrize("how", ["compose", "Composer"])
def test_bad_overrides_give_one_line_errors(overrides: list[str], expected: str, how) -> None:
    def build() -> object:
        if how == "compose":
            return compose(overrides, root=pristine())
        return Composer(["debug=fast"], root=pristine())(overrides)  # a sweep trial's values

    with pytest.raises(MbeguError) as err:
        build()
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "extra",
    [
        ["trainer.max_epochs=7", "model.optimizer.lr=0.00123", "model.net.dropout=0.25"],
        ["data.batch_size=64", "model.net.channels=[8,16]", "seed=3"],
        ["model=mlp", "model.net.hidden_sizes=[32,16]"],  # a group option: Hydra composes
        ["+extra_key=1", "~model.scheduler"],
        [],
    ],
)
def test_a_sweep_trial_s_config_is_hydra_s(extra: list[str], monkeypatch) -> None:
    module = importlib.import_module("mbegu.config.compose")

    base = ["debug=fast", "model=cnn"]
    composer = Composer(base, root=pristine())
    hydra_calls = []
    real = module._compose_unresolved
    monkeypatch.setattr(module, "_compose_unresolved", lambda *a: hydra_calls.append(a) or real(*a))
    fast = composer(extra)
    # Hydra runs again only for what it alone can do (group options, + and ~).
    assert bool(hydra_calls) == any(o.startswith(("model=", "+", "~")) for o in extra)
    assert OmegaConf.to_container(fast) == OmegaConf.to_container(
        compose([*base, *extra], pristine())
    )
    if "trainer.max_epochs=7" in extra:
        assert fast.model.scheduler.T_max == 7  # interpolations follow the trial's values


def test_stale_params_are_refused(project, monkeypatch) -> None:
    config = project / "conf" / "model" / "mlp.yaml"
    config.write_text(config.read_text().replace("lr: 0.002", "lr: 0.005"))
    with pytest.raises(MbeguError) as err:
        load_params(project / "params.yaml")
    assert str(err.value).startswith(
        "params.yaml is stale (model.optimizer.lr: conf/ gives 0.005, params.yaml has 0.002)"
    )
    assert "dvc exp run" in str(err.value)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")  # `dvc exp run` has just composed it
    assert load_params(project / "params.yaml").model.optimizer.lr == 0.002


def test_a_fresh_check_is_remembered_until_anything_it_read_changes(project) -> None:
    """A pass is remembered (DVC's stages check the same params.yaml three times a repro), a
    remembered pass composes nothing, and an edit of conf/ after it is still refused."""
    params, marker = project / "params.yaml", project / ".mbegu" / "params-checked"
    load_params(params)
    assert marker.is_file()
    code = (
        "import sys; from pathlib import Path; from mbegu.config.params import load_params; "
        "load_params(Path('params.yaml')); print('hydra' in sys.modules)"
    )

    def composed() -> bool:
        run = [sys.executable, "-c", code]
        out = subprocess.run(run, cwd=project, capture_output=True, text=True, check=True)
        return out.stdout.strip() == "True"

    assert not composed()  # remembered: Hydra not even imported
    marker.unlink()
    assert composed() and marker.is_file()  # forgotten: composed, and remembered again
    assert (project / ".mbegu" / ".gitignore").read_text() == "*\n"
    # A group folder linked from elsewhere is read through the link.
    outside = project.parent / f"{project.name}-models"
    (project / "conf" / "model").rename(outside)
    (project / "conf" / "model").symlink_to(outside, target_is_directory=True)
    load_params(params)
    config = outside / "mlp.yaml"
    config.write_text(config.read_text().replace("lr: 0.002", "lr: 0.005"))
    with pytest.raises(MbeguError, match=r"params\.yaml is stale"):
        load_params(params)
    config.write_text(config.read_text().replace("lr: 0.005", "lr: 0.002"))
    # A conf/ that reaches outside itself (here an environment variable) is never remembered.
    (project / "conf" / "model" / "later.yaml").write_text("# lr: ${oc.env:MY_LR}\n")
    assert composed()
    assert composed()


def test_stale_message_names_exactly_the_differing_keys(project) -> None:
    """After `dvc exp run -S model=cnn` (params.yaml holds the CNN), then an edit of
    trainer.max_epochs in conf/: every differing key with both values, and no other."""
    params = project / "params.yaml"
    params.write_text(yaml.safe_dump(OmegaConf.to_container(compose(["model=cnn"]))))
    config = project / "conf" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("max_epochs: 30", "max_epochs: 5"))
    with pytest.raises(MbeguError) as err:
        load_params(params)
    message = str(err.value)
    assert "trainer.max_epochs: conf/ gives 5, params.yaml has 30" in message
    assert (
        "model.net._target_: conf/ gives 'mbegu.models.networks.MLP', params.yaml has "
        "'mbegu.models.networks.CNN'"
    ) in message
    assert "model.optimizer.lr: conf/ gives 0.002, params.yaml has 0.003" in message
    named = {part.split(":")[0].strip(" (") for part in message.split("; ")}
    named = {key.removeprefix("params.yaml is stale (") for key in named}
    fresh = OmegaConf.to_container(compose())
    old = yaml.safe_load(params.read_text())
    for key in ("seed", "data.batch_size", "trainer.accelerator", "model.optimizer._partial_"):
        assert OmegaConf.select(OmegaConf.create(fresh), key) == OmegaConf.select(
            OmegaConf.create(old), key
        )
        assert key not in named, key
    assert "\n" not in message


def test_cli_help_imports_no_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mbegu", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "train" in out.stdout and "evaluate" in out.stdout and "ui" in out.stdout
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines()}
    heavy = {"torch", "lightning", "mlflow", "hydra"} & imported
    assert not heavy, f"`mbegu --help` imported {heavy}"


def test_train_help_and_cfg_job() -> None:
    mbegu = [sys.executable, "-m", "mbegu"]
    help_text = subprocess.run(
        [*mbegu, "train", "--help"], cwd=pristine(), capture_output=True, text=True, check=True
    ).stdout
    models = sorted(p.stem for p in (pristine() / "conf" / "model").glob("*.yaml"))
    assert f"  model      {', '.join(models)}" in help_text  # every option, yours included
    shown = subprocess.run(
        [*mbegu, "train", "--cfg", "job", "model=cnn", "seed=7"],
        cwd=pristine(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cfg = yaml.safe_load(shown)
    assert cfg["model"]["net"]["_target_"] == "mbegu.models.networks.CNN"
    assert cfg["seed"] == 7 and cfg["data"]["seed"] == 7
