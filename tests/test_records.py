"""Input records: what is accepted, and one-line errors that never quote the tweet."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from model.records import MAX_TEXT_CHARS, RecordError, parse_record


def test_a_full_record_parses() -> None:
    record = parse_record(
        {
            "id": 17,
            "text": "still waiting 😡",
            "created_at": "2026-11-23T09:15:00+01:00",
            "author": {"followers": 1200, "verified": False},
            "lang": "EN",
            "context": [
                {"author": "customer", "text": "my order is late", "created_at": "2026-11-23T07:00:00Z"},
                {"author": "brand", "text": "Sorry! Please DM us."},
            ],
        }
    )
    assert record.id == "17" and record.lang == "en"
    assert record.created_at == datetime(2026, 11, 23, 8, 15, tzinfo=timezone.utc)
    assert [turn.author for turn in record.context] == ["customer", "brand"]
    assert record.author.followers == 1200


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"text": "hi"}, "missing_field"),
        ({"id": "1"}, "missing_field"),
        ({"id": "1", "text": 5}, "invalid_type"),
        ({"id": "1", "text": " \n\t"}, "empty_text"),
        ({"id": "1", "text": "x" * (MAX_TEXT_CHARS + 1)}, "text_too_long"),
        ({"id": "1", "text": "a\x00b"}, "invalid_character"),
        ({"id": "1", "text": "a\udc00b"}, "invalid_character"),
        ({"id": True, "text": "hi"}, "invalid_type"),
        ({"id": "", "text": "hi"}, "invalid_id"),
        ({"id": "1", "text": "hi", "extra": 1}, "unknown_field"),
        ({"id": "1", "text": "hi", "created_at": "last tuesday"}, "invalid_timestamp"),
        ({"id": "1", "text": "hi", "context": "earlier"}, "invalid_type"),
        ({"id": "1", "text": "hi", "context": [{"author": "bot", "text": "x"}]}, "invalid_value"),
        ({"id": "1", "text": "hi", "context": [{"author": "brand", "text": ""}]}, "empty_text"),
        ({"id": "1", "text": "hi", "author": {"followers": float("nan")}}, "invalid_value"),
        ({"id": "1", "text": "hi", "author": {"followers": -3}}, "invalid_value"),
        ({"id": "1", "text": "hi", "author": {"verified": "yes"}}, "invalid_type"),
        ({"id": "1", "text": "hi", "lang": "english language"}, "invalid_value"),
        (["id", "text"], "invalid_type"),
    ],
)
def test_bad_records_are_refused(record, code) -> None:
    with pytest.raises(RecordError) as caught:
        parse_record(record)
    assert caught.value.code == code
    assert "\n" not in str(caught.value)


def test_long_posts_and_emoji_only_are_fine() -> None:
    assert parse_record({"id": "1", "text": "x" * MAX_TEXT_CHARS}).text
    assert parse_record({"id": "1", "text": "😡😡"}).text == "😡😡"
    assert parse_record({"id": "1", "text": "\ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16")}).text == "😀"
