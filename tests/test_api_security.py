"""API keys on and off, the admin scope, per-key rate limits, and what never reaches logs or metrics."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api_support import (
    ADMIN_KEY,
    CLIENT_KEY,
    OTHER_CLIENT_KEY,
    FailingBackend,
    app_with,
    assert_error,
    keyed_settings,
    settings_for,
    stub_loaded,
)
from serving.deps import get_model
from serving.security import ApiKeys

TWEET = {"id": "t1", "text": "@someone my account was hacked, mail me at victim@example.com"}


@pytest.fixture
def keyed_client():
    with TestClient(app_with(stub_loaded(), keyed_settings(rate_limit="5/minute"))) as client:
        yield client


def post(client, key: str | None = None, tweets=(TWEET,)):
    headers = {"X-API-Key": key} if key is not None else {}
    return client.post("/v1/score", json={"tweets": list(tweets)}, headers=headers)


def test_auth_off_needs_no_key():
    with TestClient(app_with(stub_loaded())) as client:
        assert post(client).status_code == 200
        assert client.get("/v1/model").status_code == 200
        assert client.post("/v1/admin/reload").status_code != 401  # loopback only: everyone is admin
        assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_auth_on_every_v1_route_needs_a_key(keyed_client):
    for response in (post(keyed_client), keyed_client.get("/v1/model"), keyed_client.post("/v1/admin/reload")):
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "APIKey"
    assert post(keyed_client, CLIENT_KEY).status_code == 200
    assert keyed_client.get("/v1/model", headers={"X-API-Key": OTHER_CLIENT_KEY}).status_code == 200


def test_health_metrics_and_docs_need_no_key(keyed_client):
    for path in ("/livez", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert keyed_client.get(path).status_code == 200, path


def test_admin_reload_needs_an_admin_key(keyed_client):
    assert_error(keyed_client.post("/v1/admin/reload", headers={"X-API-Key": CLIENT_KEY}), 403, "forbidden")
    # An admin key may score too.
    assert post(keyed_client, ADMIN_KEY).status_code == 200


def test_schema_declares_the_key_and_the_401(keyed_client):
    schema = keyed_client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes.values()) == [{"type": "apiKey", "description": schemes[next(iter(schemes))]["description"],
                                       "in": "header", "name": "X-API-Key"}]
    assert "401" in schema["paths"]["/v1/score"]["post"]["responses"]
    assert {"401", "403", "409"} <= set(schema["paths"]["/v1/admin/reload"]["post"]["responses"])
    assert "security" not in schema["paths"]["/livez"]["get"]


def test_rate_limit_is_per_key(keyed_client):
    for _ in range(5):
        assert post(keyed_client, CLIENT_KEY).status_code == 200
    limited = post(keyed_client, CLIENT_KEY)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert post(keyed_client, OTHER_CLIENT_KEY).status_code == 200, "another key has its own quota"


def test_identify_compares_digests():
    keys = ApiKeys(keyed_settings())
    client = keys.identify(CLIENT_KEY)
    assert client is not None and not client.admin
    assert client.id.startswith("key:") and CLIENT_KEY not in client.id and len(client.id) == 16
    assert keys.identify(ADMIN_KEY).admin
    for wrong in (None, "", CLIENT_KEY[:-1], CLIENT_KEY + "x", CLIENT_KEY.upper()):
        assert keys.identify(wrong) is None
    assert keys.identify(CLIENT_KEY).id != keys.identify(OTHER_CLIENT_KEY).id


def test_keys_text_and_handles_never_reach_logs_or_metrics(caplog):
    caplog.set_level(logging.DEBUG)
    app = app_with(stub_loaded(), keyed_settings(rate_limit="1/minute"))
    with TestClient(app) as client:
        assert post(client, CLIENT_KEY).status_code == 200
        assert post(client, CLIENT_KEY).status_code == 429
        assert post(client, "not-a-valid-key-0000000000").status_code == 401
        bad = dict(TWEET, text="\x00" + TWEET["text"])
        assert post(client, CLIENT_KEY, [bad]).status_code in (422, 429)
        metrics = client.get("/metrics").text
    for secret in (CLIENT_KEY, "not-a-valid-key", "victim@example.com", "@someone", "hacked"):
        assert secret not in caplog.text, secret
        assert secret not in metrics, secret


def test_unexpected_errors_are_500_in_the_one_shape_and_never_quote_the_tweet(caplog):
    caplog.set_level(logging.DEBUG)
    app = app_with(stub_loaded(FailingBackend()))
    with TestClient(app) as client:
        response = post(client)
        assert_error(response, 500, "internal_error")
        assert "victim" not in response.text
    assert "RuntimeError" in caplog.text, "the error is logged by type and stack"
    assert "victim@example.com" not in caplog.text and "hacked" not in caplog.text


def test_get_model_can_be_overridden():
    """Tests (and only tests) swap the model through the dependency."""
    app = app_with(stub_loaded(version="stub-1"))
    app.dependency_overrides[get_model] = lambda: stub_loaded(version="override-2")
    with TestClient(app) as client:
        assert post(client).json()["model_version"] == "override-2"
    app.dependency_overrides.clear()


def test_auth_with_loopback_settings_only():
    from serving.settings import SettingsError

    with pytest.raises(SettingsError, match="loopback"):
        settings_for(host="0.0.0.0")
    assert keyed_settings(host="0.0.0.0").host == "0.0.0.0"


def test_rate_limits_are_shared_through_redis():
    """With TRIAGE_REDIS_URL, every worker (here: two limiters) counts against the same quota."""
    import asyncio
    import uuid

    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.5).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from serving.limits import RateLimiter

    async def scenario() -> list[int | None]:
        first = RateLimiter("3/minute", "redis://127.0.0.1:6379/15")
        second = RateLimiter("3/minute", "redis://127.0.0.1:6379/15")
        client = f"key:test-{uuid.uuid4().hex[:8]}"
        return [await limiter.check(client) for limiter in (first, second, first, second)]

    outcomes = asyncio.run(scenario())
    assert outcomes[:3] == [None, None, None]
    assert outcomes[3] is not None and 1 <= outcomes[3] <= 60


def test_rate_limiter_fails_open_when_its_store_is_down(caplog):
    import asyncio

    from serving.limits import RateLimiter

    limiter = RateLimiter("1/minute", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert asyncio.run(limiter.check("key:x")) is None
    assert "rate-limit store unavailable" in caplog.text
