"""`mbegu data add data/FOLDER`: bring a folder of class folders of images into the project.

It lists the class folders (nothing is decoded: `prepare` does that, once), prints each class's
image count, writes conf/data/<name>.yaml on `data=images`, makes it the default data with a
model that reads images (`model=cnn`), versions the data folder with DVC and recomposes
params.yaml: `dvc repro` then trains, evaluates and registers `<project>-<name>`.
"""

from __future__ import annotations

import os
from pathlib import Path

from mbegu.data.add import (
    Added,
    _choice,
    _dvc_add,
    _yaml,
    config_name,
    configured_data_dir,
    use_config,
)
from mbegu.errors import MbeguError, warn
from mbegu.features.image import EXTENSIONS
from mbegu.security import inside

IMAGE_MODELS = ("cnn", "resnet_small")  # the bundled model options that read images


def add_images(path: Path, name: str | None, root: Path, use: bool = True) -> Added:
    """Describe a folder of class folders in a new data config and version its data folder.

    Args:
        path: The folder (one subfolder per class), inside the project's data folder.
        name: The new config's name (`--name`); None: from the folder's name.
        root: The project.
        use: Make the data and a model that reads images conf/config.yaml's defaults.

    Returns:
        The config written, the data folder, the model and the command that trains on it.

    Raises:
        MbeguError: The folder lies outside the data folder or is the data folder itself, the
            name is taken or unsafe, or the folder holds fewer than two class folders or an
            empty one.
    """
    from mbegu.data.folders import class_folders, image_files
    from mbegu.io import atomic_write_text

    data_dir = configured_data_dir(root, "images")
    data_rel = data_dir.relative_to(root).as_posix()
    folder = Path(os.path.abspath(path))
    if data_dir not in folder.parents:
        where = "is the data folder itself" if folder == data_dir else "is not in"
        raise MbeguError(
            f"{path} {where} the project's data folder {data_rel}/ (data.dir): put the class "
            f"folders in a folder of their own there, e.g. {data_rel}/{folder.name or 'photos'}/"
        )
    folder = inside(root, folder.relative_to(root).as_posix(), "FOLDER")
    name = config_name(name, folder.name)
    rel = folder.relative_to(root).as_posix()
    counts, others = {}, []
    for label, class_folder in class_folders(folder, rel).items():
        files = image_files(class_folder)
        counts[label] = len(files)
        others += [f for f in files if f.suffix.lower() not in EXTENSIONS]
        if not counts[label]:
            raise MbeguError(
                f"{class_folder}: the class folder {label!r} is empty: add its images, or remove it"
            )
    if len(counts) < 2:
        raise MbeguError(f"{rel} has one class folder: a classifier needs two or more")
    total = sum(counts.values())
    shown = ", ".join(f"{label} {n}" for label, n in counts.items())
    print(f"{rel}: {len(counts)} classes, {total} images ({shown})", flush=True)
    if others:  # said now, not at the end of `dvc repro`'s first stage
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        warn(
            f"{others[0]}{more}: not named as an image ({', '.join(EXTENSIONS)}); `prepare` "
            f"stops on any file it cannot decode: remove them, or set "
            f"data.skip_bad_images: true in conf/data/{name}.yaml"
        )
    lines = [
        f"# {rel}: {total} images in {len(counts)} class folders, written by `mbegu data add`",
        "# (edit freely; conf/data/images.yaml documents every option).",
        f"# Images per class: {shown[:300]}",
        "defaults:",
        "  - images",
        "  - _self_",
        f"name: {name}",
        f"path: {_yaml(rel)}",
        f"classes: [{', '.join(_yaml(c) for c in counts)}]",
    ]
    config = root / "conf" / "data" / f"{name}.yaml"
    _dvc_add(root, data_dir)  # first: if it fails, conf/ and params.yaml are untouched
    atomic_write_text(config, "\n".join(lines) + "\n")
    current = _choice((root / "conf" / "config.yaml").read_text(), "model")
    model = current if current in IMAGE_MODELS else "cnn"
    if use:
        use_config(root, name, model)
        return Added(config, data_rel, model, "dvc repro")
    picked = f" model={model}" if model != current else ""
    return Added(config, data_rel, model, f"mbegu train data={name}{picked}")
