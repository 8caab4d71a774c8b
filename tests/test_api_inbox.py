"""The inbox and feedback endpoints over HTTP: queue order, filters, full item, handled, removal,
corrections with Idempotency-Key, the export, errors in the one shape, keys and rate limits, and
the page itself. A scripted backend inside the real TriageModel makes the ranks predictable
(`hacked` P1, `late` P2, anything else P3, `thanks` P4); one test pushes through the trained tiny model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_support import ADMIN_KEY, CLIENT_KEY, OTHER_CLIENT_KEY, app_with, assert_error, keyed_settings, settings_for, stub_loaded
from serving.app import create_app

SECRET = "jo.secret@example.com"
TWEETS = [
    {"id": "q", "text": "@brand how do I change my plan?"},
    {"id": "p4", "text": "@brand thanks, sorted now!"},
    {"id": "p1", "text": f"@brand my account was hacked, write to {SECRET}"},
    {"id": "p2", "text": "@brand my parcel is late again"},
]


@pytest.fixture
def client(tmp_path):
    app = app_with(stub_loaded(), settings_for(state_dir=tmp_path))
    with TestClient(app) as test_client:
        assert test_client.post("/v1/inbox", json={"tweets": TWEETS}).status_code == 201
        yield test_client


def feedback(client, key: str | None = None, **changes):
    body = {"tweet_id": "p1", "field": "intent", "value": ["question"], "agent": "ana", **changes}
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/feedback", json=body, headers=headers)


def test_push_scores_on_arrival_and_reports_duplicates(client):
    response = client.post("/v1/inbox", json={"tweets": [TWEETS[0], {"id": "new", "text": "@brand hello?"}]})
    assert response.status_code == 201, response.text
    assert response.json() == {"model_version": "stub-1", "added": ["new"], "duplicates": ["q"]}


def test_queue_is_sorted_by_priority_and_masks_personal_data(client):
    body = client.get("/v1/inbox", params={"status": "open", "sort": "priority"}).json()
    assert body["total"] == 4
    assert [item["result"]["priority"]["rank"] for item in body["items"]] == ["P1", "P2", "P3", "P4"]
    first = body["items"][0]
    assert SECRET not in json.dumps(body) and "[EMAIL]" in first["redacted_text"]
    assert "text" not in first and "explanation" not in first["result"]
    assert first["result"]["priority"]["badge"]["color"] == "#d93025"


def test_filters_by_rank_intent_and_dm(client):
    ranks = client.get("/v1/inbox", params=[("rank", "P1"), ("rank", "P4")]).json()
    assert [item["tweet_id"] for item in ranks["items"]] == ["p1", "p4"]
    assert [i["tweet_id"] for i in client.get("/v1/inbox", params={"intent": "praise"}).json()["items"]] == ["p4"]
    assert [i["tweet_id"] for i in client.get("/v1/inbox", params={"dm": "true"}).json()["items"]] == ["p1"]
    assert_error(client.get("/v1/inbox", params={"rank": "P9"}), 422, "invalid_parameter")
    assert_error(client.get("/v1/inbox", params={"limit": 100000}), 422, "invalid_parameter")


def test_full_item_reveals_the_text_and_missing_items_are_404(client):
    item = client.get("/v1/inbox/p1").json()
    assert SECRET in item["text"] and isinstance(item["explanation"], dict)
    assert_error(client.get("/v1/inbox/nope"), 404, "tweet_not_found")


def test_mark_handled_then_remove(client):
    response = client.patch("/v1/inbox/p2", json={"status": "handled", "agent": "ana"})
    assert response.status_code == 200 and response.json()["handled_by"] == "ana"
    assert "p2" not in [i["tweet_id"] for i in client.get("/v1/inbox").json()["items"]]
    assert [i["tweet_id"] for i in client.get("/v1/inbox", params={"status": "handled"}).json()["items"]] == ["p2"]
    assert_error(client.patch("/v1/inbox/p2", json={"status": "closed"}), 422)
    assert client.delete("/v1/inbox/p2").status_code == 204
    assert_error(client.delete("/v1/inbox/p2"), 404, "tweet_not_found")
    assert_error(client.put("/v1/inbox/p1"), 405)


def test_feedback_is_stored_once_per_idempotency_key(client):
    first = feedback(client, key="retry-1")
    assert first.status_code == 201, first.text
    again = feedback(client, key="retry-1")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert_error(feedback(client, key="retry-1", value=["praise"]), 409, "idempotency_key_reused")
    assert feedback(client).status_code == 201  # no key: every request is a new correction
    item = client.get("/v1/inbox/p1").json()
    assert item["corrections"] == {"intent": ["question"]}


@pytest.mark.parametrize(
    "changes, status, code",
    [
        ({"field": "priority"}, 422, "invalid_value"),
        ({"field": "urgency", "value": 9}, 422, "invalid_feedback_value"),
        ({"field": "sentiment", "value": "furious"}, 422, "invalid_feedback_value"),
        ({"field": "dm", "value": "yes"}, 422, "invalid_feedback_value"),
        ({"field": "intent", "value": ["complaint", "complaint"]}, 422, "invalid_feedback_value"),
        ({"agent": ""}, 422, None),
        ({"tweet_id": "missing"}, 404, "tweet_not_found"),
        ({"extra": 1}, 422, "unknown_field"),
    ],
)
def test_bad_feedback_gets_a_clear_4xx_without_echo(client, changes, status, code):
    body = assert_error(feedback(client, **changes), status, code)
    assert "furious" not in body["error"]["message"]


def test_feedback_refuses_bad_characters_and_bad_keys(client):
    raw = b'{"tweet_id": "p1", "field": "sentiment", "value": "neutral", "agent": "a\\ud800"}'
    response = client.post("/v1/feedback", content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_character")
    assert_error(feedback(client, key="has space"), 422, "invalid_header")
    assert_error(feedback(client, key="x" * 300), 422, "invalid_header")


def test_export_streams_care_labels(client):
    feedback(client, key="k1", field="sentiment", value="neutral")
    feedback(client, key="k2", tweet_id="q", field="urgency", value="critical")
    response = client.get("/v1/feedback/export")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    records = {record["id"]: record for record in map(json.loads, response.text.splitlines())}
    assert records["p1"]["sentiment"] == "neutral" and records["p1"]["corrected"] == ["sentiment"]
    assert SECRET in records["p1"]["text"]  # the training data keeps the text as received
    assert records["q"]["urgency"] == 3 and set(records["q"]) >= {"complaint", "question", "praise", "intent", "dm"}


def test_no_tweet_text_or_correction_in_the_logs(client, caplog):
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/inbox", json={"tweets": [{"id": "log", "text": f"@brand hacked again {SECRET}"}]})
        feedback(client, tweet_id="log", agent="ana")
        client.get("/v1/feedback/export")
    assert SECRET not in caplog.text and "hacked again" not in caplog.text


def test_keys_and_rate_limits_apply(tmp_path):
    app = app_with(stub_loaded(), keyed_settings(state_dir=tmp_path, rate_limit="5/minute"))
    with TestClient(app) as client:
        assert_error(client.get("/v1/inbox"), 401, "unauthorized")
        assert_error(client.post("/v1/feedback", json={}), 401, "unauthorized")
        headers = {"X-API-Key": CLIENT_KEY}
        assert client.post("/v1/inbox", json={"tweets": TWEETS[:1]}, headers=headers).status_code == 201
        body = {"tweet_id": "q", "field": "dm", "value": True, "agent": "ana"}
        first = client.post("/v1/feedback", json=body, headers={**headers, "Idempotency-Key": "k"})
        # The same key from another client is another request (keys are scoped per client).
        other = client.post("/v1/feedback", json=body, headers={"X-API-Key": OTHER_CLIENT_KEY, "Idempotency-Key": "k"})
        assert first.status_code == other.status_code == 201 and first.json()["id"] != other.json()["id"]
        for _ in range(3):
            client.get("/v1/inbox", headers=headers)
        assert_error(client.get("/v1/inbox", headers=headers), 429, "rate_limited")
        assert client.get("/v1/inbox", headers={"X-API-Key": ADMIN_KEY}).status_code == 200
        assert client.get("/inbox").status_code == 200  # the page itself holds no data


def test_database_down_is_503_and_scoring_keeps_working(tmp_path):
    settings = settings_for(state_dir=tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1")
    with TestClient(app_with(stub_loaded(), settings)) as client:
        response = client.get("/v1/inbox")
        assert_error(response, 503, "store_unavailable")
        assert response.headers["Retry-After"]
        assert client.post("/v1/score", json={"tweets": TWEETS[:1]}).status_code == 200
        assert client.get("/readyz").status_code == 200


def test_state_dir_inside_the_data_dir_is_refused(monkeypatch, tmp_path):
    from serving.settings import Settings, SettingsError

    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path))
    with pytest.raises(SettingsError, match="TRIAGE_STATE_DIR"):
        Settings(state_dir=tmp_path / "var")


def test_page_and_its_bundle_are_served_by_the_app(client):
    page = client.get("/inbox")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for asset in ("/inbox/static/inbox.js", "/inbox/static/inbox.css"):
        assert client.get(asset).status_code == 200
    assert "/inbox" not in client.get("/openapi.json").json()["paths"]
    assert {"/v1/inbox", "/v1/inbox/{tweet_id}", "/v1/feedback", "/v1/feedback/export"} <= set(
        client.get("/openapi.json").json()["paths"]
    )


def test_push_through_the_trained_model(tiny_model_dir, tmp_path):
    with TestClient(create_app(settings_for(tiny_model_dir, state_dir=tmp_path))) as client:
        response = client.post("/v1/inbox", json={"tweets": TWEETS})
        assert response.status_code == 201, response.text
        item = client.get("/v1/inbox/p1").json()
        assert item["result"]["model_version"] == response.json()["model_version"]
        assert set(item["explanation"]) and "[EMAIL]" in item["redacted_text"]
    assert (Path(tmp_path) / "inbox.sqlite3").is_file()


def test_reading_the_queue_reranks_items_whose_rank_went_stale(client):
    """Ranks move as customers wait: a GET re-ranks open items from their stored priority inputs."""
    import math

    from sqlalchemy import update

    from serving.store.tables import inbox_items

    store = client.app.state.store
    result = client.get("/v1/inbox/p2").json()["result"]
    fresh = result["priority"]
    stale = {**fresh, "rank": "P4", "reasons": [], "reason_codes": []}
    with store.transaction() as connection:  # as if ranked long ago under other figures
        connection.execute(update(inbox_items).where(inbox_items.c.tweet_id == "p2").values(
            rank="P4", result=json.dumps({**result, "priority": stale})))
    store._reranked_at = -math.inf  # the last re-rank was long ago
    items = client.get("/v1/inbox", params={"rank": "P2"}).json()["items"]
    assert [item["tweet_id"] for item in items] == ["p2"]
    assert items[0]["result"]["priority"]["rank"] == fresh["rank"] == "P2"
