"""Train -> save -> load -> score on a small slice of the real data, and what training writes."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest

from model.records import RecordError
from training.train import TrainingError, train

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def test_training_writes_a_complete_artifact(tiny_model_dir) -> None:
    names = {path.relative_to(tiny_model_dir).as_posix() for path in tiny_model_dir.rglob("*") if path.is_file()}
    assert {"manifest.json", "config.toml", "metrics.json", "report.md"} <= names
    assert {"plots/confusion_intent.png", "plots/reliability.png"} <= names
    report = (tiny_model_dir / "report.md").read_text()
    assert "Intent (primary label) on care/val" in report and "TweetEval" in report
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    assert set(metrics) == {"care_val", "tweeteval_val", "tweeteval_test", "complaints_test", "care_it_val", "sentipolc_test"}
    assert metrics["care_val"]["tweets"] == 944


def test_scores_follow_the_output_contract(tiny_model) -> None:
    text = "@Delta my bag never arrived, where is it? mail me at jo@example.com"
    results = tiny_model.score(
        [
            {"id": "t1", "text": text},
            {"id": 2, "text": "thanks, sorted now!", "created_at": "2026-11-23T09:00:00Z", "author": {"followers": 10}},
        ],
        now=NOW,
    )
    assert [result["id"] for result in results] == ["t1", "2"]
    first = results[0]
    assert set(first) == {"id", "model_version", "lang", "lang_supported", "intent", "sentiment", "urgency", "dm", "pii", "priority"}
    assert set(first["intent"]["scores"]) == {"complaint", "question", "praise"}
    assert first["intent"]["label"] in {"complaint", "question", "praise", "other"}
    assert set(first["intent"]["tags"]) <= {"complaint", "question", "praise"}
    scores = first["sentiment"]["scores"]
    assert abs(sum(scores.values()) - 1) < 1e-3
    assert first["sentiment"]["score"] == pytest.approx(scores["positive"] - scores["negative"], abs=2e-4)
    assert first["urgency"]["level"] in (0, 1, 2, 3) and 0 <= first["urgency"]["score"] <= 1
    start = text.index("jo@example.com")
    assert first["pii"] == [{"type": "email", "start": start, "end": start + len("jo@example.com")}]
    assert first["dm"]["suggest"] is True and "personal_data_exposed" in first["dm"]["reasons"]
    assert first["priority"]["rank"] in ("P1", "P2", "P3", "P4")
    assert first["priority"]["respond_by"].endswith("Z")


def test_scoring_rejects_bad_records(tiny_model) -> None:
    with pytest.raises(RecordError, match="`text` is empty"):
        tiny_model.score([{"id": "1", "text": "   "}])
    with pytest.raises(RecordError, match="lone surrogate"):
        tiny_model.score([{"id": "1", "text": "a\ud800b"}])
    assert tiny_model.score([]) == []


def test_training_refuses_to_overwrite_without_force(tiny_model_dir, tiny_config, data_dir) -> None:
    with pytest.raises(TrainingError, match="already exists"):
        train(tiny_config, tiny_model_dir, data_dir=data_dir)


def test_same_recipe_and_data_give_the_same_metrics(tiny_model_dir, tiny_config, data_dir, tmp_path) -> None:
    again = train(tiny_config, tmp_path / "again", data_dir=data_dir)
    first = json.loads((tiny_model_dir / "manifest.json").read_text())
    second = json.loads((again / "manifest.json").read_text())
    assert first["metrics"] == second["metrics"]
    assert first["thresholds"] == second["thresholds"]
    # Weights agree to float precision (BLAS may sum in another order); decisions agree exactly.
    from safetensors.numpy import load_file

    first_heads = load_file(tiny_model_dir / "heads.safetensors")
    second_heads = load_file(again / "heads.safetensors")
    for name, values in first_heads.items():
        np.testing.assert_allclose(values, second_heads[name], rtol=1e-4, atol=1e-6)


def test_explanations_name_words_of_the_tweet(tiny_model) -> None:
    text = "@AmazonHelp my package never arrived and I want a refund"
    result = tiny_model.score([{"id": "1", "text": text}], now=NOW, explain=True)[0]
    explanation = result["explanation"]
    assert f"sentiment:{result['sentiment']['label']}" in explanation and "urgency" in explanation and "dm" in explanation
    assert all(f"intent:{tag}" in explanation for tag in result["intent"]["tags"])
    words = set(text.lower().replace("@amazonhelp", "user").split())
    for phrases in explanation.values():
        assert len(phrases) <= 5
        weights = [phrase["weight"] for phrase in phrases]
        assert weights == sorted(weights, reverse=True) and all(weight > 0 for weight in weights)
        assert all(set(phrase["phrase"].split()) <= words | {"?", "!"} for phrase in phrases)


def test_redacted_text_masks_personal_data(tiny_model) -> None:
    text = "call me on +44 20 7946 0958 or mail jo@example.com"
    result = tiny_model.score([{"id": "1", "text": text}], now=NOW, redact=True)[0]
    assert "7946" not in result["redacted_text"] and "jo@example.com" not in result["redacted_text"]
    assert result["redacted_text"].startswith("call me on [")
    assert "redacted_text" not in tiny_model.score([{"id": "1", "text": text}], now=NOW)[0]
