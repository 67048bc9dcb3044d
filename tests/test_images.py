"""`data=images`: folders of photos, one per class, train by config alone.

The photos are drawn by tests/helpers/images.py (JPEG and PNG, RGB/L/RGBA/P, sizes not square,
one turned by its EXIF tag) and decoded by Pillow for real; the runs go to the session's MLflow
store and the pipeline runs as DVC runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mbegu.config.compose import compose
from mbegu.data.sources import ImageData, build_data
from mbegu.errors import MbeguError
from mbegu.features.image import decode_image

from .helpers.cli import call_main, run_cli, runs_of
from .helpers.images import ROTATED, make_image_folders
from .helpers.project import FAST, REPO

SHAPES = ["data=images", "data.path=data/shapes", "data.image_size=16"]


def shapes(project: Path, per_class: int = 8, **options) -> Path:
    return make_image_folders(project / "data" / "shapes", per_class=per_class, **options)


def image_data(folder: Path, tmp_path: Path, **options) -> ImageData:
    out = str(tmp_path / "out")
    return ImageData(path=str(folder), processed_dir=out, image_size=16, **options)


def adhoc(project: Path, experiment: str, *overrides: str, model: str = "cnn"):
    """`mbegu train` on data/shapes, in this process."""
    return call_main(
        "train",
        *SHAPES,
        f"model={model}",
        *FAST,
        f"tracking.experiment_name={experiment}",
        *overrides,
        cwd=project,
    )


def model_info(project: Path, run_id: str) -> dict:
    """model.json of an ad hoc run's model."""
    return json.loads((project / "checkpoints" / run_id / "model" / "model.json").read_text())


@pytest.mark.slow  # training through the CLI: over 5 s on 2 cores
def test_class_folders_train_through_the_cli(project: Path, client, experiment) -> None:
    """Mixed formats, modes and sizes, an EXIF-turned photo, an Ethiopic class and an Arabic
    file name: one finished run whose model carries the image encoder."""
    from PIL import Image

    folder = shapes(project)
    (folder / "square").rename(folder / "ካሬ")  # a class named in Ethiopic
    Image.new("RGB", (20, 30), "red").save(folder / "circle" / "دائرة.png")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert {p.suffix for p in before} == {".jpg", ".png", ".webp"}
    overrides = [*SHAPES, "model=cnn", *FAST, f"tracking.experiment_name={experiment}"]
    result = run_cli("train", *overrides, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr  # model.onnx written too
    [run] = runs_of(client, experiment)
    assert run.info.status == "FINISHED"
    assert run.data.params["data.image_size"] == "16"
    info = model_info(project, run.info.run_id)
    encoder = info["encoder"]
    assert encoder["kind"] == "image" and encoder["channels"] == 3  # colour found
    assert encoder["classes"] == ["circle", "triangle", "ካሬ"]
    assert info["net"]["in_channels"] == 3 and info["net"]["image_size"] == 16
    import mlflow.pyfunc

    served = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert served.get_raw_model().encoder.to_dict() == encoder
    photo = (folder / "circle" / "دائرة.png").read_bytes()
    answer = served.predict(pd.DataFrame({"image": [photo]}))
    assert list(answer.columns) == ["prediction", "prob_circle", "prob_triangle", "prob_ካሬ"]
    from mlflow.exceptions import MlflowException

    from mbegu.models.mlflow_model import Predictor

    predictor = Predictor(served.get_raw_model())
    with pytest.raises(MlflowException, match="reads no files"):  # never the server's own
        predictor.predict(pd.DataFrame({"image": [str(folder / "circle" / "دائرة.png")]}))
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # read only


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    """The photo stored on its side is decoded as its EXIF tag says, upright."""
    from io import BytesIO

    from PIL import Image

    root = make_image_folders(tmp_path / "shapes", per_class=3)
    stored = Image.open(root / ROTATED)
    assert stored.size[0] < stored.size[1]  # portrait on disk, landscape when shown
    upright, raw = BytesIO(), BytesIO()
    stored.transpose(Image.Transpose.ROTATE_270).save(upright, format="PNG")
    stored.save(raw, format="PNG")
    decoded = decode_image(root / ROTATED, 32, 3)
    assert np.array_equal(decoded, decode_image(upright.getvalue(), 32, 3))
    assert not np.array_equal(decoded, decode_image(raw.getvalue(), 32, 3))


def test_a_damaged_exif_block_is_read_or_named_never_a_crash(tmp_path: Path) -> None:
    """Every byte of a photo's EXIF block damaged in turn: decoded, or one MbeguError."""
    from io import BytesIO

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation, as a phone turned on its side writes it
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0132] = "2026:12:06 10:00:00"  # DateTime
    photo = BytesIO()
    Image.new("RGB", (24, 16), "green").save(photo, format="JPEG", exif=exif.tobytes())
    data = photo.getvalue()
    start = data.index(b"Exif\x00\x00")
    outcomes, named = set(), []
    for offset in range(start, start + len(exif.tobytes())):
        for value in (0x00, 0xFF, 0x07):
            damaged = bytearray(data)
            damaged[offset] = value
            try:
                outcomes.add(decode_image(bytes(damaged), 16, 3).shape)
            except MbeguError as err:
                named.append(str(err))
    assert (3, 16, 16) in outcomes
    assert all("the image is corrupt" in line or "not an image" in line for line in named), named


def test_a_16_bit_scan_keeps_its_shades() -> None:
    """A 16-bit grayscale PNG (a scan) is scaled to 8 bits, not clipped to white."""
    from io import BytesIO

    from PIL import Image

    ramp = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (32, 1))
    file = BytesIO()
    Image.fromarray(ramp).save(file, format="PNG")
    assert Image.open(BytesIO(file.getvalue())).mode.startswith("I")
    decoded = decode_image(file.getvalue(), 32, 1)[0]
    assert np.abs(decoded.astype(int) - np.rint(ramp / 257)).max() <= 1
    assert np.array_equal(decode_image(file.getvalue(), 32, 3)[1], decoded)


def _bad(folder: Path, case: str) -> Path:
    """Put one bad file of the kind `case` names into the circle folder; return it."""
    circle = folder / "circle"
    if case == "corrupt":
        path = circle / "ቀለበት.jpg"  # named in Ethiopic: the line names it as it is
        whole = (circle / "circle-000.jpg").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif case == "empty":
        path = circle / "empty.png"
        path.write_bytes(b"")
    elif case == "not-an-image":
        path = circle / "notes.txt"
        path.write_text("taken on the farm, 3 June\n")
    else:  # huge: a PNG whose header says 20000 x 20000 (nothing that large is written)
        import struct
        import zlib
        from io import BytesIO

        from PIL import Image

        buffer = BytesIO()
        Image.new("L", (1, 1)).save(buffer, format="PNG")
        data = bytearray(buffer.getvalue())
        header = b"IHDR" + struct.pack(">II", 20000, 20000) + bytes(data[24:29])
        data[12:33] = header + struct.pack(">I", zlib.crc32(header))
        path = circle / "huge.png"
        path.write_bytes(bytes(data))
    return path


BAD = {
    "corrupt": "the image is corrupt",
    "empty": "the file is empty (0 bytes)",
    "not-an-image": "not an image Pillow can read",
    "huge": "over the 250 MP limit",
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_image_is_one_line_naming_it(project: Path, client, experiment, case) -> None:
    path = _bad(shapes(project), case)
    result = adhoc(project, experiment)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("mbegu: error: ") and str(path) in line and BAD[case] in line, line
    assert "data.skip_bad_images=true" in line
    assert not runs_of(client, experiment)
    assert not (project / "checkpoints").exists() and not (project / "artifacts").exists()


def test_bad_images_are_skipped_and_counted(project: Path, tmp_path: Path, capsys) -> None:
    folder = shapes(project)
    bad = [_bad(folder, case) for case in BAD]
    data = image_data(folder, tmp_path, skip_bad_images=True)
    data.load()
    err = capsys.readouterr().err
    assert "skipped 4 bad image(s) (data.skip_bad_images=true)" in err, err
    assert len(err.strip().splitlines()) == 1
    assert sum(str(p) in err for p in bad) == 3 and "and 1 more" in err  # named, up to three
    used = {p for frame in data.frames.values() for p in frame["image"]}
    assert len(used) == 3 * 8 + 1 and not used & {str(p) for p in bad}


def test_skipped_through_the_cli_trains(project: Path, client, experiment) -> None:
    _bad(shapes(project), "corrupt")
    result = adhoc(project, experiment, "data.skip_bad_images=true")
    assert result.returncode == 0, result.stderr
    assert "skipped 1 bad image(s)" in result.stderr
    assert [r.info.status for r in runs_of(client, experiment)] == ["FINISHED"]


def test_an_empty_class_folder_is_one_line(project: Path, tmp_path: Path, client, experiment):
    folder = shapes(project)
    (folder / "hexagon").mkdir()
    for skip in ("false", "true"):
        result = adhoc(project, experiment, f"data.skip_bad_images={skip}")
        assert result.returncode == 2
        [line] = result.stderr.strip().splitlines()
        assert f"{folder / 'hexagon'}: the class folder 'hexagon' is empty" in line, line
    assert not runs_of(client, experiment)
    for path in (folder / "circle").iterdir():  # every image bad: the class is named
        path.write_bytes(b"")
    (folder / "hexagon").rmdir()
    with pytest.raises(MbeguError, match=r"circle: all its images are bad"):
        image_data(folder, tmp_path, skip_bad_images=True).load()


def _grey(folder: Path) -> None:
    from PIL import Image

    for path in folder.rglob("*.*"):
        with Image.open(path) as image:
            grey = image.convert("L")
        grey.save(path.with_suffix(".png"))
        if path.suffix != ".png":
            path.unlink()


def test_channels_are_found_or_forced(project: Path, tmp_path: Path) -> None:
    colour = shapes(project)
    grey = make_image_folders(project / "data" / "grey", per_class=6)
    _grey(grey)
    for folder, channels, wanted in (
        (colour, None, 3),
        (grey, None, 1),
        (colour, 1, 1),
        (grey, 3, 3),
    ):
        data = image_data(folder, tmp_path / f"{folder.name}-{channels}", channels=channels)
        encoder = data.load()
        assert encoder.channels == wanted and encoder.sizes["in_channels"] == wanted
        pixels = data.tensors("train")[0]
        assert pixels.dtype == torch.uint8 and tuple(pixels.shape[1:]) == (wanted, 16, 16)
    # Found grey: exactly what Pillow's grey decoding gives, so `predict` (channels=1) agrees.
    data = image_data(grey, tmp_path / "again")
    data.load()
    first = data.frames["val"]["image"][0]
    assert np.array_equal(data.tensors("val")[0][0].numpy(), decode_image(first, 16, 1))
    # Warm-toned grey scans (red one level up, within the grey tolerance): every split, train
    # included, holds the grey that `predict` decodes.
    from PIL import Image

    rng = np.random.default_rng(1)
    for label in ("dark", "light"):
        (project / "data" / "warm" / label).mkdir(parents=True)
        for i in range(6):
            grey_plane = rng.integers(
                0 if label == "dark" else 120, 136 if label == "dark" else 255, (16, 16)
            )
            rgb = np.stack([np.minimum(grey_plane + 1, 255), grey_plane, grey_plane], axis=-1)
            Image.fromarray(rgb.astype(np.uint8)).save(
                project / "data" / "warm" / label / f"{i}.png"
            )
    warm = image_data(project / "data" / "warm", tmp_path / "warm")
    assert warm.load().channels == 1
    for split in ("train", "val", "test"):
        for path, pixels in zip(warm.frames[split]["image"], warm.tensors(split)[0], strict=True):
            assert np.array_equal(pixels.numpy(), decode_image(path, 16, 1)), (split, path)


def test_given_train_val_test_folders(project: Path, client, experiment) -> None:
    for seed, split in enumerate(("train", "val", "test")):
        count = 8 if split == "train" else 4
        make_image_folders(project / "data" / split, per_class=count, seed=seed)
    given = [f"data.{s}_path=data/{s}" for s in ("train", "val", "test")]
    overrides = ["data=images", "model=cnn", "data.image_size=16", "data.channels=1", *given]
    result = call_main(
        "train", *overrides, *FAST, f"tracking.experiment_name={experiment}", cwd=project
    )
    assert result.returncode == 0, result.stderr
    [run] = runs_of(client, experiment)
    info = model_info(project, run.info.run_id)
    assert info["encoder"]["channels"] == 1 and info["net"]["in_channels"] == 1
    data = build_data(compose(overrides), project)
    assert data.sizes == {"in_channels": 1, "image_size": 16, "num_classes": 3}
    assert [len(data.frames[s]) for s in ("train", "val", "test")] == [25, 13, 13]
    (project / "data" / "test" / "hexagon").mkdir()
    (project / "data" / "test" / "hexagon" / "a.png").write_bytes(
        (project / "data" / "test" / "circle" / "circle-000.jpg").read_bytes()
    )
    with pytest.raises(MbeguError, match=r"test/hexagon: the class 'hexagon' is not one"):
        build_data(compose([*overrides, "seed=1"]), project).load()
    with pytest.raises(MbeguError, match=r"data\.path \(one folder of class folders"):
        build_data(compose(["data=images"]), project)


def _use_shapes(project: Path, *options: str) -> None:
    """conf/data/shapes.yaml on data=images, made the default with model=cnn (params.yaml)."""
    from mbegu.data.add import use_config

    lines = ["defaults:", "  - images", "  - _self_", "name: shapes", "path: data/shapes"]
    (project / "conf" / "data" / "shapes.yaml").write_text("\n".join([*lines, *options]) + "\n")
    trainer = project / "conf" / "trainer" / "default.yaml"
    trainer.write_text(trainer.read_text().replace("max_epochs: 30", "max_epochs: 2"))
    use_config(project, "shapes", "cnn")


def test_train_reads_the_pixel_cache_not_the_photos(project: Path) -> None:
    """After `prepare`, every photo is overwritten with noise of the same size: training still
    runs on what `prepare` decoded, so it never decodes (or opens) a photo."""
    folder = shapes(project)
    _use_shapes(project, "image_size: 16")
    prepared = call_main("prepare", "--params", "params.yaml", cwd=project)
    assert prepared.returncode == 0, prepared.stderr
    processed = project / "artifacts" / "processed"
    pixels = np.load(processed / "pixels-train.npy")
    assert pixels.dtype == np.uint8 and pixels.shape[1:] == (3, 16, 16)
    rows = json.loads((processed / "manifest.json").read_text())["rows"]
    assert pixels.shape[0] == rows["train"] and sum(rows.values()) == 3 * 8 + 1
    for path in folder.rglob("*.*"):
        path.write_bytes(os.urandom(path.stat().st_size))
    with pytest.raises(MbeguError):  # the photos are noise now
        decode_image(next(folder.rglob("*.png")), 16, 3)
    trained = call_main("train", "--params", "params.yaml", cwd=project)
    assert trained.returncode == 0, trained.stderr
    assert (project / "artifacts" / "model" / "model.json").is_file()


def test_augmentation_changes_train_batches_only(tmp_path: Path) -> None:
    folder = make_image_folders(tmp_path / "shapes", per_class=6)
    augment = {"hflip": True, "crop_scale": 0.5, "jitter": 0.3}
    data = image_data(folder, tmp_path, augment=augment)
    encoder = data.load()
    torch.manual_seed(0)
    for split in ("val", "test", "train"):
        pixels = data.tensors(split)[0]
        batch, _ = data.dataset(split).__getitems__(list(range(len(pixels))))
        plain = torch.from_numpy(encoder.normalise(pixels.numpy()))
        assert torch.allclose(batch, plain, atol=1e-6) == (split != "train"), split
    off = image_data(folder, tmp_path / "off")
    off.load()
    batch, _ = off.dataset("train").__getitems__([0, 1])
    plain = torch.from_numpy(encoder.normalise(off.tensors("train")[0][:2].numpy()))
    assert torch.allclose(batch, plain, atol=1e-6)
    with pytest.raises(MbeguError, match=r"data\.augment\.crop_scale=0\.0"):
        image_data(folder, tmp_path, augment={"crop_scale": 0.0})
    with pytest.raises(MbeguError, match=r"data\.augment\.flip: not an option"):
        image_data(folder, tmp_path, augment={"flip": True})


def test_worker_processes_batch_as_the_training_process_does(tmp_path: Path) -> None:
    """data.num_workers=2: val batches as with none; augmented train batches seeded, repeatable."""
    from mbegu.data.datamodule import DataModule

    folder = make_image_folders(tmp_path / "shapes", per_class=6)
    augment = {"hflip": True, "crop_scale": 0.5, "jitter": 0.3}

    def batches(workers: int, split: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        data = image_data(folder, tmp_path / str(workers), augment=augment, num_workers=workers)
        data.batch_size = 2
        module = DataModule(data)
        module.setup()
        torch.manual_seed(0)
        return list(getattr(module, f"{split}_dataloader")())

    alone, pooled = batches(0, "val"), batches(2, "val")
    assert len(alone) == len(pooled) > 1
    for (x, y), (x2, y2) in zip(alone, pooled, strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    first, again = batches(2, "train"), batches(2, "train")
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    seen = torch.cat([y for _, y in first]).sort().values
    assert torch.equal(seen, torch.cat([y for _, y in batches(0, "train")]).sort().values)


def test_resnet_small_trains_and_init_weights_load(project: Path, client, experiment) -> None:
    shapes(project)
    first = adhoc(project, experiment, model="resnet_small")
    assert first.returncode == 0, first.stderr
    [run] = runs_of(client, experiment)
    weights = f"checkpoints/{run.info.run_id}/model/model.pt"
    assert model_info(project, run.info.run_id)["net"]["_target_"] == "mbegu.models.resnet.ResNet"
    again = adhoc(project, experiment, f"model.init_weights={weights}", model="resnet_small")
    assert again.returncode == 0, again.stderr
    # The run says which weights it started from, by content: the file may change under its name.
    started = [r for r in runs_of(client, experiment) if r.info.run_id != run.info.run_id]
    md5 = hashlib.md5((project / weights).read_bytes()).hexdigest()
    assert started[0].data.tags["mbegu.init_weights.md5"] == md5
    assert "mbegu.init_weights.md5" not in run.data.tags
    (project / "notes.pt").write_text("not weights")
    for given, said in (
        (weights, "does not fit CNN"),  # resnet_small's weights into model=cnn
        ("notes.pt", "is not a state dict torch can load"),
        ("missing.pt", "no such file"),
        ("../outside.pt", "points outside the project"),
    ):
        result = adhoc(project, experiment, f"model.init_weights={given}")
        assert result.returncode == 2, (given, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert said in line and "model.init_weights" in line, line
    assert len(runs_of(client, experiment)) == 2  # no run for a refused start


def test_init_weights_are_the_files_tensors(project: Path) -> None:
    from mbegu.models.build import load_init_weights
    from mbegu.models.resnet import ResNet

    source = ResNet(in_channels=1, image_size=16, num_classes=3)
    torch.save(source.state_dict(), project / "start.pt")
    net = ResNet(in_channels=1, image_size=16, num_classes=3)
    load_init_weights(net, "start.pt", project)
    for key, value in source.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    with pytest.raises(MbeguError, match=r"head.3.weight has shape \(3, 64\), the network's"):
        load_init_weights(ResNet(in_channels=1, image_size=16, num_classes=4), "start.pt", project)


def test_cnn_pools_images_to_about_four(tmp_path: Path) -> None:
    from mbegu.models.networks import CNN

    for side in (16, 32, 64, 100):
        net = CNN(num_classes=3, channels=[8, 16], in_channels=3, image_size=side)
        features = net.features(torch.zeros(2, 3, side, side))
        assert 3 <= features.shape[-1] <= 6, (side, features.shape)
        assert net(torch.zeros(2, 3, side, side)).shape == (2, 3)
    digits = CNN(64, 10)  # a table's 8 x 8 rows, as before
    assert digits(torch.zeros(5, 64)).shape == (5, 10)


@pytest.mark.slow  # git, dvc and four `mbegu data add`: over 5 s on 2 cores
def test_data_add_writes_an_images_config(project: Path) -> None:
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=project, check=True, env={**os.environ, **env})
    folder = shapes(project)
    added = call_main("data", "add", "data/shapes", cwd=project, env=env)
    assert added.returncode == 0, added.stderr
    assert "data/shapes: 3 classes, 25 images (circle 9, square 8, triangle 8)" in added.stdout
    assert "conf/config.yaml now uses data: shapes, model: cnn" in added.stdout
    written = (project / "conf" / "data" / "shapes.yaml").read_text()
    assert "  - images\n" in written and 'classes: ["circle", "square", "triangle"]' in written
    cfg = compose([])
    assert cfg.data.path == "data/shapes" and cfg.model.net._target_.endswith(".CNN")
    (folder / "hexagon").mkdir()
    empty = call_main("data", "add", "data/shapes", "--name", "other", cwd=project, env=env)
    assert empty.returncode == 2 and "the class folder 'hexagon' is empty" in empty.stderr
    itself = call_main("data", "add", "data", cwd=project, env=env)
    assert itself.returncode == 2 and "is the data folder itself" in itself.stderr
    (folder / "hexagon").rmdir()
    (folder / "circle" / "notes.txt").write_text("taken at the north field\n")
    noted = call_main("data", "add", "data/shapes", "--name", "noted", cwd=project, env=env)
    assert noted.returncode == 0, noted.stderr
    assert "notes.txt: not named as an image" in noted.stderr  # said before `prepare` stops
    assert "data.skip_bad_images: true in conf/data/noted.yaml" in noted.stderr


@pytest.mark.slow  # a clone, `dvc add`, and the whole pipeline: about a minute
def test_data_add_then_dvc_repro_registers_the_model(tmp_path: Path, tracking_uri: str) -> None:
    """A newcomer's photos on a fresh clone: `mbegu data add data/leaves`, then `dvc repro`
    prepares, trains, evaluates and registers `<project>-leaves`."""
    from mlflow import MlflowClient

    root = tmp_path / "mbegu"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(root)], check=True)
    make_image_folders(root / "data" / "leaves", per_class=10, size=24)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_TRACKING_URI", "DVC_", "MBEGU_"))
    }
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "PYTHONPATH": str(root / "src"),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "DVC_NO_ANALYTICS": "1",
    }

    def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{cmd}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done

    added = sh("mbegu", "data", "add", "data/leaves")
    assert "Next: dvc repro" in added.stdout
    repro = sh("dvc", "repro")
    assert "Running stage 'evaluate'" in repro.stdout
    assert re.search(r"promoted: mbegu-leaves v1 is", repro.stdout), repro.stdout[-1500:]
    assert (root / "artifacts" / "processed" / "pixels-test.npy").is_file()
    versions = MlflowClient(tracking_uri).search_model_versions("name='mbegu-leaves'")
    assert [int(v.version) for v in versions] == [1]
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert list(metrics["test"]["per_class"]) == ["circle", "square", "triangle"]
