"""The commands around the pipeline: `mbegu data`, `predict`, `sweep`, `compare` and the rest.

The rest: `summary`, `repro-check`, `doctor`, `ui` and `server`. They read conf/ as it is (no
overrides) and import what they use inside each function, so that building the parser (and
`mbegu --help`) stays cheap.
"""

from __future__ import annotations

import argparse
import sys

from mbegu.errors import MbeguError


def configured_tracking() -> tuple[str, str]:
    """(tracking URI, experiment name) every command uses.

    The URI: tracking.tracking_uri from conf/, else $MLFLOW_TRACKING_URI, else the project's SQLite
    store.
    """
    from mbegu.config.compose import compose
    from mbegu.tracking.store import resolve_tracking_uri

    tracking = compose().tracking
    return resolve_tracking_uri(tracking.get("tracking_uri")), tracking.experiment_name


def cmd_data(args: argparse.Namespace) -> int:
    """`mbegu data`: write the digits example, or add the user's own file (`data add`)."""
    from mbegu.data.digits import write_digits
    from mbegu.project import project_root

    if args.dataset == "add":
        from mbegu.data.add import add_data
        from mbegu.data.add_images import add_images

        if args.file is not None and args.file.is_dir():  # a folder of class folders
            added = add_images(args.file, args.name, project_root(), args.use)
        elif args.file is None or args.target is None:
            raise MbeguError(
                "usage: mbegu data add FILE --target COLUMN [--text COLUMN], or mbegu data "
                "add FOLDER (one subfolder of images per class)"
            )
        else:
            added = add_data(args.file, args.target, args.text, args.name, project_root(), args.use)
        name, model = added.config.stem, added.model
        print(
            f"wrote {added.config.relative_to(project_root())} and versioned "
            f"{added.data_dir}/ ({added.data_dir}.dvc)"
            + (f"; conf/config.yaml now uses data: {name}, model: {model}" if args.use else "")
            + f". Next: {added.next_step}"
        )
        return 0
    if args.out is None:  # where data=digits reads it: paths.data_dir may be moved in conf/
        from mbegu.config.compose import compose

        out = project_root() / str(compose(["data=digits"]).data.path)
    else:
        out = args.out
    write_digits(out)
    print(f"wrote {out} (scikit-learn digits); `dvc status data.dvc` compares it with data.dvc")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """`mbegu doctor`: the template release and whether params.yaml, dvc.lock and conf/ agree."""
    from mbegu.cli.doctor import cmd_doctor as doctor

    return doctor(args)


def cmd_repro_check(args: argparse.Namespace) -> int:
    """`mbegu repro-check`: the pipeline's outputs against the committed ones (exit 1 if off)."""
    from mbegu.config.compose import compose
    from mbegu.evaluation.committed import compare, describe_machine, report
    from mbegu.project import project_root
    from mbegu.threads import budget_for

    budget_for(compose())  # the threads the pipeline's train stage ran with
    lines, as_promised = report(compare(project_root()), describe_machine())
    print("\n".join(lines))
    return 0 if as_promised else 1


def cmd_summary(args: argparse.Namespace) -> int:
    """`mbegu summary`: the pipeline's test metrics, its model and its run in MLflow."""
    from mbegu.project import project_root
    from mbegu.summary import pipeline_summary, show

    uri, experiment = configured_tracking()
    show(pipeline_summary(project_root(), uri, experiment))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """`mbegu compare`: the DVC experiments' metrics side by side, with what each changed."""
    from mbegu.cli.compare import compare

    print(compare(args.all))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """`mbegu sweep`: coordinate a sweep, or run as one of its spawned workers (`--worker`)."""
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


def cmd_predict(args: argparse.Namespace) -> int:
    """`mbegu predict`: a CSV's rows predicted by a model folder, run or registered model."""
    from mbegu.config.compose import compose
    from mbegu.inference.batch import predict_file
    from mbegu.inference.images import predict_images
    from mbegu.inference.predict import check_output, from_folder, from_mlflow
    from mbegu.models.image_answers import is_image_model
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
        model = from_mlflow(target, uri, args.engine)
    else:
        model = from_folder(args.model_dir or root / "artifacts" / "model", args.engine)
    if is_image_model(model.saved):  # an image, a folder of them, or a CSV of their paths
        count = predict_images(model, args.input, args.output, root)
        print(f"wrote {args.output} with {model.source}: {count} image(s)")
        return 0
    result = predict_file(model, args.input, args.output, args.ids)
    shown = f", accuracy {result['accuracy']:.4f} on its label column" if result else ""
    print(f"wrote {args.output} with {model.source}{shown}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """`mbegu ui`: the MLflow UI on the configured store."""
    from mbegu.cli.ui import serve

    uri, experiment = configured_tracking()
    return serve(uri, args.host, args.port, args.workers, experiment_name=experiment)


def cmd_server(args: argparse.Namespace) -> int:
    """The team's tracking server.

    Every laptop sets MLFLOW_TRACKING_URI (or tracking.tracking_uri) to `http://HOST:PORT`.
    """
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
