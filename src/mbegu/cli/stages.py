"""The pipeline's stage commands: `mbegu prepare`, `train`, `evaluate` and `params`.

Each stage reads one composed config: params.yaml under DVC (`--params`), else conf/ with
Hydra overrides. The heavy libraries are imported inside each function, only once a stage
runs, so that building the parser (and `mbegu --help`) stays cheap.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mbegu.errors import MbeguError

if TYPE_CHECKING:
    from omegaconf import DictConfig


def config_args(parser: argparse.ArgumentParser) -> None:
    """The arguments load_config reads: Hydra overrides, or DVC's params.yaml; --cfg job."""
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="Hydra overrides: key=value, group=option, +new_key=value",
    )
    parser.add_argument(
        "--params",
        type=Path,
        metavar="FILE",
        help="read this composed config (params.yaml) instead of composing conf/; "
        "what DVC stages do, so that `dvc exp run -S` takes effect",
    )
    parser.add_argument("--cfg", choices=["job"], help="print the composed config and exit")


def load_config(args: argparse.Namespace) -> DictConfig:
    """params.yaml for DVC stages (--params), else conf/ composed with the overrides."""
    from mbegu.config.compose import compose
    from mbegu.config.params import load_params

    if args.params is not None:
        if args.overrides:
            raise MbeguError(
                "pass either --params or overrides, not both: put overrides in "
                "conf/ or use `dvc exp run -S`"
            )
        return load_params(args.params)
    return compose(args.overrides)


def _print_cfg(cfg: DictConfig) -> int:
    from omegaconf import OmegaConf

    print(OmegaConf.to_yaml(cfg), end="")
    return 0


def run_prepare(cfg: DictConfig, args: argparse.Namespace) -> None:
    """The `prepare` stage: split the data and fit the encoder (data.stage)."""
    from mbegu.data.stage import prepare

    prepare(cfg)


def run_train(cfg: DictConfig, args: argparse.Namespace) -> None:
    """`mbegu train`: with `--params`, the DVC stage, which writes the pipeline's outputs.

    Without it, an ad hoc run that leaves artifacts/ and reports/ alone.
    """
    from mbegu.threads import budget_for
    from mbegu.training.train import train

    budget_for(cfg)
    from mbegu.summary import link_lines, metrics_line, show

    pipeline = args.params is not None
    result = train(cfg, outputs="pipeline" if pipeline else "run")
    if result.run_id is None:  # a DDP process other than rank 0
        return
    shown = ("val/acc", "val/f1_weighted", "val/acc_best", "val/loss")
    line = metrics_line("trained", result.metrics, shown)
    lines = [f"{line}  ({len(result.history)} epochs)"]
    if pipeline:
        lines.append("model: artifacts/model/  (the evaluate stage tests it next)")
    if result.link:
        lines += link_lines(result.link)
    show(lines)
    if os.environ.get("MBEGU_TIMINGS") == "1":
        import json

        print("mbegu-timings " + json.dumps({**result.timings, **result.metrics}))


def run_evaluate(cfg: DictConfig, args: argparse.Namespace) -> None:
    """The `evaluate` stage: test the trained model and register it (evaluation.evaluate)."""
    from mbegu.evaluation.evaluate import evaluate
    from mbegu.threads import budget_for

    budget_for(cfg)
    evaluate(cfg)


Stage = Callable[["DictConfig", argparse.Namespace], None]


def config_command(run: Stage, stage_only: bool = False) -> Callable[[argparse.Namespace], int]:
    """A stage command: load the config, print it for --cfg job, else run the stage.

    `stage_only` commands write the pipeline's outputs, so only the DVC stage (--params)
    runs them: an ad hoc run leaves artifacts/ and reports/ alone.
    """

    def command(args: argparse.Namespace) -> int:
        cfg = load_config(args)
        if args.cfg:
            return _print_cfg(cfg)
        if stage_only and args.params is None:
            name = run.__name__.removeprefix("run_")
            raise MbeguError(
                f"`mbegu {name}` is the DVC stage that writes the pipeline's outputs: run "
                f"`dvc repro {name}` (it calls `mbegu {name} --params params.yaml`)"
            )
        run(cfg, args)
        return 0

    return command


def cmd_params(args: argparse.Namespace) -> int:
    """`mbegu params`: compose conf/ into params.yaml, what the DVC stages read."""
    from mbegu.config.params import write_params
    from mbegu.project import project_root

    out = args.out or project_root() / "params.yaml"
    write_params(out)
    print(f"wrote {out} from conf/")
    return 0
