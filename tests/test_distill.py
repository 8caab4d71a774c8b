"""Distillation (model/distill.py): which tweets the teacher learns from and labels, the soft rows,
an honest teacher per fold, and a distilled model trained through `train()` with the real MiniLM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.distill import DistillSettings, soft_labels, teacher_data, with_soft_rows
from model.heads import MISSING
from training.config import ConfigError, load_config

WORDS = ("late", "broken", "refund", "thanks", "love", "great")


class KeywordEmbedder:
    """A small, real embedder for the unit tests: l2-normalised counts of six words."""

    languages = ("en",)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, texts):
        self.calls.append(len(texts))
        counts = np.array([[text.split().count(word) for word in WORDS] for text in texts], dtype=float) + 1e-3
        return counts / np.linalg.norm(counts, axis=1, keepdims=True)


def _corpus():
    texts = ["late broken refund", "broken late", "thanks love great", "love great", "refund late",
             "great thanks", "late late broken", "lo adoro", "in ritardo", "great love thanks"] * 3
    complaint = np.array([1, 1, 0, 0, 1, 0, 1, 0, 1, 0] * 3)
    languages = np.array(["en", "en", "en", "en", "en", "en", "en", "it", "it", "en"] * 3, dtype=object)
    complaint[20:] = MISSING  # the last ten rows carry no complaint label: the pool
    return texts, {"complaint": complaint}, languages


def test_the_teacher_learns_from_labelled_tweets_of_its_languages_and_labels_the_unlabelled_ones() -> None:
    texts, labels, languages = _corpus()
    embedder = KeywordEmbedder()
    data = teacher_data(texts, labels, languages, DistillSettings(teacher="minilm", pool_size=0), embedder, 13, print)
    assert data.labelled["complaint"].tolist() == [row for row in range(20) if languages[row] == "en"]
    assert data.pool["complaint"].tolist() == [row for row in range(20, 30) if languages[row] == "en"]
    assert embedder.calls == [16 + 8]  # every tweet embedded once
    drawn = teacher_data(texts, labels, languages, DistillSettings(teacher="minilm", pool_size=3), KeywordEmbedder(), 13, print)
    again = teacher_data(texts, labels, languages, DistillSettings(teacher="minilm", pool_size=3), KeywordEmbedder(), 13, print)
    assert len(drawn.pool["complaint"]) == 3 and set(drawn.pool["complaint"]) <= set(data.pool["complaint"])
    assert drawn.pool["complaint"].tolist() == again.pool["complaint"].tolist()


def test_a_fold_teacher_never_sees_the_labels_of_rows_outside_its_training_rows() -> None:
    texts, labels, languages = _corpus()
    settings = DistillSettings(teacher="minilm", pool_size=0, teacher_share=1.0)
    data = teacher_data(texts, labels, languages, settings, KeywordEmbedder(), 13, print)
    y, weight = labels["complaint"], np.ones(len(texts))
    train_rows = np.arange(10)
    linear_logits = np.zeros(len(data.pool["complaint"]))
    p = soft_labels(data, "complaint", train_rows, y, weight, linear_logits, settings)
    flipped = y.copy()
    flipped[10:20] = 1 - flipped[10:20]  # labels of rows the fold's teacher must not learn from
    assert np.array_equal(p, soft_labels(data, "complaint", train_rows, flipped, weight, linear_logits, settings))
    pool_texts = [texts[row] for row in data.pool["complaint"]]
    complaints = [i for i, text in enumerate(pool_texts) if "late" in text]
    praise = [i for i, text in enumerate(pool_texts) if "love" in text]
    assert p[complaints].min() > 0.5 > p[praise].max()
    # teacher_share mixes in the linear head's own probability
    half = soft_labels(data, "complaint", train_rows, y, weight, np.full(len(p), 50.0), DistillSettings(teacher="minilm", teacher_share=0.5))
    assert np.allclose(half, 0.5 * p + 0.5)


def test_every_pool_tweet_joins_as_a_weighted_positive_and_negative() -> None:
    import scipy.sparse as sp

    X = sp.csr_matrix(np.arange(12, dtype=float).reshape(6, 2))
    y, weight = np.array([1, 0, 1, MISSING, MISSING, MISSING]), np.array([1.0, 1.0, 2.0, 1.0, 1.0, 1.0])
    stacked, targets, weights = with_soft_rows(X, np.array([0, 1, 2]), y, weight, np.array([3, 5]), np.array([0.9, 0.2]), 0.5)
    assert stacked.shape == (7, 2) and np.array_equal(stacked[3:5].toarray(), stacked[5:7].toarray())
    assert np.array_equal(stacked[3:5].toarray(), X[[3, 5]].toarray())
    assert targets.tolist() == [1, 0, 1, 1, 1, 0, 0]
    assert np.allclose(weights, [1.0, 1.0, 2.0, 0.45, 0.1, 0.05, 0.4])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('distill.teacher="bert"', "distill.teacher must be one of"),
        ('distill.outputs=["complaint", "anger"]', "distill.outputs must be distinct binary outputs"),
        ("distill.teacher_share=1.5", "between 0 and 1"),
        ("distill.weight=0", "must be positive"),
    ],
)
def test_bad_distill_settings_are_one_line_config_errors(override, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("training/configs/default.toml", [override])


@pytest.mark.slow
def test_a_distilled_model_trains_with_the_minilm_teacher_and_changes_only_its_outputs(tmp_path, data_dir, tiny_model_dir) -> None:
    from conftest import DEFAULT_RECIPE, TINY_OVERRIDES
    from safetensors.numpy import load_file

    from model import load_model
    from model.heads import BINARY_OUTPUTS
    from training.train import train

    messages: list[str] = []
    plain = tiny_model_dir  # the same recipe without a teacher
    distilled = train(
        load_config(DEFAULT_RECIPE, [*TINY_OVERRIDES, "distill.teacher=minilm", "distill.pool_size=300"]),
        tmp_path / "distilled", data_dir=data_dir, progress=messages.append,
    )
    record = json.loads((distilled / "manifest.json").read_text())["backend"]["distillation"]
    assert record["teacher"] == "minilm" and record["teacher_languages"] == ["en"]
    assert record["outputs"]["complaint"]["pool"] == 300 and record["outputs"]["complaint"]["labelled"] > 0
    assert "distillation" not in json.loads((plain / "manifest.json").read_text())["backend"]
    assert any("refitting 4 logistic regressions" in message for message in messages)  # 3 folds + the full fit
    # The complaint column moved; every other head is the plain model's, weight for weight.
    before, after = load_file(plain / "heads.safetensors"), load_file(distilled / "heads.safetensors")
    column = BINARY_OUTPUTS.index("complaint")
    assert not np.allclose(before["binary_weights"][:, column], after["binary_weights"][:, column])
    others = [i for i in range(len(BINARY_OUTPUTS)) if i != column]
    assert np.array_equal(before["binary_weights"][:, others], after["binary_weights"][:, others])
    assert np.array_equal(before["sentiment_weights"], after["sentiment_weights"])
    # It scores as any linear model does: no encoder at scoring time.
    result = load_model(distilled).score([{"id": "1", "text": "@brand my parcel is two weeks late, again"}])[0]
    assert result["intent"]["scores"]["complaint"] > 0.5
