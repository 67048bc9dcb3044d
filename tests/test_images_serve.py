"""An image model answered every way a user asks: `mbegu predict` on an image, a folder or a
CSV of paths, ONNX Runtime as torch, the MLflow model on base64 JPEGs (in process and through
`mlflow models serve` over HTTP), and evaluation's misclassified grid and pixel baseline."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mbegu.config.compose import compose
from mbegu.errors import MbeguError
from mbegu.evaluation.images import misclassified_grid, pixel_features, score_image_baselines
from mbegu.features.image import ImageEncoder
from mbegu.inference.images import image_sources
from mbegu.models.image_answers import image_bytes, jpeg_base64

from .helpers.cli import call_main
from .helpers.images import CLASSES, make_image_folders
from .helpers.project import REPO


def test_base64_cells_decode_and_bad_ones_are_named() -> None:
    raw = b"\xff\xd8\xff\xe0 not really a jpeg"
    text = base64.b64encode(raw).decode()
    assert image_bytes(text, "image 1") == raw
    assert image_bytes(f"data:image/jpeg;base64,{text}", "image 1") == raw  # a browser's
    assert image_bytes(text[:10] + "\n" + text[10:], "image 1") == raw  # base64 -w76 wraps
    assert image_bytes(raw, "image 1") == raw  # MLflow's binary columns
    for bad, said in (("not base64!", "not valid base64"), ("", "no image"), (None, "no image")):
        with pytest.raises(MbeguError, match=f"image 2 of the request: .*{said}"):
            image_bytes(bad, "image 2 of the request")


def test_a_jpeg_example_decodes_back_to_the_image() -> None:
    pixels = np.zeros((3, 16, 16), dtype=np.uint8)
    pixels[0, :, :8] = 255  # left half red
    back = ImageEncoder(["a"], 16, 3, [0.5] * 3, [0.25] * 3).decode(
        base64.b64decode(jpeg_base64(pixels))
    )
    assert back.shape == (3, 16, 16)
    assert back[0, :, :6].mean() > 200 and back[0, :, 10:].mean() < 50


def test_image_sources_folder_file_and_listed_paths(project: Path) -> None:
    folders = make_image_folders(project / "data" / "shapes", per_class=3, size=16)
    (folders / "notes.txt").write_text("not an image, not listed")
    (folders / "circle" / "._circle-000.jpg").write_bytes(b"\x00\x05\x16\x07")  # macOS's
    found = image_sources(Path("data/shapes"), project)
    assert len(found) == 3 * 3 + 1  # every class folder, recursively, and the rotated photo
    assert [name for name, _ in found] == sorted(name for name, _ in found)
    assert all(Path(name).suffix in (".jpg", ".png") for name, _ in found)
    one = image_sources(Path("data/shapes/circle/circle-000.jpg"), project)
    assert one == [("data/shapes/circle/circle-000.jpg", Path("data/shapes/circle/circle-000.jpg"))]
    # A CSV's paths are relative to its own folder.
    listing = project / "data" / "list.csv"
    listing.write_text(
        "path,note\nshapes/square/square-001.jpg,x\nshapes/circle/circle-002.png,y\n"
    )
    listed = image_sources(listing, project)
    assert [name for name, _ in listed] == [
        "shapes/square/square-001.jpg",
        "shapes/circle/circle-002.png",
    ]
    assert listed[0][1].resolve() == (folders / "square" / "square-001.jpg").resolve()
    # A listed path outside the project is refused, naming the file's row.
    listing.write_text("path\nshapes/square/square-001.jpg\n../../../../etc/passwd\n")
    with pytest.raises(MbeguError, match=r"list.csv row 3 \(path\).*outside the project"):
        image_sources(listing, project)
    listing.write_text("path\n/etc/hostname\n")
    with pytest.raises(MbeguError, match="outside the project"):
        image_sources(listing, project)
    (project / "empty").mkdir()
    with pytest.raises(MbeguError, match="holds no image"):
        image_sources(Path("empty"), project)


def test_pixel_baseline_learns_bright_from_dark() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    pixels = rng.integers(0, 100, size=(60, 3, 24, 24)).astype(np.uint8)
    pixels[labels == 1, :, 6:18, 6:18] += 150  # class 1: a bright square in the middle
    features = pixel_features(pixels)
    assert features.shape == (60, 256) and features.dtype == np.float32
    assert features.min() >= 0.0 and features.max() <= 1.0
    scores = score_image_baselines(
        ["majority", "logreg", "hgb"], (pixels[:40], labels[:40]), (pixels[40:], labels[40:]), 2
    )
    assert list(scores) == ["majority", "logreg"]  # hgb is a table's baseline
    assert scores["logreg"]["acc"] == 1.0
    assert scores["majority"]["acc"] == 0.5


def test_evaluate_scores_image_baselines_on_the_rows_pixels(tmp_path: Path) -> None:
    from mbegu.evaluation.baselines import flat_baseline_metrics, score_baselines

    shapes = make_image_folders(tmp_path / "shapes", per_class=10, size=16)
    files = sorted(shapes.glob("*/*-*.*"))
    rows = pd.DataFrame({"image": [str(p) for p in files], "label": [p.parent.name for p in files]})
    train, test = rows.iloc[::2], rows.iloc[1::2]
    encoder = ImageEncoder(list(CLASSES), 16, 3, [0.5] * 3, [0.25] * 3)
    scores = score_baselines(["majority", "logreg", "hgb"], encoder, train, test)
    assert list(scores) == ["majority", "logreg"]
    assert scores["majority"]["acc"] == pytest.approx(1 / 3, abs=0.01)
    assert set(flat_baseline_metrics(scores)) >= {"baseline_logreg_acc", "baseline_logreg_f1_macro"}


def test_misclassified_grid_draws_the_mistakes(tmp_path: Path) -> None:
    from PIL import Image

    pixels = np.full((5, 1, 8, 8), 128, dtype=np.uint8)
    labels = np.array([0, 1, 0, 1, 0])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.45, 0.55]])
    path = tmp_path / "misclassified.png"
    assert misclassified_grid(path, pixels, labels, probs, ["cat", "dog"]) == 3
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100
    assert misclassified_grid(path, pixels, labels, np.eye(2)[labels], ["cat", "dog"]) == 0
    assert path.is_file() and not list(tmp_path.glob(".*tmp*"))


SIZE = 16


def untrained_image_model(project: Path, folder: str = "models/img") -> Path:
    """A grayscale shapes model folder with random weights, as training writes one: what
    `mbegu predict` and the MLflow model read, without a training run."""
    import torch

    from mbegu.models.networks import CNN
    from mbegu.models.saved import save_model

    shapes = make_image_folders(project / "data" / "shapes", per_class=4, size=SIZE)
    files = sorted(shapes.rglob("*.*"))
    pixels = np.stack([ImageEncoder(["x"], SIZE, 1, [0.5], [0.5]).decode(p) for p in files])
    encoder = ImageEncoder.fit(pixels, list(CLASSES))
    torch.manual_seed(0)
    net = CNN(in_features=SIZE * SIZE, num_classes=len(CLASSES), channels=(4, 8))
    with torch.no_grad():  # batch norm's running stats away from (0, 1): they must be exported
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    spec = {"_target_": "mbegu.models.networks.CNN", "in_features": SIZE * SIZE}
    spec |= {"num_classes": len(CLASSES), "channels": [4, 8]}
    config = {"model": {"net": spec}, "data": {"name": "shapes"}}
    model_dir = project / folder
    save_model(model_dir, net, config, encoder)
    return model_dir


def _predict(project: Path, *args: str, out: str = "p.csv") -> tuple[int, str, pd.DataFrame]:
    result = call_main("predict", *args, "-o", out, "--force", cwd=project)
    written = project / out
    frame = pd.read_csv(written) if result.returncode == 0 else pd.DataFrame()
    return result.returncode, result.stderr + result.stdout, frame


def test_predict_an_image_a_folder_and_a_csv_of_paths(project: Path) -> None:
    model = str(untrained_image_model(project))
    code, said, one = _predict(project, "data/shapes/circle/circle-001.jpg", "--model-dir", model)
    assert code == 0, said
    assert list(one.columns) == ["path", "prediction", *(f"prob_{c}" for c in CLASSES)]
    assert one.path.tolist() == ["data/shapes/circle/circle-001.jpg"]
    assert one.prediction.iloc[0] in CLASSES
    code, said, folder = _predict(project, "data/shapes", "--model-dir", model, "--engine", "onnx")
    assert code == 0, said
    assert len(folder) == 3 * 4 + 1 and "13 image(s)" in said
    probs = folder[[f"prob_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert folder.prediction.nunique() > 1  # random weights, but not one answer for all
    # Chunks of images give the answers one batch gives (a folder of any size, bounded memory).
    from mbegu.inference.images import predict_images
    from mbegu.inference.predict import from_folder

    predict_images(from_folder(Path(model)), Path("data/shapes"), project / "c.csv", project, 5)
    chunked = pd.read_csv(project / "c.csv")
    np.testing.assert_allclose(chunked[probs_columns()].to_numpy(), probs, atol=1e-5)
    # A CSV of paths relative to its folder, and the same answers as for the folder.
    listing = project / "data" / "listed.csv"
    listing.write_text("path\nshapes/square/square-002.png\nshapes/circle/circle-001.jpg\n")
    code, said, listed = _predict(project, "data/listed.csv", "--model-dir", model)
    assert code == 0, said
    assert listed.path.tolist() == ["shapes/square/square-002.png", "shapes/circle/circle-001.jpg"]
    by_path = folder.set_index("path")
    expected = by_path.loc["data/shapes/square/square-002.png", probs_columns()].to_numpy()
    np.testing.assert_allclose(listed[probs_columns()].iloc[0].to_numpy(), expected, atol=1e-5)


def probs_columns() -> list[str]:
    return [f"prob_{c}" for c in CLASSES]


def test_predict_refuses_outside_paths_and_bad_images_in_one_line(project: Path) -> None:
    model = str(untrained_image_model(project))
    (project / "outside.csv").write_text("path\n../secret.png\n")
    code, said, _ = _predict(project, "outside.csv", "--model-dir", model)
    line = "mbegu: error: outside.csv row 2 (path)='../secret.png' points outside the project"
    assert code == 2 and said.startswith(line), said  # as docs/troubleshooting.md shows it
    assert "Traceback" not in said
    (project / "data" / "shapes" / "square" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    code, said, _ = _predict(project, "data/shapes", "--model-dir", model, out="q.csv")
    assert code == 2 and said.count("\n") == 1, said
    assert said.startswith("mbegu: error: data/shapes/square/broken.jpg: not an image Pillow")
    assert not (project / "q.csv").exists()  # nothing half-written


def test_onnx_and_torch_agree_on_images(project: Path) -> None:
    from mbegu.models.image_answers import image_probabilities
    from mbegu.models.onnx_model import load_onnx
    from mbegu.models.saved import load_model

    model_dir = untrained_image_model(project)
    saved, onnx = load_model(model_dir), load_onnx(model_dir)
    rows = pd.DataFrame({"image": [str(p) for p in sorted((project / "data").rglob("*.png"))]})
    pixels = saved.encoder.pixels(rows)
    torch_probs = saved.probabilities(rows)  # the encoder's transform, as evaluate reads
    assert np.abs(onnx.probabilities(rows) - torch_probs).max() < 1e-5
    assert np.abs(image_probabilities(saved, pixels) - torch_probs).max() < 1e-5


def test_mlflow_model_answers_base64_jpegs(project: Path) -> None:
    from mlflow.exceptions import MlflowException

    from mbegu.models.mlflow_model import _load_pyfunc

    model_dir = untrained_image_model(project)
    jpeg = (project / "data" / "shapes" / "square" / "square-000.jpg").read_bytes()
    request = pd.DataFrame({"image": [base64.b64encode(jpeg).decode()] * 2})
    for engine in ("torch", "onnx"):
        answer = _load_pyfunc(str(model_dir), {"engine": engine}).predict(request)
        assert list(answer.columns) == ["prediction", *probs_columns()]
        assert set(answer.prediction) <= set(CLASSES) and len(answer) == 2
    model = _load_pyfunc(str(model_dir))
    for bad, said in (
        ("%%%", "image 2 of the request: .*not valid base64"),
        (base64.b64encode(b"hello").decode(), "image 2 of the request: not an image"),
    ):
        with pytest.raises(MlflowException, match=said) as caught:
            model.predict(pd.DataFrame({"image": [request.image[0], bad]}))
        assert caught.value.get_http_status_code() == 400
    with pytest.raises(MlflowException, match="no column 'image'"):
        model.predict(pd.DataFrame({"photo": [request.image[0]]}))


# A serving-only install (requirements/serve.txt): torch and Lightning cannot be imported.
NO_TORCH = """
import base64, sys
sys.modules["torch"] = sys.modules["lightning"] = None  # import fails, find_spec says None
import pandas as pd
from mbegu.cli.main import main
from mbegu.models.mlflow_model import _load_pyfunc

model_dir, image = sys.argv[1:3]
assert main(["predict", "data/shapes", "--model-dir", model_dir, "--engine", "onnx",
             "-o", "free.csv"]) == 0
request = pd.DataFrame({"image": [base64.b64encode(open(image, "rb").read()).decode()]})
print(_load_pyfunc(model_dir).predict(request).to_json(orient="records"))
"""


@pytest.mark.slow
def test_images_are_served_without_torch(project: Path) -> None:
    model_dir = untrained_image_model(project)
    image = "data/shapes/triangle/triangle-001.jpg"
    script = [sys.executable, "-c", NO_TORCH, str(model_dir), image]
    result = subprocess.run(script, cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "torch is not installed: serving model.onnx" in result.stderr
    [served] = json.loads(result.stdout.strip().splitlines()[-1])
    code, said, with_torch = _predict(project, "data/shapes", "--model-dir", str(model_dir))
    assert code == 0, said
    free = pd.read_csv(project / "free.csv")
    gap = np.abs(free[probs_columns()].to_numpy() - with_torch[probs_columns()].to_numpy()).max()
    assert gap < 1e-5
    row = with_torch.set_index("path").loc[image]
    assert served["prediction"] == row["prediction"]
    assert abs(served["prob_triangle"] - row["prob_triangle"]) < 1e-5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(port: int, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST to the served model's /invocations, as the curl line in docs/images.md does."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:  # it answered, with an error
        return err.code, json.loads(err.read())


def docs_curl_lines() -> list[str]:
    """The shell commands docs/images.md gives for sending a photo to the served model."""
    text = (REPO / "docs" / "images.md").read_text().replace("\\\n", "")
    lines = [line for line in text.splitlines() if "http://127.0.0.1:5001/invocations" in line]
    assert len(lines) == 2, lines  # the short line, and the one through standard input
    return lines


def served_answers(
    model_uri: str, tracking_uri: str, cwd: Path, bodies: list[bytes], shell: list[str]
) -> list[Any]:
    """`mlflow models serve` on loopback; each body posted and each `shell` command (its port
    5001 made the server's) run once it answers: the answers, then the commands' outputs."""
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    serve = ["models", "serve", "-m", model_uri, "-h", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(
        [str(mlflow), *serve, "--env-manager", "local"],
        cwd=cwd,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "PATH": f"{mlflow.parent}{os.pathsep}{os.environ['PATH']}",  # its uvicorn
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(240):
            try:
                first = _post(port, bodies[0])
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the served model never answered")
        answers = [first, *(_post(port, body) for body in bodies[1:])]
        for line in shell:
            command = line.replace("5001", str(port))
            done = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            answers.append(json.loads(done.stdout))
        return answers
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def curl_body(jpeg: bytes) -> bytes:
    """The body of docs/images.md's curl line for this JPEG."""
    encoded = base64.b64encode(jpeg).decode()
    return f'{{"dataframe_split": {{"columns": ["image"], "data": [["{encoded}"]]}}}}'.encode()


@pytest.mark.slow
def test_logged_image_model_is_served_over_http(
    project: Path, client: Any, experiment: str, tracking_uri: str
) -> None:
    from mbegu.models.mlflow_model import log_model
    from mbegu.models.saved import load_model
    from mbegu.tracking.tracker import MlflowTracker

    model_dir = untrained_image_model(project)
    tracker = MlflowTracker(experiment_name=experiment, tracking_uri=tracking_uri)
    run_id = client.create_run(tracker.experiment_id()).info.run_id
    rows = pd.DataFrame({"image": ["data/shapes/circle/circle-000.jpg"], "label": ["circle"]})
    log_model(tracker, run_id, load_model(model_dir), model_dir, rows, register=False)
    client.set_terminated(run_id)
    # The logged input example is a small base64 JPEG, at the model's own size.
    example = client.download_artifacts(run_id, "model/serving_input_example.json", str(project))
    sent = json.loads(Path(example).read_text())["dataframe_split"]
    assert sent["columns"] == ["image"]
    assert base64.b64decode(sent["data"][0][0])[:3] == b"\xff\xd8\xff"  # JPEG's magic
    # `mbegu predict --run-id` reads the logged model's folder.
    code, said, out = _predict(project, "data/shapes/square", "--run-id", run_id)
    assert code == 0 and len(out) == 4, said
    jpeg = (project / "data" / "shapes" / "triangle" / "triangle-000.jpg").read_bytes()
    bodies = [
        curl_body(jpeg),
        curl_body(b"not an image"),
        b'{"dataframe_split": {"columns": ["image"], "data": [["@@not base64@@"]]}}',
    ]
    (project / "leaf.jpg").write_bytes(jpeg)
    (project / "photo.jpg").write_bytes(_large_jpeg())
    (ok, answer), (status, bad), (status64, bad64), by_curl, by_pipe = served_answers(
        f"runs:/{run_id}/model", tracking_uri, project, bodies, docs_curl_lines()
    )
    assert ok == 200, answer
    [row] = answer["predictions"]
    assert row["prediction"] in CLASSES
    assert sum(row[c] for c in probs_columns()) == pytest.approx(1)
    expected = _load_pyfunc_answer(model_dir, jpeg)
    assert row["prediction"] == expected
    assert status == 400 and "image 1 of the request: not an image" in bad["message"], bad
    assert status64 == 400 and "not valid base64" in bad64["message"], bad64
    assert "Traceback" not in json.dumps([bad, bad64])
    assert by_curl == answer  # the docs' curl line, run as written
    assert by_pipe["predictions"][0]["prediction"] in CLASSES  # a photo past 128 KiB of base64


def _large_jpeg() -> bytes:
    """A noisy 600 x 600 JPEG: its base64 is longer than one command-line argument may be."""
    import io

    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=95)
    assert len(buffer.getvalue()) * 4 / 3 > 128 * 1024
    return buffer.getvalue()


def _load_pyfunc_answer(model_dir: Path, jpeg: bytes) -> str:
    from mbegu.models.mlflow_model import _load_pyfunc

    request = pd.DataFrame({"image": [base64.b64encode(jpeg).decode()]})
    return str(_load_pyfunc(str(model_dir)).predict(request).prediction.iloc[0])


@pytest.mark.slow
def test_trained_image_model_predicts_serves_and_reports(
    project: Path, client: Any, experiment: str, tracking_uri: str
) -> None:
    """prepare -> train -> evaluate on class folders (real Lightning, 32 x 32, a few epochs),
    then every way of asking the trained model."""
    from mbegu.data.stage import prepare
    from mbegu.evaluation.evaluate import evaluate
    from mbegu.training.train import train

    from .helpers.project import FAST

    make_image_folders(project / "data" / "shapes", per_class=20, size=32)
    overrides = [
        *FAST,
        "data=images",
        "data.path=data/shapes",
        "data.image_size=32",
        "data.batch_size=16",
        "model=cnn",
        "trainer.max_epochs=4",
        f"tracking.experiment_name={experiment}",
        "tracking.registered_model_name=null",
    ]
    cfg = compose(overrides, root=project)
    prepare(cfg)
    train(cfg)
    metrics = evaluate(cfg)
    run_id = metrics["mlflow_run_id"]
    assert set(metrics["baseline"]) == {"majority", "logreg"}
    logged = client.get_run(run_id).data.metrics
    assert {"baseline_logreg_acc", "baseline_majority_acc", "test_acc"} <= set(logged)
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"plots/confusion_matrix.png", "plots/misclassified.png"} <= plots
    grid = client.download_artifacts(run_id, "plots/misclassified.png", str(project))
    assert Path(grid).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The test split's images listed in a CSV: `mbegu predict` answers as evaluate scored.
    from mbegu.data.sources import build_data

    data = build_data(cfg, project)
    data.load()
    test = data.frames["test"]
    listing = project / "test-images.csv"
    listing.write_text("path\n" + "".join(f"{os.path.relpath(p, project)}\n" for p in test.image))
    code, said, listed = _predict(project, "test-images.csv", out="t.csv")
    assert code == 0, said
    scored = pd.read_csv(project / "artifacts" / "evaluation" / "test_predictions.csv")
    # Each scored test image named, relative to the project: a mistake can be found and fixed.
    assert scored.path.tolist() == [os.path.relpath(p, project) for p in test.image]
    gap = np.abs(listed[probs_columns()].to_numpy() - scored[probs_columns()].to_numpy()).max()
    assert gap < 1e-5
    accuracy = float(np.mean(listed.prediction.to_numpy() == test.label.to_numpy()))
    assert accuracy == pytest.approx(metrics["test"]["acc"], abs=1e-6)
    # The pipeline's model folder on a whole folder, on both engines.
    code, said, folder = _predict(project, "data/shapes")
    assert code == 0 and len(folder) == 3 * 20 + 1, said
    code, said, onnx = _predict(project, "data/shapes", "--engine", "onnx", out="o.csv")
    assert code == 0, said
    gap = np.abs(onnx[probs_columns()].to_numpy() - folder[probs_columns()].to_numpy()).max()
    assert gap < 1e-5
    code, said, one = _predict(project, "data/shapes/circle/circle-003.png", "--run-id", run_id)
    assert (
        code == 0
        and one.prediction.tolist()
        == folder.set_index("path")
        .loc[["data/shapes/circle/circle-003.png"], "prediction"]
        .tolist()
    ), said
    # The logged MLflow model, served: a JPEG's base64 gets its class name.
    jpeg = (project / "data" / "shapes" / "square" / "square-000.jpg").read_bytes()
    [(ok, answer)] = served_answers(
        f"runs:/{run_id}/model", tracking_uri, project, [curl_body(jpeg)], []
    )
    assert ok == 200, answer
    expected = folder.set_index("path").loc["data/shapes/square/square-000.jpg", "prediction"]
    assert answer["predictions"][0]["prediction"] == expected
