"""The priority inputs the inbox stores: ranking again from them gives what scoring gave, and they
hold no text."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from model.priority import prioritise
from model.priority_inputs import inputs_from_json, inputs_to_json, signals_from_result
from model.records import parse_record

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
RECORDS = [
    {"id": "1", "text": "@brand my account was hacked and nobody answers!!", "created_at": "2026-11-23T11:10:00Z",
     "context": [{"author": "customer", "text": "hello??"}, {"author": "customer", "text": "anyone"}],
     "author": {"followers": 250000, "verified": True}},
    {"id": "2", "text": "@brand thanks, all sorted"},
    {"id": "3", "text": "@brand il treno è in ritardo di nuovo", "created_at": "2026-11-23T09:00:00+01:00",
     "context": [{"author": "brand", "text": "ci scusi"}], "author": {"followers": 12}},
]


@pytest.mark.parametrize("locale", ["en", "it"])
def test_ranking_again_from_stored_inputs_gives_what_scoring_gave(tiny_model, locale):
    results = tiny_model.score(RECORDS, now=NOW, locale=locale)
    for record, result in zip(RECORDS, results):
        stored = inputs_to_json(signals_from_result(result, parse_record(record), NOW), locale)
        signals, stored_locale = inputs_from_json(stored)
        assert stored_locale == locale
        assert prioritise(signals, tiny_model.policy, NOW, locale) == result["priority"]


def test_inputs_hold_no_text_and_waiting_moves_the_rank(tiny_model):
    record = RECORDS[0]
    result = tiny_model.score([record], now=NOW)[0]
    stored = inputs_to_json(signals_from_result(result, parse_record(record), NOW), "en")
    assert "hacked" not in stored and "hello" not in stored and "anyone" not in stored
    assert json.loads(stored)["thread_authors"] == ["customer", "customer"]
    signals, _ = inputs_from_json(stored)
    later = prioritise(signals, tiny_model.policy, NOW + timedelta(days=2), "en")
    assert later["rank"] <= result["priority"]["rank"] and "waited" in later["reason_codes"]


def test_a_record_without_time_counts_from_when_it_was_scored(tiny_model):
    result = tiny_model.score([RECORDS[1]], now=NOW)[0]
    signals = signals_from_result(result, parse_record(RECORDS[1]), NOW)
    assert signals.created_at == NOW
    assert inputs_from_json(inputs_to_json(signals, "en"))[0].created_at == NOW


@pytest.mark.parametrize("text", ["{}", "[]", '{"v": 99}', "not json"])
def test_unknown_inputs_are_refused(text):
    with pytest.raises(ValueError):
        inputs_from_json(text)
