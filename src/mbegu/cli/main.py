"""`mbegu <command>`: a thin dispatcher that imports nothing heavy until a command runs.

`mbegu --help` answers without importing torch, Lightning or MLflow.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mbegu
from mbegu.errors import MbeguError

if TYPE_CHECKING:
    from omegaconf import DictConfig

EPILOG = """examples:
  mbegu train model=cnn trainer.max_epochs=20     train ad hoc (Hydra overrides)
  mbegu train --cfg job model=cnn                 show the composed config
  dvc repro                                       run the pipeline (prepare -> train -> evaluate)
  dvc exp run -S model=cnn                        the pipeline with an override, as a DVC experiment
  mbegu sweep sweep=default sweep.n_trials=20     an Optuna sweep; rerun to continue it
  mbegu predict examples/digits_rows.csv          predict with the pipeline's model
  mbegu compare                                   the DVC experiments side by side
  mbegu ui                                        browse runs in the MLflow UI
  mbegu server --backend-store-uri postgresql://mlflow@db/mlflow --host 0.0.0.0
                                                  a team's tracking server
"""


def _config_args(parser: argparse.ArgumentParser) -> None:
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


GROUPS = "<config groups>"  # an epilog that stands for _groups_help(), read when shown


class _Parser(argparse.ArgumentParser):
    """Lists conf/'s groups in a help only when the help is shown: reading them cost every
    command 0.16 s (argparse wants an epilog's text when the parser is built)."""

    def format_help(self) -> str:
        if self.epilog == GROUPS:
            self.epilog = _groups_help()
        return super().format_help()


def _groups_help() -> str:
    from mbegu.config.compose import config_groups

    try:
        groups = config_groups()
    except MbeguError:
        return ""
    lines = [f"  {group:<10} {', '.join(options)}" for group, options in groups.items()]
    return "config groups (pick one with group=option):\n" + "\n".join(lines) + "\n"


def load_config(args: argparse.Namespace) -> DictConfig:
    """params.yaml for DVC stages (--params), else conf/ composed with the overrides."""
    from mbegu.config.compose import compose, load_params

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
    from mbegu.data.stage import prepare

    prepare(cfg)


def run_train(cfg: DictConfig, args: argparse.Namespace) -> None:
    """`--params` is the DVC stage (the pipeline's outputs); without it, an ad hoc run that
    leaves artifacts/ and reports/ alone."""
    from mbegu.threads import budget_for
    from mbegu.training.train import train

    budget_for(cfg)
    from mbegu.summary import link_lines, metrics_line, show

    pipeline = args.params is not None
    result = train(cfg, outputs="pipeline" if pipeline else "run")
    if result.run_id is None:  # a DDP process other than rank 0
        return
    line = metrics_line("trained", result.metrics, ("val/acc", "val/acc_best", "val/loss"))
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
    from mbegu.evaluation.evaluate import evaluate
    from mbegu.threads import budget_for

    budget_for(cfg)
    evaluate(cfg)


Stage = Callable[["DictConfig", argparse.Namespace], None]


def config_command(run: Stage, stage_only: bool = False) -> Callable[[argparse.Namespace], int]:
    """A stage command: load the config, print it for --cfg job, else run the stage.
    `stage_only` commands write the pipeline's outputs, so only the DVC stage (--params)
    runs them: an ad hoc run leaves artifacts/ and reports/ alone."""

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
    from mbegu.config.compose import write_params
    from mbegu.project import project_root

    out = args.out or project_root() / "params.yaml"
    write_params(out)
    print(f"wrote {out} from conf/")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from mbegu.data.digits import write_digits
    from mbegu.project import project_root

    if args.dataset == "add":
        from mbegu.data.add import add_data

        if args.file is None or args.target is None:
            raise MbeguError("usage: mbegu data add FILE --target COLUMN [--text COLUMN]")
        added = add_data(args.file, args.target, args.text, args.name, project_root(), args.use)
        name, model = added.config.stem, added.model
        print(
            f"wrote {added.config.relative_to(project_root())} and versioned data/ (data.dvc)"
            + (f"; conf/config.yaml now uses data: {name}, model: {model}" if args.use else "")
            + f". Next: {added.next_step}"
        )
        return 0
    out = args.out or project_root() / "data" / "digits.csv"
    write_digits(out)
    print(f"wrote {out} (scikit-learn digits); `dvc status data.dvc` compares it with data.dvc")
    return 0


def cmd_repro_check(args: argparse.Namespace) -> int:
    from mbegu.config.compose import compose
    from mbegu.evaluation.committed import compare, describe_machine, report
    from mbegu.project import project_root
    from mbegu.threads import budget_for

    budget_for(compose())  # the threads the pipeline's train stage ran with
    lines, as_promised = report(compare(project_root()), describe_machine())
    print("\n".join(lines))
    return 0 if as_promised else 1


def cmd_summary(args: argparse.Namespace) -> int:
    from mbegu.project import project_root
    from mbegu.summary import pipeline_summary, show

    uri, experiment = configured_tracking()
    show(pipeline_summary(project_root(), uri, experiment))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from mbegu.cli.compare import compare

    print(compare(args.all))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from mbegu.sweeps.runner import run_sweep, run_worker

    if args.worker is not None:
        parent = args.parent_run_id
        if parent == "-":  # a spawned worker: the coordinator sends it once the run exists
            from mbegu.sweeps.workers import read_parent

            parent = read_parent(sys.stdin.fileno())
            if parent is None:  # the coordinator stopped first: no trial for this worker
                return 0
        run_worker(args.overrides, parent, args.worker)
    else:
        run_sweep(args.overrides)
    return 0


def configured_tracking() -> tuple[str, str]:
    """(tracking URI, experiment name) every command uses: tracking.tracking_uri from conf/,
    else $MLFLOW_TRACKING_URI, else the project's SQLite store."""
    from mbegu.config.compose import compose
    from mbegu.tracking.store import resolve_tracking_uri

    tracking = compose().tracking
    return resolve_tracking_uri(tracking.get("tracking_uri")), tracking.experiment_name


def cmd_predict(args: argparse.Namespace) -> int:
    from mbegu.config.compose import compose
    from mbegu.inference.predict import check_output, from_folder, from_mlflow, predict_csv
    from mbegu.project import project_root
    from mbegu.security import inside
    from mbegu.tracking.store import check_reachable, resolve_tracking_uri

    root = project_root()
    cfg = compose()
    data_dir = inside(root, cfg.data.get("dir") or "data", "data.dir")
    check_output(args.input, args.output, data_dir, args.force)
    if args.run_id or args.model:
        uri = resolve_tracking_uri(cfg.tracking.get("tracking_uri"))
        check_reachable(uri)
        if args.run_id:
            target = f"runs:/{args.run_id}/model"
        else:
            name, _, alias = args.model.partition("@")
            target = f"models:/{name}@{alias or 'candidate'}"
        model = from_mlflow(target, uri)
    else:
        model = from_folder(args.model_dir or root / "artifacts" / "model")
    result = predict_csv(model, args.input, args.output, args.ids)
    shown = f", accuracy {result['accuracy']:.4f} on its label column" if result else ""
    print(f"wrote {args.output} with {model.source}{shown}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from mbegu.cli.ui import serve

    uri, experiment = configured_tracking()
    return serve(uri, args.host, args.port, args.workers, experiment_name=experiment)


def cmd_server(args: argparse.Namespace) -> int:
    """The team's tracking server: every laptop sets MLFLOW_TRACKING_URI (or
    tracking.tracking_uri) to http://<host>:<port>."""
    from mbegu.cli.ui import serve
    from mbegu.project import project_root
    from mbegu.security import inside

    uri, experiment = configured_tracking()
    backend = args.backend_store_uri or uri
    destination = args.artifacts_destination
    if "://" not in destination:  # a folder: inside the project, like every other path
        destination = inside(project_root(), destination, "--artifacts-destination").as_uri()
    return serve(
        backend,
        args.host,
        args.port,
        args.workers,
        experiment_name=experiment,
        artifacts_destination=destination,
    )


class _PrintVersion(argparse.Action):
    """argparse's version action, with the version read only when asked: the package
    metadata lookup costs 50 ms, which every other command would pay."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(f"mbegu {mbegu.__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mbegu",
        description="Train, track and sweep models from one Hydra config tree.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_PrintVersion, help="show the version and exit")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the libraries' INFO lines and notices too (or MBEGU_LOG_LEVEL=INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    stages: list[tuple[str, str, Stage]] = [
        ("prepare", "validate the raw CSV and write the seeded, stratified split", run_prepare),
        ("train", "train a model (Lightning), tracked as an MLflow run", run_train),
        (
            "evaluate",
            "test the trained model; metrics, plots and the model to MLflow",
            run_evaluate,
        ),
    ]
    for name, help_text, run in stages:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=GROUPS,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _config_args(p)
        p.set_defaults(func=config_command(run, stage_only=name != "train"))

    p = sub.add_parser("params", help="compose conf/ into params.yaml (as `dvc exp run` does)")
    p.add_argument("--out", type=Path, help="default: <project>/params.yaml")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser(
        "data",
        help="add your own data file, or regenerate the example data",
        description="mbegu data add data/FILE --target COLUMN [--text COLUMN]: describe your "
        "file in conf/data/<name>.yaml, use it, version data/ with DVC. "
        "mbegu data digits: rewrite the example data (its provenance).",
    )
    p.add_argument("dataset", choices=["add", "digits"])
    p.add_argument("file", nargs="?", type=Path, help="add: a CSV, TSV or Parquet file in data/")
    p.add_argument("--target", help="add: the label column")
    p.add_argument("--text", help="add: the text column (short texts; else a table)")
    p.add_argument("--name", help="add: the config's name (default: from the file name)")
    p.add_argument(
        "--no-use", dest="use", action="store_false", help="add: keep conf/config.yaml's data"
    )
    p.add_argument("--out", type=Path, help="digits: default <project>/data/digits.csv")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser(
        "sweep",
        help="an Optuna sweep over train(cfg): prunes, resumes, runs in parallel",
        description="Optuna sweep: mbegu sweep sweep=default model=cnn sweep.n_trials=40. "
        "Rerun the same command to continue the study; sweep.workers=N for parallel workers.",
        epilog=GROUPS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="Hydra overrides, including sweep=<name> and sweep.* settings",
    )
    p.add_argument("--worker", type=int, metavar="INDEX", help=argparse.SUPPRESS)
    p.add_argument("--parent-run-id", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "predict",
        help="class probabilities for the rows of a CSV",
        description="Predict with a model named by MLflow run id, by registered "
        "name@alias, or (default) the DVC pipeline's artifacts/model.",
    )
    p.add_argument("input", type=Path, help="CSV with the training feature columns")
    p.add_argument("-o", "--output", type=Path, default=Path("predictions.csv"))
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    p.add_argument(
        "--id",
        dest="ids",
        action="append",
        metavar="COLUMN",
        help="an input column to copy beside each prediction, to join the output back to the "
        "input (repeat for more; default: the model's data.drop columns the input has)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run-id", help="the model logged by this MLflow run")
    which.add_argument(
        "--model", metavar="NAME[@ALIAS]", help="a registered model, e.g. mbegu-digits@candidate"
    )
    which.add_argument(
        "--model-dir", type=Path, help="a model folder (default: the pipeline's artifacts/model)"
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "repro-check",
        help="compare the pipeline's outputs with the committed ones (after dvc repro)",
        description="Same bytes as committed, or what changed and why: same inputs on another "
        "CPU kind or thread count give the same test metrics within a tolerance.",
    )
    p.set_defaults(func=cmd_repro_check)

    p = sub.add_parser(
        "summary",
        help="the pipeline's result in a few lines: key test metrics, model, run link",
        description="What `make run` ends on: the test metrics of reports/metrics.json, where "
        "the model is, and a link to its MLflow run (the full table: dvc metrics show).",
    )
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "compare",
        help="the DVC experiments side by side: changed params, key metrics, run id",
        description="`dvc exp show`, narrowed to what differs: each experiment's name, the "
        "params it changed from its baseline commit, its key test metrics and MLflow run id.",
    )
    p.add_argument(
        "-A", "--all", action="store_true", help="experiments of every commit, not only HEAD's"
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("ui", help="open the MLflow UI on this project's store")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser(
        "server",
        help="a team's MLflow tracking server (PostgreSQL backend, proxied artifacts)",
        description="MLflow server for a team: runs in a database, artifacts written by the "
        "server itself (clients need only its URL). Point laptops at it with "
        "MLFLOW_TRACKING_URI=http://HOST:PORT or tracking.tracking_uri.",
    )
    p.add_argument(
        "--backend-store-uri",
        metavar="URI",
        help="postgresql://user@host/db (password in ~/.pgpass or PGPASSWORD); default: the "
        "configured tracking store",
    )
    p.add_argument(
        "--artifacts-destination",
        default="mlartifacts",
        metavar="DIR_OR_URI",
        help="where the server stores artifacts: a project folder (default: mlartifacts) or "
        "s3://, gs://, ... (the server's credentials, not the clients')",
    )
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve the network")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=cmd_server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `kill -USR2 <pid>`: where a stuck command is (stderr)
    if hasattr(signal, "SIGUSR2") and sys.__stderr__ is not None:
        # The process's own stderr: sys.stderr may be a stand-in without a file descriptor.
        faulthandler.register(signal.SIGUSR2, file=sys.__stderr__, all_threads=True)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mbegu.logs import quiet_libraries, set_verbose

    if args.verbose:
        set_verbose()
    quiet_libraries()  # before MLflow is imported: it reads its level once
    # mbegu's models need no pickle: MLflow refuses pickled models unless the user opts in.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    from mbegu.security import mask_secrets

    try:
        return args.func(args)
    except MbeguError as err:
        print(f"mbegu: error: {mask_secrets(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print("mbegu: interrupted", file=sys.stderr)
        return 143 if "signal 15" in str(err) else 130
    except Exception as err:  # a bug or an input nobody foresaw: still one line
        from mbegu.disk import disk_full_line, full_error

        full = full_error(err)
        if full is not None:  # a full disk is the user's to fix, wherever it struck
            print(f"mbegu: error: {mask_secrets(disk_full_line(full))}", file=sys.stderr)
            return 2
        if os.environ.get("MBEGU_DEBUG") == "1":
            raise
        from mbegu.errors import first_line

        print(
            f"mbegu: error: unexpected {type(err).__name__}: {mask_secrets(first_line(err))} "
            f"(MBEGU_DEBUG=1 shows the traceback; please report it)",
            file=sys.stderr,
        )
        return 1


def run() -> int:
    """The `mbegu` program (console script, `python -m mbegu`): main() in a process whose
    garbage collector is tuned for one command (mbegu.processes) and whose idle OpenMP
    threads sleep (mbegu.threads)."""
    from mbegu.processes import skip_gc_at_exit, tune_gc_for_command
    from mbegu.threads import idle_threads_sleep

    idle_threads_sleep()
    tune_gc_for_command()
    try:
        return main()
    finally:
        skip_gc_at_exit()
