"""The `mbegu` argument parser: every command, its options and its help text.

Building it imports only the command modules (mbegu.cli.stages, mbegu.cli.tools), which
import nothing heavy at module level: `mbegu --help` answers without torch, Lightning, MLflow
or pandas.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mbegu.cli.help import EPILOG, GROUPS, HelpParser, PrintVersion
from mbegu.cli.stages import (
    Stage,
    cmd_params,
    config_args,
    config_command,
    run_evaluate,
    run_prepare,
    run_train,
)
from mbegu.cli.tools import (
    cmd_compare,
    cmd_data,
    cmd_doctor,
    cmd_predict,
    cmd_repro_check,
    cmd_server,
    cmd_summary,
    cmd_sweep,
    cmd_ui,
)


def build_parser() -> argparse.ArgumentParser:
    """Every command and option of `mbegu`, each command's function as its `func` default.

    Returns:
        The parser: cheap to build (the config groups are read only when a help is shown).
    """
    parser = HelpParser(
        prog="mbegu",
        description="Train, track and sweep models from one Hydra config tree.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=PrintVersion, help="show the version and exit")
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
        config_args(p)
        p.set_defaults(func=config_command(run, stage_only=name != "train"))

    p = sub.add_parser("params", help="compose conf/ into params.yaml (as `dvc exp run` does)")
    p.add_argument("--out", type=Path, help="default: <project>/params.yaml")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser(
        "data",
        help="add your own data file, or regenerate the example data",
        description="mbegu data add data/FILE --target COLUMN [--text COLUMN], or mbegu data "
        "add data/FOLDER (one subfolder of images per class): describe your data in "
        "conf/data/<name>.yaml, use it, version the data folder with DVC (data.dir: "
        "data/ unless conf/paths/ says otherwise). "
        "mbegu data digits: rewrite the example data (its provenance).",
    )
    p.add_argument("dataset", choices=["add", "digits"])
    p.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="add: a CSV, TSV or Parquet file, or a folder of class folders, in data/ (data.dir)",
    )
    p.add_argument("--target", help="add: the label column")
    p.add_argument("--text", help="add: the text column (short texts; else a table)")
    p.add_argument("--name", help="add: the config's name (default: from the file name)")
    p.add_argument(
        "--no-use", dest="use", action="store_false", help="add: keep conf/config.yaml's data"
    )
    p.add_argument(
        "--out", type=Path, help="digits: default where data=digits reads it (data/digits.csv)"
    )
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
        help="class probabilities for the rows of a CSV, or for images",
        description="Predict with a model named by MLflow run id, by registered "
        "name@alias, or (default) the DVC pipeline's artifacts/model.",
    )
    p.add_argument(
        "input",
        type=Path,
        help="CSV, TSV or Parquet with the training columns; for an image model: an image, a "
        "folder of images, or a CSV/Parquet with a `path` column of image paths",
    )
    p.add_argument(
        "-o", "--output", type=Path, default=Path("predictions.csv"), help=".parquet: Parquet"
    )
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
    p.add_argument(
        "--engine",
        choices=("torch", "onnx"),
        default="torch",
        help="what runs the network: torch (model.pt) or onnx (model.onnx with ONNX Runtime, "
        "no torch needed; pip install onnxruntime)",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "repro-check",
        help="compare the pipeline's outputs with the committed ones (after dvc repro)",
        description="Same bytes as committed, or what changed and why: same inputs on another "
        "CPU kind or thread count give the same test metrics within a tolerance.",
    )
    p.set_defaults(func=cmd_repro_check)

    doctor = "the template release this project is on; do conf/, params.yaml, dvc.lock agree"
    sub.add_parser("doctor", help=doctor, description=doctor).set_defaults(func=cmd_doctor)

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
