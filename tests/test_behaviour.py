"""Behavioural checks on the default model (Made-With-ML style): minimum functionality,
invariance and directional expectations. Slow: they need the trained default model."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.slow
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def _score(model, text: str, **record) -> dict:
    return model.score([{"id": "t", "text": text, **record}], now=NOW)[0]


@pytest.mark.parametrize(
    "text",
    [
        "@AmazonHelp my package was supposed to arrive 5 days ago and it's still not here",
        "@UPS your driver marked my delivery as delivered but nothing is at my door. Third late delivery this month.",
    ],
)
def test_a_late_delivery_is_a_complaint(default_model, text) -> None:
    result = _score(default_model, text)
    assert result["intent"]["label"] == "complaint"
    assert result["sentiment"]["label"] == "negative"


@pytest.mark.parametrize("text", ["@brand do you ship to Canada?", "@brand what time do you open on Sundays?"])
def test_a_plain_question_is_a_question(default_model, text) -> None:
    result = _score(default_model, text)
    assert result["intent"]["label"] == "question"
    assert "complaint" not in result["intent"]["tags"]


def test_thanks_is_praise_and_low_priority(default_model) -> None:
    result = _score(default_model, "@SpotifyCares thank you so much, it works perfectly now! You guys are the best 😍")
    assert result["intent"]["label"] == "praise"
    assert result["sentiment"]["label"] == "positive"
    assert result["urgency"]["level"] <= 1
    assert result["priority"]["rank"] == "P4"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("@Delta my flight got cancelled and nobody helps", "@united my flight got cancelled and nobody helps"),
        ("@brand_support app crashes on login https://t.co/abc123", "@OtherBrand app crashes on login http://bit.ly/xyz"),
    ],
)
def test_swapping_a_handle_or_url_changes_nothing(default_model, first, second) -> None:
    a, b = _score(default_model, first), _score(default_model, second)
    for head in ("intent", "sentiment", "urgency"):
        assert a[head] == b[head]
    assert a["dm"] == b["dm"]


def test_no_reply_for_days_raises_urgency(default_model) -> None:
    base = _score(default_model, "@brand my refund hasn't arrived yet")
    waited = _score(default_model, "@brand my refund hasn't arrived yet, still no reply after 2 days")
    assert waited["urgency"]["score"] > base["urgency"]["score"]
    assert waited["urgency"]["level"] >= 2


def test_a_hacked_account_is_critical_and_private(default_model) -> None:
    result = _score(default_model, "@brand my account was hacked and someone bought stuff with my card!! help now")
    assert result["urgency"]["level"] >= 2
    assert result["dm"]["suggest"] and "security_concern" in result["dm"]["reasons"]
    assert result["priority"]["rank"] == "P1"


def test_a_card_number_in_public_suggests_a_dm(default_model) -> None:
    result = _score(default_model, "@brand you charged my card 4111 1111 1111 1111 twice, fix it")
    assert result["dm"]["suggest"] is True
    assert "personal_data_exposed" in result["dm"]["reasons"]
    assert [span["type"] for span in result["pii"]] == ["payment_card"]


def test_waiting_past_the_hour_escalates(default_model) -> None:
    text = "@brand my order arrived broken, what can I do?"
    fresh = _score(default_model, text, created_at="2026-11-23T11:55:00Z")
    stale = _score(default_model, text, created_at="2026-11-23T09:00:00Z")
    ranks = ["P1", "P2", "P3", "P4"]
    assert ranks.index(stale["priority"]["rank"]) < ranks.index(fresh["priority"]["rank"])
    assert any("waited" in reason for reason in stale["priority"]["reasons"])
