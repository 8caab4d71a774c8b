"""Priority badges over HTTP: a hacked account is P1, a wait that crosses the hour escalates, praise stays P4.

The fast tests score with `KeywordBackend` (scripted probabilities) inside the real TriageModel,
so that the policy, not a small model's guesses, decides; the slow ones use the default model.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api_support import app_with, loaded_from, settings_for, stub_loaded


def minutes_ago(minutes: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat()


def priority_of(client, text: str, **fields) -> dict:
    response = client.post("/v1/score", json={"tweets": [{"id": "p", "text": text, **fields}]})
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["priority"]


@pytest.fixture(scope="module")
def client():
    with TestClient(app_with(stub_loaded())) as test_client:
        yield test_client


def test_hacked_account_is_p1(client):
    priority = priority_of(client, "@brand my account was hacked and they are buying stuff")
    assert priority["rank"] == "P1"
    assert priority["reason_codes"][0] == "urgency_critical"
    assert "security_concern" in priority["reason_codes"]
    assert priority["badge"] == {"text": "P1 · Complaint", "color": "#d93025"}


def test_wait_escalates_when_it_crosses_the_hour(client):
    text = "@brand my parcel is late again"
    fresh = priority_of(client, text, created_at=minutes_ago(5))
    assert fresh["rank"] == "P2" and "waited" not in fresh["reason_codes"]
    before = priority_of(client, text, created_at=minutes_ago(59.2))
    assert before["rank"] == "P2"
    assert before["reason_codes"][-1] == "waited" and before["reasons"][-1] == "waited 59 min of 60"
    after = priority_of(client, text, created_at=minutes_ago(61.2))
    assert after["rank"] == "P1"
    assert after["reason_codes"][0] == "waited" and after["reasons"][0] == "waited 61 min of 60"
    assert after["score"] >= 85, "score lifted to P1's minimum: score and rank agree"


def test_wait_is_worded_in_italian(client):
    response = client.post(
        "/v1/score?locale=it",
        json={"tweets": [{"id": "p", "text": "@brand my parcel is late again", "created_at": minutes_ago(61.2)}]},
    )
    priority = response.json()["results"][0]["priority"]
    assert priority["rank"] == "P1" and priority["reasons"][0] == "attesa 61 min su 60"
    assert priority["badge"]["text"] == "P1 · Reclamo"


def test_praise_stays_p4_however_long_it_waits(client):
    for waited in (0, 59, 61, 60 * 24 * 3):
        priority = priority_of(client, "thanks so much, you are great!", created_at=minutes_ago(waited))
        assert priority["rank"] == "P4", waited
        assert priority["badge"]["text"] == "P4 · Praise"


def test_policy_file_decides_the_wording_and_targets(tmp_path):
    """A brand's policy (TRIAGE_POLICY) is applied by the service: here P2 answers within 30 min."""
    from model.priority import DEFAULT_POLICY_PATH

    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    policy = tmp_path / "policy.toml"
    policy.write_text(
        text.replace("target_minutes = 60 ", "target_minutes = 30 ").replace('"2026.11.1"', '"t-30"'),
        encoding="utf-8",
    )
    from model.priority import load_policy
    from serving.state import LoadedModel

    stub = stub_loaded()
    model = stub.model.with_policy(load_policy(policy))
    loaded = LoadedModel(model=model, sha256=stub.sha256, loaded_at=stub.loaded_at)
    with TestClient(app_with(loaded, settings_for(policy_path=policy))) as client:
        priority = priority_of(client, "@brand my parcel is late again", created_at=minutes_ago(40))
        assert priority["rank"] == "P1" and priority["reasons"][0] == "waited 40 min of 30"
        assert client.get("/v1/model").json()["policy"] == {"name": "default", "version": "t-30"}


@pytest.mark.slow
def test_priorities_with_the_default_model(default_model_dir):
    with TestClient(app_with(loaded_from(str(default_model_dir)), settings_for(default_model_dir))) as client:
        hacked = priority_of(client, "@AppleSupport my account got hacked and someone changed my password, help!!")
        assert hacked["rank"] == "P1"
        order = "@AmazonHelp my order never arrived, where is it?"
        assert priority_of(client, order, created_at=minutes_ago(59.2))["rank"] == "P2"
        escalated = priority_of(client, order, created_at=minutes_ago(61.2))
        assert escalated["rank"] == "P1" and escalated["reason_codes"][0] == "waited"
        praise = priority_of(client, "@Delta thank you so much, the crew was lovely!", created_at=minutes_ago(600))
        assert praise["rank"] == "P4"
