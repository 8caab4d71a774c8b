"""`triage train --with-feedback`: agents' corrections read from the inbox store (or its export)
and merged into the training set; training never imports serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.heads import MISSING
from model.labels import SENTIMENTS
from serving.store import Store
from training.corpus import build_training_set
from training.feedback import FeedbackSourceError, load_feedback

REPO_ROOT = Path(__file__).resolve().parents[1]


def _result(tweet_id: str) -> dict:
    return {
        "id": tweet_id, "model_version": "test",
        "intent": {"label": "question", "tags": ["question"], "scores": {}},
        "sentiment": {"label": "neutral", "score": 0.0, "scores": {}},
        "urgency": {"level": 1, "label": "normal", "score": 0.3},
        "dm": {"suggest": False, "score": 0.1, "reasons": []},
        "pii": [],
        "priority": {"rank": "P3", "score": 30, "respond_by": "2026-11-23T10:00:00Z", "reasons": [],
                     "reason_codes": [], "badge": {"text": "P3", "color": "#f9ab00"}},
    }


@pytest.fixture
def corrected_store(tmp_path, data_dir):
    """A store with corrections of a care/train tweet, a new tweet and a care/val tweet."""
    from training.data import load_care

    train_row = load_care("train", data_dir=data_dir)[0]
    val_row = load_care("val", data_dir=data_dir)[0]
    url = f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
    store = Store(url).open()
    store.add_items([
        ({"id": train_row["id"], "text": train_row["text"]}, _result(train_row["id"])),
        ({"id": "brand-new", "text": "@brand the app crashes on login, help"}, _result("brand-new")),
        ({"id": val_row["id"], "text": val_row["text"]}, _result(val_row["id"])),
    ])
    flipped = "positive" if train_row["sentiment"] != "positive" else "negative"
    corrections = [
        (train_row["id"], "sentiment", "neutral"), (train_row["id"], "sentiment", flipped),  # the latest wins
        ("brand-new", "intent", ["complaint", "question"]), ("brand-new", "urgency", 2),
        (val_row["id"], "dm", True),
    ]
    for tweet_id, field, value in corrections:
        store.record_feedback(tweet_id=tweet_id, field=field, value=value, agent="ana", client="c",
                              idempotency_key=None, request_hash="h")
    export = tmp_path / "feedback.jsonl"
    export.write_text("".join(json.dumps(record) + "\n" for record in store.export_labels()))
    store.close()
    return url, export, train_row, flipped


def test_training_imports_no_serving_module():
    code = ("import sys, training.cli, training.train, training.corpus, training.feedback, training.bench.feedback_load; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'serving'); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])})


def test_corrections_override_our_labels_and_add_new_tweets(corrected_store, tiny_config, data_dir):
    url, export, train_row, flipped = corrected_store
    feedback = load_feedback(url, weight=4.0)
    assert feedback.corrections == 5 and len(feedback.tweets) == 3
    training_set = build_training_set(tiny_config.data, data_dir, feedback=feedback)
    assert feedback.used == {"overrides": 1, "added": 1, "left_out_care_val": 1}
    assert training_set.counts["feedback"] == 1 and training_set.excluded["feedback_in_care_val"] == 1

    targets, texts = training_set.targets, training_set.texts
    row = texts.index(train_row["text"])
    assert targets.sentiment[row] == SENTIMENTS.index(flipped)  # ours replaced by the agent's
    assert targets.complaint[row] == train_row["complaint"]  # uncorrected heads keep our labels
    assert targets.weight[row] == 4.0 and targets.cross_fit[row]

    new = texts.index("@brand the app crashes on login, help")
    assert (targets.complaint[new], targets.question[new], targets.praise[new], targets.urgency[new]) == (1, 1, 0, 2)
    assert targets.sentiment[new] == MISSING and targets.dm[new] == MISSING  # never the model's own answer
    assert not targets.cross_fit[new]

    from_export = load_feedback(str(export), weight=4.0)
    assert {t.tweet_id: t.corrections for t in from_export.tweets} == {t.tweet_id: t.corrections for t in feedback.tweets}
    without = build_training_set(tiny_config.data, data_dir)
    assert len(without.texts) == len(texts) - 1 and "feedback" not in without.counts


def test_unreadable_sources_fail_with_one_line(tmp_path):
    with pytest.raises(FeedbackSourceError, match="neither a database URL nor a file"):
        load_feedback(str(tmp_path / "missing.jsonl"))
    with pytest.raises(FeedbackSourceError, match="cannot read the inbox store") as error:
        load_feedback("postgresql://user:hunter2@127.0.0.1:9/none?connect_timeout=1")
    assert "hunter2" not in str(error.value)


@pytest.mark.slow
def test_triage_train_with_feedback_reports_what_it_used(corrected_store, tmp_path, capsys, data_dir):
    from conftest import DEFAULT_RECIPE, TINY_OVERRIDES
    from training.cli import main

    url, _, _, _ = corrected_store
    output = tmp_path / "model"
    overrides = [argument for override in TINY_OVERRIDES for argument in ("--set", override)]
    status = main(["train", "--config", str(DEFAULT_RECIPE), *overrides, "--output", str(output),
                   "--data-dir", str(data_dir), "--with-feedback", url])
    assert status == 0
    out = capsys.readouterr().out
    assert "feedback: used 5 correction(s) of 3 tweet(s) (1 overriding care labels, 1 new tweets, 1 left out" in out
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["training_data"]["feedback"]["added"] == 1
    assert manifest["training_data"]["counts"]["feedback"] == 1
    assert "inbox.sqlite3" in manifest["training_data"]["feedback"]["source"]
    assert np.isfinite(manifest["metrics"].get("care_val.sentiment.macro_f1", 0.0))
