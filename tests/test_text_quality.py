"""Odd tweets train and predict; the text read at train time is the text read at serving time.

Real encoder, real networks, real (tiny) training: emoji-only, mention-only and link-only
tweets, mixed and right-to-left scripts, a 10,000-character message, CRLF line ends and a
UTF-8 BOM. A text with no known n-gram left still gets a finite prediction.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from mbegu.config.compose import compose
from mbegu.errors import MbeguError
from mbegu.features import encoder_from_dict
from mbegu.features.text import TextEncoder
from mbegu.features.tokens import normalize
from mbegu.models.build import sized_model_config
from mbegu.models.networks import BagOfNgrams, LinearBag
from mbegu.security import instantiate

from .helpers.project import FAST, pristine

ODD = {
    "emoji": "😂😂😂🔥",
    "mention": "@user",
    "url": "https://t.co/AbC123",
    "mixed": "Ẹ káàbọ̀ ሰላም مرحبا hello",
    "rtl": "\u202bمرحبا بكم في\u202c",
    "long": "ọjà dáadáa " * 910,  # 10,010 characters
    "nothing": "",
}
CLASSES = ["negative", "positive"]
TRAIN = [
    ("ọjà dáadáa ni 😀", "positive"),
    ("mo nífẹ̀ẹ́ rẹ @user 😀", "positive"),
    ("ó dára púpọ̀ https://t.co/x", "positive"),
    ("ìbànújẹ́ ni 😡", "negative"),
    ("kò dára rárá @someone", "negative"),
    ("ó burú jáì 😡😡", "negative"),
] * 5


def fitted() -> TextEncoder:
    texts = [text for text, _ in TRAIN] + list(ODD.values())
    return TextEncoder.fit(texts, "tweet", "label", CLASSES, weighting="tfidf", twitter=True)


def test_normalisation_gives_one_token_per_link_and_mention() -> None:
    assert normalize("@Ada_99 see https://x.co/a?b=1 ooo", twitter=True).split() == [
        "@user",
        "see",
        "http",
        "ooo",
    ]
    assert normalize("sooooooo good!!!!!", twitter=True) == "sooo good!!!"
    assert normalize("\ufeffọjà\u200b", twitter=True) == "ọjà"
    assert "w:😂" in fitted().tokens("😂😂")  # emoji stay tokens


@pytest.mark.parametrize("net", ["linear", "bag"])
def test_odd_tweets_train_and_predict(net: str) -> None:
    encoder = fitted()
    texts = [text for text, _ in TRAIN] + list(ODD.values())
    labels = torch.tensor([CLASSES.index(label) for _, label in TRAIN] + [0] * len(ODD))
    size = encoder.sizes["vocab_size"]
    torch.manual_seed(0)
    model = LinearBag(size, 2) if net == "linear" else BagOfNgrams(size, 2, embedding_dim=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    inputs = encoder.encode(texts)
    for _ in range(20):
        loss = F.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    unseen = ["zzz qqq", "", "   ", "\r\n", "ⵜⴰⵎⴰⵣⵉⵖⵜ", *ODD.values()]
    with torch.no_grad():
        probs = torch.softmax(model(encoder.encode(unseen)), dim=-1)
    assert probs.shape == (len(unseen), 2)
    assert torch.isfinite(probs).all()
    assert torch.allclose(probs.sum(dim=1), torch.ones(len(unseen)))
    with torch.no_grad():
        train_probs = torch.softmax(model(encoder.encode(["ọjà dáadáa ni 😀"])), dim=-1)
    assert train_probs[0, 1] > 0.5  # it learned something, beside the odd rows


def test_encoder_reads_the_same_after_its_json_round_trip() -> None:
    """What `prepare` fits is what `mbegu predict` and the MLflow model load: the same tokens,
    ids and weights for every odd text."""
    encoder = fitted()
    loaded = encoder_from_dict(json.loads(json.dumps(encoder.to_dict())), "model.json")
    assert isinstance(loaded, TextEncoder)
    texts = list(ODD.values())
    assert [loaded.tokens(t) for t in texts] == [encoder.tokens(t) for t in texts]
    for ours, theirs in zip(encoder.encode(texts), loaded.encode(texts), strict=True):
        assert torch.equal(ours, theirs)


def test_words_in_any_script_keep_their_combining_marks() -> None:
    """Arabic harakat, a Devanagari vowel sign, N'Ko tone marks stay inside their word; an
    emoji's presentation selector neither splits it nor makes it another token."""
    encoder = fitted()
    for word in ("شُكْرًا", "सूचना", "ߒߞߏ߫", "nífẹ̀ẹ́"):
        words = [t for t in encoder.tokens(f"{word} !") if t.startswith("w:")]
        assert words == [f"w:{word}", "w:!"], word
    assert encoder.tokens("❤\ufe0f") == encoder.tokens("❤") == encoder.tokens("❤\ufe0e")
    for handle in ("@ọ́la", "@सूचना", "@ada_1"):  # a handle is one token, marks and all
        assert encoder.tokens(f"{handle} !") == encoder.tokens("@user !"), handle
    assert [t for t in encoder.tokens("1\ufe0f\u20e3") if t.startswith("w:")] == ["w:1\u20e3"]


def test_an_older_encoder_splits_texts_as_it_was_trained_to() -> None:
    """A model folder saved before the tokenizer had a version reads texts the old way; a
    version this mbegu does not know is refused, not guessed."""
    saved = fitted().to_dict()
    assert saved["tokenizer"] == 2
    del saved["tokenizer"]
    older = encoder_from_dict(json.loads(json.dumps(saved)), "model.json")
    assert isinstance(older, TextEncoder) and older.tokenizer == 1
    assert [t for t in older.tokens("شُكْرًا") if t.startswith("w:")] == [
        "w:ش", "w:\u064f", "w:ك", "w:\u0652", "w:ر", "w:\u064b", "w:ا",
    ]  # fmt: skip
    with pytest.raises(MbeguError, match="tokenizer 3, which this mbegu does not know"):
        encoder_from_dict({**saved, "tokenizer": 3}, "model.json")


def test_tfidf_bag_has_unit_length_parts() -> None:
    encoder = fitted()
    ids, _, weights = encoder.encode(["ọjà dáadáa ni 😀"])
    vocabulary = encoder.vocabulary
    words = [float(w) for i, w in zip(ids, weights, strict=True) if vocabulary[i][0] != "c"]
    chars = [float(w) for i, w in zip(ids, weights, strict=True) if vocabulary[i][0] == "c"]
    assert math.fsum(w * w for w in words) == pytest.approx(1)
    assert math.fsum(w * w for w in chars) == pytest.approx(1)
    assert len(set(ids.tolist())) == len(ids)  # each n-gram once, its count in its weight


def test_model_linear_is_one_linear_layer_over_the_bag() -> None:
    cfg = compose(["data=text", "model=linear", "data.target=label"], root=pristine())
    model = cfg.model
    sized = sized_model_config(
        OmegaConf.to_container(model, resolve=True), {"vocab_size": 50, "num_classes": 3}, "text"
    )  # type: ignore[arg-type]
    classifier = instantiate(sized)
    shapes = {name: tuple(p.shape) for name, p in classifier.named_parameters()}
    assert shapes == {"net.weight.weight": (50, 3), "net.bias": (3,)}
    torch.nn.init.normal_(classifier.net.weight.weight)
    ids, offsets = torch.tensor([1, 4, 7, 2]), torch.tensor([0, 3])
    weights = torch.tensor([0.5, 0.5, 0.7071, 1.0])
    dense = torch.zeros(2, 50)
    dense[0, [1, 4, 7]] = weights[:3]
    dense[1, 2] = 1.0
    expected = dense @ classifier.net.weight.weight + classifier.net.bias
    assert torch.allclose(classifier((ids, offsets, weights)), expected)


@pytest.mark.slow
def test_a_file_with_bom_crlf_and_odd_tweets_trains_and_predicts(project: Path) -> None:
    """prepare -> train -> predict through the CLI's code, on a TSV with a BOM and CRLF."""
    from mbegu.data.stage import prepare
    from mbegu.models.saved import load_model
    from mbegu.training.train import train

    rows = TRAIN * 4 + [(text, "negative") for text in ODD.values() if text]
    frame = pd.DataFrame(rows, columns=["tweet", "label"])
    folder = project / "data" / "odd"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        text = frame.to_csv(sep="\t", index=False, lineterminator="\r\n")
        (folder / f"{split}.tsv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    cfg = compose(
        [
            "data=text",
            "model=text",
            *(
                f"data.{k}_path=data/odd/{s}.tsv"
                for k, s in (("train", "train"), ("val", "dev"), ("test", "test"))
            ),
            "data.text_column=tweet",
            "data.target=label",
            "tracking.registered_model_name=null",
            *FAST,
        ]
    )
    prepare(cfg)
    train(cfg)
    saved = load_model(project / "artifacts" / "model")
    assert saved.classes == CLASSES  # no "\r" left on a label, no BOM on a column name
    probs = saved.probabilities(pd.DataFrame({"tweet": [*ODD.values(), "ⵜⴰⵎⴰⵣⵉⵖⵜ"]}))
    assert probs.shape == (len(ODD) + 1, 2)
    assert (abs(probs.sum(axis=1) - 1) < 1e-6).all()
