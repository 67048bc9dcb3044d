"""Quality on your kind of data: mbegu beside scikit-learn's logistic regression, same split.

Text: `data=text` with `model=text` and `model=linear` against TF-IDF word 1-2-grams and
character 2-5-grams, each + LogisticRegression (weighted F1 on test; benchmarks/baselines.py).
By default the four AfriSenti languages bundled in benchmarks/data/afrisenti (official train /
dev / test splits, dev as val) and scikit-learn's breast cancer and wine tables (`data=table`
+ `model=mlp`), and scikit-learn's digits drawn as 32 x 32 PNG files in class folders, each
shifted and noised by a seeded generator (`data=images` + `model=cnn`, against logistic
regression on 16 x 16 grayscale pixels). Every run uses the defaults in conf/: no per-data-set
tuning. Runs in a scratch project: your outputs and MLflow store are left alone.

Usage:
  python benchmarks/data_quality.py                        # AfriSenti yo ig sw pcm + 2 tables
  python benchmarks/data_quality.py --splits DIR/ha        # DIR/ha_{train,dev,test}.tsv
  python benchmarks/data_quality.py --seeds 42,1,2         # text: the mean over seeds
  python benchmarks/data_quality.py --text FILE.tsv --text-column tweet --target label
  python benchmarks/data_quality.py --table FILE.csv --target answer
  python benchmarks/data_quality.py --images DIR           # DIR/<class>/*.jpg ...
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
AFRISENTI = REPO / "benchmarks" / "data" / "afrisenti"
LANGUAGES = ("yo", "ig", "sw", "pcm")
TEXT_MODELS = ("text", "linear")
NAMED = ["data.name=bench"]  # one MLflow experiment in the scratch store
TABLE_TOLERANCE = 0.01  # tables: mbegu within this of logistic regression, or better


def bundled_tables(folder: Path) -> dict[str, Path]:
    from sklearn.datasets import load_breast_cancer, load_wine

    out = {}
    for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine)):
        frame = loader(as_frame=True).frame
        frame["target"] = frame["target"].map(dict(enumerate(loader().target_names)))
        out[name] = folder / f"{name}.csv"
        frame.to_csv(out[name], index=False)
    return out


IMAGE_SIZE = 32  # the drawn digits' side, and data.image_size for every image data set


def digit_images(folder: Path, seed: int = 0) -> Path:
    """scikit-learn's 1,797 digits as `folder`/<digit>/<n>.png, 32 x 32 grey.

    Each 8 x 8 digit is scaled up 3x (24 x 24), placed at a seeded random offset in a 32 x 32
    dark square and given seeded noise: photos of a digit are never centred alike. Offline and
    the same files for the same seed.
    """
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    for index, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        big = np.kron(image / 16.0 * 255.0, np.ones((3, 3)))
        canvas = rng.normal(20, 12, (IMAGE_SIZE, IMAGE_SIZE))
        top, left = rng.integers(0, IMAGE_SIZE - 24 + 1, 2)
        canvas[top : top + 24, left : left + 24] += big
        target = folder / str(label)
        target.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(canvas, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(target / f"{index:04d}.png")
    return folder


def image_jobs(args: argparse.Namespace, data: Path) -> dict[str, list[str]]:
    """{name: overrides} for each image data set: a given folder, or the drawn digits."""
    if args.text or args.splits or args.table:
        return {}
    if args.images:
        folder = Path(shutil.copytree(args.images, data / args.images.name))
    else:
        folder = digit_images(data / "digit_images")
    size = [] if args.images else [f"data.image_size={IMAGE_SIZE}"]
    return {folder.name: ["data=images", f"data.path=data/{folder.name}", *size, "model=cnn"]}


def scratch_project(scratch: Path) -> Path:
    """conf/ and dvc.yaml in `scratch`/project, made the current project with its own store."""
    project = scratch / "project"
    (project / "data").mkdir(parents=True)
    shutil.copytree(REPO / "conf", project / "conf")
    shutil.copy(REPO / "dvc.yaml", project / "dvc.yaml")
    os.chdir(project)
    os.environ["MBEGU_ROOT"] = str(project)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
    return project


def run_mbegu(project: Path, overrides: list[str]) -> dict:
    from mbegu.config.compose import compose
    from mbegu.data.stage import prepare
    from mbegu.evaluation.evaluate import evaluate
    from mbegu.training.train import train

    cfg = compose([*overrides, "tracking.registered_model_name=null"], root=project)
    prepare(cfg)
    train(cfg)
    return evaluate(cfg)["test"]


def text_jobs(args: argparse.Namespace, data: Path) -> dict[str, list[str]]:
    """{name: overrides} for each text data set: given splits, or one file mbegu splits."""
    column = args.text_column or ("text" if args.text else "tweet")
    text = ["data=text", f"data.text_column={column}", f"data.target={args.target or 'label'}"]
    if args.text:
        shutil.copy(args.text, data / args.text.name)
        return {args.text.name: [*text, f"data.path=data/{args.text.name}"]}
    bundled = not (args.table or args.images)
    prefixes = args.splits or ([AFRISENTI / lang for lang in LANGUAGES] if bundled else [])
    jobs = {}
    for prefix in prefixes:
        name = prefix.name
        for split in ("train", "dev", "test"):
            shutil.copy(prefix.parent / f"{name}_{split}.tsv", data / f"{name}_{split}.tsv")
        jobs[name] = [
            *text,
            f"data.train_path=data/{name}_train.tsv",
            f"data.val_path=data/{name}_dev.tsv",
            f"data.test_path=data/{name}_test.tsv",
        ]
    return jobs


def table_jobs(args: argparse.Namespace, data: Path) -> dict[str, list[str]]:
    if args.text or args.splits or args.images:
        return {}
    tables = (
        {args.table.name: shutil.copy(args.table, data / args.table.name)}
        if args.table
        else bundled_tables(data)
    )
    target = (args.target or "target") if args.table else "target"
    return {
        name: ["data=table", f"data.path=data/{Path(path).name}", f"data.target={target}"]
        for name, path in tables.items()
    }


def report(
    text_rows: list[tuple],
    table_rows: list[tuple],
    image_rows: list[tuple],
    seconds: float,
    seeds: list[int] | None = None,
) -> bool:
    """Print the tables; True when every target is met."""
    ok = True
    if text_rows:
        print("\ntext: weighted F1 on test; target: model=text at or above the best baseline")
        head = f"{'data':<16}{'text':>8}{'linear':>8}{'tfidf_word':>12}{'tfidf_char':>12}"
        print(f"{head}  target")
        if seeds:
            listed = ", ".join(map(str, seeds))
            print(f"(mbegu: the mean over seeds {listed}; each seed's score below, in that order)")
        for name, ours, theirs in text_rows:
            best = max(theirs.values())
            mean = {model: sum(runs) / len(runs) for model, runs in ours.items()}
            met = mean["text"] >= best
            ok &= met
            print(
                f"{name:<16}{mean['text']:8.4f}{mean['linear']:8.4f}"
                f"{theirs['tfidf_word']:12.4f}{theirs['tfidf_char']:12.4f}  "
                f"{'met' if met else 'NOT met'} (best baseline {best:.4f})"
            )
            if seeds:
                for model, runs in ours.items():
                    print(f"{'':<4}{model:<12}" + " ".join(f"{score:.4f}" for score in runs))
    if table_rows:
        print(f"\ntables: accuracy on test; target: model=mlp >= logreg - {TABLE_TOLERANCE}")
        print(f"{'data':<16}{'mbegu':>8}{'logreg':>8}  target")
        for name, ours, theirs in table_rows:
            met = ours >= theirs - TABLE_TOLERANCE
            ok &= met
            print(f"{name:<16}{ours:8.4f}{theirs:8.4f}  {'met' if met else 'NOT met'}")
    if image_rows:
        print("\nimages: accuracy on test; target: model=cnn above logreg on 16x16 gray pixels")
        print(f"{'data':<16}{'mbegu':>8}{'logreg':>8}  target")
        for name, ours, theirs in image_rows:
            met = ours > theirs
            ok &= met
            print(f"{name:<16}{ours:8.4f}{theirs:8.4f}  {'met' if met else 'NOT met'}")
    print(f"\n{seconds:.0f} s in all")
    return ok


def seed_list(value: str) -> list[int]:
    """`--seeds`' value: comma-separated integers."""
    try:
        return [int(seed) for seed in value.split(",")]
    except ValueError:
        message = f"{value!r}: give integers and commas, e.g. 42,1,2"
        raise argparse.ArgumentTypeError(message) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="a CSV/TSV/Parquet table (default: bundled)")
    parser.add_argument("--text", type=Path, help="a CSV/TSV file of texts and labels")
    parser.add_argument(
        "--splits",
        type=Path,
        action="append",
        help="PREFIX of PREFIX_train.tsv, PREFIX_dev.tsv, PREFIX_test.tsv (repeatable)",
    )
    parser.add_argument("--images", type=Path, help="a folder of class folders of images")
    parser.add_argument("--text-column", help="default: tweet (--splits), text (--text)")
    parser.add_argument("--target", help="the label column; default: label (text), target")
    parser.add_argument(
        "--seeds",
        type=seed_list,
        help="text: train each model once per seed (e.g. 42,1,2) and judge the mean; a split"
        " mbegu makes (--text) is drawn by each seed, its baselines averaged over them",
    )
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for mbegu")
    args = parser.parse_args()
    if args.seeds and any(o.startswith(("seed=", "+seed=")) for o in args.overrides):
        parser.error("--seeds and a seed= override both set the seed: give one of them")
    # The run moves into a scratch project: read the user's paths from here first.
    args.splits = [p.absolute() for p in args.splits or []]
    args.text, args.table, args.images = (
        p.absolute() if p else None for p in (args.text, args.table, args.images)
    )
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    from baselines import image_baseline, table_baseline, text_baselines

    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="mbegu-bench-data-"))
    text_rows, table_rows, image_rows = [], [], []
    per_seed = [[f"seed={seed}"] for seed in args.seeds] if args.seeds else [[]]
    try:
        project = scratch_project(scratch)
        for name, overrides in text_jobs(args, project / "data").items():
            ours: dict[str, list[float]] = {model: [] for model in TEXT_MODELS}
            fitted: list[dict[str, float]] = []
            for seeded in per_seed:
                for model in TEXT_MODELS:
                    scores = run_mbegu(
                        project, [*overrides, f"model={model}", *NAMED, *seeded, *args.overrides]
                    )
                    ours[model].append(scores["f1_weighted"])
                # The seed draws a split mbegu makes (--text) as well as the training's
                # shuffles: the baselines then fit each seed's split; given splits, once.
                if args.text or not fitted:
                    baselines = text_baselines(project).items()
                    fitted.append({k: v["f1_weighted"] for k, v in baselines})
            theirs = {k: sum(f[k] for f in fitted) / len(fitted) for k in fitted[0]}
            text_rows.append((name, ours, theirs))
        for name, overrides in table_jobs(args, project / "data").items():
            ours_table = run_mbegu(project, [*overrides, *NAMED, *args.overrides])
            table_rows.append((name, ours_table["acc"], table_baseline(project)["logreg"]["acc"]))
        for name, overrides in image_jobs(args, project / "data").items():
            ours_image = run_mbegu(project, [*overrides, *NAMED, *args.overrides])
            image_rows.append((name, ours_image["acc"], image_baseline(project)["logreg"]["acc"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    sys.exit(0 if report(text_rows, table_rows, image_rows, seconds, args.seeds) else 1)


if __name__ == "__main__":
    main()
