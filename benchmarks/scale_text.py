"""A million short texts: `dvc repro` beside scikit-learn's CountVectorizer + PyTorch, same work.

Generates tweet-like texts (seeded, nothing downloaded): words drawn from a Zipf law over a
made-up vocabulary with tone-marked letters, some @user mentions, three labels cued by words.
Then, each side in a fresh process:

- plain: pandas (pyarrow engine) reads the CSV; the same stratified split; scikit-learn's
  CountVectorizer over words and word pairs and over character 2-5-grams within word
  boundaries (min_df 2), fitted on train, then TfidfTransformer(sublinear_tf=True) on each;
  mbegu's model=text network (the same class, embedding 16 plus the linear head) for 2 epochs
  (batch 256, Adam lr 0.01), the val split scored each epoch; test accuracy.
- mbegu: `dvc repro` (prepare, train, evaluate) in a scratch project with `data=text
  model=text`, the same split, network, epochs and batch, evaluate.baselines off (the plain side
  fits none). Its tokenizer is fitted once in `prepare`; the encoded splits are kept in
  `.mbegu/cache/tokens/`, so `evaluate` reads the test split's instead of tokenising it again.
  A second `mbegu train` then stands for a sweep trial: it reads all three from that cache.

Prints wall time and peak RSS (the largest process of each side) beside the target: time at
most 1.5x the plain script's.

Usage:
  python benchmarks/scale_text.py                 # 1,000,000 texts
  python benchmarks/scale_text.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import BIN, imports_pipeline, mbegu_project, measured

TARGET = 1.5
SEED = 42
EXPERIMENT = """# @package _global_
defaults:
  - override /data: text
  - override /model: text
data:
  path: ${paths.data_dir}/texts.csv
  target: label
  batch_size: 256
trainer:
  max_epochs: 2
evaluate:
  baselines: []
tracking:
  registered_model_name: null
"""


def generate(path: Path, rows: int) -> None:
    """The texts, written in blocks of 100,000."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    syllables = np.array(
        ["ba", "ka", "ma", "na", "ta", "wa", "ya", "ọ", "ẹ", "ṣe", "ji", "ku", "lo", "mi", "rà",
         "sí", "tu", "ze", "gb", "ny", "dá", "fẹ́", "ọ̀", "ɗa", "ƙi"]
    )  # fmt: skip
    words = 50_000
    vocabulary = np.array(["".join(rng.choice(syllables, k)) for k in rng.integers(1, 5, words)])
    zipf = 1 / np.arange(1, words + 1)
    zipf /= zipf.sum()
    labels = np.array(["negative", "neutral", "positive"])
    cues = {0: rng.choice(words, 300, replace=False), 2: rng.choice(words, 300, replace=False)}
    with path.open("w", encoding="utf-8") as out:
        out.write("text,label\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            label, length = rng.integers(0, 3, n), rng.integers(4, 25, n)
            drawn = vocabulary[rng.choice(words, int(length.sum()), p=zipf)]
            ends = np.cumsum(length)
            lines = []
            for i in range(n):
                text = list(drawn[ends[i] - length[i] : ends[i]])
                if label[i] != 1 and rng.random() < 0.7:
                    text.insert(
                        int(rng.integers(0, len(text))), vocabulary[rng.choice(cues[label[i]])]
                    )
                if rng.random() < 0.1:
                    text.insert(0, "@user")
                lines.append(f'"{" ".join(text)}",{labels[label[i]]}\n')
            out.writelines(lines)


def plain(csv: Path) -> None:
    """The plain side, run in its own process by `--plain CSV`: prints its figures as JSON."""
    started = time.perf_counter()
    import numpy as np
    import pandas as pd
    import torch
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    from mbegu.data.split import stratified_split
    from mbegu.models.networks import BagOfNgrams

    imports_s = time.perf_counter() - started
    torch.manual_seed(SEED)
    frame = pd.read_csv(csv, engine="pyarrow")
    classes, y = np.unique(frame["label"].to_numpy(), return_inverse=True)
    parts = stratified_split(y, 0.15, 0.15, SEED)
    texts = frame["text"].to_numpy(dtype=object)
    tokens_started = time.perf_counter()
    bags = {}
    # As mbegu's vocabulary: every character n-gram seen twice, then the most frequent words
    # and word pairs up to 200,000 tokens in all (data.max_vocab).
    chars = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2)
    train_chars = chars.fit_transform(texts[parts["train"]])
    words = CountVectorizer(
        ngram_range=(1, 2),
        min_df=2,
        token_pattern=r"(?u)\b\w+\b",
        max_features=max(1, 200_000 - len(chars.vocabulary_)),
    )
    train_words = words.fit_transform(texts[parts["train"]])
    fitted = [
        (words, TfidfTransformer(sublinear_tf=True)),
        (chars, TfidfTransformer(sublinear_tf=True)),
    ]
    for split in ("train", "val", "test"):
        blocks = []
        for (vectorizer, tfidf), counts in zip(fitted, (train_words, train_chars), strict=True):
            if split == "train":
                blocks.append(tfidf.fit_transform(counts))
            else:
                blocks.append(tfidf.transform(vectorizer.transform(texts[parts[split]])))
        bags[split] = csr_matrix(hstack(blocks))
    tokens_s = time.perf_counter() - tokens_started
    target = torch.from_numpy(y.astype(np.int64))
    net = BagOfNgrams(
        bags["train"].shape[1], len(classes), embedding_dim=16, dropout=0.5, linear=True
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)

    def batch(split: str, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        part = bags[split][rows]
        return (
            torch.from_numpy(part.indices.astype(np.int64)),
            torch.from_numpy(part.indptr[:-1].astype(np.int64)),
            torch.from_numpy(part.data.astype(np.float32)),
        )

    def accuracy(split: str) -> float:
        net.eval()
        right = 0
        with torch.no_grad():
            for rows in np.array_split(
                np.arange(len(parts[split])), max(1, len(parts[split]) // 4096)
            ):
                guess = net(batch(split, rows)).argmax(1)
                right += int((guess == target[parts[split][rows]]).sum())
        return right / len(parts[split])

    fit_started = time.perf_counter()
    for _ in range(2):
        net.train()
        order = np.random.default_rng(SEED).permutation(len(parts["train"]))
        for start in range(0, len(order), 256):
            rows = order[start : start + 256]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                net(batch("train", rows)), target[parts["train"][rows]]
            )
            loss.backward()
            optimizer.step()
        accuracy("val")
    fit_s = time.perf_counter() - fit_started
    print(json.dumps({
        "test_acc": accuracy("test"), "imports_s": imports_s, "tokens_s": tokens_s, "fit_s": fit_s,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--plain", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--big", type=int, help=argparse.SUPPRESS)  # the table benchmark's
    args = parser.parse_args()
    if args.plain:
        plain(args.plain)
        return
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    scratch = Path(tempfile.mkdtemp(prefix="mbegu-bench-scale-text-"))
    try:
        csv = scratch / "texts.csv"
        started = time.perf_counter()
        generate(csv, args.rows)
        input_mib = csv.stat().st_size / 2**20
        print(
            f"{args.rows:,} texts: {input_mib:.0f} MiB CSV in {time.perf_counter() - started:.0f} s"
        )
        plain_s, plain_rss, out = measured([sys.executable, __file__, "--plain", str(csv)], scratch)
        said = json.loads(out.strip().splitlines()[-1])
        imports_s = imports_pipeline(scratch)
        project = mbegu_project(scratch, csv, EXPERIMENT, "scale_text")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
        ours_s, ours_rss, _ = measured([str(BIN / "dvc"), "repro", "-q"], project)
        metrics = json.loads((project / "reports" / "metrics.json").read_text())
        trial_s, trial_rss, _ = measured(
            [str(BIN / "mbegu"), "train", "--params", "params.yaml"], project
        )
        cache_mib = (
            sum(f.stat().st_size for f in (project / ".mbegu" / "cache").rglob("*") if f.is_file())
            / 2**20
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    floor_s = plain_s - said["imports_s"] + imports_s
    ratio = ours_s / plain_s
    met = ratio <= TARGET
    floor_over = floor_s / plain_s > TARGET
    verdict = "met" if met else "NOT met"
    if not met and floor_over:
        verdict += f": the libraries' floor is {floor_s / plain_s:.2f}"
    rows = [
        ("wall s", f"{plain_s:10.1f}{ours_s:10.1f}{ratio:8.2f}  <= {TARGET} {verdict}"),
        ("peak RSS MiB", f"{plain_rss:10.1f}{ours_rss:10.1f}{ours_rss / plain_rss:8.2f}"),
        ("tokenising s (plain)", f"{said['tokens_s']:10.1f}"),
        ("2 epochs s (plain)", f"{said['fit_s']:10.1f}"),
        ("a second train (a trial) s", f"{'':>10}{trial_s:10.1f}  peak RSS {trial_rss:.0f} MiB"),
        ("token cache MiB", f"{'':>10}{cache_mib:10.1f}"),
        ("test accuracy", f"{said['test_acc']:10.4f}{metrics['test']['acc']:10.4f}"),
    ]
    print(f"\n{'':<30}{'plain':>10}{'mbegu':>10}{'ratio':>8}  target")
    for name, figures in rows:
        print(f"{name:<30}{figures}")
    print(
        f"\nthe libraries' floor for the time: {floor_s:.1f} s = plain {plain_s:.1f} s - its "
        f"imports {said['imports_s']:.1f} s + three stages importing their libraries under DVC "
        f"{imports_s:.1f} s"
    )
    sys.exit(0 if met or floor_over else 1)


if __name__ == "__main__":
    main()
