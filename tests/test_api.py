"""The scoring API end to end with TestClient: every endpoint, the output contract, options, errors.

The smoke test goes train -> save -> load -> HTTP: the `tiny_model_dir` fixture trains and saves
a real model, the app's lifespan loads it (hashes, smoke test), and the tests score over HTTP.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, settings_for
from model.priority import SUPPORTED_LOCALES
from serving.app import create_app
from serving.routes.score import negotiate_locale

CONTRACT_KEYS = {"id", "model_version", "lang", "lang_supported", "intent", "sentiment", "urgency", "dm", "pii", "priority"}
TWEETS = [
    {"id": "t1", "text": "@brand my order never arrived, where is it?"},
    {"id": 42, "text": "@brand you charged my card twice, call me on +44 7700 900123 or mail jo@example.com"},
    {"id": "t3", "text": "Grazie mille, servizio ottimo!", "lang": "it"},
    {
        "id": "t4",
        "text": "@brand still nothing??",
        "created_at": "2026-11-23T09:00:00Z",
        "context": [
            {"author": "customer", "text": "@brand my parcel is late", "created_at": "2026-11-23T08:00:00Z"},
            {"author": "brand", "text": "Sorry! Please DM us your order number."},
        ],
        "author": {"followers": 25000, "verified": True},
    },
]


@pytest.fixture(scope="module")
def client(tiny_model_dir):
    # The lifespan loads the trained model from disk: train -> save -> load -> HTTP.
    app = create_app(settings_for(tiny_model_dir))
    with TestClient(app) as test_client:
        yield test_client


def score(client, tweets=TWEETS, **params):
    return client.post("/v1/score", json={"tweets": tweets}, params=params)


def test_score_returns_the_contract_in_request_order(client):
    response = score(client)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"model_version", "results"}
    assert [result["id"] for result in body["results"]] == ["t1", "42", "t3", "t4"]
    for result in body["results"]:
        assert set(result) == CONTRACT_KEYS
        assert result["model_version"] == body["model_version"]
        assert result["intent"]["label"] in ("complaint", "question", "praise", "other")
        assert set(result["intent"]["scores"]) == {"complaint", "question", "praise"}
        assert -1 <= result["sentiment"]["score"] <= 1
        assert result["urgency"]["level"] in (0, 1, 2, 3)
        assert isinstance(result["dm"]["suggest"], bool)
        assert result["priority"]["rank"] in ("P1", "P2", "P3", "P4")
        assert result["priority"]["respond_by"].endswith("Z")
    assert {span["type"] for span in body["results"][1]["pii"]} >= {"email"}


def test_score_matches_the_python_api(client, tiny_model):
    """HTTP and Python give the same results (the contract is the same everywhere)."""
    response = score(client, TWEETS[:2]).json()["results"]
    direct = tiny_model.score(TWEETS[:2])
    for over_http, in_python in zip(response, direct, strict=True):
        assert over_http["intent"] == in_python["intent"]
        assert over_http["sentiment"] == in_python["sentiment"]
        assert over_http["pii"] == in_python["pii"]


def test_explain_and_redact_are_opt_in(client):
    plain = score(client, TWEETS[1:2]).json()["results"][0]
    assert "explanation" not in plain and "redacted_text" not in plain
    full = score(client, TWEETS[1:2], explain="true", redact="true").json()["results"][0]
    assert "jo@example.com" not in full["redacted_text"]
    assert full["redacted_text"] != TWEETS[1]["text"]
    assert full["explanation"], "explain=true names the phrases behind the scores"
    for phrases in full["explanation"].values():
        for phrase in phrases:
            assert set(phrase) == {"phrase", "weight"} and phrase["weight"] > 0


@pytest.mark.parametrize(
    ("params", "headers", "expected"),
    [
        ({}, {}, "en"),
        ({"locale": "it"}, {}, "it"),
        ({}, {"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"}, "it"),
        ({}, {"Accept-Language": "fr-FR, en;q=0.1"}, "en"),
        ({"locale": "en"}, {"Accept-Language": "it"}, "en"),
    ],
)
def test_locale_words_badges_but_keeps_codes(client, params, headers, expected):
    response = client.post("/v1/score", json={"tweets": TWEETS[:1]}, params=params, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-language"] == expected
    priority = response.json()["results"][0]["priority"]
    intent_word = {"en": "Complaint", "it": "Reclamo"}
    if priority["badge"]["text"].endswith(("Complaint", "Reclamo")):
        assert priority["badge"]["text"].endswith(intent_word[expected])
    english = score(client, TWEETS[:1]).json()["results"][0]["priority"]
    assert priority["reason_codes"] == english["reason_codes"] and priority["rank"] == english["rank"]


def test_unsupported_locale_is_refused(client):
    assert_error(score(client, TWEETS[:1], locale="fr"), 422, "invalid_parameter")


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, "en"), ("", "en"), ("it", "it"), ("en-GB,it;q=0.8", "en"), ("de;q=1,it;q=0.5", "it"),
     ("it;q=abc, en;q=0.2", "en"), ("*", "en"), (";;;,,,q=", "en"), ("it;q=2", "en")],
)
def test_accept_language_negotiation(header, expected):
    assert negotiate_locale(header) == expected
    assert expected in SUPPORTED_LOCALES


def test_model_endpoint_summarises_the_manifest(client, tiny_model):
    body = client.get("/v1/model").json()
    assert body["model_version"] == tiny_model.version
    assert body["trained_at"] == tiny_model.manifest["trained_at"]
    assert body["labels"]["intent"] == ["complaint", "question", "praise"]
    assert body["thresholds"] == tiny_model.manifest["thresholds"]
    assert set(body["metrics"]) == set(tiny_model.manifest["metrics"])
    assert body["policy"] == {"name": "default", "version": tiny_model.policy.version}
    assert len(body["sha256"]) == 64
    assert "data_dir" not in str(body), "no paths of the training machine"


def test_health_endpoints(client):
    assert client.get("/livez").json() == {"status": "alive"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and len(ready["sha256"]) == 64
    assert ready["model_version"] == client.get("/v1/model").json()["model_version"]


def test_metrics_count_requests_and_predictions_without_text(client):
    secret = "@somebody unique-marker-5150 my email is marker5150@example.com"
    assert score(client, [{"id": "m1", "text": secret}]).status_code == 200
    assert_error(client.post("/v1/score", json={"tweets": [{"id": "m2", "text": ""}]}), 422)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'triage_requests_total{method="POST",route="/v1/score",status="200"}' in text
    assert "triage_request_duration_seconds_bucket" in text
    assert "triage_inference_duration_seconds_count" in text
    assert "triage_inflight_requests" in text
    assert 'triage_rejected_total{reason="invalid"}' in text
    assert 'triage_predictions_total{head="priority",label="P' in text
    assert "triage_model_info{" in text
    for leaked in ("marker-5150", "marker5150", "somebody", "m1"):
        assert leaked not in text


def test_unknown_paths_and_wrong_verbs(client):
    assert_error(client.get("/v1/nope"), 404, "not_found")
    response = client.get("/v1/score")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert_error(client.delete("/v1/model"), 405, "method_not_allowed")
    assert_error(client.get("/v1/admin/reload"), 405)


def test_docs_and_schema_document_the_contract_and_errors(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/livez", "/readyz", "/metrics", "/v1/score", "/v1/model", "/v1/admin/reload",
                                    "/v1/inbox", "/v1/inbox/{tweet_id}", "/v1/feedback", "/v1/feedback/export"}
    responses = schema["paths"]["/v1/score"]["post"]["responses"]
    assert {"200", "413", "415", "422", "429", "503", "504"} <= set(responses)
    assert "401" not in responses, "no keys configured: no 401 documented"
    assert "Retry-After" in responses["429"]["headers"]
    result = schema["components"]["schemas"]["TweetResult"]
    assert set(result["required"]) == CONTRACT_KEYS
    assert {"explanation", "redacted_text"} <= set(result["properties"])
    request = schema["components"]["schemas"]["ScoreRequest"]["properties"]["tweets"]
    assert (request["minItems"], request["maxItems"]) == (1, 256)


def test_no_cors_headers(client):
    response = client.options(
        "/v1/score", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in response.headers
